//! `hpmctl check`: CI's checks; a failed check exits 1. `--mode M` checks
//! another mode without switching, `--all-modes` every mode the workspace
//! names.

use hpm_core::Mode;
use hpm_protocol::codes;

use super::Context;
use crate::failure::Failure;
use crate::render;

pub async fn run(context: &Context, mode: Option<&str>, all_modes: bool) -> anyhow::Result<()> {
    let workspace = context.workspace()?;
    let backend = context.backend().await?;
    let reports = match (mode, all_modes) {
        (None, false) => vec![backend.check(&workspace).await?],
        (Some(mode), _) => {
            let mode = Mode::new(mode).map_err(|problem| {
                Failure::user(codes::INVALID_INPUT, problem.to_string(), None)
            })?;
            backend.check_modes(&workspace, vec![mode]).await?
        }
        (None, true) => backend.check_modes(&workspace, Vec::new()).await?,
    };
    if context.json {
        match (mode, all_modes) {
            (None, true) => render::json(&reports)?,
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
