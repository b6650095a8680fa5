//! `hpmctl`: the command people and scripts type.
//!
//! Thin by design: parse arguments, run the operation, render the result
//! (a table for people, JSON with `--json`), map errors to exit codes:
//! 0 ok, 1 a user-facing failure, 2 a usage or internal error.

mod render;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hpm::engine::{self, Progress, SyncRequest};
use hpm::manifest::Mode;
use hpm::uv::CancelToken;
use hpm::workspace::Workspace;

#[derive(Debug, Parser)]
#[command(
    name = "hpmctl",
    version,
    about = "hpm: switch a many-repo Python product between dev, staging and prod"
)]
struct Cli {
    /// The workspace root (default: the nearest folder above holding hpm.yaml).
    #[arg(long, global = true, value_name = "DIR")]
    workspace: Option<PathBuf>,
    /// Print JSON on stdout instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write an hpm.yaml and an empty registry folder for an existing project.
    Init,
    /// Show the workspace's mode and each package's mode, source and version.
    Status,
    #[command(flatten)]
    Change(ChangeCommand),
}

/// Commands that change the environment: each is one reconcile.
#[derive(Debug, Subcommand)]
enum ChangeCommand {
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
    /// Put packages into dev mode and sync.
    Dev {
        #[arg(required = true)]
        packages: Vec<String>,
    },
    /// Drop a package's own mode (it follows the workspace again) and sync.
    Reset { package: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HPM_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let json = cli.json;
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let code = match error.downcast_ref::<hpm::Error>() {
                Some(hpm::Error::Internal { .. }) | None => 2,
                Some(_) => 1,
            };
            if json {
                println!("{}", render::error_json(&error));
            }
            eprintln!("error: {error:#}");
            ExitCode::from(code)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let start = match &cli.workspace {
        Some(dir) => dir.clone(),
        None => std::env::current_dir()?,
    };
    let find_workspace = || match &cli.workspace {
        Some(dir) => Workspace::at(dir),
        None => Workspace::locate(&start),
    };
    match cli.command {
        Command::Init => init(&start),
        Command::Status => render::status(&hpm::status::status(&find_workspace()?)?, cli.json),
        Command::Change(change) => {
            let workspace = find_workspace()?;
            let request = sync_request(change)?;
            let json = cli.json;
            let mut on_progress = |progress: Progress| render::progress(&progress, json);
            let report = engine::sync(&workspace, &request, &mut on_progress, &CancelToken::new())?;
            render::sync_report(&report, json)
        }
    }
}

fn sync_request(change: ChangeCommand) -> anyhow::Result<SyncRequest> {
    Ok(match change {
        ChangeCommand::Sync { mode, force } => SyncRequest {
            run_mode: mode.as_deref().map(parse_mode).transpose()?,
            force,
            ..SyncRequest::default()
        },
        ChangeCommand::Switch { mode } => SyncRequest {
            switch_to: Some(parse_mode(&mode)?),
            ..SyncRequest::default()
        },
        ChangeCommand::Use { package, mode } => SyncRequest {
            overrides: BTreeMap::from([(package, Some(parse_mode(&mode)?))]),
            ..SyncRequest::default()
        },
        ChangeCommand::Dev { packages } => {
            let dev = parse_mode("dev")?;
            SyncRequest {
                overrides: packages
                    .into_iter()
                    .map(|p| (p, Some(dev.clone())))
                    .collect(),
                ..SyncRequest::default()
            }
        }
        ChangeCommand::Reset { package } => SyncRequest {
            overrides: BTreeMap::from([(package, None)]),
            ..SyncRequest::default()
        },
    })
}

fn parse_mode(name: &str) -> anyhow::Result<Mode> {
    Mode::new(name).map_err(anyhow::Error::msg)
}

/// `hpmctl init`: a starting manifest and registry folder beside an existing
/// `pyproject.toml`; never overwrites.
fn init(root: &std::path::Path) -> anyhow::Result<()> {
    let manifest = root.join(hpm::manifest::MANIFEST_FILE);
    if manifest.exists() {
        anyhow::bail!(
            "`{}` already exists; hpm left it as it is",
            manifest.display()
        );
    }
    if !root.join(hpm::pyproject::PYPROJECT_FILE).is_file() {
        anyhow::bail!(
            "`{}` has no pyproject.toml\n  hint: run `hpmctl init` in your core project's root (or `uv init` first)",
            root.display()
        );
    }
    std::fs::create_dir_all(root.join("hpm-registry"))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&manifest)?;
    file.write_all(render::INITIAL_MANIFEST.as_bytes())?;
    eprintln!(
        "wrote {} and hpm-registry/; add packages and run `hpmctl sync`",
        manifest.display()
    );
    Ok(())
}
