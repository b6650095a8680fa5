//! `hpmctl`: the command people and scripts type.
//!
//! Thin by design: parse arguments, hand each command (`commands/`) to a
//! backend (the daemon, started on demand, or with `--no-daemon` the engine
//! in-process), render the typed result (a table for people, JSON with
//! `--json`), and map failures to exit codes: 0 ok, 1 a user-facing
//! failure, 2 a usage or internal error; a release's run also ends with 3
//! (preflight failed, nothing changed), 4 (partial) or 5 (conflict).

mod backend;
mod commands;
mod connect;
mod failure;
mod render;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use commands::Context;
use failure::Failure;

#[derive(Debug, Parser)]
#[command(
    name = "hpmctl",
    version = hpm_protocol::BUILD_VERSION,
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
    /// For the commands that change the environment (sync, switch, use,
    /// dev, reset, group add|remove): resolve and validate, print the diff
    /// and what would be cloned or reinstalled, and change nothing.
    #[arg(long, global = true)]
    dry_run: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Init(commands::init::Args),
    Import(commands::import::Args),
    Status(commands::status::Args),
    Check(commands::check::Args),
    Doctor(commands::doctor::Args),
    Events(commands::events::Args),
    Export(commands::export::Args),
    Cancel(commands::cancel::Args),
    Daemon(commands::daemon::Args),
    Group(commands::group::Args),
    Registry(commands::registry::Args),
    Release(commands::release::Args),
    Image(commands::image::Args),
    /// Print shell completions (bash: share/bash-completion/completions/hpmctl, zsh: a folder on fpath as _hpmctl, fish: vendor_completions.d/hpmctl.fish).
    Completions {
        shell: clap_complete::Shell,
    },
    /// Write a man page for hpmctl and each subcommand into DIR (for share/man/man1).
    Man {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    #[command(flatten)]
    Change(commands::change::Command),
}

impl Command {
    /// Whether it changes the environment: `--dry-run` is for these.
    fn changes(&self) -> bool {
        match self {
            Command::Change(_) | Command::Export(_) | Command::Image(_) | Command::Import(_) => {
                true
            }
            Command::Release(args) => args.changes(),
            Command::Group(args) => args.changes(),
            _ => false,
        }
    }

    async fn exec(self, context: &Context) -> anyhow::Result<()> {
        match self {
            Command::Init(args) => args.exec(context),
            Command::Import(args) => args.exec(context),
            Command::Status(args) => args.exec(context).await,
            Command::Check(args) => args.exec(context).await,
            Command::Doctor(args) => args.exec(context).await,
            Command::Events(args) => args.exec(context).await,
            Command::Export(args) => args.exec(context).await,
            Command::Cancel(args) => args.exec(context).await,
            Command::Daemon(args) => args.exec(context).await,
            Command::Group(args) => args.exec(context).await,
            Command::Registry(args) => args.exec(context).await,
            Command::Release(args) => args.exec(context),
            Command::Image(args) => args.exec(context).await,
            Command::Change(command) => command.exec(context).await,
            Command::Completions { shell } => {
                let mut script = Vec::new();
                clap_complete::generate(shell, &mut Cli::command(), "hpmctl", &mut script);
                render::out(&String::from_utf8_lossy(&script))
            }
            Command::Man { dir } => commands::man::write(Cli::command(), &dir, context.json),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(hpm_engine::logging::filter("warn"))
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
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) if error.downcast_ref::<failure::Exit>().is_some() => ExitCode::from(
            error
                .downcast_ref::<failure::Exit>()
                .map_or(1, |exit| exit.0),
        ),
        Err(error) => {
            let failure = error
                .downcast_ref::<Failure>()
                .cloned()
                .unwrap_or_else(|| Failure::internal(format!("{error:#}")));
            if json {
                let _ = render::out(&format!("{}\n", failure.to_json()));
            }
            let failure = match !json && render::uv_output_shown() {
                true => failure.without_uv_reason(),
                false => failure,
            };
            eprintln!("error: {}", render::escape_controls(&failure.to_string()));
            ExitCode::from(failure.exit_code())
        }
    }
}

/// A reader that went away (`hpmctl status | head`) is not a failure.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|error| error.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let context = Context {
        workspace: cli.workspace,
        start: std::env::current_dir()?,
        json: cli.json,
        no_daemon: cli.no_daemon,
        socket: cli.socket.unwrap_or_else(hpm_protocol::socket_path),
        dry_run: cli.dry_run,
    };
    if context.dry_run && !cli.command.changes() {
        return Err(Failure::user(
            hpm_protocol::codes::INVALID_INPUT,
            "`--dry-run` is for the commands that change the environment",
            Some("use it with sync, switch, use, dev, reset, or group add|remove".to_string()),
        )
        .into());
    }
    cli.command.exec(&context).await
}
