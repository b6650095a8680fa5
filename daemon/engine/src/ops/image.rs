//! `hpmctl image dockerfile` and `hpmctl image build`: the prod image of a
//! mode. The image installs the core itself (non-editable) with the mode's
//! lock: its build context, laid out under `.hpm/image/<mode>/context/`,
//! holds the core's files with its `pyproject.toml` as `switch MODE` writes
//! it and the lock that mode last synced (never re-locked here: the image
//! is what was tested, and a stale lock fails the build with uv's
//! message), bare copies of the `file://` remotes the lock names, and a
//! wheelhouse when asked. Any local source is refused, as `export` refuses
//! it. The Dockerfile's text comes from [`hpm_core::image`]; a
//! `Dockerfile.hpm` the team wrote into the workspace (`--write`) and
//! edited is used in its place. The container engine runs through the
//! shared process runner: its lines streamed, cancellable, its process
//! group killed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use hpm_core::export::{export as export_text, refuse_local_packages, ExportOptions};
use hpm_core::image::{dockerfile as render, DockerContext, GitAuth, ImageSpec, GIT_TOKEN_SECRET};
use hpm_core::mode::Mode;
use hpm_core::name::normalize_name;
use hpm_core::pyproject::PyprojectMut;
use hpm_protocol::report::{ImageBuildRequest, ImagePackage, ImageReport, PushedTag};

use crate::caller::Caller;
use crate::error::{Error, Result};
use crate::fsutil::{read_optional, write_atomic};
use crate::inputs::Inputs;
use crate::process::{self, CancelToken, RunError, RunOptions};
use crate::uv::Uv;
use crate::validate;
use crate::workspace::Workspace;

/// The runtime base when neither the command line nor `image.base_image`
/// names one.
pub const DEFAULT_BASE_IMAGE: &str = "python:3.12-slim";
/// That base's interpreter.
pub const DEFAULT_PYTHON: &str = "/usr/local/bin/python3";
/// The container engine when neither `--engine` nor `HPM_ENGINE` names one.
pub const DEFAULT_ENGINE: &str = "docker";

/// The variable the engine gets the git token in (`--secret
/// id=git_token,env=HPM_GIT_TOKEN`), and the one `hpmctl` reads it from
/// unless `--git-token-env` names another.
pub const GIT_TOKEN_ENV: &str = "HPM_GIT_TOKEN";

/// The file `--write` puts in the workspace root, for teams that commit
/// and edit it; its ignore file beside it (`<Dockerfile>.dockerignore`, as
/// BuildKit reads it). `image build` uses it when it is there.
pub const DOCKERFILE: &str = "Dockerfile.hpm";

/// What the command line may override of the manifest's `image:` block.
#[derive(Debug, Clone, Default)]
pub struct ImageOptions {
    pub base_image: Option<String>,
    pub builder_image: Option<String>,
    pub python: Option<String>,
    /// A wheelhouse goes into the context (`UV_OFFLINE`, `UV_FIND_LINKS`).
    pub find_links: bool,
    /// A token is given for the locked `https://` git sources.
    pub git_token: bool,
}

impl From<&ImageBuildRequest> for ImageOptions {
    fn from(request: &ImageBuildRequest) -> Self {
        ImageOptions {
            base_image: request.base_image.clone(),
            builder_image: request.builder_image.clone(),
            python: request.python.clone(),
            find_links: request.find_links.is_some(),
            git_token: request.git_token.is_some(),
        }
    }
}

/// A `file://` remote the lock names, brought into the context as a bare
/// copy in `git/<folder>`.
#[derive(Debug, Clone)]
struct LocalRemote {
    url: String,
    path: PathBuf,
    folder: String,
}

/// Everything a build of one mode needs, read and checked, nothing written.
struct Prepared {
    mode: Mode,
    spec: ImageSpec,
    /// The core's `pyproject.toml` for the mode.
    pyproject: String,
    lock: Vec<u8>,
    remotes: Vec<LocalRemote>,
    packages: Vec<ImagePackage>,
    /// `<core>:<mode>` when nothing names the tags.
    default_tag: String,
    tags: Vec<String>,
}

