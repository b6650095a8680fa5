//! `hpmctl check`, for CI: the manifest is valid, `pyproject.toml` says what
//! the plan says, the lock is current (`uv lock --locked`), and no package
//! that is not in a local mode has a local path source in `pyproject.toml`
//! or `uv.lock`. Changes nothing.

use serde::Serialize;

use crate::engine::{Inputs, SyncRequest};
use crate::error::{Error, Result};
use crate::plan::PlannedSource;
use crate::pyproject::PyprojectMut;
use crate::uv::{CancelToken, RunOptions, Uv};
use crate::validate;
use crate::workspace::Workspace;

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub workspace: String,
    pub mode: String,
    pub ok: bool,
    pub failures: Vec<CheckFailure>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckFailure {
    /// `pyproject`, `lock` or `local-source`.
    pub check: String,
    pub message: String,
}

/// Runs every check; an invalid manifest is an error, the rest are failures.
pub fn check(workspace: &Workspace) -> Result<CheckReport> {
    let inputs = Inputs::read(workspace)?;
    let request = SyncRequest::default();
    let mode = inputs.mode(&request);
    let mut plan = inputs.resolve(workspace, &mode, &inputs.overrides(&request))?;
    validate::validate(workspace.root(), &mut plan)?;
    let mut failures = Vec::new();
    let fail = |check: &str, message: String| CheckFailure {
        check: check.to_string(),
        message,
    };

    let path = workspace.pyproject_path();
    let text = String::from_utf8_lossy(&inputs.pyproject).into_owned();
    let current = PyprojectMut::parse(&text, &path)?;
    let mut planned = current.clone();
    planned.apply(&plan, &inputs.state.managed, &path)?;
    if planned.to_string() != text {
        failures.push(fail(
            "pyproject",
            "`pyproject.toml` does not match the plan; run `hpmctl sync` and commit the result"
                .to_string(),
        ));
    }

    let uv = Uv::find()?;
    let locked = uv.run(
        workspace.root(),
        &["lock".to_string(), "--locked".to_string()],
        &RunOptions::default(),
        &mut |_| {},
        &CancelToken::new(),
    );
    match locked {
        Ok(()) => {}
        Err(Error::UvFailed { reason, .. }) => failures.push(fail(
            "lock",
            format!("`uv.lock` is not current; run `hpmctl sync` and commit it\n{reason}"),
        )),
        Err(other) => return Err(other),
    }

    let lock_text = inputs
        .uv_lock
        .as_deref()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    let lock: Option<toml_edit::DocumentMut> = lock_text.parse().ok();
    for package in &plan.packages {
        if matches!(package.source, PlannedSource::Path { .. }) {
            continue;
        }
        if current
            .source_of(&package.name)
            .is_some_and(|source| source.contains("path"))
        {
            failures.push(fail(
                "local-source",
                format!(
                    "`{}` is in {} mode but has a local path source in `pyproject.toml`",
                    package.name, package.mode
                ),
            ));
        }
        if lock_has_local_source(&lock, &package.key) {
            failures.push(fail(
                "local-source",
                format!(
                    "`{}` is in {} mode but `uv.lock` installs it from a local folder",
                    package.name, package.mode
                ),
            ));
        }
    }
    Ok(CheckReport {
        workspace: workspace.root().display().to_string(),
        mode: mode.to_string(),
        ok: failures.is_empty(),
        failures,
    })
}

/// Whether `uv.lock` has `name` with an `editable`, `directory` or `path` source.
fn lock_has_local_source(lock: &Option<toml_edit::DocumentMut>, key: &str) -> bool {
    let Some(packages) = lock
        .as_ref()
        .and_then(|doc| doc.get("package"))
        .and_then(|p| p.as_array_of_tables())
    else {
        return false;
    };
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
}
