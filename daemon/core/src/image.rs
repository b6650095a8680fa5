//! The prod image's Dockerfile, as text, from what the workspace says (pure:
//! the caller gathers the inputs). It follows uv's Docker guide:
//!
//! - a `builder` stage on the builder image (default: the base with uv
//!   copied in from the official uv image, pinned to the uv hpm runs), with
//!   `UV_COMPILE_BYTECODE=1`, `UV_LINK_MODE=copy`, `UV_PYTHON_DOWNLOADS=never`
//!   and an absolute `UV_PYTHON`, git only when a source needs it, uv's cache
//!   as a BuildKit cache mount (never a layer);
//! - `deps`: `uv sync --locked --no-install-project --no-editable` with
//!   `uv.lock` and `pyproject.toml` bind-mounted, so the dependencies form
//!   layers a code change does not touch; then the app's code and a second
//!   `uv sync --locked --no-editable`;
//! - `runtime`: the same base, a non-root user, the venv (the app installed
//!   in it, non-editable) copied from `deps`, `PATH` set, and an import of every managed package run as
//!   a build step, so a broken image fails the build.
//!
//! Never a `# syntax=` line (it needs Docker Hub), never a heredoc or
//! `COPY --link` (older frontends reject them), never a secret: private
//! git sources reach uv through `--mount=type=ssh` or a BuildKit secret
//! mount, not build arguments or layers.

use std::fmt::Write as _;

/// How private git sources authenticate inside the build: neither (public
/// remotes, or `file://` ones brought into the context), either, or both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GitAuth {
    /// `RUN --mount=type=ssh`: the build's SSH agent (`--ssh default`).
    pub ssh: bool,
    /// The BuildKit secret [`GIT_TOKEN_SECRET`], mounted for the `uv sync`
    /// steps and answered by a git credential helper that reads the file
    /// when a server asks: the token is never in a layer, an argument or a
    /// variable.
    pub token: bool,
}

/// The id of the BuildKit secret holding the git token.
pub const GIT_TOKEN_SECRET: &str = "git_token";

/// The user name git sends with the token. GitHub wants this one; GitLab
/// and Gitea take any name with a token as the password.
const GIT_TOKEN_USER: &str = "x-access-token";

/// Everything the Dockerfile depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    /// The runtime base, and the builder's unless `builder_image` is set.
    pub base_image: String,
    /// An image that already has uv.
    pub builder_image: Option<String>,
    /// The uv version hpm runs (the `ghcr.io/astral-sh/uv:<version>` image).
    pub uv_version: String,
    /// The interpreter both stages use, absolute (the venv links to it).
    pub python: String,
    /// Debian packages the builder needs beyond git.
    pub builder_packages: Vec<String>,
    /// Extra `uv sync` arguments (`--extra cu124`).
    pub sync_args: Vec<String>,
    /// Where the base and the `uv sync` arguments came from, said at the
    /// top of the Dockerfile (one comment line each).
    pub provenance: Vec<String>,
    /// The app's command (exec form).
    pub command: Vec<String>,
    /// The import names of the managed packages, and the app's own module.
    pub imports: Vec<String>,
    /// Whether any locked source is a git one (git goes into the builder).
    pub git_sources: bool,
    /// Whether a locked git source lives outside the context (its server
    /// is reached during the build, so a wheelhouse build cannot be
    /// offline: uv refuses remote git fetches then, and `--no-index`
    /// keeps the index out instead).
    pub remote_git: bool,
    pub git_auth: GitAuth,
    /// A wheelhouse in the context (`wheels/`), used offline.
    pub find_links: bool,
    /// Bare copies of `file://` remotes in the context (`git/`), mapped back
    /// onto their URLs with `insteadOf`: (URL as locked, folder in `git/`).
    pub local_remotes: Vec<(String, String)>,
    /// OCI labels (`org.opencontainers.image.*` keys and hpm's own).
    pub labels: Vec<(String, String)>,
}

/// The Dockerfile and the `.dockerignore` of the build context. The
/// context is laid out as `project/` (the core's files with its
/// `pyproject.toml` for the mode and the mode's `uv.lock`), `git/` (bare
/// copies of `file://` remotes) and `wheels/` (the wheelhouse): only the
/// venv built from them reaches the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerContext {
    pub dockerfile: String,
    pub dockerignore: String,
}

const VENV: &str = "/app/.venv";