/// The core's `[project]` name, version and first script, when written.
fn core_project(pyproject: &str) -> (Option<String>, Option<String>, Option<String>) {
    let Ok(pyproject) = PyprojectMut::read(pyproject) else {
        return (None, None, None);
    };
    let text = |key: &str| pyproject.project_text(key).map(str::to_string);
    let script = pyproject
        .script_names()
        .first()
        .map(|name| name.to_string());
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

/// The packages a `uv.lock` installs, and the git URLs it locks.
fn locked(lock: &[u8], managed: &BTreeSet<String>) -> (Vec<ImagePackage>, BTreeSet<String>) {
    let packages = hpm_core::lockfile::packages(&String::from_utf8_lossy(lock));
    let git_urls = packages
        .iter()
        .filter_map(|package| package.git_url().map(str::to_string))
        .collect();
    let packages = packages
        .into_iter()
        .map(|package| ImagePackage {
            managed: managed.contains(&normalize_name(&package.name)),
            source: package
                .source
                .map(|(kind, value)| format!("{kind}: {value}")),
            name: package.name,
            version: package.version,
        })
        .collect();
    (packages, git_urls)
}

/// The bare copies the context needs: every locked `file://` git URL, in a
/// folder named after its last component (numbered when two share one).
fn local_remotes(git_urls: &BTreeSet<String>) -> Vec<LocalRemote> {
    let mut taken = BTreeSet::new();
    let mut remotes = Vec::new();
    for url in git_urls {
        let Some(path) = url::Url::parse(url)
            .ok()
            .filter(|parsed| parsed.scheme() == "file")
            .and_then(|parsed| parsed.to_file_path().ok())
        else {
            continue;
        };
        let stem = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| "remote".to_string());
        let mut folder = stem.clone();
        let mut number = 2;
        while !taken.insert(folder.clone()) {
            folder = format!("{stem}-{number}");
            number += 1;
        }
        remotes.push(LocalRemote {
            url: url.clone(),
            path,
            folder,
        });
    }
    remotes
}

/// The mode's lock: the workspace's own when it is synced in that mode,
/// else the snapshot its last sync in that mode left.
fn mode_lock(workspace: &Workspace, inputs: &Inputs, mode: &Mode) -> Result<Vec<u8>> {
    let synced_in_mode = inputs
        .state
        .last_sync
        .as_ref()
        .is_some_and(|last| &last.mode == mode);
    let lock = if synced_in_mode {
        inputs.uv_lock.clone()
    } else {
        let snapshot = workspace.lock_snapshot_path(mode);
        read_optional(&snapshot).map_err(|e| Error::read(&snapshot, e))?
    };
    lock.ok_or_else(|| Error::Refused {
        message: format!("there is no lock of {mode} mode yet: the image installs the lock a sync in that mode tested"),
        hint: Some(format!("run `hpmctl switch {mode}` once (you can switch back after)")),
    })
}

/// The default base for the project's Python: `python:X.Y-slim` for the
/// version `.python-version` names, else [`DEFAULT_BASE_IMAGE`]; and the
/// line that says which and why.
fn base_for_project(root: &Path) -> (String, String) {
    let file = root.join(".python-version");
    let pinned = std::fs::read_to_string(&file).ok().and_then(|text| {
        text.lines()
            .map(str::trim)
            .find(|line| !line.is_empty() && !line.starts_with('#'))
            .map(str::to_string)
    });
    match pinned {
        Some(version)
            if !version.is_empty()
                && version.split('.').count() <= 3
                && version
                    .split('.')
                    .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit())) =>
        {
            (
                format!("python:{version}-slim"),
                format!("base: python:{version}-slim, the Python `.python-version` names"),
            )
        }
        Some(other) => (
            DEFAULT_BASE_IMAGE.to_string(),
            format!(
                "base: {DEFAULT_BASE_IMAGE}: `.python-version` says `{other}`, which is not a CPython version a python image is tagged with; name a base with `image.base_image`"
            ),
        ),
        None => (
            DEFAULT_BASE_IMAGE.to_string(),
            format!("base: {DEFAULT_BASE_IMAGE} (no `.python-version`; `image.base_image` names another)"),
        ),
    }
}

/// The arguments among the workspace's `uv_args` that choose what `uv
/// sync` installs (extras and dependency groups), which the image must
/// choose alike; and the others, left out.
fn install_selection(uv_args: &[String]) -> (Vec<String>, Vec<String>) {
    const WITH_VALUE: [&str; 5] = [
        "--extra",
        "--no-extra",
        "--group",
        "--no-group",
        "--only-group",
    ];
    const ALONE: [&str; 6] = [
        "--all-extras",
        "--no-dev",
        "--only-dev",
        "--all-groups",
        "--no-default-groups",
        "--dev",
    ];
    let mut selection = Vec::new();
    let mut left_out = Vec::new();
    let mut args = uv_args.iter();
    while let Some(arg) = args.next() {
        let flag = arg.split('=').next().unwrap_or_default();
        if WITH_VALUE.contains(&flag) {
            selection.push(arg.clone());
            if !arg.contains('=') {
                selection.extend(args.next().cloned());
            }
        } else if ALONE.contains(&flag) {
            selection.push(arg.clone());
        } else {
            left_out.push(arg.clone());
        }
    }
    (selection, left_out)
}

