//! `hpmctl`: the command people and scripts type.
//!
//! Thin by design: parse arguments, ask the daemon (started on demand) or,
//! with `--no-daemon`, the engine in-process, render the result (a table for
//! people, JSON with `--json`), and map failures to exit codes: 0 ok, 1 a
//! user-facing failure, 2 a usage or internal error.

mod connect;
mod failure;
mod render;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use failure::Failure;
use hpm::engine::{self, Progress};
use hpm::uv::CancelToken;
use hpm::workspace::Workspace;
use hpm_protocol::{codes, Change, Event, EventBody, HpmApiClient};
use jsonrpsee::ws_client::WsClient;
use serde_json::Value;

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
    /// Run the engine in this process; no daemon is started or left behind (for CI).
    #[arg(long, global = true, env = "HPM_NO_DAEMON", value_parser = clap::builder::FalseyValueParser::new())]
    no_daemon: bool,
    /// The daemon's socket.
    #[arg(long, global = true, env = "HPM_SOCKET", value_name = "PATH")]
    socket: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write an hpm.yaml and an empty registry folder for an existing project.
    Init,
    /// Show the workspace's mode and each package's mode, source and version.
    Status,
    /// For CI: manifest valid, pyproject.toml matches the plan, lock current, no local sources outside dev.
    Check,
    /// Follow the daemon's event stream.
    Events,
    /// Cancel the workspace's running sync (files are restored).
    Cancel,
    /// Manage the daemon.
    Daemon {
        #[command(subcommand)]
        action: DaemonAction,
    },
    /// Plugin groups: select, deselect, list.
    Group {
        #[command(subcommand)]
        action: GroupAction,
    },
    /// Git registries: fetch and move the workspace's pins.
    Registry {
        #[command(subcommand)]
        action: RegistryAction,
    },
    /// Print shell completions.
    Completions { shell: clap_complete::Shell },
    #[command(flatten)]
    Change(ChangeCommand),
}

#[derive(Debug, Subcommand)]
enum GroupAction {
    /// Select an option (an exclusive group's selection is replaced) and sync.
    Add {
        group: String,
        #[arg(long)]
        option: String,
    },
    /// Deselect an option and sync.
    Remove {
        group: String,
        #[arg(long)]
        option: String,
    },
    /// Each group with its options, the selected ones marked.
    List,
}

#[derive(Debug, Subcommand)]
enum RegistryAction {
    /// Fetch each git registry and report packages added or removed and sources moved.
    Update,
}

#[derive(Debug, Subcommand)]
enum DaemonAction {
    Start,
    Stop,
    Status,
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
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start: {error}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let failure = error.downcast_ref::<Failure>().cloned();
            if json {
                let body = failure.as_ref().map(Failure::to_json).unwrap_or_else(|| {
                    serde_json::json!({ "error": { "code": codes::INTERNAL, "message": format!("{error:#}") } })
                });
                println!("{body}");
            }
            eprintln!("error: {error:#}");
            ExitCode::from(failure.map_or(2, |f| f.exit_code()))
        }
    }
}

/// Where the work happens: the daemon, or this process.
enum Backend {
    Daemon(WsClient),
    InProcess,
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let socket = cli.socket.clone().unwrap_or_else(hpm_protocol::socket_path);
    let start = match &cli.workspace {
        Some(dir) => dir.clone(),
        None => std::env::current_dir()?,
    };
    let find_workspace = || -> Result<Workspace, Failure> {
        Ok(match &cli.workspace {
            Some(dir) => Workspace::at(dir)?,
            None => Workspace::locate(&start)?,
        })
    };
    let backend = || async {
        if cli.no_daemon {
            Ok::<_, anyhow::Error>(Backend::InProcess)
        } else {
            Ok(Backend::Daemon(connect::connect_or_start(&socket).await?.0))
        }
    };
    match cli.command {
        Command::Init => init(&start),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "hpmctl", &mut std::io::stdout());
            Ok(())
        }
        Command::Daemon { action } => daemon(action, &socket, cli.json).await,
        Command::Events => events(&socket, cli.json).await,
        Command::Status => {
            let workspace = find_workspace()?;
            let report = match backend().await? {
                Backend::Daemon(client) => {
                    let raw = client
                        .status(workspace.root().to_path_buf(), Some(true))
                        .await
                        .map_err(Failure::from)?;
                    serde_json::from_str(raw.get()).map_err(anyhow::Error::from)?
                }
                Backend::InProcess => to_json(hpm::status::status(&workspace))?,
            };
            render::status(&report, cli.json)
        }
        Command::Check => {
            let workspace = find_workspace()?;
            let report = match backend().await? {
                Backend::Daemon(client) => client
                    .check(workspace.root().to_path_buf())
                    .await
                    .map_err(Failure::from)?,
                Backend::InProcess => to_json(hpm::check::check(&workspace))?,
            };
            render::check(&report, cli.json)
        }
        Command::Registry {
            action: RegistryAction::Update,
        } => {
            let workspace = find_workspace()?;
            let report = match backend().await? {
                Backend::Daemon(client) => client
                    .registry_update(workspace.root().to_path_buf())
                    .await
                    .map_err(Failure::from)?,
                Backend::InProcess => to_json(
                    workspace
                        .load_manifest()
                        .and_then(|manifest| hpm::git_registry::update(&workspace, &manifest)),
                )?,
            };
            render::registry_update(&report, cli.json)
        }
        Command::Cancel => {
            let workspace = find_workspace()?;
            match backend().await? {
                Backend::Daemon(client) => {
                    let was_running = client
                        .cancel(workspace.root().to_path_buf())
                        .await
                        .map_err(Failure::from)?;
                    eprintln!(
                        "{}",
                        if was_running {
                            "cancelled; files are being restored"
                        } else {
                            "nothing was running"
                        }
                    );
                    Ok(())
                }
                Backend::InProcess => anyhow::bail!(
                    "`cancel` needs the daemon: an in-process sync is cancelled with Ctrl-C"
                ),
            }
        }
        Command::Group { action } => {
            let workspace = find_workspace()?;
            let (group, option, select) = match action {
                GroupAction::List => {
                    let manifest = workspace.load_manifest().map_err(Failure::from)?;
                    return render::groups(&manifest, cli.json);
                }
                GroupAction::Add { group, option } => (group, option, true),
                GroupAction::Remove { group, option } => (group, option, false),
            };
            let backend = backend().await?;
            let change = Change::Group {
                group,
                option,
                select,
            };
            let report = apply(&backend, &workspace, change, cli.json).await?;
            render::sync_report(&report, cli.json)
        }
        Command::Change(change) => {
            let workspace = find_workspace()?;
            let backend = backend().await?;
            let (change, ask_to_clone) = protocol_change(change);
            let report = match apply(&backend, &workspace, change.clone(), cli.json).await {
                Err(failure)
                    if failure.code == codes::CLONE_NEEDED
                        && ask_to_clone
                        && confirm(&failure)? =>
                {
                    let Change::Use { packages, mode, .. } = change else {
                        return Err(failure.into());
                    };
                    apply(
                        &backend,
                        &workspace,
                        Change::Use {
                            packages,
                            mode,
                            clone: true,
                        },
                        cli.json,
                    )
                    .await?
                }
                other => other?,
            };
            render::sync_report(&report, cli.json)
        }
    }
}

