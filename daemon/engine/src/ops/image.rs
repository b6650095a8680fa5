//! `hpmctl image dockerfile`: the prod image's Dockerfile for a mode, from
//! the mode's exported project (any local source refused, as `export`
//! refuses it), the manifest's `image:` block, the core's `pyproject.toml`
//! (its name, version and first script) and the uv hpm runs. The text comes
//! from [`hpm_core::image`]; this gathers its inputs.

use std::collections::BTreeMap;
use std::path::Path;

use hpm_core::image::{dockerfile as render, DockerContext, GitAuth, ImageSpec};
use hpm_core::mode::Mode;
use hpm_core::name::normalize_name;
use hpm_core::plan::PlannedSource;
use hpm_protocol::report::ExportRequest;

use crate::error::Result;
use crate::inputs::Inputs;
use crate::uv::Uv;
use crate::workspace::Workspace;

/// The runtime base when neither the command line nor `image.base_image`
/// names one.
pub const DEFAULT_BASE_IMAGE: &str = "python:3.12-slim";
/// That base's interpreter.
pub const DEFAULT_PYTHON: &str = "/usr/local/bin/python3";

/// What the command line may override.
#[derive(Debug, Clone, Default)]
pub struct ImageOptions {
    pub base_image: Option<String>,
    pub builder_image: Option<String>,
    pub python: Option<String>,
}

/// The core's `[project]` name, version and first script, when written.
fn core_project(pyproject: &str) -> (Option<String>, Option<String>, Option<String>) {
    let Ok(document) = pyproject.parse::<toml_edit::DocumentMut>() else {
        return (None, None, None);
    };
    let project = document.get("project");
    let text = |key: &str| {
        project
            .and_then(|project| project.get(key))
            .and_then(|item| item.as_str())
            .map(str::to_string)
    };
    let script = project
        .and_then(|project| project.get("scripts"))
        .and_then(|scripts| scripts.as_table_like())
        .and_then(|scripts| scripts.iter().next().map(|(name, _)| name.to_string()));
    (text("name"), text("version"), script)
}

/// The git commit the core's work tree is at, and its `origin` URL.
fn core_revision(root: &Path) -> (Option<String>, Option<String>) {
    let Ok(repository) = git2::Repository::discover(root) else {
        return (None, None);
    };
    let head = repository
        .head()
        .ok()
        .and_then(|head| head.target())
        .map(|oid| oid.to_string());
    let origin = repository
        .find_remote("origin")
        .ok()
        .and_then(|remote| remote.url().ok().map(str::to_string));
    (head, origin)
}

/// The import name of a distribution (PEP 503 name, `-` as `_`).
fn module(name: &str) -> String {
    normalize_name(name).replace('-', "_")
}

/// The Dockerfile and `.dockerignore` for `mode`.
pub fn dockerfile(
    workspace: &Workspace,
    mode: &Mode,
    options: &ImageOptions,
) -> Result<DockerContext> {
    let exported = crate::ops::export::export(
        workspace,
        &ExportRequest {
            mode: mode.clone(),
            out: None,
            with_core: false,
            force: true,
            dry_run: true,
        },
    )?;
    let inputs = Inputs::read(workspace)?;
    let settings = &inputs.manifest.image;
    let pyproject = String::from_utf8_lossy(&inputs.pyproject).into_owned();
    let (name, version, script) = core_project(&pyproject);
    let (revision, origin) = core_revision(workspace.root());
    let uv = Uv::find()?;

    let mut local_remotes = BTreeMap::new();
    let mut git_sources = false;
    let mut imports = Vec::new();
    for package in &exported.plan.packages {
        imports.push(module(&package.name));
        if let PlannedSource::Git { url, .. } = &package.source {
            git_sources = true;
            if let Some(path) = url.strip_prefix("file://") {
                let folder = Path::new(path)
                    .file_name()
                    .map(|name| name.to_string_lossy().into_owned())
                    .unwrap_or_else(|| module(&package.name));
                local_remotes.insert(url.clone(), folder);
            }
        }
    }
    if let Some(name) = &name {
        imports.push(module(name));
    }
    let mut labels = Vec::new();
    if let Some(origin) = origin {
        labels.push(("org.opencontainers.image.source".to_string(), origin));
    }
    if let Some(revision) = revision {
        labels.push(("org.opencontainers.image.revision".to_string(), revision));
    }
    if let Some(version) = version {
        labels.push(("org.opencontainers.image.version".to_string(), version));
    }
    if let Some(name) = &name {
        labels.push(("org.opencontainers.image.title".to_string(), name.clone()));
    }
    labels.push(("dev.hpm.mode".to_string(), mode.to_string()));
    let command = if settings.command.is_empty() {
        script.into_iter().collect()
    } else {
        settings.command.clone()
    };
    let base_image = options
        .base_image
        .clone()
        .or_else(|| settings.base_image.clone())
        .unwrap_or_else(|| DEFAULT_BASE_IMAGE.to_string());
    let spec = ImageSpec {
        base_image,
        builder_image: options
            .builder_image
            .clone()
            .or_else(|| settings.builder_image.clone()),
        uv_version: uv.version,
        python: options
            .python
            .clone()
            .or_else(|| settings.python.clone())
            .unwrap_or_else(|| DEFAULT_PYTHON.to_string()),
        builder_packages: settings.builder_packages.clone(),
        sync_args: settings.uv_args.clone(),
        command,
        imports,
        git_sources,
        git_auth: GitAuth::None,
        find_links: false,
        local_remotes: local_remotes.into_iter().collect(),
        labels,
    };
    Ok(render(&spec))
}

/// The file `--write` puts in the workspace root, for teams that commit
/// and edit it; its ignore file beside it (`<Dockerfile>.dockerignore`, as
/// BuildKit reads it).
pub const DOCKERFILE: &str = "Dockerfile.hpm";

/// Writes `context` as `Dockerfile.hpm` and `Dockerfile.hpm.dockerignore`
/// in the workspace root, each atomically; returns their paths.
pub fn write(workspace: &Workspace, context: &DockerContext) -> Result<Vec<std::path::PathBuf>> {
    let dockerfile = workspace.root().join(DOCKERFILE);
    let ignore = workspace.root().join(format!("{DOCKERFILE}.dockerignore"));
    for (path, text) in [
        (&dockerfile, &context.dockerfile),
        (&ignore, &context.dockerignore),
    ] {
        crate::fsutil::write_atomic(path, text.as_bytes())
            .map_err(|error| crate::error::Error::write(path, error))?;
    }
    Ok(vec![dockerfile, ignore])
}
