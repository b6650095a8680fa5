//! `hpmctl image dockerfile`: print (or, with `--write`, put in the
//! workspace) the prod image's Dockerfile and `.dockerignore`.
//! `hpmctl image build`: build (and push) it, in the daemon or in-process.

use std::path::PathBuf;

use hpm_core::Mode;
use hpm_engine::ops::image::{self, ImageOptions};
use hpm_protocol::codes;
use hpm_protocol::report::ImageBuildRequest;

use super::Context;
use crate::failure::Failure;
use crate::render;

fn mode(name: &str) -> Result<Mode, Failure> {
    Mode::new(name).map_err(|e| Failure::user(codes::INVALID_INPUT, e, None))
}

fn dockerfile(
    context: &Context,
    mode_name: &str,
    options: &ImageOptions,
    write: bool,
) -> anyhow::Result<()> {
    let workspace = context.workspace()?;
    let mode = mode(mode_name)?;
    let docker = image::dockerfile(&workspace, &mode, options).map_err(Failure::from)?;
    if write && !context.dry_run {
        let written = image::write(&workspace, &docker).map_err(Failure::from)?;
        if context.json {
            return render::json(&written);
        }
        for path in written {
            eprintln!("wrote {}", path.display());
        }
        return Ok(());
    }
    if context.json {
        return render::json(&serde_json::json!({
            "dockerfile": docker.dockerfile,
            "dockerignore": docker.dockerignore,
        }));
    }
    if write {
        eprintln!(
            "dry run: would write {0} and {0}.dockerignore:",
            image::DOCKERFILE
        );
    }
    render::out(&docker.dockerfile)?;
    eprintln!("# .dockerignore:\n{}", docker.dockerignore);
    Ok(())
}

/// The prod image: its Dockerfile, and a build (and push) with a container engine.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Print the Dockerfile (and .dockerignore) hpm would build MODE's image with; --write puts them in the workspace as Dockerfile.hpm.
    Dockerfile(Dockerfile),
    /// Build MODE's image from its lock in a context under .hpm/image/ (any local source refused), tag it, and with --push push each tag.
    Build(Build),
}

impl Args {
    pub async fn exec(self, context: &Context) -> anyhow::Result<()> {
        match self.action {
            Action::Dockerfile(args) => {
                let options = ImageOptions {
                    base_image: args.base_image,
                    builder_image: args.builder_image,
                    python: args.python,
                    find_links: args.find_links.is_some(),
                    git_token: git_token(args.git_token_env.as_deref())?.is_some(),
                };
                dockerfile(context, &args.mode, &options, args.write)
            }
            Action::Build(args) => build(context, args).await,
        }
    }
}

/// What `hpmctl image dockerfile` is given.
#[derive(Debug, clap::Args)]
pub struct Dockerfile {
    #[arg(long, default_value = "prod")]
    mode: String,
    /// Write Dockerfile.hpm and Dockerfile.hpm.dockerignore in the workspace.
    #[arg(long)]
    write: bool,
    /// The runtime (and default builder) base image.
    #[arg(long, value_name = "IMG")]
    base_image: Option<String>,
    /// A builder image that already has uv.
    #[arg(long, value_name = "IMG")]
    builder_image: Option<String>,
    /// The interpreter both stages use (absolute).
    #[arg(long, value_name = "PATH")]
    python: Option<String>,
    /// The Dockerfile installs offline from the wheelhouse `image build --find-links DIR` copies into the context.
    #[arg(long, value_name = "DIR")]
    find_links: Option<PathBuf>,
    /// The variable holding a token for the locked https:// git sources (default HPM_GIT_TOKEN; given to the build as a BuildKit secret).
    #[arg(long, value_name = "VAR")]
    git_token_env: Option<String>,
}

/// What `hpmctl image build` is given.
#[derive(Debug, clap::Args)]
pub struct Build {
    #[arg(long, default_value = "prod")]
    pub mode: String,
    /// A name for the image (repeatable); default: image.tags, else <core>:<mode>.
    #[arg(long = "tag", short = 't', value_name = "REF")]
    pub tags: Vec<String>,
    /// Push every tag after the build.
    #[arg(long)]
    pub push: bool,
    /// The target platform (linux/amd64, linux/arm64).
    #[arg(long, value_name = "P")]
    pub platform: Option<String>,
    /// The runtime (and default builder) base image.
    #[arg(long, value_name = "IMG")]
    pub base_image: Option<String>,
    /// A builder image that already has uv.
    #[arg(long, value_name = "IMG")]
    pub builder_image: Option<String>,
    /// The interpreter both stages use (absolute).
    #[arg(long, value_name = "PATH")]
    pub python: Option<String>,
    /// The container engine: docker (default; HPM_ENGINE), podman, or a path.
    #[arg(long, value_name = "PROGRAM")]
    pub engine: Option<String>,
    /// A wheelhouse copied into the context and used offline (UV_OFFLINE, UV_FIND_LINKS).
    #[arg(long, value_name = "DIR")]
    pub find_links: Option<PathBuf>,
    /// The build's network: none for a hermetic build, host, or default.
    #[arg(long, value_name = "MODE")]
    pub network: Option<String>,
    /// The variable holding a token for the locked https:// git sources (default HPM_GIT_TOKEN; given to the build as a BuildKit secret).
    #[arg(long, value_name = "VAR")]
    pub git_token_env: Option<String>,
}

/// The git token for the build: the variable `--git-token-env` names
/// (which must then be set), else `HPM_GIT_TOKEN` when it is.
fn git_token(named: Option<&str>) -> Result<Option<String>, Failure> {
    let name = named.unwrap_or(image::GIT_TOKEN_ENV);
    match std::env::var(name).ok().filter(|value| !value.is_empty()) {
        Some(token) => Ok(Some(token)),
        None if named.is_some() => Err(Failure::user(
            codes::INVALID_INPUT,
            format!("`--git-token-env {name}`: the variable `{name}` is not set (or is empty) in this shell"),
            Some(format!("export {name}=<a token that can read the git sources>, or leave `--git-token-env` out for public sources")),
        )),
        None => Ok(None),
    }
}

async fn build(context: &Context, build: Build) -> anyhow::Result<()> {
    let workspace = context.workspace()?;
    let request = ImageBuildRequest {
        mode: mode(&build.mode)?,
        tags: build.tags,
        push: build.push,
        platform: build.platform,
        base_image: build.base_image,
        builder_image: build.builder_image,
        python: build.python,
        engine: build.engine,
        // The daemon's working folder is not the shell's.
        find_links: build
            .find_links
            .map(|dir| std::path::absolute(&dir).unwrap_or(dir)),
        network: build.network,
        git_token: git_token(build.git_token_env.as_deref())?,
        dry_run: context.dry_run,
    };
    let report = context
        .backend()
        .await?
        .image_build(&workspace, request, context.json)
        .await?;
    if context.json {
        return render::json(&report);
    }
    render::out(&render::image(&report))
}