/// Reads and checks what a build of `mode` needs.
fn prepare(workspace: &Workspace, mode: &Mode, options: &ImageOptions) -> Result<Prepared> {
    let checked = checked_mode(workspace, mode)?;
    let lock = mode_lock(workspace, &checked.inputs, mode)?;
    let plan = checked.pinned.into_plan();
    let managed: BTreeSet<String> = plan
        .packages
        .iter()
        .map(|package| normalize_name(&package.name))
        .collect();
    let (packages, git_urls) = locked(&lock, &managed);
    let remotes = local_remotes(&git_urls);

    let inputs = &checked.inputs;
    let settings = &inputs.manifest.image;
    let (name, version, script) = core_project(&checked.pyproject);
    let mut imports: Vec<String> = plan
        .packages
        .iter()
        .map(|package| module(&package.name))
        .collect();
    imports.extend(name.as_deref().map(module));
    let command = if settings.command.is_empty() {
        script.into_iter().collect()
    } else {
        settings.command.clone()
    };
    let git_auth = git_auth(&git_urls, options);
    let installing = Installing::of(workspace, inputs, mode, options);
    let spec = ImageSpec {
        base_image: installing.base_image,
        builder_image: options
            .builder_image
            .clone()
            .or_else(|| settings.builder_image.clone()),
        uv_version: Uv::for_caller(workspace.caller())?.version,
        python: options
            .python
            .clone()
            .or_else(|| settings.python.clone())
            .unwrap_or_else(|| DEFAULT_PYTHON.to_string()),
        builder_packages: settings.builder_packages.clone(),
        sync_args: installing.sync_args,
        provenance: installing.provenance,
        command,
        imports,
        git_sources: !git_urls.is_empty(),
        remote_git: git_urls.len() > remotes.len(),
        git_auth,
        find_links: options.find_links,
        local_remotes: remotes
            .iter()
            .map(|remote| (remote.url.clone(), remote.folder.clone()))
            .collect(),
        labels: labels(workspace.root(), mode, name.as_deref(), version.as_deref()),
    };
    let default_tag = format!(
        "{}:{}",
        name.as_deref()
            .map(normalize_name)
            .unwrap_or_else(|| "app".to_string()),
        mode
    );
    Ok(Prepared {
        mode: mode.clone(),
        spec,
        pyproject: checked.pyproject,
        lock,
        remotes,
        packages,
        default_tag,
        tags: settings.tags.clone(),
    })
}

/// What the build's git sources need: an ssh agent for ssh URLs, the
/// token (when the user gives one) for https ones.
fn git_auth(git_urls: &BTreeSet<String>, options: &ImageOptions) -> GitAuth {
    let over = |schemes: &[&str]| {
        git_urls.iter().any(|url| {
            let url = url.strip_prefix("git+").unwrap_or(url);
            schemes.iter().any(|scheme| url.starts_with(scheme))
        })
    };
    GitAuth {
        ssh: over(&["ssh://"]),
        token: options.git_token && over(&["https://", "http://"]),
    }
}

/// A mode checked as a build needs it: its plan pinned, no local source
/// anywhere (the export's checks), the core's file rendered for it.
struct CheckedMode {
    inputs: Inputs,
    pinned: hpm_core::pin::PinnedPlan,
    pyproject: String,
}

fn checked_mode(workspace: &Workspace, mode: &Mode) -> Result<CheckedMode> {
    crate::transaction::refuse_interrupted(workspace)?;
    let inputs = Inputs::read(workspace)?;
    let resolved = inputs.resolve(workspace, mode, &BTreeMap::new())?;
    refuse_local_packages(&resolved.plan, mode.as_str())?;
    let pinned = validate::validate(workspace, resolved.plan, resolved.problems)?;
    let text = inputs.pyproject_text(workspace)?;
    export_text(
        text,
        &pinned,
        &ExportOptions {
            mode: mode.as_str(),
            to_core: "..",
            with_core: false,
            previously_managed: &inputs.state.managed,
            owned: &inputs.state.workspace_members,
        },
        &workspace.pyproject_path(),
    )?;
    let pyproject = inputs.render_pyproject(workspace, &pinned)?.text;
    Ok(CheckedMode {
        inputs,
        pinned,
        pyproject,
    })
}

