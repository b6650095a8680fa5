//! Version rules: how a registry's `version:` becomes a PEP 440 specifier.

use std::str::FromStr;

use crate::problem::Problem;

/// A PyPI version as a specifier: `1.0.0` means `==1.0.0`; a specifier
/// (`>=1.2,<2`) is kept as the registry writes it, so that an entry already
/// in `pyproject.toml` is recognised as up to date.
pub fn version_specifier(version: &str) -> Result<String, Problem> {
    let version = version.trim();
    if pep440_rs::Version::from_str(version).is_ok() {
        return Ok(format!("=={version}"));
    }
    pep440_rs::VersionSpecifiers::from_str(version)
        .map(|_| version.to_string())
        .map_err(|error| {
            Problem::new(format!(
                "`{version}` is not a valid version specifier: {error}"
            ))
            .hint("write a PEP 440 specifier such as `==1.2.0` or `>=1.2,<2`")
        })
}

/// Whether `version` satisfies `specifiers` (both PEP 440); `false` when
/// either does not parse.
pub fn satisfies(version: &str, specifiers: &str) -> bool {
    match (
        pep440_rs::VersionSpecifiers::from_str(specifiers),
        pep440_rs::Version::from_str(version),
    ) {
        (Ok(specifiers), Ok(version)) => specifiers.contains(&version),
        _ => false,
    }
}

/// The tags `hpmctl add` proposes from a remote's, in PEP 440 order (a
/// leading `v` allowed): the highest stable release for prod, the highest
/// `.devN` release for staging. Tags that are not versions are ignored.
pub fn proposed_tags<'a>(
    tags: impl IntoIterator<Item = &'a String>,
) -> (Option<String>, Option<String>) {
    let versions: Vec<(pep440_rs::Version, &String)> = tags
        .into_iter()
        .filter_map(|tag| {
            let text = tag.strip_prefix('v').unwrap_or(tag);
            pep440_rs::Version::from_str(text).ok().map(|v| (v, tag))
        })
        .collect();
    let highest = |keep: &dyn Fn(&pep440_rs::Version) -> bool| {
        versions
            .iter()
            .filter(|(version, _)| keep(version))
            .max_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, tag)| (*tag).clone())
    };
    (
        highest(&|v| v.is_stable() && !v.is_local()),
        highest(&|v| v.is_dev()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_version_means_exactly_that_version() {
        assert_eq!(version_specifier("1.0.0").unwrap(), "==1.0.0");
        assert_eq!(version_specifier(">=1.2,<2").unwrap(), ">=1.2,<2");
        assert!(version_specifier("one").is_err());
    }

    #[test]
    fn satisfies_reads_both_sides_as_pep_440() {
        assert!(satisfies("1.1.0", ">=1.0,<2"));
        assert!(!satisfies("2.0.0", ">=1.0,<2"));
        assert!(!satisfies("not-a-version", ">=1"));
    }

    #[test]
    fn proposals_are_the_highest_stable_and_dev_tags_in_pep_440_order() {
        let tags: Vec<String> = [
            "v0.9.0",
            "v0.10.0",
            "v0.11.0.dev2",
            "v0.11.0.dev10",
            "v1.0.0rc1",
            "latest",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            proposed_tags(&tags),
            (Some("v0.10.0".into()), Some("v0.11.0.dev10".into()))
        );
        assert_eq!(proposed_tags(&Vec::new()), (None, None));
    }
}
