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

pub fn dockerfile(
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

/// What `hpmctl image build` was given.
pub struct Build {
    pub mode: String,
    pub tags: Vec<String>,
    pub push: bool,
    pub platform: Option<String>,
    pub base_image: Option<String>,
    pub builder_image: Option<String>,
    pub python: Option<String>,
    pub engine: Option<String>,
    pub find_links: Option<PathBuf>,
    pub network: Option<String>,
    pub git_token_env: Option<String>,
}

/// The git token for the build: the variable `--git-token-env` names
/// (which must then be set), else `HPM_GIT_TOKEN` when it is.
pub fn git_token(named: Option<&str>) -> Result<Option<String>, Failure> {
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

pub async fn build(context: &Context, build: Build) -> anyhow::Result<()> {
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