/// The image's OCI labels: where its source is and at which commit, the
/// core's version and name, hpm's mode.
fn labels(
    root: &Path,
    mode: &Mode,
    name: Option<&str>,
    version: Option<&str>,
) -> Vec<(String, String)> {
    let (revision, origin) = core_revision(root);
    let oci = |key: &str, value: Option<String>| {
        value.map(|value| (format!("org.opencontainers.image.{key}"), value))
    };
    [
        oci("source", origin),
        oci("revision", revision),
        oci("version", version.map(str::to_string)),
        oci("title", name.map(str::to_string)),
        Some(("dev.hpm.mode".to_string(), mode.to_string())),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// What the image is built on and installs with, and why: the base image
/// (asked for, set in `hpm.yaml`, or matching the core's Python), and the
/// `uv sync` arguments of `settings.uv_args` that choose what is installed.
struct Installing {
    base_image: String,
    sync_args: Vec<String>,
    provenance: Vec<String>,
}

impl Installing {
    fn of(workspace: &Workspace, inputs: &Inputs, mode: &Mode, options: &ImageOptions) -> Self {
        let settings = &inputs.manifest.image;
        let mut provenance = Vec::new();
        let named = options
            .base_image
            .clone()
            .or_else(|| settings.base_image.clone());
        let base_image = named.unwrap_or_else(|| {
            let (base, why) = base_for_project(workspace.root());
            provenance.push(why);
            base
        });
        let (selection, left_out) = install_selection(&inputs.manifest.settings.uv_args);
        if !selection.is_empty() {
            provenance.push(format!(
                "from hpm.yaml settings.uv_args, as `hpmctl switch {mode}` installs: {}",
                selection.join(" ")
            ));
        }
        if !left_out.is_empty() {
            provenance.push(format!(
                "left out of settings.uv_args (they do not choose what is installed): {}",
                left_out.join(" ")
            ));
        }
        let mut sync_args = selection;
        sync_args.extend(settings.uv_args.iter().cloned());
        Installing {
            base_image,
            sync_args,
            provenance,
        }
    }
}

/// The Dockerfile and `.dockerignore` for `mode`.
pub fn dockerfile(
    workspace: &Workspace,
    mode: &Mode,
    options: &ImageOptions,
) -> Result<DockerContext> {
    Ok(render(&prepare(workspace, mode, options)?.spec))
}

/// Writes `context` as `Dockerfile.hpm` and `Dockerfile.hpm.dockerignore`
/// in the workspace root, each atomically; returns their paths.
pub fn write(workspace: &Workspace, context: &DockerContext) -> Result<Vec<PathBuf>> {
    let dockerfile = workspace.root().join(DOCKERFILE);
    let ignore = workspace.root().join(format!("{DOCKERFILE}.dockerignore"));
    for (path, text) in [
        (&dockerfile, &context.dockerfile),
        (&ignore, &context.dockerignore),
    ] {
        write_atomic(path, text.as_bytes()).map_err(|error| Error::write(path, error))?;
    }
    Ok(vec![dockerfile, ignore])
}

/// The image folder of `mode`: `.hpm/image/<mode>/`.
fn image_dir(workspace: &Workspace, mode: &Mode) -> PathBuf {
    workspace.state_dir().join("image").join(mode.as_str())
}

/// The engine program: the request's, the caller's `HPM_ENGINE`, or
/// `docker`; a bare name is looked up on `PATH`.
fn engine_program(caller: &Caller, request: &ImageBuildRequest) -> Result<PathBuf> {
    let named = request
        .engine
        .clone()
        .or_else(|| caller.var("HPM_ENGINE").filter(|v| !v.is_empty()))
        .unwrap_or_else(|| DEFAULT_ENGINE.to_string());
    if named.contains('/') {
        return Ok(PathBuf::from(named));
    }
    which::which(&named).map_err(|_| Error::EngineFailed {
        command: format!("{named} build"),
        status: "not found".to_string(),
        reason: format!("the container engine `{named}` is not on PATH"),
        hint: Some(
            "install Docker (Debian: `apt-get install docker.io`) or Podman, or name the engine with `--engine PROGRAM` (a path such as `/usr/bin/docker` works)"
                .to_string(),
        ),
    })
}

/// Whether `program` is Docker's CLI (BuildKit's `--progress` and
/// `--iidfile` flags, `DOCKER_BUILDKIT`) rather than Podman.
fn is_docker(program: &Path) -> bool {
    program
        .file_name()
        .is_some_and(|name| name.to_string_lossy().contains("docker"))
}

/// The engine's `build` argument vector.
fn build_args(
    request: &ImageBuildRequest,
    program: &Path,
    spec: &ImageSpec,
    context: &Path,
    tags: &[String],
    iidfile: &Path,
) -> Vec<String> {
    let mut args = vec!["build".to_string()];
    if is_docker(program) {
        args.push("--progress=plain".to_string());
    }
    args.push("--iidfile".to_string());
    args.push(iidfile.display().to_string());
    args.push("--file".to_string());
    args.push(context.join("Dockerfile").display().to_string());
    for tag in tags {
        args.push("--tag".to_string());
        args.push(tag.clone());
    }
    if let Some(platform) = &request.platform {
        args.push("--platform".to_string());
        args.push(platform.clone());
    }
    if let Some(network) = &request.network {
        args.push("--network".to_string());
        args.push(network.clone());
    }
    if spec.git_auth.ssh {
        args.push("--ssh".to_string());
        args.push("default".to_string());
    }
    if spec.git_auth.token {
        args.push("--secret".to_string());
        args.push(format!("id={GIT_TOKEN_SECRET},env={GIT_TOKEN_ENV}"));
    }
    args.push(context.display().to_string());
    args
}

/// Builds (and with `push`, pushes) the image of the request's mode,
/// passing each line of the engine's output to `on_line`.
pub fn build(
    workspace: &Workspace,
    request: &ImageBuildRequest,
    on_line: &mut dyn FnMut(&str),
    cancel: &CancelToken,
) -> Result<ImageReport> {
    let prepared = prepare(workspace, &request.mode, &ImageOptions::from(request))?;
    let program = engine_program(workspace.caller(), request)?;
    let tags = tags_of(request, &prepared);
    let dir = image_dir(workspace, &prepared.mode);
    let context = dir.join("context");
    let iidfile = dir.join("image-id");
    let digest_file = dir.join("push-digest");
    let engine = program.display().to_string();
    let command = |args: Vec<String>| std::iter::once(engine.clone()).chain(args).collect();
    let mut commands: Vec<Vec<String>> = vec![command(build_args(
        request,
        &program,
        &prepared.spec,
        &context,
        &tags,
        &iidfile,
    ))];
    if request.push {
        commands.extend(
            tags.iter()
                .map(|tag| command(push_args(&program, tag, &digest_file))),
        );
    }
    let mut report = ImageReport {
        mode: prepared.mode.clone(),
        image_id: None,
        tags: tags.clone(),
        pushed: Vec::new(),
        size: None,
        packages: prepared.packages.clone(),
        dockerfile: dockerfile_of(workspace, &context),
        context: context.clone(),
        commands,
        dry_run: request.dry_run,
    };
    if request.dry_run {
        return Ok(report);
    }

    workspace.ensure_state_dir()?;
    lay_out(workspace, &prepared, &dir, request.find_links.as_deref())?;
    let options = engine_options(workspace, &program, &dir);
    let build_options = with_token(&options, &prepared, request);
    let _ = std::fs::remove_file(&iidfile);
    run_engine(
        &program,
        &report.commands[0][1..],
        &dir,
        &build_options,
        on_line,
        cancel,
    )
    .map_err(|error| for_platform(error, request.platform.as_deref()))?;
    let image_id = read_image_id(&iidfile)?;
    report.size = inspect_size(&program, &image_id, &dir);
    report.image_id = Some(image_id);
    if request.push {
        let pushing = Pushing {
            program: &program,
            dir: &dir,
            digest_file: &digest_file,
            options: &options,
        };
        for tag in &tags {
            report.pushed.push(pushing.push(tag, on_line, cancel)?);
        }
    }
    Ok(report)
}

/// The Dockerfile a build uses: the user's `Dockerfile.hpm` beside
/// `hpm.yaml` when there is one, else the one hpm writes in `context`.
fn dockerfile_of(workspace: &Workspace, context: &Path) -> PathBuf {
    let edited = workspace.root().join(DOCKERFILE);
    match edited.is_file() {
        true => edited,
        false => context.join("Dockerfile"),
    }
}

/// The built image's id, as the engine wrote it to `iidfile`.
fn read_image_id(iidfile: &Path) -> Result<String> {
    let text = std::fs::read_to_string(iidfile).map_err(|e| Error::read(iidfile, e))?;
    Ok(text.trim().to_string())
}

/// The engine's options for the build: the token reaches the build's
/// engine alone, in its environment, when a git source needs it.
fn with_token(
    options: &RunOptions,
    prepared: &Prepared,
    request: &ImageBuildRequest,
) -> RunOptions {
    let mut build_options = options.clone();
    if let (true, Some(token)) = (prepared.spec.git_auth.token, &request.git_token) {
        build_options
            .env
            .push((GIT_TOKEN_ENV.to_string(), token.clone()));
    }
    build_options
}

/// The tags asked for, else `hpm.yaml`'s, else `<core>:<mode>`.
fn tags_of(request: &ImageBuildRequest, prepared: &Prepared) -> Vec<String> {
    if !request.tags.is_empty() {
        request.tags.clone()
    } else if !prepared.tags.is_empty() {
        prepared.tags.clone()
    } else {
        vec![prepared.default_tag.clone()]
    }
}

/// How the engine runs for the caller: its pid recorded in `dir` (for a
/// cancel), BuildKit on for Docker.
fn engine_options(workspace: &Workspace, program: &Path, dir: &Path) -> RunOptions {
    let mut env = Vec::new();
    if is_docker(program) {
        env.push(("DOCKER_BUILDKIT".to_string(), "1".to_string()));
    }
    RunOptions {
        pid_file: Some(dir.join("engine.pid")),
        env,
        caller: workspace.caller().clone(),
        ..RunOptions::default()
    }
}

/// Where and how the built image's tags are pushed.
struct Pushing<'a> {
    program: &'a Path,
    dir: &'a Path,
    digest_file: &'a Path,
    options: &'a RunOptions,
}

impl Pushing<'_> {
    /// Pushes `tag`; answers it with the registry's digest (Docker prints
    /// it; Podman writes it to `--digestfile`).
    fn push(
        &self,
        tag: &str,
        on_line: &mut dyn FnMut(&str),
        cancel: &CancelToken,
    ) -> Result<PushedTag> {
        let args = push_args(self.program, tag, self.digest_file);
        let _ = std::fs::remove_file(self.digest_file);
        let mut digest = None;
        run_engine(
            self.program,
            &args,
            self.dir,
            self.options,
            &mut |line| {
                if let Some(found) = push_digest(line) {
                    digest = Some(found);
                }
                on_line(line);
            },
            cancel,
        )?;
        let written = std::fs::read_to_string(self.digest_file)
            .ok()
            .map(|text| text.trim().to_string())
            .filter(|text| text.starts_with("sha256:"));
        let digest = digest.or(written).ok_or_else(|| Error::EngineFailed {
            command: format!("{} push {tag}", self.program.display()),
            status: "no digest".to_string(),
            reason: format!("the push of `{tag}` ended without the registry's digest"),
            hint: None,
        })?;
        Ok(PushedTag {
            tag: tag.to_string(),
            digest,
        })
    }
}

