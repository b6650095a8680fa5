//! A remote's refs (`git ls-remote`, through the user's git: [`super::net`]),
//! several remotes at a time.

use std::collections::{BTreeMap, BTreeSet};

use hpm_core::pin::{RemoteRefs, Remotes};

use super::net::{self, NetFailure};
use crate::caller::Caller;

/// How many remotes are asked at once: each is a git (and, over ssh, an
/// ssh) process, and a laptop's ssh agent or a forge's rate limit minds a
/// burst.
const PARALLEL_REMOTES: usize = 16;

/// Lists the refs of each URL, several at a time; a failure is what git
/// said.
pub fn list_remotes(caller: &Caller, urls: &BTreeSet<String>) -> Remotes {
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    let mut results = Remotes::new();
    for chunk in urls.chunks(PARALLEL_REMOTES) {
        std::thread::scope(|scope| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|url| (*url, scope.spawn(move || list_remote(caller, url))))
                .collect();
            for (url, handle) in handles {
                let result = handle.join().unwrap_or_else(|_| {
                    Err(NetFailure {
                        said: "listing the remote crashed".to_string(),
                    })
                });
                results.insert(url.to_string(), result.map_err(|failure| failure.said));
            }
        });
    }
    results
}

/// The tags and branches `url` advertises, and whether it has a `HEAD`.
pub fn list_remote(caller: &Caller, url: &str) -> Result<RemoteRefs, NetFailure> {
    let mut refs = RemoteRefs::default();
    for (_, name) in net::ls_remote(caller, url)? {
        if name == "HEAD" {
            refs.has_head = true;
        } else if let Some(tag) = name.strip_prefix("refs/tags/") {
            refs.tags.insert(tag.trim_end_matches("^{}").to_string());
        } else if let Some(branch) = name.strip_prefix("refs/heads/") {
            refs.branches.insert(branch.to_string());
        }
    }
    Ok(refs)
}

/// Every ref a remote advertises with its object id (`refs/tags/v1` and,
/// for an annotated tag, `refs/tags/v1^{}` with the commit it peels to).
pub fn list_remote_oids(
    caller: &Caller,
    url: &str,
) -> Result<BTreeMap<String, git2::Oid>, NetFailure> {
    net::ls_remote(caller, url)?
        .into_iter()
        .map(|(oid, name): (String, String)| {
            git2::Oid::from_str(&oid)
                .map(|oid| (name, oid))
                .map_err(|_| NetFailure {
                    said: format!("git listed `{oid}`, not an object id"),
                })
        })
        .collect()
}
