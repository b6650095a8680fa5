//! `hpmctl check`: CI's checks; a failed check exits 1. `--mode M` checks
//! another mode without switching, `--all-modes` every mode the workspace
//! names, `--staged` what is staged for commit (a pre-commit hook).

use hpm_core::Mode;
use hpm_protocol::codes;

use super::Context;
use crate::failure::Failure;
use crate::render;

/// What to check.
enum Which {
    /// The current mode.
    Current,
    /// Another mode, without switching.
    Mode(String),
    /// Every mode the workspace names.
    AllModes,
    /// The `pyproject.toml` staged for commit, against `hpm.yaml`'s mode.
    Staged,
}

async fn run(context: &Context, which: Which) -> anyhow::Result<()> {
    let workspace = context.workspace()?;
    let backend = context.backend().await?;
    let reports = match &which {
        Which::Current => vec![backend.check(&workspace).await?],
        Which::Staged => vec![backend.check_staged(&workspace).await?],
        Which::Mode(mode) => {
            let mode = Mode::new(mode).map_err(|problem| {
                Failure::user(codes::INVALID_INPUT, problem.to_string(), None)
            })?;
            backend.check_modes(&workspace, vec![mode]).await?
        }
        Which::AllModes => backend.check_modes(&workspace, Vec::new()).await?,
    };
    if context.json {
        match which {
            Which::AllModes => render::json(&reports)?,
            _ => render::json(&reports[0])?,
        }
    }
    let (passed, failed) = render::checks(&reports);
    if !context.json {
        render::out(&passed)?;
    }
    match failed {
        None => Ok(()),
        Some(failures) => Err(Failure::user(codes::INVALID_INPUT, failures, None).into()),
    }
}

/// For CI: manifest valid, pyproject.toml matches the plan, lock current, no local sources outside dev, no internal package from an index.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Check this mode without switching (also `RUN_MODE`): its plan validates, and its export folder is current, or what a switch would write resolves.
    #[arg(
        long,
        env = "RUN_MODE",
        value_name = "MODE",
        conflicts_with = "all_modes"
    )]
    mode: Option<String>,
    /// Check every mode the workspace names, the current one first.
    #[arg(long)]
    all_modes: bool,
    /// For a pre-commit hook: the pyproject.toml staged for commit is what hpm writes for hpm.yaml's mode, whatever mode this clone is in.
    #[arg(long, conflicts_with_all = ["mode", "all_modes"])]
    staged: bool,
}

impl Args {
    pub async fn exec(self, context: &Context) -> anyhow::Result<()> {
        let which = match (self.mode, self.all_modes, self.staged) {
            (_, _, true) => Which::Staged,
            (_, true, _) => Which::AllModes,
            (Some(mode), _, _) => Which::Mode(mode),
            (None, false, false) => Which::Current,
        };
        run(context, which).await
    }
}