/// The protocol change a command asks for, and whether to offer cloning.
fn protocol_change(command: ChangeCommand) -> (Change, bool) {
    match command {
        ChangeCommand::Sync { mode, force } => (Change::Sync { mode, force }, false),
        ChangeCommand::Switch { mode } => (Change::Switch { mode }, false),
        ChangeCommand::Use { package, mode } => (
            Change::Use {
                packages: vec![package],
                mode: Some(mode),
                clone: false,
            },
            false,
        ),
        ChangeCommand::Dev { packages, yes } => (
            Change::Use {
                packages,
                mode: Some("dev".into()),
                clone: yes,
            },
            !yes,
        ),
        ChangeCommand::Reset { package } => (
            Change::Use {
                packages: vec![package],
                mode: None,
                clone: false,
            },
            false,
        ),
    }
}

/// Runs one change, streaming its progress to stderr.
async fn apply(
    backend: &Backend,
    workspace: &Workspace,
    change: Change,
    json: bool,
) -> Result<Value, Failure> {
    match backend {
        Backend::InProcess => {
            let request = hpm::actor::sync_request(&change)?;
            let mut on_progress = |progress: Progress| render::progress(&progress, json);
            to_json(engine::sync(
                workspace,
                &request,
                &mut on_progress,
                &CancelToken::new(),
            ))
        }
        Backend::Daemon(client) => {
            let root = workspace.root().display().to_string();
            let mut subscription = client.subscribe_events().await?;
            let printer = async {
                while let Some(Ok(event)) = subscription.next().await {
                    if event.workspace == root {
                        render::event_progress(&event, json);
                    }
                }
            };
            tokio::select! {
                result = client.apply(workspace.root().to_path_buf(), change) => Ok(result?),
                () = printer => Err(Failure {
                    code: codes::INTERNAL,
                    message: "hpmd closed the connection during the sync; it goes on there (see `hpmctl status`)".into(),
                    data: Value::Null,
                }),
            }
        }
    }
}

/// Asks on a terminal whether to clone; `false` (and the error stands) elsewhere.
fn confirm(failure: &Failure) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    eprintln!(
        "{}",
        failure
            .message
            .lines()
            .filter(|l| !l.contains("hint:"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    eprint!("Clone them now? [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

fn to_json<T: serde::Serialize>(result: hpm::Result<T>) -> Result<Value, Failure> {
    let value = result?;
    serde_json::to_value(value).map_err(|error| Failure {
        code: codes::INTERNAL,
        message: error.to_string(),
        data: Value::Null,
    })
}

async fn daemon(action: DaemonAction, socket: &Path, json: bool) -> anyhow::Result<()> {
    match action {
        DaemonAction::Start => {
            let (_, hello) = connect::connect_or_start(socket).await?;
            render::hello(Some(&hello), socket, json)
        }
        DaemonAction::Status => match connect::connect(socket).await {
            Ok(client) => render::hello(Some(&client.hello().await?), socket, json),
            Err(_) => render::hello(None, socket, json),
        },
        DaemonAction::Stop => {
            if let Ok(client) = connect::connect(socket).await {
                let asked = client.shutdown().await;
                drop(client);
                // A stopping daemon may close the connection before its answer
                // leaves: whether it goes away is what counts.
                if let Err(gone_error) = connect::wait_until_gone(socket).await {
                    return Err(match asked {
                        Err(error) => error.into(),
                        Ok(()) => gone_error,
                    });
                }
                eprintln!("hpmd stopped");
            } else {
                eprintln!("hpmd is not running");
            }
            Ok(())
        }
    }
}

/// Prints every event until the daemon goes away or the user stops it.
async fn events(socket: &Path, json: bool) -> anyhow::Result<()> {
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
        render::event(&event, json)?;
        if matches!(
            event.body,
            EventBody::JobFailed { .. } | EventBody::JobFinished { .. }
        ) {
            std::io::stdout().flush()?;
        }
    }
    Ok(())
}

/// `hpmctl init`: a starting manifest and registry folder beside an existing
/// `pyproject.toml`; never overwrites.
fn init(root: &Path) -> anyhow::Result<()> {
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
