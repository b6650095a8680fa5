//! The commands that change the environment (`sync`, `switch`, `use`,
//! `dev`, `reset`, `group add|remove`, `add`, `remove`): each is one
//! reconcile. `dev` and `add` offer to clone what is missing, on a terminal.

use std::io::{IsTerminal, Write};

use hpm_protocol::{codes, Change};

use super::Context;
use crate::failure::Failure;
use crate::render;

/// Runs `change`; with `offer_clone`, a missing dev clone is offered on a
/// terminal and the change retried with `clone: true` when accepted.
pub async fn apply(context: &Context, change: Change, offer_clone: bool) -> anyhow::Result<()> {
    let workspace = context.workspace()?;
    if context.dry_run {
        return dry_run(context, &workspace, change).await;
    }
    let backend = context.backend().await?;
    let report = match backend
        .apply(&workspace, change.clone(), context.json)
        .await
    {
        Err(failure)
            if failure.code == codes::CLONE_NEEDED && offer_clone && confirm(&failure)? =>
        {
            let Some(change) = with_clone(change) else {
                return Err(failure.into());
            };
            backend.apply(&workspace, change, context.json).await?
        }
        other => other?,
    };
    if context.json {
        return render::json(&report);
    }
    render::out(&render::sync_report(&report))
}

/// `change` with consent to clone, for the changes that may clone.
fn with_clone(change: Change) -> Option<Change> {
    match change {
        Change::Use { packages, mode, .. } => Some(Change::Use {
            packages,
            mode,
            clone: true,
        }),
        Change::Add { spec, sync, .. } => Some(Change::Add {
            spec,
            sync,
            clone: true,
        }),
        _ => None,
    }
}

/// Asks on a terminal whether to clone; `false` (and the error stands) elsewhere.
fn confirm(failure: &Failure) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    eprintln!("{}", failure.message);
    eprint!("Clone them now? [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// `--dry-run`: the change computed in this process (it reads, and writes
/// nothing, so it needs no daemon), printed.
async fn dry_run(
    context: &Context,
    workspace: &hpm_engine::workspace::Workspace,
    change: Change,
) -> anyhow::Result<()> {
    use hpm_engine::ops::{dry_run, sync::Request};
    let mut request = Request::from_change(&change).map_err(Failure::from)?;
    // What would be cloned is shown, never done.
    request.options.clone_missing = true;
    let workspace = workspace.clone();
    let report = tokio::task::spawn_blocking(move || dry_run::dry_run(&workspace, &request))
        .await
        .map_err(|e| Failure::internal(format!("the dry run crashed: {e}")))?
        .map_err(Failure::from)?;
    if context.json {
        render::json(&report)?;
    } else {
        render::out(&render::dry_run(&report))?;
    }
    match (report.resolves, report.uv_reason) {
        (Some(false), reason) => Err(Failure::user(
            hpm_protocol::codes::BACKEND_FAILED,
            format!(
                "the change would not resolve: uv says\n{}",
                reason.unwrap_or_default()
            ),
            Some("nothing was changed; fix the registry or the requirement, and try the dry run again".to_string()),
        )
        .into()),
        _ => Ok(()),
    }
}
