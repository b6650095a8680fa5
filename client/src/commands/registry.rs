//! `hpmctl registry update`: fetch the git registries and move the pins.

use super::Context;
use crate::render;

async fn update(context: &Context) -> anyhow::Result<()> {
    let workspace = context.workspace()?;
    let updates = context.backend().await?.registry_update(&workspace).await?;
    if context.json {
        return render::json(&updates);
    }
    render::out(&render::registry_update(&updates))
}

/// Git registries: fetch and move the workspace's pins.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Fetch each git registry and report packages added or removed and sources moved.
    Update,
}

impl Args {
    pub async fn exec(self, context: &Context) -> anyhow::Result<()> {
        match self.action {
            Action::Update => update(context).await,
        }
    }
}
