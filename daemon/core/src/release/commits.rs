//! Conventional Commits: a commit's message read as `type(scope)!: text`,
//! and the version level a list of them asks for.

use serde::{Deserialize, Serialize};

/// How far a version moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Patch,
    Minor,
    Major,
}

/// A commit as git gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Commit {
    pub id: String,
    pub message: String,
}

impl Commit {
    pub fn summary(&self) -> &str {
        self.message.lines().next().unwrap_or("")
    }

    pub fn short_id(&self) -> &str {
        self.id.get(..8).unwrap_or(&self.id)
    }
}

/// A message's Conventional Commit header and whether it breaks users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conventional {
    #[serde(rename = "type")]
    pub kind: String,
    pub scope: Option<String>,
    pub breaking: bool,
    pub description: String,
}

/// `message` as a Conventional Commit, `None` when its first line is not
/// `type[(scope)][!]: description`.
pub fn parse(message: &str) -> Option<Conventional> {
    let header = message.lines().next()?.trim_end();
    let (head, description) = header.split_once(": ")?;
    let (head, bang) = match head.strip_suffix('!') {
        Some(head) => (head, true),
        None => (head, false),
    };
    let (kind, scope) = match head.split_once('(') {
        Some((kind, rest)) => (kind, Some(rest.strip_suffix(')')?.to_string())),
        None => (head, None),
    };
    let word = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !word(kind)
        || scope
            .as_deref()
            .is_some_and(|s| s.is_empty() || s.contains(['(', ')']))
    {
        return None;
    }
    let description = description.trim();
    if description.is_empty() {
        return None;
    }
    let breaking = bang
        || message.lines().skip(1).any(|line| {
            line.starts_with("BREAKING CHANGE:") || line.starts_with("BREAKING-CHANGE:")
        });
    Some(Conventional {
        kind: kind.to_ascii_lowercase(),
        scope,
        breaking,
        description: description.to_string(),
    })
}

/// The level `commits` ask for and why: a breaking change is major, a
/// `feat` minor, anything else (a commit that is not conventional too) a
/// patch.
pub fn level(commits: &[Commit]) -> (Level, String) {
    let mut chosen = (Level::Patch, None::<&Commit>);
    for commit in commits {
        let level = match parse(&commit.message) {
            Some(c) if c.breaking => Level::Major,
            Some(c) if c.kind == "feat" => Level::Minor,
            _ => Level::Patch,
        };
        if chosen.1.is_none() || level > chosen.0 {
            chosen = (level, Some(commit));
        }
    }
    let why = match chosen {
        (_, None) => "patch: no commits".to_string(),
        (Level::Major, Some(c)) => format!(
            "major: breaking change in {} `{}`",
            c.short_id(),
            c.summary()
        ),
        (Level::Minor, Some(c)) => format!("minor: feature {} `{}`", c.short_id(), c.summary()),
        (Level::Patch, Some(_)) => "patch: no feature or breaking change".to_string(),
    };
    (chosen.0, why)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(message: &str) -> Commit {
        Commit {
            id: "0123456789abcdef".to_string(),
            message: message.to_string(),
        }
    }

    #[test]
    fn headers_parse_with_scope_and_bang() {
        let parsed = parse("feat(api)!: drop the old call\n\nbody").unwrap();
        assert_eq!(
            (
                parsed.kind.as_str(),
                parsed.scope.as_deref(),
                parsed.breaking
            ),
            ("feat", Some("api"), true)
        );
        assert_eq!(parse("fix: a crash").unwrap().description, "a crash");
        assert!(parse("fix:no space").is_none());
        assert!(parse("$ git commit -m 'fix: x'").is_none());
        assert!(parse("Merge branch 'main'").is_none());
        assert!(parse("fix(): empty scope").is_none());
    }

    #[test]
    fn the_level_is_the_highest_a_commit_asks_for_with_the_commit_named() {
        assert_eq!(
            level(&[commit("fix: a"), commit("docs: b")]).0,
            Level::Patch
        );
        let (lvl, why) = level(&[commit("fix: a"), commit("feat: b")]);
        assert_eq!(lvl, Level::Minor);
        assert_eq!(why, "minor: feature 01234567 `feat: b`");
        assert_eq!(
            level(&[commit("fix: a\n\nBREAKING CHANGE: gone")]).0,
            Level::Major
        );
        assert_eq!(level(&[commit("update stuff")]).0, Level::Patch);
    }
}
