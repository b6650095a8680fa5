//! `hpmctl cancel`: stop the workspace's running sync in the daemon.

use super::Context;

pub async fn run(context: &Context) -> anyhow::Result<()> {
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