/// The engine's `push` argument vector: Podman writes the digest to a file.
fn push_args(program: &Path, tag: &str, digest_file: &Path) -> Vec<String> {
    let mut args = vec!["push".to_string()];
    if !is_docker(program) {
        args.push("--digestfile".to_string());
        args.push(digest_file.display().to_string());
    }
    args.push(tag.to_string());
    args
}

/// `sha256:…` in a docker push's `<tag>: digest: sha256:… size: N` line.
fn push_digest(line: &str) -> Option<String> {
    let start = line.find("digest: sha256:")? + "digest: ".len();
    let digest: String = line[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == ':')
        .collect();
    (digest.len() == "sha256:".len() + 64).then_some(digest)
}

/// The image's size as the engine reports it.
fn inspect_size(program: &Path, image_id: &str, dir: &Path) -> Option<u64> {
    let mut out = String::new();
    let args = [
        "image".to_string(),
        "inspect".to_string(),
        "--format".to_string(),
        "{{.Size}}".to_string(),
        image_id.to_string(),
    ];
    let finished = process::run(
        program,
        &args,
        dir,
        &RunOptions::default(),
        &mut |line| out.push_str(line),
        &CancelToken::new(),
    )
    .ok()?;
    finished
        .status
        .success()
        .then(|| out.trim().parse().ok())
        .flatten()
}

