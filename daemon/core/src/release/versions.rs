//! Release versions and tags (PEP 440, through pep440_rs).
//!
//! A tag is a prefix (`v` by default) and a normalised version; existing
//! tags are read normalised, with or without the prefix (`0.0.1dev0`,
//! `v0.1.2-dev0`). Staging releases are `X.Y.Z.devN`, prod releases the
//! final `X.Y.Z`, and a new version is above every existing tag:
//! `0.1.2.dev3` → prod `0.1.2`, `0.1.1` → staging `0.1.2.dev0`,
//! `0.1.2.dev3` → staging `0.1.2.dev4`.

use std::fmt;
use std::str::FromStr;

use pep440_rs::Version;
use serde::{Deserialize, Serialize};

use super::commits::Level;

/// What a release makes: a staging (`.devN`) or a prod (final) version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReleaseKind {
    Staging,
    Prod,
}

impl ReleaseKind {
    /// The kind a mode name releases, `None` for other modes.
    pub fn of_mode(mode: &str) -> Option<ReleaseKind> {
        match mode {
            "staging" => Some(ReleaseKind::Staging),
            "prod" => Some(ReleaseKind::Prod),
            _ => None,
        }
    }

    pub fn mode(self) -> &'static str {
        match self {
            ReleaseKind::Staging => "staging",
            ReleaseKind::Prod => "prod",
        }
    }
}

/// `--bump`: how the next version is chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bump {
    /// From the Conventional Commits since the previous tag.
    Auto,
    Patch,
    Minor,
    Major,
    /// The next `.devN` of the version being staged.
    Dev,
    /// The final version of the one being staged.
    Stable,
    /// Exactly this version.
    Exact(String),
}

impl FromStr for Bump {
    type Err = String;

    fn from_str(text: &str) -> Result<Bump, String> {
        Ok(match text {
            "auto" => Bump::Auto,
            "patch" => Bump::Patch,
            "minor" => Bump::Minor,
            "major" => Bump::Major,
            "dev" => Bump::Dev,
            "stable" => Bump::Stable,
            _ => match text.strip_prefix('=') {
                Some(version) => {
                    Version::from_str(version).map_err(|e| format!("`{version}`: {e}"))?;
                    Bump::Exact(version.to_string())
                }
                None => {
                    return Err(format!(
                    "`{text}` is not a bump: use auto, patch, minor, major, dev, stable or =X.Y.Z"
                ))
                }
            },
        })
    }
}

/// A tag of a repository read as a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged {
    pub tag: String,
    pub version: Version,
}

/// The tags among `tags` that are versions, with or without `prefix`.
pub fn read_tags<'a>(tags: impl IntoIterator<Item = &'a str>, prefix: &str) -> Vec<Tagged> {
    tags.into_iter()
        .filter_map(|tag| {
            let text = tag.strip_prefix(prefix).unwrap_or(tag);
            let version = Version::from_str(text).ok()?;
            Some(Tagged {
                tag: tag.to_string(),
                version,
            })
        })
        .collect()
}

/// The tag a version is released under.
pub fn tag_name(prefix: &str, version: &Version) -> String {
    format!("{prefix}{version}")
}

/// The next version and why it was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextVersion {
    pub version: Version,
    pub why: String,
}

/// Why no version could be chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BumpError(pub String);

impl fmt::Display for BumpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The next `kind` version after `tags`. `level` is what the commits since
/// the previous tag ask for (with why), used by `--bump auto`.
pub fn next_version(
    tags: &[Tagged],
    kind: ReleaseKind,
    bump: &Bump,
    level: (Level, String),
) -> Result<NextVersion, BumpError> {
    let history = History::of(tags);
    let chosen = match (kind, bump) {
        (_, Bump::Exact(text)) => exact_version(kind, text)?,
        (ReleaseKind::Staging, bump) => next_staging(&history, bump, level)?,
        (ReleaseKind::Prod, bump) => next_prod(&history, bump, level)?,
    };
    if let Some(above) = tags
        .iter()
        .filter(|t| t.version >= chosen.version)
        .max_by(|a, b| a.version.cmp(&b.version))
    {
        return Err(BumpError(format!(
            "{} is not above the existing tag `{}`; a new version must be above every tag of the repository",
            chosen.version, above.tag
        )));
    }
    Ok(chosen)
}

/// What the tags say a new version starts from.
struct History<'a> {
    /// The highest final version, or 0.0.0.
    base: Version,
    /// The highest version being staged: a `.devN` above every final one.
    staged: Option<&'a Version>,
    /// "after X.Y.Z" or "first release", for the reasons given.
    since: String,
}

