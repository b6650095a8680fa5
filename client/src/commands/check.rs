//! `hpmctl check`: CI's checks; a failed check exits 1. `--mode M` checks
//! another mode without switching, `--all-modes` every mode the workspace
//! names, `--staged` what is staged for commit (a pre-commit hook).

use hpm_core::Mode;
use hpm_protocol::codes;

use super::Context;
use crate::failure::Failure;
use crate::render;

/// What to check.
pub enum Which {
    /// The current mode.
    Current,
    /// Another mode, without switching.
    Mode(String),
    /// Every mode the workspace names.
    AllModes,
    /// The `pyproject.toml` staged for commit, against `hpm.yaml`'s mode.
    Staged,
}

pub async fn run(context: &Context, which: Which) -> anyhow::Result<()> {
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
