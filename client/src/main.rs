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
use hpm_protocol::{AddPackage, Change, RemovePackage};

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
    /// Write an hpm.yaml and an empty registry folder for an existing project.
    Init,
    /// Move a product in the submodule / staging+prod layout to hpm: registry entries, hpm.yaml, the core's pyproject.toml.
    Import {
        /// Another hand-kept mode file, NAME=PATH (staging/ and prod/ are found by themselves).
        #[arg(long = "mode", value_name = "NAME=PATH")]
        modes: Vec<String>,
        /// An argument for every `uv sync` (settings.uv_args), e.g. --uv-arg=--extra --uv-arg=cu124.
        #[arg(long = "uv-arg", value_name = "ARG", allow_hyphen_values = true)]
        uv_args: Vec<String>,
        /// Make each submodule an independent clone in place (nothing committed).
        #[arg(long)]
        detach_submodules: bool,
        /// Write the files only; without it the workspace is synced in the mode hpm.yaml names (a failure undoes the import).
        #[arg(long)]
        no_sync: bool,
    },
    /// Show the workspace's mode and each package's mode, source and version.
    Status,
    /// For CI: manifest valid, pyproject.toml matches the plan, lock current, no local sources outside dev, no internal package from an index.
    Check {
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
    },
    /// Whether hpm can work here: git and uv found, the daemon reachable, each remote of the workspace answering with your credentials.
    Doctor,
    /// Follow the daemon's event stream.
    Events,
    /// Write MODE/pyproject.toml and MODE/uv.lock: the core with every managed package pinned to MODE, for `uv sync --frozen` without hpm.
    Export {
        mode: String,
        /// The folder to write into (default: MODE/ in the workspace).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Include the core project itself (by its folder).
        #[arg(long)]
        with_core: bool,
        /// Replace a pyproject.toml there that hpm did not write (saved under .hpm/backup/).
        #[arg(long)]
        force: bool,
    },
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
    /// Releases across the packages' repositories, in dependency order: plan, notes, apply, resume, status, abort, run.
    Release {
        #[command(subcommand)]
        action: ReleaseAction,
    },
    /// The prod image: its Dockerfile, and a build (and push) with a container engine.
    Image {
        #[command(subcommand)]
        action: ImageAction,
    },
    /// Print shell completions (bash: share/bash-completion/completions/hpmctl, zsh: a folder on fpath as _hpmctl, fish: vendor_completions.d/hpmctl.fish).
    Completions { shell: clap_complete::Shell },
    /// Write a man page for hpmctl and each subcommand into DIR (for share/man/man1).
    Man {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
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

/// What `plan` and `run` take.
#[derive(Debug, clap::Args)]
struct ReleasePlanArgs {
    /// The packages to release (registry names).
    #[arg(required = true)]
    packages: Vec<String>,
    /// `staging` (X.Y.Z.devN tags) or `prod` (X.Y.Z).
    #[arg(long)]
    mode: String,
    /// auto (from Conventional Commits), patch, minor, major, dev, stable, or =X.Y.Z.
    #[arg(long, default_value = "auto")]
    bump: String,
    /// Release the core (the workspace's own repository) last.
    #[arg(long)]
    with_core: bool,
    /// Release the manifest's packages that depend on these too.
    #[arg(long)]
    with_dependents: bool,
    /// Let a prod release differ from its last staging tag in more than the version files.
    #[arg(long)]
    allow_changes: bool,
}

impl ReleasePlanArgs {
    fn into_args(self) -> commands::release::PlanArgs {
        commands::release::PlanArgs {
            packages: self.packages,
            mode: self.mode,
            bump: self.bump,
            with_core: self.with_core,
            with_dependents: self.with_dependents,
            allow_changes: self.allow_changes,
        }
    }
}

/// `--notes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum NotesSource {
    /// Notes grouped by commit type, from the commits.
    Auto,
    /// The LLM bundle's filled files (the default).
    Files,
}