/// Runs one engine command; a failure carries the engine's last lines and
/// the hint that fits them.
fn run_engine(
    program: &Path,
    args: &[String],
    dir: &Path,
    options: &RunOptions,
    on_line: &mut dyn FnMut(&str),
    cancel: &CancelToken,
) -> Result<()> {
    let command = std::iter::once(program.display().to_string())
        .chain(args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    // BuildKit writes a failing step's output to stdout with --progress=plain;
    // keep the last lines of both streams for the error.
    let mut last: Vec<String> = Vec::new();
    let result = process::run(
        program,
        args,
        dir,
        options,
        &mut |line| {
            last.push(line.to_string());
            if last.len() > 30 {
                last.remove(0);
            }
            on_line(line);
        },
        cancel,
    );
    match result {
        Ok(finished) if finished.status.success() => Ok(()),
        Ok(finished) => {
            let reason = last.join("\n");
            Err(Error::EngineFailed {
                command,
                status: finished.status.to_string(),
                hint: engine_hint(&reason),
                reason,
            })
        }
        Err(RunError::Spawn(error)) => Err(Error::EngineFailed {
            command,
            status: "could not start".to_string(),
            reason: error.to_string(),
            hint: Some(
                "check `--engine` (or `HPM_ENGINE`): it names a program that cannot run"
                    .to_string(),
            ),
        }),
        Err(RunError::PidFile(path, error)) => Err(Error::write(path, error)),
        Err(RunError::Wait(error)) => Err(Error::internal(format!(
            "waiting for the container engine failed: {error}"
        ))),
        Err(RunError::Cancelled) => Err(Error::BuildCancelled),
        Err(RunError::TimedOut(_)) => Err(Error::BuildCancelled),
    }
}

/// A build for another platform that could not find its base images: the
/// engine looked for that platform's variant, which local images lack.
fn for_platform(error: Error, platform: Option<&str>) -> Error {
    match (error, platform) {
        (
            Error::EngineFailed {
                command,
                status,
                reason,
                ..
            },
            Some(platform),
        ) if reason.contains("load metadata for") => Error::EngineFailed {
            hint: Some(format!(
                "the engine has no `{platform}` variant of an image the Dockerfile starts from, and could not fetch one: pull the bases for `{platform}` (or name such images with `--base-image` and `--builder-image`); running another architecture's steps also needs emulation (binfmt with QEMU)"
            )),
            command,
            status,
            reason,
        },
        (error, _) => error,
    }
}

/// What to do next after the engine failed with `output`.
fn engine_hint(output: &str) -> Option<String> {
    if output.contains("needs to be updated, but `--locked`") {
        return Some(
            "the mode's `uv.lock` does not match its `pyproject.toml`: run `hpmctl sync` in that mode (or `hpmctl switch MODE`), then build again"
                .to_string(),
        );
    }
    if output.contains("requires BuildKit") || output.contains("buildx component") {
        return Some(
            "this engine cannot run BuildKit builds (`RUN --mount`): use a docker CLI with BuildKit, such as Debian's `--engine /usr/bin/docker`, or Podman"
                .to_string(),
        );
    }
    if output.contains("load metadata for") && output.contains("failed to do request") {
        return Some(
            "the engine cannot fetch an image the Dockerfile starts from: pull it where the network allows, or name images the engine has with `--base-image` and `--builder-image` (`image.base_image`, `image.builder_image` in hpm.yaml)"
                .to_string(),
        );
    }
    if output.contains("Cannot connect to the Docker daemon") {
        return Some(
            "start the Docker daemon, or point `DOCKER_HOST` at the socket of the one you use"
                .to_string(),
        );
    }
    if output.contains("could not read Username")
        || output.contains("Authentication failed")
        || output.contains("The requested URL returned error: 401")
        || output.contains("The requested URL returned error: 403")
    {
        return Some(format!(
            "a git source asked for credentials: give the build a token that can read it in `{GIT_TOKEN_ENV}` (or name the variable with `--git-token-env VAR`); for `ssh://` sources, run an ssh-agent that holds the key"
        ));
    }
    if output.contains("Failed to import") || output.contains("ModuleNotFoundError") {
        return Some(
            "the image's smoke test could not import a package: check its module name and that its wheel holds it"
                .to_string(),
        );
    }
    None
}

/// Lays the build context out afresh under `dir` (hpm's own folder): the
/// new one is filled beside the old and swapped in whole.
fn lay_out(
    workspace: &Workspace,
    prepared: &Prepared,
    dir: &Path,
    find_links: Option<&Path>,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::write(dir, e))?;
    let fresh = dir.join("context.new");
    remove_tree(&fresh)?;
    let project = fresh.join("project");
    copy_core(workspace, &project)?;
    write_new(
        &project.join("pyproject.toml"),
        prepared.pyproject.as_bytes(),
    )?;
    write_new(&project.join("uv.lock"), &prepared.lock)?;
    for remote in &prepared.remotes {
        mirror(remote, &fresh.join("git").join(&remote.folder))?;
    }
    if let Some(wheels) = find_links {
        copy_wheels(workspace, wheels, &fresh.join("wheels"))?;
    }
    let generated = render(&prepared.spec);
    let edited = workspace.root().join(DOCKERFILE);
    let dockerfile = match read_optional(&edited).map_err(|e| Error::read(&edited, e))? {
        Some(bytes) => bytes,
        None => generated.dockerfile.into_bytes(),
    };
    write_new(&fresh.join("Dockerfile"), &dockerfile)?;
    write_new(
        &fresh.join(".dockerignore"),
        generated.dockerignore.as_bytes(),
    )?;
    let context = dir.join("context");
    remove_tree(&context)?;
    std::fs::rename(&fresh, &context).map_err(|e| Error::write(&context, e))
}

