//! `hpmctl image dockerfile`: print (or, with `--write`, put in the
//! workspace) the prod image's Dockerfile and `.dockerignore`.

use hpm_core::Mode;
use hpm_engine::ops::image::{self, ImageOptions};
use hpm_protocol::codes;

use super::Context;
use crate::failure::Failure;
use crate::render;

pub fn dockerfile(
    context: &Context,
    mode: &str,
    options: &ImageOptions,
    write: bool,
) -> anyhow::Result<()> {
    let workspace = context.workspace()?;
    let mode = Mode::new(mode).map_err(|e| Failure::user(codes::INVALID_INPUT, e, None))?;
    let docker = image::dockerfile(&workspace, &mode, options).map_err(Failure::from)?;
    if write {
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
    render::out(&docker.dockerfile)?;
    eprintln!("# .dockerignore:\n{}", docker.dockerignore);
    Ok(())
}
