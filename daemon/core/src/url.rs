//! Which git URLs hpm hands to git and uv: what git accepts (`https://`,
//! `ssh://`, `git://`, `file://`, and scp-like `[user@]host:path`, where
//! `host` may be an alias of `~/.ssh/config`), never a transport that
//! could run commands (`ext::`, `fd::`) or a URL git would read as an
//! option; and the form written for uv, which does not read scp-like
//! URLs.

use crate::problem::Problem;

/// Refuses git URLs whose transport could run commands (`ext::`) or that git
/// would read as an option.
pub fn check_git_url(url: &str) -> Result<(), Problem> {
    let allowed = ["https://", "ssh://", "git://", "file://"];
    if url.starts_with('-') || url.chars().any(char::is_control) {
        return Err(Problem::new(format!(
            "git URL `{}` is not a URL",
            url.escape_debug()
        )));
    }
    if allowed.iter().any(|scheme| url.starts_with(scheme)) || scp_like(url).is_some() {
        return Ok(());
    }
    Err(Problem::new(format!(
        "git URL `{url}` uses a transport hpm does not allow"
    ))
    .hint("use an https://, ssh://, git:// or file:// URL, or [user@]host:path as git accepts"))
}

/// An scp-like URL's `[user@]host` and path: `git@github.com:org/x.git`,
/// `gh-work:org/x.git`. Not one: anything with `://`, a path before the
/// colon, a transport (`ext::`, `fd::`), an empty host or path.
fn scp_like(url: &str) -> Option<(&str, &str)> {
    let (host, path) = url.split_once(':')?;
    let name = host.rsplit('@').next().unwrap_or(host);
    let host_chars = |text: &str| {
        !text.is_empty()
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    };
    let user_ok = match host.split_once('@') {
        Some((user, _)) => host_chars(user),
        None => true,
    };
    (user_ok
        && host_chars(name)
        && !name.starts_with('-')
        && !path.is_empty()
        && !path.starts_with(':')
        && !path.starts_with("//"))
    .then_some((host, path))
}

/// The URL as uv must be given it: scp-like `[user@]host:path` becomes
/// `ssh://[user@]host/path` (what forges serve under both spellings;
/// `host:~/path` keeps its `~`), the rest is kept as written.
pub fn url_for_uv(url: &str) -> String {
    if url.contains("://") {
        return url.to_string();
    }
    match scp_like(url) {
        Some((host, path)) => format!("ssh://{host}/{}", path.trim_start_matches('/')),
        None => url.to_string(),
    }
}

/// `./packages/x/` → `packages/x`; other paths are kept as written.
pub fn clean_relative(path: &str) -> String {
    let mut path = path.trim();
    while let Some(rest) = path.strip_prefix("./") {
        path = rest;
    }
    path.trim_end_matches('/').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_git_urls_are_refused() {
        for url in [
            "ext::sh -c touch% /tmp/pwned",
            "-uhttps://x",
            "fd::17",
            "http://plain.example/x.git",
            "-oProxyCommand=x:y",
            "host:",
            ":path",
            "a b:c",
            "us er@h:p",
        ] {
            assert!(check_git_url(url).is_err(), "{url} accepted");
        }
        for url in [
            "https://github.com/a/b.git",
            "file:///tmp/r.git",
            "git@github.com:a/b.git",
            "gh-work:org/x.git",
            "ssh://git@h/a.git",
            "ssh://gh-work/org/x.git",
        ] {
            assert!(check_git_url(url).is_ok(), "{url} refused");
        }
    }

    #[test]
    fn scp_like_urls_become_ssh_urls_for_uv() {
        assert_eq!(
            url_for_uv("git@github.com:org/x.git"),
            "ssh://git@github.com/org/x.git"
        );
        assert_eq!(url_for_uv("gh-work:org/x.git"), "ssh://gh-work/org/x.git");
        assert_eq!(
            url_for_uv("me@127.0.0.1:/srv/git/x.git"),
            "ssh://me@127.0.0.1/srv/git/x.git"
        );
        assert_eq!(url_for_uv("h:~/x.git"), "ssh://h/~/x.git");
        assert_eq!(url_for_uv("https://h/x.git"), "https://h/x.git");
        assert_eq!(url_for_uv("file:///r.git"), "file:///r.git");
    }

    #[test]
    fn relative_paths_lose_dots_and_trailing_slashes() {
        assert_eq!(clean_relative("./././packages/x/"), "packages/x");
        assert_eq!(clean_relative("../libs/a"), "../libs/a");
    }
}