fn remove_tree(path: &Path) -> Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::write(path, e)),
        _ => Ok(()),
    }
}

fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::write(parent, e))?;
    }
    crate::fsutil::write_atomic(path, bytes).map_err(|e| Error::write(path, e))
}

/// The core's files that git tracks (its index: committed or staged),
/// as they are in the work tree, without what is hpm's or the
/// environment's: `.hpm`, `.venv`, the dev clones, export and mode folders,
/// folder registries, the written Dockerfile, and the `pyproject.toml` and
/// `uv.lock` the context gets for the mode. Nothing git does not track
/// goes in: an untracked `.env` or key stays on the machine. Only plain
/// files are copied (a link could reach outside the core).
fn copy_core(workspace: &Workspace, project: &Path) -> Result<()> {
    let root = workspace.root();
    let manifest = workspace.load_manifest()?;
    let mut left_out: BTreeSet<PathBuf> = [
        ".hpm",
        ".venv",
        "pyproject.toml",
        "uv.lock",
        "dev",
        "staging",
        "prod",
        DOCKERFILE,
    ]
    .iter()
    .map(|name| root.join(name))
    .collect();
    left_out.insert(root.join(format!("{DOCKERFILE}.dockerignore")));
    left_out.insert(root.join(&manifest.settings.packages_dir));
    for location in &manifest.registry {
        if let hpm_core::manifest::RegistryLocation::Folder(path)
        | hpm_core::manifest::RegistryLocation::Path { path } = location
        {
            left_out.insert(root.join(path));
        }
    }
    let untracked = |detail: String| Error::Refused {
        message: format!(
            "the image's context holds only the files git tracks, and `{}` {detail}",
            root.display()
        ),
        hint: Some("`git init` there and `git add` the files the image needs".to_string()),
    };
    let repository = git2::Repository::discover(root)
        .map_err(|e| untracked(format!("is not in a git repository ({})", e.message())))?;
    let workdir = repository
        .workdir()
        .ok_or_else(|| untracked("is in a bare repository".to_string()))?
        .to_path_buf();
    let index = repository
        .index()
        .map_err(|e| untracked(format!("has an index git2 cannot read ({})", e.message())))?;
    std::fs::create_dir_all(project).map_err(|e| Error::write(project, e))?;
    for entry in index.iter() {
        const GITLINK: u32 = 0o160000;
        if entry.mode == GITLINK {
            continue;
        }
        let Ok(relative) = std::str::from_utf8(&entry.path) else {
            continue;
        };
        let path = workdir.join(relative);
        let Ok(inside) = path.strip_prefix(root) else {
            continue;
        };
        if left_out.iter().any(|out| path.starts_with(out))
            || inside
                .components()
                .any(|part| part.as_os_str() == "__pycache__")
        {
            continue;
        }
        let is_file = std::fs::symlink_metadata(&path).is_ok_and(|meta| meta.is_file());
        if !is_file {
            continue;
        }
        let target = project.join(inside);
        if let Some(folder) = target.parent() {
            std::fs::create_dir_all(folder).map_err(|e| Error::write(folder, e))?;
        }
        std::fs::copy(&path, &target).map_err(|e| Error::write(&target, e))?;
    }
    Ok(())
}

