//! A remote's refs (`git ls-remote`, through the user's git: [`super::net`]),
//! several remotes at a time.

use std::collections::{BTreeMap, BTreeSet};

use hpm_core::pin::{RemoteRefs, Remotes};

use super::fan_out;
use super::net::{self, NetFailure};
use crate::caller::Caller;

/// Lists the refs of each URL, several at a time ([`fan_out`]); a failure
/// is what git said.
pub fn list_remotes(caller: &Caller, urls: &BTreeSet<String>) -> Remotes {
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    let listed = fan_out::map(
        caller,
        &urls,
        |url| list_remote(caller, url),
        |_| {
            Err(NetFailure {
                said: "listing the remote crashed".to_string(),
            })
        },
    );
    urls.iter()
        .zip(listed)
        .map(|(url, result)| (url.to_string(), result.map_err(|failure| failure.said)))
        .collect()
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
