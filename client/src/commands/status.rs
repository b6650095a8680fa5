//! `hpmctl status`: the mode, and per package its mode, source, installed
//! version and clone state.

use super::Context;
use crate::render;

async fn run(context: &Context) -> anyhow::Result<()> {
    let workspace = context.workspace()?;
    let report = context.backend().await?.status(&workspace).await?;
    if context.json {
        return render::json(&report);
    }
    render::out(&render::status(&report))
}

/// Show the workspace's mode and each package's mode, source and version.
#[derive(Debug, clap::Args)]
pub struct Args {}

impl Args {
    pub async fn exec(self, context: &Context) -> anyhow::Result<()> {
        run(context).await
    }
}
