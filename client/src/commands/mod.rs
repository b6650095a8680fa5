//! One module per verb, cargo's way: each finds the workspace, makes one
//! call on the [`crate::backend::Backend`] (or the engine, for what needs
//! no daemon), and renders the typed answer.

pub mod cancel;
pub mod change;
pub mod check;
pub mod daemon;
pub mod doctor;
pub mod events;
pub mod export;
pub mod group;
pub mod image;
pub mod import;
pub mod init;
pub mod man;
pub mod registry;
pub mod release;
pub mod status;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use hpm_engine::caller::Caller;
use hpm_engine::workspace::Workspace;

use crate::failure::Failure;

/// What every command gets from the global options.
#[derive(Debug, Clone)]
pub struct Context {
    /// `--workspace DIR`, when given.
    pub workspace: Option<PathBuf>,
    /// Where to look for a workspace otherwise (the current folder).
    pub start: PathBuf,
    pub json: bool,
    pub no_daemon: bool,
    pub socket: PathBuf,
    /// Show the change a command would make; make none.
    pub dry_run: bool,
}

impl Context {
    /// `--workspace DIR`, else the nearest folder above holding `hpm.yaml`;
    /// its jobs run in this process for this terminal ([`Context::caller`]).
    pub fn workspace(&self) -> Result<Workspace, Failure> {
        let workspace = match &self.workspace {
            Some(dir) => Workspace::at(dir)?,
            None => Workspace::locate(&self.start)?,
        };
        Ok(workspace.for_caller(self.caller()))
    }

    /// Whom work done in this process runs for: its environment, and a
    /// person who may type a passphrase when stdin is a terminal.
    pub fn caller(&self) -> Caller {
        Caller::at_terminal(std::io::stdin().is_terminal())
    }

    /// The folder a command that makes a workspace works in.
    pub fn folder(&self) -> &Path {
        self.workspace.as_deref().unwrap_or(&self.start)
    }

    /// The daemon, or this process with `--no-daemon`.
    pub async fn backend(&self) -> anyhow::Result<Box<dyn crate::backend::Backend>> {
        crate::backend::backend(self.no_daemon, &self.socket).await
    }
}
