//! What hpm reads in `uv.lock`: whether a package is installed from a local
//! folder (CI's `local-source` check).

/// Whether `uv.lock` (its text) has the package `key` (a normalized name)
/// with an `editable`, `directory` or `path` source. A lock that does not
/// parse has none.
pub fn has_local_source(lock: &str, key: &str) -> bool {
    let Ok(doc) = lock.parse::<toml_edit::DocumentMut>() else {
        return false;
    };
    let packages = doc.get("package").and_then(|p| p.as_array_of_tables());
    packages.is_some_and(|packages| {
        packages.iter().any(|package| {
            package.get("name").and_then(|n| n.as_str()) == Some(key)
                && package
                    .get("source")
                    .and_then(|s| s.as_table_like())
                    .is_some_and(|source| {
                        ["editable", "directory", "path"]
                            .iter()
                            .any(|k| source.contains_key(k))
                    })
        })
    })
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
}