impl History<'_> {
    fn of(tags: &[Tagged]) -> History<'_> {
        let stable = tags
            .iter()
            .filter(|t| is_final(&t.version))
            .map(|t| &t.version)
            .max();
        let staged = tags
            .iter()
            .filter(|t| t.version.is_dev() && stable.is_none_or(|s| t.version > *s))
            .map(|t| &t.version)
            .max();
        History {
            base: stable.cloned().unwrap_or_else(|| Version::new([0, 0, 0])),
            staged,
            since: stable
                .map(|s| format!("after {s}"))
                .unwrap_or_else(|| "first release".to_string()),
        }
    }
}

/// The version `--bump =X` gives, checked against the kind of release.
fn exact_version(kind: ReleaseKind, text: &str) -> Result<NextVersion, BumpError> {
    let version = Version::from_str(text).map_err(|e| BumpError(e.to_string()))?;
    match kind {
        ReleaseKind::Staging if !version.is_dev() => Err(BumpError(format!(
            "`{version}` is not a staging version; staging releases are X.Y.Z.devN (try `={}`)",
            release_of(&version).with_dev(Some(0))
        ))),
        ReleaseKind::Prod if !is_final(&version) => Err(BumpError(format!(
            "`{version}` is not a final version; prod releases are X.Y.Z (try `={}`)",
            release_of(&version)
        ))),
        _ => Ok(NextVersion {
            version,
            why: "given with --bump".to_string(),
        }),
    }
}

/// The next staging (`.devN`) version: the staged one's next build, or the
/// first build of the bumped version.
fn next_staging(
    history: &History,
    bump: &Bump,
    level: (Level, String),
) -> Result<NextVersion, BumpError> {
    let since = &history.since;
    Ok(match (bump, history.staged) {
        (Bump::Stable, _) => {
            return Err(BumpError(
                "`--bump stable` makes a prod release; use `--mode prod`".to_string(),
            ))
        }
        (Bump::Dev, Some(staged)) => next_dev(staged, "the next build of the staged version"),
        (Bump::Dev, None) => NextVersion {
            version: bumped(&history.base, Level::Patch).with_dev(Some(0)),
            why: format!("patch {since}, first staging build"),
        },
        (bump, staged) => {
            let (level, reason) = chosen_level(bump, level);
            let wanted = bumped(&history.base, level);
            match staged {
                Some(staged) if release_of(staged) >= wanted => next_dev(
                    staged,
                    &format!("{reason}; continues the staged {}", release_of(staged)),
                ),
                _ => NextVersion {
                    version: wanted.with_dev(Some(0)),
                    why: format!("{reason} {since}"),
                },
            }
        }
    })
}

/// The next prod version: the final release of what is staged, or the
/// bumped base.
fn next_prod(
    history: &History,
    bump: &Bump,
    level: (Level, String),
) -> Result<NextVersion, BumpError> {
    let since = &history.since;
    Ok(match (bump, history.staged) {
        (Bump::Dev, _) => {
            return Err(BumpError(
                "`--bump dev` makes a staging release; use `--mode staging`".to_string(),
            ))
        }
        (Bump::Stable | Bump::Auto, Some(staged)) => NextVersion {
            version: release_of(staged),
            why: format!("the final release of the staged {staged}"),
        },
        (Bump::Stable, None) => {
            return Err(BumpError(format!(
                "nothing is staged {since}: `--bump stable` promotes a .devN release"
            )))
        }
        (bump, _) => {
            let (level, reason) = chosen_level(bump, level);
            NextVersion {
                version: bumped(&history.base, level),
                why: format!("{reason} {since}"),
            }
        }
    })
}

fn chosen_level(bump: &Bump, from_commits: (Level, String)) -> (Level, String) {
    match bump {
        Bump::Patch => (Level::Patch, "patch (--bump)".to_string()),
        Bump::Minor => (Level::Minor, "minor (--bump)".to_string()),
        Bump::Major => (Level::Major, "major (--bump)".to_string()),
        _ => from_commits,
    }
}

fn next_dev(staged: &Version, why: &str) -> NextVersion {
    NextVersion {
        version: staged.clone().with_dev(Some(staged.dev().unwrap_or(0) + 1)),
        why: why.to_string(),
    }
}

/// A final release: no pre, post, dev or local part.
fn is_final(version: &Version) -> bool {
    version.is_stable() && !version.is_post() && !version.is_local()
}

/// The release a version is a build of (`0.1.2.dev3` → `0.1.2`), padded to
/// three numbers.
fn release_of(version: &Version) -> Version {
    let mut numbers = version.release().to_vec();
    numbers.resize(numbers.len().max(3), 0);
    Version::new(numbers)
}

