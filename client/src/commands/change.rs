//! The commands that change the environment (`sync`, `switch`, `use`,
//! `dev`, `reset`, `group add|remove`, `add`, `remove`): each is one
//! reconcile. `dev` and `add` offer to clone what is missing, on a terminal.

use std::io::{IsTerminal, Write};

use hpm_protocol::{codes, AddPackage, Change, RemovePackage};

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

/// Commands that change the environment: each is one reconcile.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Reconcile the environment with the manifest now.
    Sync {
        /// The mode for this run only (also `RUN_MODE`).
        #[arg(long, env = "RUN_MODE")]
        mode: Option<String>,
        /// Run uv even when nothing changed.
        #[arg(long)]
        force: bool,
    },
    /// Set the workspace's mode and sync.
    Switch { mode: String },
    /// Put one package in a mode of its own and sync.
    Use { package: String, mode: String },
    /// Put packages into dev mode (cloning missing ones) and sync.
    Dev {
        #[arg(required = true)]
        packages: Vec<String>,
        /// Clone missing packages without asking.
        #[arg(long, short)]
        yes: bool,
    },
    /// Drop a package's own mode (it follows the workspace again) and sync.
    Reset { package: String },
    /// Add a package: write its registry entry (refs checked on the remote; without --prod/--staging the highest stable and .devN tags are proposed), list it in hpm.yaml, and sync.
    Add {
        package: String,
        /// Its git repository (also the clone URL for dev).
        #[arg(long, value_name = "URL")]
        git: Option<String>,
        /// The prod ref (default: the remote's highest stable tag).
        #[arg(long, value_name = "REF")]
        prod: Option<String>,
        /// The staging ref (default: the remote's highest .devN tag).
        #[arg(long, value_name = "REF")]
        staging: Option<String>,
        /// The dev folder (default: packages_dir/NAME).
        #[arg(long, value_name = "PATH")]
        dev: Option<String>,
        /// Prod from PyPI at this version instead of a git ref.
        #[arg(long, value_name = "VERSION")]
        pypi: Option<String>,
        /// Add it as an option of this group instead of to `packages:`.
        #[arg(long)]
        group: Option<String>,
        /// The registry folder for the entry (default: the manifest's first folder).
        #[arg(long, value_name = "DIR")]
        registry: Option<String>,
        /// Write the files only.
        #[arg(long)]
        no_sync: bool,
        /// Clone it when its dev folder is missing, without asking.
        #[arg(long, short)]
        yes: bool,
    },
    /// Take a package out of hpm.yaml (its registry entry stays unless --registry-too) and sync.
    Remove {
        package: String,
        /// Delete its registry entry file too.
        #[arg(long)]
        registry_too: bool,
        /// Write the files only.
        #[arg(long)]
        no_sync: bool,
    },
}

impl Command {
    pub async fn exec(self, context: &Context) -> anyhow::Result<()> {
        let (change, offer_clone) = protocol_change(self);
        apply(context, change, offer_clone).await
    }
}

/// The protocol change a command asks for, and whether to offer cloning.
fn protocol_change(command: Command) -> (Change, bool) {
    match command {
        Command::Sync { mode, force } => (Change::Sync { mode, force }, false),
        Command::Switch { mode } => (Change::Switch { mode }, false),
        Command::Use { package, mode } => (
            Change::Use {
                packages: vec![package],
                mode: Some(mode),
                clone: false,
            },
            false,
        ),
        Command::Dev { packages, yes } => (
            Change::Use {
                packages,
                mode: Some("dev".into()),
                clone: yes,
            },
            !yes,
        ),
        Command::Reset { package } => (
            Change::Use {
                packages: vec![package],
                mode: None,
                clone: false,
            },
            false,
        ),
        Command::Add {
            package,
            git,
            prod,
            staging,
            dev,
            pypi,
            group,
            registry,
            no_sync,
            yes,
        } => (
            Change::Add {
                spec: AddPackage {
                    package,
                    git,
                    prod,
                    staging,
                    dev,
                    pypi,
                    group,
                    registry,
                },
                sync: !no_sync,
                clone: yes,
            },
            !yes,
        ),
        Command::Remove {
            package,
            registry_too,
            no_sync,
        } => (
            Change::Remove {
                spec: RemovePackage {
                    package,
                    registry_too,
                },
                sync: !no_sync,
            },
            false,
        ),
    }
}
