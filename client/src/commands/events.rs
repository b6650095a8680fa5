//! `hpmctl events`: follow the daemon's event stream.

use std::io::Write;
use std::path::Path;

use hpm_protocol::{Event, EventBody, HpmApiClient};

use crate::failure::Failure;
use crate::{connect, render};

/// Prints every event until the daemon goes away or the user stops it.
async fn run(socket: &Path, json: bool) -> anyhow::Result<()> {
    let (client, _) = connect::connect_or_start(socket).await?;
    let mut subscription = client.subscribe_events().await?;
    let mut last_seq: Option<u64> = None;
    while let Some(event) = subscription.next().await {
        let event: Event = event?;
        if let Some(last) = last_seq {
            if event.seq != last + 1 {
                eprintln!(
                    "hpm: missed {} events; run `hpmctl status` to catch up",
                    event.seq.saturating_sub(last + 1)
                );
            }
        }
        last_seq = Some(event.seq);
        if json {
            render::out(&format!("{}\n", serde_json::to_string(&event)?))?;
        } else {
            render::out(&format!("{}\n", render::event(&event)?))?;
        }
        if matches!(
            event.body,
            EventBody::JobFailed { .. } | EventBody::JobFinished { .. }
        ) {
            std::io::stdout().flush()?;
        }
    }
    Err(Failure::user(
        hpm_protocol::codes::IO,
        "hpmd closed the event stream: it stopped or was replaced",
        Some("run `hpmctl events` again to follow the new daemon".to_string()),
    )
    .into())
}

/// Follow the daemon's event stream.
#[derive(Debug, clap::Args)]
pub struct Args {}

impl Args {
    pub async fn exec(self, context: &super::Context) -> anyhow::Result<()> {
        run(&context.socket, context.json).await
    }
}