fn bumped(version: &Version, level: Level) -> Version {
    let mut numbers = version.release().to_vec();
    numbers.resize(numbers.len().max(3), 0);
    match level {
        Level::Major => {
            numbers[0] += 1;
            numbers[1] = 0;
            numbers[2] = 0;
        }
        Level::Minor => {
            numbers[1] += 1;
            numbers[2] = 0;
        }
        Level::Patch => numbers[2] += 1,
    }
    numbers.truncate(3);
    Version::new(numbers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(names: &[&str]) -> Vec<Tagged> {
        read_tags(names.iter().copied(), "v")
    }

    fn next(names: &[&str], kind: ReleaseKind, bump: &str) -> Result<String, BumpError> {
        next_version(
            &tags(names),
            kind,
            &bump.parse().map_err(BumpError)?,
            (Level::Patch, "patch: fixes only".to_string()),
        )
        .map(|n| n.version.to_string())
    }

    /// Regression: `=1.0.0+local.dev0` was told to try
    /// `=1.0.0+local.dev0.dev0`, itself refused. The hint is a version the
    /// same check accepts.
    #[test]
    fn a_refused_exact_version_hints_one_that_is_accepted() {
        use ReleaseKind::*;
        for (kind, given, hint) in [
            (Staging, "=1.0.0+local.dev0", "=1.0.0.dev0"),
            (Staging, "=1.0.0", "=1.0.0.dev0"),
            (Staging, "=2.1rc1", "=2.1.0.dev0"),
            (Prod, "=1.0.0.dev3", "=1.0.0"),
            (Prod, "=1.0.0+local", "=1.0.0"),
        ] {
            let refused = next(&[], kind, given).unwrap_err().0;
            assert!(
                refused.contains(&format!("(try `{hint}`)")),
                "{given}: {refused}"
            );
            next(&[], kind, hint).unwrap_or_else(|e| panic!("{hint}: {}", e.0));
        }
    }

    #[test]
    fn tags_are_read_normalised_with_or_without_the_prefix() {
        let read = tags(&["0.0.1dev0", "v0.1.2-dev0", "latest", "v1.0"]);
        let versions: Vec<String> = read.iter().map(|t| t.version.to_string()).collect();
        assert_eq!(versions, ["0.0.1.dev0", "0.1.2.dev0", "1.0"]);
        assert_eq!(tag_name("v", &read[1].version), "v0.1.2.dev0");
    }

    #[test]
    fn the_issues_examples_hold() {
        use ReleaseKind::*;
        assert_eq!(
            next(&["v0.1.1", "v0.1.2.dev3"], Prod, "auto").unwrap(),
            "0.1.2"
        );
        assert_eq!(next(&["v0.1.1"], Staging, "auto").unwrap(), "0.1.2.dev0");
        assert_eq!(
            next(&["v0.1.1", "v0.1.2.dev3"], Staging, "auto").unwrap(),
            "0.1.2.dev4"
        );
        assert_eq!(
            next(&["v0.1.1", "v0.1.2.dev3"], Staging, "dev").unwrap(),
            "0.1.2.dev4"
        );
        assert_eq!(
            next(&["v0.1.1", "v0.1.2.dev3"], Prod, "stable").unwrap(),
            "0.1.2"
        );
    }

    #[test]
    fn levels_bump_the_last_final_release_and_never_go_backwards() {
        use ReleaseKind::*;
        assert_eq!(next(&["v0.1.1"], Staging, "minor").unwrap(), "0.2.0.dev0");
        assert_eq!(
            next(&["v0.1.1", "v0.1.2.dev3"], Staging, "minor").unwrap(),
            "0.2.0.dev0"
        );
        assert_eq!(next(&["v1.4.2"], Prod, "major").unwrap(), "2.0.0");
        assert_eq!(next(&[], Staging, "auto").unwrap(), "0.0.1.dev0");
        assert_eq!(next(&["v0.1.2"], Prod, "=0.1.2").unwrap_err().0, "0.1.2 is not above the existing tag `v0.1.2`; a new version must be above every tag of the repository");
        assert!(next(&["v0.2.0.dev0"], Prod, "=0.1.9").is_err());
    }

    #[test]
    fn a_bump_of_the_wrong_kind_is_refused_with_the_mode_to_use() {
        use ReleaseKind::*;
        assert!(next(&["v0.1.1"], Staging, "stable")
            .unwrap_err()
            .0
            .contains("--mode prod"));
        assert!(next(&["v0.1.1"], Prod, "dev")
            .unwrap_err()
            .0
            .contains("--mode staging"));
        assert!(next(&["v0.1.1"], Prod, "stable")
            .unwrap_err()
            .0
            .contains("nothing is staged"));
        assert!(next(&["v0.1.1"], Staging, "=0.2.0")
            .unwrap_err()
            .0
            .contains("=0.2.0.dev0"));
        assert!("sideways".parse::<Bump>().is_err());
    }
}
