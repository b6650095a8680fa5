//! Which git URLs hpm hands to git and uv: transports that could run
//! commands (`ext::`) or URLs git would read as an option are refused.

use crate::problem::Problem;

/// Refuses git URLs whose transport could run commands (`ext::`) or that git
/// would read as an option.
pub fn check_git_url(url: &str) -> Result<(), Problem> {
    let allowed = ["https://", "ssh://", "git://", "file://"];
    let scp_like = url.split_once(':').is_some_and(|(host, path)| {
        host.contains('@') && !host.contains('/') && !path.starts_with("//")
    });
    if url.starts_with('-') || url.chars().any(char::is_control) {
        return Err(Problem::new(format!("git URL `{url}` is not a URL")));
    }
    if allowed.iter().any(|scheme| url.starts_with(scheme)) || scp_like {
        return Ok(());
    }
    Err(Problem::new(format!(
        "git URL `{url}` uses a transport hpm does not allow"
    ))
    .hint("use an https://, ssh://, git:// or file:// URL (or user@host:path)"))
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
        ] {
            assert!(check_git_url(url).is_err(), "{url} accepted");
        }
        for url in [
            "https://github.com/a/b.git",
            "file:///tmp/r.git",
            "git@github.com:a/b.git",
            "ssh://git@h/a.git",
        ] {
            assert!(check_git_url(url).is_ok(), "{url} refused");
        }
    }

    #[test]
    fn relative_paths_lose_dots_and_trailing_slashes() {
        assert_eq!(clean_relative("./././packages/x/"), "packages/x");
        assert_eq!(clean_relative("../libs/a"), "../libs/a");
    }
}