/// A bare mirror of a `file://` remote (every branch and tag), as git
/// makes it.
fn mirror(remote: &LocalRemote, into: &Path) -> Result<()> {
    let args = [
        "clone".to_string(),
        "--mirror".to_string(),
        "--quiet".to_string(),
        remote.path.display().to_string(),
        into.display().to_string(),
    ];
    let parent = into.parent().unwrap_or(into);
    std::fs::create_dir_all(parent).map_err(|e| Error::write(parent, e))?;
    // A path on this machine: no credentials, nothing of the caller's.
    crate::git::cli::run(
        &crate::caller::Caller::this_process(),
        parent,
        &args,
        "the image's context copies the `file://` remotes the lock names with it",
    )?
    .map_err(|said| Error::Refused {
        message: format!(
            "cannot copy the locked remote `{}` into the image's context:\n{said}",
            remote.url
        ),
        hint: Some("check that the remote still exists and is readable; `hpmctl sync` re-locks when it moved".to_string()),
    })
}

/// The wheelhouse's wheels and source archives, into `wheels/`.
fn copy_wheels(workspace: &Workspace, from: &Path, into: &Path) -> Result<()> {
    let from = if from.is_absolute() {
        from.to_path_buf()
    } else {
        workspace.root().join(from)
    };
    let entries = std::fs::read_dir(&from).map_err(|e| Error::read(&from, e))?;
    std::fs::create_dir_all(into).map_err(|e| Error::write(into, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::read(&from, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".whl") || name.ends_with(".tar.gz") || name.ends_with(".zip") {
            let target = into.join(&name);
            std::fs::copy(entry.path(), &target).map_err(|e| Error::write(&target, e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_push_line_gives_its_digest() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(
            push_digest(&format!("prod: digest: {digest} size: 1234")),
            Some(digest)
        );
        assert_eq!(push_digest("Pushed"), None);
        assert_eq!(push_digest("digest: sha256:abc"), None);
    }

    #[test]
    fn the_lock_gives_packages_and_git_urls_without_query_or_commit() {
        let lock = br#"version = 1
[[package]]
name = "plugin-a"
version = "1.0.0"
source = { git = "file:///srv/plugin-a.git?tag=v1.0.0#0123" }

[[package]]
name = "core-app"
version = "0.1.0"
source = { editable = "." }
"#;
        let managed = BTreeSet::from(["plugin-a".to_string()]);
        let (packages, urls) = locked(lock, &managed);
        assert_eq!(
            urls.into_iter().collect::<Vec<_>>(),
            ["file:///srv/plugin-a.git"]
        );
        assert_eq!(packages.len(), 2);
        assert!(packages[0].managed && !packages[1].managed);
        assert_eq!(packages[1].source.as_deref(), Some("editable: ."));
    }

    #[test]
    fn two_remotes_of_one_name_get_two_folders() {
        let urls = BTreeSet::from([
            "file:///a/plugin.git".to_string(),
            "file:///b/plugin.git".to_string(),
            "https://example.org/x.git".to_string(),
        ]);
        let folders: Vec<String> = local_remotes(&urls)
            .into_iter()
            .map(|remote| remote.folder)
            .collect();
        assert_eq!(folders, ["plugin.git", "plugin.git-2"]);
    }
}
