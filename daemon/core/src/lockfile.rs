//! What hpm reads in `uv.lock`: the packages it locks with their sources,
//! whether one is installed from a local folder (CI's `local-source`
//! check), the git URLs the image's context must bring in.

/// One `[[package]]` of a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedPackage {
    pub name: String,
    pub version: String,
    /// The source's kind (`registry`, `git`, `editable`, `virtual`, …) and
    /// its value, as written.
    pub source: Option<(String, String)>,
}

impl LockedPackage {
    /// Installed from a local folder (`editable`, `directory`, `path`).
    pub fn is_local(&self) -> bool {
        self.source
            .as_ref()
            .is_some_and(|(kind, _)| ["editable", "directory", "path"].contains(&kind.as_str()))
    }

    /// Taken from a package index by name (`source = { registry = … }`);
    /// the index's URL.
    pub fn index(&self) -> Option<&str> {
        let (kind, value) = self.source.as_ref()?;
        (kind == "registry").then_some(value.as_str())
    }

    /// The git URL it is locked at, without its `?tag=` query and
    /// `#commit` fragment.
    pub fn git_url(&self) -> Option<&str> {
        let (kind, value) = self.source.as_ref()?;
        (kind == "git").then(|| value.split(['?', '#']).next().unwrap_or(value))
    }

    /// The `key=value` pairs of its git source's query (`tag=v1`,
    /// `branch=main`, `subdirectory=pkg`); none for another source.
    pub fn git_query(&self) -> impl Iterator<Item = (&str, &str)> {
        let query = match &self.source {
            Some((kind, value)) if kind == "git" => value
                .split('#')
                .next()
                .and_then(|url| url.split_once('?'))
                .map_or("", |(_, query)| query),
            _ => "",
        };
        query.split('&').filter_map(|pair| pair.split_once('='))
    }
}

/// The packages of `uv.lock` (its text) that have a name and a version. A
/// lock that does not parse has none.
pub fn packages(lock: &str) -> Vec<LockedPackage> {
    let Ok(doc) = lock.parse::<toml_edit::DocumentMut>() else {
        return Vec::new();
    };
    let Some(entries) = doc.get("package").and_then(|p| p.as_array_of_tables()) else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|entry| {
            let text = |key: &str| entry.get(key).and_then(|item| item.as_str());
            let source = entry
                .get("source")
                .and_then(|item| item.as_table_like())
                .and_then(|source| {
                    source.iter().next().map(|(kind, value)| {
                        let value = value.as_str().unwrap_or_default();
                        (kind.to_string(), value.to_string())
                    })
                });
            Some(LockedPackage {
                name: text("name")?.to_string(),
                version: text("version")?.to_string(),
                source,
            })
        })
        .collect()
}

/// Whether `uv.lock` (its text) has the package `key` (a normalized name)
/// with an `editable`, `directory` or `path` source. A lock that does not
/// parse has none.
pub fn has_local_source(lock: &str, key: &str) -> bool {
    packages(lock)
        .iter()
        .any(|package| package.name == key && package.is_local())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"version = 1

[[package]]
name = "plugin-a"
version = "1.0.0"
source = { editable = "packages/plugin-a" }

[[package]]
name = "plugin-b"
version = "1.0.0"
source = { git = "file:///srv/xpath/plugin-b.git?tag=v1#abc" }
"#;

    #[test]
    fn editable_directory_and_path_sources_are_local_and_git_is_not() {
        assert!(has_local_source(LOCK, "plugin-a"));
        assert!(!has_local_source(LOCK, "plugin-b"));
        assert!(!has_local_source(LOCK, "plugin-c"));
        assert!(!has_local_source("not toml [", "plugin-a"));
    }

    #[test]
    fn a_git_source_gives_its_url_without_query_or_commit() {
        let packages = packages(LOCK);
        assert_eq!(packages.len(), 2);
        assert_eq!(packages[0].git_url(), None);
        assert_eq!(
            packages[1].git_url(),
            Some("file:///srv/xpath/plugin-b.git")
        );
        assert_eq!(
            packages[0].source,
            Some(("editable".to_string(), "packages/plugin-a".to_string()))
        );
    }
}
