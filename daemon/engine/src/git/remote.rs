//! `git ls-remote` through libgit2: the tags and branches a remote
//! advertises, several remotes at a time.

use std::collections::BTreeSet;

use hpm_core::pin::{RemoteRefs, Remotes};

/// How many remotes are asked at once.
const PARALLEL_REMOTES: usize = 32;

/// Lists the refs of each URL, several at a time.
pub fn list_remotes(urls: &BTreeSet<String>) -> Remotes {
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    let mut results = Remotes::new();
    for chunk in urls.chunks(PARALLEL_REMOTES) {
        std::thread::scope(|scope| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|url| (*url, scope.spawn(move || list_remote(url))))
                .collect();
            for (url, handle) in handles {
                let result = handle
                    .join()
                    .unwrap_or_else(|_| Err("listing the remote crashed".to_string()));
                results.insert(url.to_string(), result);
            }
        });
    }
    results
}

/// `git ls-remote` through libgit2 (no shell, no `git` binary involved).
pub fn list_remote(url: &str) -> Result<RemoteRefs, String> {
    let mut remote = git2::Remote::create_detached(url).map_err(|e| e.message().to_string())?;
    let connection = remote
        .connect_auth(git2::Direction::Fetch, Some(callbacks()), None)
        .map_err(|e| e.message().to_string())?;
    let mut refs = RemoteRefs::default();
    for head in connection.list().map_err(|e| e.message().to_string())? {
        let name = head.name();
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

/// Credentials as git would find them: the SSH agent, else the
/// configured credential helper.
pub fn callbacks<'a>() -> git2::RemoteCallbacks<'a> {
    let mut callbacks = git2::RemoteCallbacks::new();
    callbacks.credentials(|url, username, allowed| {
        if allowed.contains(git2::CredentialType::SSH_KEY) {
            git2::Cred::ssh_key_from_agent(username.unwrap_or("git"))
        } else {
            let config = git2::Config::open_default()?;
            git2::Cred::credential_helper(&config, url, username)
        }
    });
    callbacks
}

/// Every ref a remote advertises with its object id (`refs/tags/v1` and,
/// for an annotated tag, `refs/tags/v1^{}` with the commit it peels to).
pub fn list_remote_oids(
    url: &str,
) -> Result<std::collections::BTreeMap<String, git2::Oid>, String> {
    let mut remote = git2::Remote::create_detached(url).map_err(|e| e.message().to_string())?;
    let connection = remote
        .connect_auth(git2::Direction::Fetch, Some(callbacks()), None)
        .map_err(|e| e.message().to_string())?;
    let list = connection.list().map_err(|e| e.message().to_string())?;
    Ok(list
        .iter()
        .map(|head| (head.name().to_string(), head.oid()))
        .collect())
}