/// A JSON string (Dockerfile exec form and label values take them).
fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| format!("\"{text}\""))
}

fn exec_form(words: &[String]) -> String {
    let words: Vec<String> = words.iter().map(|word| quoted(word)).collect();
    format!("[{}]", words.join(", "))
}

/// `text` as one shell word.
fn shell_word(text: &str) -> String {
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/:._-+=@%,".contains(c))
    {
        return text.to_string();
    }
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// The git settings one `uv sync` step runs with: each local remote's
/// locked URL mapped onto its bare copy in the context, and the token's
/// credential helper.
fn git_config(spec: &ImageSpec) -> Vec<(String, String)> {
    let mut config: Vec<(String, String)> = spec
        .local_remotes
        .iter()
        .map(|(url, folder)| {
            (
                format!("url.file:///src/git/{folder}.insteadOf"),
                url.clone(),
            )
        })
        .collect();
    if spec.git_auth.token {
        config.push((
            "credential.helper".to_string(),
            format!(
                "!f() {{ if test \"$1\" = get; then echo username={GIT_TOKEN_USER}; echo \"password=$(cat /run/secrets/{GIT_TOKEN_SECRET})\"; fi; }}; f"
            ),
        ));
    }
    config
}

/// `config` as the `GIT_CONFIG_*` variables of one `RUN`.
fn git_config_env(config: &[(String, String)]) -> String {
    if config.is_empty() {
        return String::new();
    }
    let mut env = format!("GIT_CONFIG_COUNT={} ", config.len());
    for (index, (key, value)) in config.iter().enumerate() {
        let _ = write!(
            env,
            "GIT_CONFIG_KEY_{index}={} GIT_CONFIG_VALUE_{index}={} ",
            shell_word(key),
            shell_word(value)
        );
    }
    env
}

/// The mounts and the prefix one `uv sync` step runs with.
fn sync_step(spec: &ImageSpec, project: bool) -> String {
    let mut mounts = vec!["--mount=type=cache,target=/root/.cache/uv".to_string()];
    if !project {
        mounts.push("--mount=type=bind,source=project/uv.lock,target=/app/uv.lock".to_string());
        mounts.push(
            "--mount=type=bind,source=project/pyproject.toml,target=/app/pyproject.toml"
                .to_string(),
        );
    }
    if !spec.local_remotes.is_empty() {
        mounts.push("--mount=type=bind,source=git,target=/src/git".to_string());
    }
    if spec.find_links {
        mounts.push("--mount=type=bind,source=wheels,target=/src/wheels".to_string());
    }
    if spec.git_auth.ssh {
        mounts.push("--mount=type=ssh".to_string());
    }
    if spec.git_auth.token {
        mounts.push(format!("--mount=type=secret,id={GIT_TOKEN_SECRET}"));
    }
    let prefix = git_config_env(&git_config(spec));
    let mut args = vec!["--locked".to_string(), "--no-editable".to_string()];
    if !project {
        args.push("--no-install-project".to_string());
    }
    if spec.find_links && spec.remote_git {
        args.push("--no-index".to_string());
    }
    args.extend(spec.sync_args.iter().cloned());
    format!(
        "RUN {} \\\n    {prefix}uv sync {}",
        mounts.join(" \\\n    "),
        args.join(" ")
    )
}

/// The Dockerfile and `.dockerignore` for `spec`: a header saying where
/// things come from, then the stages builder → deps → runtime.
pub fn dockerfile(spec: &ImageSpec) -> DockerContext {
    let mut out = String::new();
    header(&mut out, spec);
    builder_stage(&mut out, spec);
    deps_stage(&mut out, spec);
    runtime_stage(&mut out, spec);
    let dockerignore = [
        "# Generated by hpm: only the locked project, the app's code, and what hpm brings in.",
        ".git",
        ".hpm",
        ".venv",
        "**/__pycache__",
        "**/*.pyc",
        "packages",
        "staging",
        "prod",
        "hpm-registry",
        "Dockerfile.hpm",
        "",
    ]
    .join("\n");
    DockerContext {
        dockerfile: out,
        dockerignore,
    }
}

/// What the file is, what the context holds, and why the spec chose what
/// it did (its provenance lines).
fn header(out: &mut String, spec: &ImageSpec) {
    let _ = writeln!(
        out,
        "# Generated by hpm (`hpmctl image dockerfile`): builder → deps → runtime."
    );
    let _ = writeln!(
        out,
        "# Dependencies come from uv.lock alone; the runtime holds only the venv (the app"
    );
    let _ = writeln!(
        out,
        "# installed in it, non-editable). The context `hpmctl image build` lays out under"
    );
    let _ = writeln!(
        out,
        "# .hpm/image/<mode>/: project/ (the core's files, its pyproject.toml for the mode,"
    );
    let _ = writeln!(
        out,
        "# uv.lock), git/ (bare copies of file:// remotes), wheels/ (--find-links)."
    );
    for line in &spec.provenance {
        let _ = writeln!(out, "# {}", line.replace('\n', " "));
    }
    let _ = writeln!(out);
}

/// uv's image, and the builder: uv, git and the packages the build needs,
/// uv's settings for a locked, offline-capable install.
fn builder_stage(out: &mut String, spec: &ImageSpec) {
    let _ = writeln!(out, "FROM ghcr.io/astral-sh/uv:{} AS uv", spec.uv_version);
    let _ = writeln!(out);
    let builder = spec.builder_image.as_deref().unwrap_or(&spec.base_image);
    let _ = writeln!(out, "FROM {builder} AS builder");
    if spec.builder_image.is_none() {
        let _ = writeln!(out, "COPY --from=uv /uv /uvx /usr/local/bin/");
    }
    let mut packages: Vec<String> = Vec::new();
    if spec.git_auth.ssh {
        packages.push("openssh-client".to_string());
    }
    packages.extend(spec.builder_packages.iter().cloned());
    if !packages.is_empty() {
        if spec.git_sources {
            packages.insert(0, "git".to_string());
        }
        let _ = writeln!(
            out,
            "RUN apt-get update && apt-get install -y --no-install-recommends {} && rm -rf /var/lib/apt/lists/*",
            packages.join(" ")
        );
    } else if spec.git_sources {
        // uv needs git for git sources; slim bases lack it (uv#9200). A
        // builder image that has it needs no package index.
        let _ = writeln!(
            out,
            "RUN command -v git >/dev/null \\\n    || (apt-get update && apt-get install -y --no-install-recommends git && rm -rf /var/lib/apt/lists/*)"
        );
    }
    let _ = writeln!(out, "ENV UV_COMPILE_BYTECODE=1 \\");
    let _ = writeln!(out, "    UV_LINK_MODE=copy \\");
    let _ = writeln!(out, "    UV_PYTHON_DOWNLOADS=never \\");
    let _ = writeln!(out, "    UV_PYTHON={} \\", spec.python);
    if spec.find_links {
        if !spec.remote_git {
            let _ = writeln!(out, "    UV_OFFLINE=1 \\");
        }
        let _ = writeln!(out, "    UV_FIND_LINKS=/src/wheels \\");
    }
    let _ = writeln!(out, "    UV_PROJECT_ENVIRONMENT={VENV}");
    let _ = writeln!(out, "WORKDIR /app");
    let _ = writeln!(out);
}

/// The dependencies from the lock alone (a layer the app's code does not
/// invalidate), then the app installed into the same venv.
fn deps_stage(out: &mut String, spec: &ImageSpec) {
    let _ = writeln!(out, "FROM builder AS deps");
    let _ = writeln!(out, "{}", sync_step(spec, false));
    let _ = writeln!(out, "COPY project /app");
    let _ = writeln!(out, "{}", sync_step(spec, true));
    let _ = writeln!(out);
}

/// The runtime: the base image, labels, an unprivileged user, the venv
/// alone, an import check of every package, the command.
fn runtime_stage(out: &mut String, spec: &ImageSpec) {
    let _ = writeln!(out, "FROM {} AS runtime", spec.base_image);
    for (key, value) in &spec.labels {
        let _ = writeln!(out, "LABEL {key}={}", quoted(value));
    }
    let _ = writeln!(
        out,
        "RUN (command -v useradd >/dev/null && useradd --system --uid 10001 --no-create-home app) \\\n    || echo 'app:x:10001:10001::/app:/sbin/nologin' >> /etc/passwd"
    );
    // The venv alone: the app is installed in it, so no source tree, no
    // uv, no git and no cache reach the runtime.
    let _ = writeln!(out, "COPY --from=deps {VENV} {VENV}");
    let _ = writeln!(out, "ENV PATH={VENV}/bin:$PATH \\");
    let _ = writeln!(out, "    VIRTUAL_ENV={VENV}");
    let _ = writeln!(out, "WORKDIR /app");
    let _ = writeln!(out, "USER 10001:10001");
    if !spec.imports.is_empty() {
        let script = spec
            .imports
            .iter()
            .map(|module| format!("import {module}"))
            .collect::<Vec<_>>()
            .join("; ");
        let _ = writeln!(out, "# A broken image fails here, not in production.");
        let _ = writeln!(out, "RUN {VENV}/bin/python -c {}", quoted(&script));
    }
    if !spec.command.is_empty() {
        let _ = writeln!(out, "CMD {}", exec_form(&spec.command));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain() -> ImageSpec {
        ImageSpec {
            base_image: "python:3.12-slim".to_string(),
            builder_image: None,
            uv_version: "0.9.0".to_string(),
            python: "/usr/local/bin/python3.12".to_string(),
            builder_packages: Vec::new(),
            sync_args: Vec::new(),
            provenance: Vec::new(),
            command: vec!["core-app".to_string()],
            imports: vec![
                "plugin_a".to_string(),
                "plugin_b".to_string(),
                "core_app".to_string(),
            ],
            git_sources: true,
            remote_git: true,
            git_auth: GitAuth::default(),
            find_links: false,
            local_remotes: Vec::new(),
            labels: vec![
                (
                    "org.opencontainers.image.source".to_string(),
                    "https://github.com/acme/core".to_string(),
                ),
                (
                    "org.opencontainers.image.revision".to_string(),
                    "0a1b2c3d".to_string(),
                ),
                (
                    "org.opencontainers.image.version".to_string(),
                    "1.2.0".to_string(),
                ),
                ("dev.hpm.mode".to_string(), "prod".to_string()),
            ],
        }
    }

    #[test]
    fn a_plain_product() {
        insta::assert_snapshot!(dockerfile(&plain()).dockerfile);
    }

    #[test]
    fn a_product_with_extras_an_offline_wheelhouse_and_local_remotes() {
        let spec = ImageSpec {
            sync_args: vec!["--extra".to_string(), "cu124".to_string()],
            provenance: Vec::new(),
            builder_packages: vec!["build-essential".to_string()],
            find_links: true,
            remote_git: false,
            local_remotes: vec![
                (
                    "file:///srv/remotes/plugin-a.git".to_string(),
                    "plugin-a.git".to_string(),
                ),
                (
                    "file:///srv/remotes/plugin-b.git".to_string(),
                    "plugin-b.git".to_string(),
                ),
            ],
            ..plain()
        };
        insta::assert_snapshot!(dockerfile(&spec).dockerfile);
    }

    #[test]
    fn private_git_sources_over_ssh_and_with_a_token_secret() {
        let ssh = ImageSpec {
            git_auth: GitAuth {
                ssh: true,
                token: false,
            },
            ..plain()
        };
        insta::assert_snapshot!("ssh", dockerfile(&ssh).dockerfile);
        let token = ImageSpec {
            git_auth: GitAuth {
                ssh: false,
                token: true,
            },
            local_remotes: vec![(
                "file:///srv/remotes/plugin-a.git".to_string(),
                "plugin-a.git".to_string(),
            )],
            // A wheelhouse with a remote git source: `--no-index`, not offline.
            find_links: true,
            ..plain()
        };
        insta::assert_snapshot!("token", dockerfile(&token).dockerfile);
    }

    #[test]
    fn never_a_syntax_line_a_heredoc_a_copy_link_a_build_arg_or_a_secret_value() {
        for (ssh, token) in [(false, false), (true, false), (false, true), (true, true)] {
            let auth = GitAuth { ssh, token };
            let text = dockerfile(&ImageSpec {
                git_auth: auth,
                ..plain()
            })
            .dockerfile;
            assert!(!text.contains("# syntax"), "{text}");
            assert!(!text.contains("<<"), "{text}");
            assert!(!text.contains("--link"), "{text}");
            assert!(!text.contains("ARG "), "{text}");
            assert!(!text.to_lowercase().contains("ghp_"), "{text}");
            // The runtime stage holds no uv, no git, no cache.
            let runtime = &text[text.find("AS runtime").unwrap_or(0)..];
            assert!(
                !runtime.contains("uv sync") && !runtime.contains("apt-get install"),
                "{runtime}"
            );
        }
    }
}