#[derive(Debug, Subcommand)]
enum ReleaseAction {
    /// Decide versions, tags, layers and registry edits; write .hpm/releases/<id>/plan.json.
    Plan(ReleasePlanArgs),
    /// Write the LLM bundle (context, commits, diff, prompts, empty slots); `--check` validates what was filled in.
    Notes {
        id: String,
        #[arg(long)]
        check: bool,
    },
    /// Run the plan (with the global --dry-run: print every effect, change nothing).
    Apply {
        id: String,
        /// Apply without asking (needed without a terminal).
        #[arg(long, short)]
        yes: bool,
        #[arg(long, value_enum, default_value = "files")]
        notes: NotesSource,
    },
    /// Finish a release that stopped, from what is observed.
    Resume {
        id: String,
        #[arg(long, short)]
        yes: bool,
        #[arg(long, value_enum, default_value = "files")]
        notes: NotesSource,
    },
    /// Each step: done, to do, or in conflict (observed now).
    Status { id: String },
    /// Undo what is not public yet: local commits and tags, drafts, version files.
    Abort { id: String },
    /// plan + notes (pausing for the LLM files unless --notes auto) + apply.
    Run {
        #[command(flatten)]
        plan: ReleasePlanArgs,
        #[arg(long, value_enum, default_value = "files")]
        notes: NotesSource,
        #[arg(long, short)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ImageAction {
    /// Print the Dockerfile (and .dockerignore) hpm would build MODE's image with; --write puts them in the workspace as Dockerfile.hpm.
    Dockerfile {
        #[arg(long, default_value = "prod")]
        mode: String,
        /// Write Dockerfile.hpm and Dockerfile.hpm.dockerignore in the workspace.
        #[arg(long)]
        write: bool,
        /// The runtime (and default builder) base image.
        #[arg(long, value_name = "IMG")]
        base_image: Option<String>,
        /// A builder image that already has uv.
        #[arg(long, value_name = "IMG")]
        builder_image: Option<String>,
        /// The interpreter both stages use (absolute).
        #[arg(long, value_name = "PATH")]
        python: Option<String>,
        /// The Dockerfile installs offline from the wheelhouse `image build --find-links DIR` copies into the context.
        #[arg(long, value_name = "DIR")]
        find_links: Option<PathBuf>,
        /// The variable holding a token for the locked https:// git sources (default HPM_GIT_TOKEN; given to the build as a BuildKit secret).
        #[arg(long, value_name = "VAR")]
        git_token_env: Option<String>,
    },
    /// Build MODE's image from its lock in a context under .hpm/image/ (any local source refused), tag it, and with --push push each tag.
    Build {
        #[arg(long, default_value = "prod")]
        mode: String,
        /// A name for the image (repeatable); default: image.tags, else <core>:<mode>.
        #[arg(long = "tag", short = 't', value_name = "REF")]
        tags: Vec<String>,
        /// Push every tag after the build.
        #[arg(long)]
        push: bool,
        /// The target platform (linux/amd64, linux/arm64).
        #[arg(long, value_name = "P")]
        platform: Option<String>,
        /// The runtime (and default builder) base image.
        #[arg(long, value_name = "IMG")]
        base_image: Option<String>,
        /// A builder image that already has uv.
        #[arg(long, value_name = "IMG")]
        builder_image: Option<String>,
        /// The interpreter both stages use (absolute).
        #[arg(long, value_name = "PATH")]
        python: Option<String>,
        /// The container engine: docker (default; HPM_ENGINE), podman, or a path.
        #[arg(long, value_name = "PROGRAM")]
        engine: Option<String>,
        /// A wheelhouse copied into the context and used offline (UV_OFFLINE, UV_FIND_LINKS).
        #[arg(long, value_name = "DIR")]
        find_links: Option<PathBuf>,
        /// The build's network: none for a hermetic build, host, or default.
        #[arg(long, value_name = "MODE")]
        network: Option<String>,
        /// The variable holding a token for the locked https:// git sources (default HPM_GIT_TOKEN; given to the build as a BuildKit secret).
        #[arg(long, value_name = "VAR")]
        git_token_env: Option<String>,
    },
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
    let changes = matches!(
        cli.command,
        Command::Change(_)
            | Command::Export { .. }
            | Command::Image { .. }
            | Command::Import { .. }
            | Command::Release {
                action: ReleaseAction::Apply { .. }
                    | ReleaseAction::Resume { .. }
                    | ReleaseAction::Run { .. }
            }
            | Command::Group {
                action: GroupAction::Add { .. } | GroupAction::Remove { .. }
            }
    );
    if context.dry_run && !changes {
        return Err(Failure::user(
            hpm_protocol::codes::INVALID_INPUT,
            "`--dry-run` is for the commands that change the environment",
            Some("use it with sync, switch, use, dev, reset, or group add|remove".to_string()),
        )
        .into());
    }
    match cli.command {
        Command::Init => commands::init::run(&context),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "hpmctl", &mut script);
            render::out(&String::from_utf8_lossy(&script))
        }
        Command::Image {
            action:
                ImageAction::Dockerfile {
                    mode,
                    write,
                    base_image,
                    builder_image,
                    python,
                    find_links,
                    git_token_env,
                },
        } => commands::image::dockerfile(
            &context,
            &mode,
            &hpm_engine::ops::image::ImageOptions {
                base_image,
                builder_image,
                python,
                find_links: find_links.is_some(),
                git_token: commands::image::git_token(git_token_env.as_deref())?.is_some(),
            },
            write,
        ),
        Command::Image {
            action:
                ImageAction::Build {
                    mode,
                    tags,
                    push,
                    platform,
                    base_image,
                    builder_image,
                    python,
                    engine,
                    find_links,
                    network,
                    git_token_env,
                },
        } => {
            commands::image::build(
                &context,
                commands::image::Build {
                    mode,
                    tags,
                    push,
                    platform,
                    base_image,
                    builder_image,
                    python,
                    engine,
                    find_links,
                    network,
                    git_token_env,
                },
            )
            .await
        }
        Command::Man { dir } => commands::man::write(Cli::command(), &dir, context.json),
        Command::Daemon { action } => match action {
            DaemonAction::Start => commands::daemon::start(&context.socket, context.json).await,
            DaemonAction::Stop => commands::daemon::stop(&context.socket).await,
            DaemonAction::Status => commands::daemon::status(&context.socket, context.json).await,
        },
        Command::Events => commands::events::run(&context.socket, context.json).await,
        Command::Status => commands::status::run(&context).await,
        Command::Check {
            mode,
            all_modes,
            staged,
        } => {
            let which = match (mode, all_modes, staged) {
                (_, _, true) => commands::check::Which::Staged,
                (_, true, _) => commands::check::Which::AllModes,
                (Some(mode), _, _) => commands::check::Which::Mode(mode),
                (None, false, false) => commands::check::Which::Current,
            };
            commands::check::run(&context, which).await
        }
        Command::Doctor => commands::doctor::run(&context).await,
        Command::Release { action } => match action {
            ReleaseAction::Plan(args) => commands::release::plan(&context, &args.into_args()),
            ReleaseAction::Notes { id, check } => commands::release::notes(&context, &id, check),
            ReleaseAction::Apply { id, yes, notes } | ReleaseAction::Resume { id, yes, notes } => {
                commands::release::apply(&context, &id, yes, notes == NotesSource::Auto)
            }
            ReleaseAction::Status { id } => commands::release::status(&context, &id),
            ReleaseAction::Abort { id } => commands::release::abort(&context, &id),
            ReleaseAction::Run { plan, notes, yes } => {
                commands::release::run(&context, &plan.into_args(), notes == NotesSource::Auto, yes)
            }
        },
        Command::Import {
            modes,
            uv_args,
            detach_submodules,
            no_sync,
        } => commands::import::run(&context, &modes, uv_args, detach_submodules, no_sync),
        Command::Export {
            mode,
            out,
            with_core,
            force,
        } => commands::export::run(&context, &mode, out, with_core, force).await,
        Command::Registry {
            action: RegistryAction::Update,
        } => commands::registry::update(&context).await,
        Command::Cancel => commands::cancel::run(&context).await,
        Command::Group { action } => match action {
            GroupAction::List => commands::group::list(&context),
            GroupAction::Add { group, option } => {
                commands::group::select(&context, group, option, true).await
            }
            GroupAction::Remove { group, option } => {
                commands::group::select(&context, group, option, false).await
            }
        },
        Command::Change(change) => {
            let (change, offer_clone) = protocol_change(change);
            commands::change::apply(&context, change, offer_clone).await
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
        ChangeCommand::Add {
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
        ChangeCommand::Remove {
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
