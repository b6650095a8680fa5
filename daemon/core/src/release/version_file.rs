//! Where a package keeps its version and how a release sets it: the
//! static `[project] version` of `pyproject.toml` (through toml_edit, the
//! rest of the file as it was), or, for a dynamic version, the file
//! `[tool.hatch.version] path` names (its `__version__ = "…"` line).

use crate::pyproject::{PyprojectMut, PYPROJECT_FILE};

/// The file that holds the version, relative to the package's root.
pub fn version_file(pyproject: &str) -> Result<String, String> {
    let pyproject = PyprojectMut::read(pyproject)?;
    if !pyproject.has_project() {
        return Err("has no `[project]` table".to_string());
    }
    if pyproject.project_text("version").is_some() {
        return Ok(PYPROJECT_FILE.to_string());
    }
    match (
        pyproject.is_dynamic("version"),
        pyproject.hatch_version_path(),
    ) {
        (true, Some(path)) => Ok(path.to_string()),
        (true, None) => Err(
            "takes its version from somewhere hpm does not write (no `[tool.hatch.version] path`)"
                .to_string(),
        ),
        (false, _) => Err("has no `version` in `[project]`".to_string()),
    }
}

/// The version `text` (the version file `file`) holds.
pub fn read_version(file: &str, text: &str) -> Option<String> {
    if file.ends_with(PYPROJECT_FILE) {
        let pyproject = PyprojectMut::read(text).ok()?;
        return pyproject.project_text("version").map(str::to_string);
    }
    python_version_line(text).map(|(_, value)| value)
}

/// `text` with its version set to `version`; only that value changes.
pub fn set_version(file: &str, text: &str, version: &str) -> Result<String, String> {
    if file.ends_with(PYPROJECT_FILE) {
        let mut pyproject = PyprojectMut::read(text)?;
        if !pyproject.has_project() {
            return Err("has no `[project]` table".to_string());
        }
        if pyproject.project_text("version").is_none() {
            return Err("has no `version` in `[project]`".to_string());
        }
        pyproject.set_project_text("version", version)?;
        return Ok(pyproject.to_string());
    }
    let Some((range, _)) = python_version_line(text) else {
        return Err("has no `__version__ = \"…\"` line".to_string());
    };
    let mut out = text.to_string();
    out.replace_range(range, version);
    Ok(out)
}

/// The byte range of the quoted value of `__version__ = "…"` and the value.
fn python_version_line(text: &str) -> Option<(std::ops::Range<usize>, String)> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("__version__") {
            let rest_start = offset + (line.len() - trimmed.len()) + "__version__".len();
            let after_eq = rest.trim_start().strip_prefix('=')?;
            let value_part = after_eq.trim_start();
            let quote = value_part
                .chars()
                .next()
                .filter(|c| *c == '"' || *c == '\'')?;
            let inner = &value_part[1..];
            let end = inner.find(quote)?;
            let start = rest_start + (rest.len() - value_part.len()) + 1;
            return Some((start..start + end, inner[..end].to_string()));
        }
        offset += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_static_version_is_set_in_place() {
        let text = "[project]\nname = \"a\"\nversion = \"0.1.1\"  # bumped by releases\n\n[build-system]\nrequires = [\"hatchling\"]\n";
        assert_eq!(version_file(text).unwrap(), "pyproject.toml");
        let out = set_version("pyproject.toml", text, "0.1.2.dev0").unwrap();
        assert_eq!(out, text.replace("0.1.1", "0.1.2.dev0"));
        assert_eq!(
            read_version("pyproject.toml", &out).as_deref(),
            Some("0.1.2.dev0")
        );
    }

    #[test]
    fn a_hatch_version_path_is_followed() {
        let text = "[project]\nname = \"a\"\ndynamic = [\"version\"]\n\n[tool.hatch.version]\npath = \"src/a/__about__.py\"\n";
        assert_eq!(version_file(text).unwrap(), "src/a/__about__.py");
        let module = "\"\"\"About.\"\"\"\n__version__ = '0.3.0'\nOTHER = 1\n";
        let out = set_version("src/a/__about__.py", module, "0.4.0.dev0").unwrap();
        assert_eq!(
            out,
            "\"\"\"About.\"\"\"\n__version__ = '0.4.0.dev0'\nOTHER = 1\n"
        );
        assert_eq!(
            read_version("src/a/__about__.py", &out).as_deref(),
            Some("0.4.0.dev0")
        );
    }

    #[test]
    fn a_version_hpm_cannot_write_is_said() {
        assert!(
            version_file("[project]\nname = \"a\"\ndynamic = [\"version\"]\n")
                .unwrap_err()
                .contains("hatch.version")
        );
        assert!(version_file("[tool.x]\n").is_err());
    }
}
