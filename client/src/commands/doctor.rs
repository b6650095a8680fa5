//! `hpmctl doctor`: whether hpm can work here, each failure with its fix.
//! The daemon is reached (or started) and its version shown; git, uv and
//! the workspace's remotes are then checked by whoever runs the jobs (the
//! daemon, with this terminal's environment; this process with
//! `--no-daemon`). Exits 1 when a check fails.

use std::time::Instant;

use hpm_engine::ops;
use hpm_protocol::report::{DoctorCheck, DoctorReport, DoctorSubject};
use hpm_protocol::{codes, HpmApiClient, PROTOCOL_VERSION};

use super::Context;
use crate::backend::client_env;
use crate::failure::Failure;
use crate::render;

async fn run(context: &Context) -> anyhow::Result<()> {
    // Outside a workspace the tools are still worth checking.
    let workspace = context.workspace().ok();
    let report = if context.no_daemon {
        let caller = context.caller();
        let workspace = workspace.clone();
        tokio::task::spawn_blocking(move || ops::doctor::doctor(&caller, workspace.as_ref()))
            .await?
    } else {
        let started = Instant::now();
        match crate::connect::connect_or_start(&context.socket).await {
            Ok((client, hello)) => {
                let root = workspace.as_ref().map(|w| w.root().to_path_buf());
                let mut report = client.doctor(root, client_env()).await?;
                report.checks.insert(
                    0,
                    DoctorCheck {
                        subject: DoctorSubject::Daemon,
                        name: context.socket.display().to_string(),
                        ok: true,
                        detail: format!("hpmd {} (pid {})", hello.version, hello.pid),
                        hint: None,
                        millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                    },
                );
                report
            }
            Err(error) => DoctorReport {
                ok: false,
                checks: vec![DoctorCheck {
                    subject: DoctorSubject::Daemon,
                    name: context.socket.display().to_string(),
                    ok: false,
                    detail: format!("{error:#}"),
                    hint: Some(format!(
                        "see `hpmctl daemon` and the daemon's log; `hpmctl --no-daemon doctor` checks the rest without it (this hpmctl is {PROTOCOL_VERSION})"
                    )),
                    millis: 0,
                }],
            },
        }
    };
    if context.json {
        render::json(&report)?;
    } else {
        render::out(&render::doctor(&report))?;
    }
    if report.ok {
        Ok(())
    } else {
        Err(Failure::user(codes::INVALID_INPUT, "a check failed".to_string(), None).into())
    }
}

/// Whether hpm can work here: git and uv found, the daemon reachable, each remote of the workspace answering with your credentials.
#[derive(Debug, clap::Args)]
pub struct Args {}

impl Args {
    pub async fn exec(self, context: &Context) -> anyhow::Result<()> {
        run(context).await
    }
}
