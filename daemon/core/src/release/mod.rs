//! Releases: what `hpmctl release` decides, as data. The engine reads the
//! repositories and runs git and the forge; this module chooses versions
//! and tags ([`versions`]), reads Conventional Commits ([`commits`]),
//! orders packages by their dependencies ([`layers`]), holds the plan and
//! its steps ([`plan`]), writes and checks notes ([`notes`]) and moves
//! registry entries to the new tags ([`entry_edit`]).

pub mod commits;
pub mod entry_edit;
pub mod layers;
pub mod notes;
pub mod plan;
pub mod version_file;
pub mod versions;

/// `owner/repo` from a remote URL's last two path segments, `.git`
/// dropped: `file:///x/remotes/pkg.git` is `remotes/pkg`,
/// `git@github.com:org/pkg.git` is `org/pkg`.
pub fn forge_repo(url: &str) -> Option<String> {
    let path = url.trim_end_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    let mut parts = path.rsplit(['/', ':']).filter(|p| !p.is_empty());
    let repo = parts.next()?;
    let owner = parts.next()?;
    Some(format!("{owner}/{repo}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_forge_repo_is_the_urls_last_two_segments() {
        assert_eq!(
            super::forge_repo("file:///x/remotes/pkg.git").as_deref(),
            Some("remotes/pkg")
        );
        assert_eq!(
            super::forge_repo("https://github.com/org/pkg").as_deref(),
            Some("org/pkg")
        );
        assert_eq!(
            super::forge_repo("git@github.com:org/pkg.git").as_deref(),
            Some("org/pkg")
        );
        assert_eq!(super::forge_repo("pkg"), None);
    }
}
