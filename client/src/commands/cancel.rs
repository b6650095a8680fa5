//! `hpmctl cancel`: stop the workspace's running sync in the daemon.

use super::Context;

async fn run(context: &Context) -> anyhow::Result<()> {
    let workspace = context.workspace()?;
    let was_running = context.backend().await?.cancel(&workspace).await?;
    eprintln!(
        "{}",
        if was_running {
            "cancelled; files are being restored"
        } else {
            "nothing was running"
        }
    );
    Ok(())
}

/// Cancel the workspace's running sync (files are restored).
#[derive(Debug, clap::Args)]
pub struct Args {}

impl Args {
    pub async fn exec(self, context: &Context) -> anyhow::Result<()> {
        run(context).await
    }
}
