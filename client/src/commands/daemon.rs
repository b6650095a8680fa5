//! `hpmctl daemon start|stop|status`.

use std::path::Path;

use hpm_protocol::HpmApiClient;

use crate::{connect, render};

async fn start(socket: &Path, json: bool) -> anyhow::Result<()> {
    let (_, hello) = connect::connect_or_start(socket).await?;
    render::hello(Some(&hello), socket, json)
}

async fn status(socket: &Path, json: bool) -> anyhow::Result<()> {
    match connect::connect(socket).await {
        Ok(client) => render::hello(Some(&client.hello().await?), socket, json),
        Err(_) => render::hello(None, socket, json),
    }
}

async fn stop(socket: &Path) -> anyhow::Result<()> {
    let Ok(client) = connect::connect(socket).await else {
        eprintln!("hpmd is not running");
        return Ok(());
    };
    let asked = client.shutdown().await;
    drop(client);
    // A stopping daemon may close the connection before its answer leaves:
    // whether it goes away is what counts.
    if let Err(gone_error) = connect::wait_until_gone(socket).await {
        return Err(match asked {
            Err(error) => error.into(),
            Ok(()) => gone_error,
        });
    }
    eprintln!("hpmd stopped");
    Ok(())
}

/// Manage the daemon.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    Start,
    Stop,
    Status,
}

impl Args {
    pub async fn exec(self, context: &super::Context) -> anyhow::Result<()> {
        match self.action {
            Action::Start => start(&context.socket, context.json).await,
            Action::Stop => stop(&context.socket).await,
            Action::Status => status(&context.socket, context.json).await,
        }
    }
}
