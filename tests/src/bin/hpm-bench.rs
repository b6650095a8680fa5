//! hpm's benchmark: how hpm compares with raw uv on the same files, measured
//! in the same run on the same machine.
//!
//! ```sh
//! cargo build --profile dist --workspace
//! target/dist/hpm-bench --sizes 10,50,200 --write BENCHMARKS.md
//! ```
//!
//! (`dist`: the profile of the binaries users install, beside which
//! hpm-bench finds hpmctl and hpmd.)
//!
//! For each world size N (N plugins, each a git repo with a prod and a
//! staging tag, a bare `file://` remote, and a dev clone):
//! - no-op: `hpmctl sync` with nothing to do, against `uv sync` with nothing
//!   to do (goal: hpm at least 10× faster), and by phase: process start,
//!   the hello (socket, WebSocket handshake, version), the request alone;
//! - mode switch: `hpmctl switch prod` from dev, against `uv sync` given the
//!   very files and arguments hpm handed it, in interleaved pairs (goal: hpm
//!   within 3% of uv);
//!
//! - the daemon, with every package in dev (a git clone each): `status`
//!   round trip over the socket (goal: p99 at most 1 ms), the same fresh
//!   (the watcher settled by a sync cookie), `hpmctl status
//!   --json` end to end against `uv pip list` plus `git status` in each clone
//!   (goal: 20× faster and at most 10 ms), 32 concurrent clients × 500
//!   requests (every one answered), a save of `hpm.yaml` until the reconcile
//!   starts (goal: at most 150 ms) and a commit in a dev clone until its `repo_changed` event
//!   (goal: under 200 ms), the inotify watches held (they must grow with
//!   packages, not with files), and the daemon's resident memory afterwards
//!   (goal: under 30 MB);
//!
//! and, in-process, resolve + pyproject transform for 1000 packages (goal:
//! under 20 ms). Caches are warmed first so both sides see the same state.
//! Both sides run uv's binary itself, never a wrapper: `HPM_UV`, else the
//! `uv` on `PATH` unless it is a script (a pyenv shim starts a shell on
//! every call), else the binary the `uv` Python package names; its folder
//! goes first on `PATH` for the hpm under test, and the report names it.
//!
//! `--image` measures the prod image (cold build, rebuild after a code
//! change, sizes against the base and a naive single-stage image) with the
//! engine `tests/image-tools` starts, and prints them;
//! `--polling 10,50,200` measures workspaces the watch limit forces to be
//! polled (the daemon's idle CPU, save and commit reaction times) and
//! prints them;
//! `--ssh-remotes 10,50,200` (as root: a user of its own and OpenSSH's sshd
//! on 127.0.0.1, as the ssh tests do) measures hpm listing N remotes over
//! ssh against `git ls-remote` run over them one by one, and prints it;
//! `--daemon-only` measures only the daemon's figures and prints them;
//! `--make-world N` builds a world of N packages, synced in dev, and leaves
//! it on disk for profiling by hand.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use hpm_core::manifest::Manifest;
use hpm_core::pin::PinnedPlan;
use hpm_core::plan::{resolve, ResolveInput};
use hpm_core::pyproject::PyprojectMut;
use hpm_core::registry::{EntryOrigin, Registry, RegistryEntry};
use hpm_core::Mode;
use hpm_engine::uv::is_script;
use hpm_tests::{describe, inotify_watches, rpc_client, World};

const NOOP_RUNS: usize = 21;
const UV_NOOP_RUNS: usize = 7;
const PLAN_RUNS: usize = 31;
const SWITCH_RUNS: usize = 7;

#[derive(Debug)]
struct SizeResult {
    packages: usize,
    hpm_noop: Duration,
    uv_noop: Duration,
    /// Where the no-op's time goes, medians.
    noop_phases: NoopPhases,
    hpm_switch: Duration,
    uv_switch: Duration,
    /// hpm's own time in its switches: each switch's wall time less the
    /// time uv ran inside it (the report's `uv_ms`), median.
    hpm_own: Duration,
    daemon: DaemonResult,
}

/// A no-op `hpmctl sync` by phase.
#[derive(Debug)]
struct NoopPhases {
    /// `hpmctl --version`: the process starts and exits.
    process: Duration,
    /// `hpmctl daemon status`: the process, the socket, the WebSocket
    /// handshake and the version hello.
    hello: Duration,
    /// The sync request alone, over an open connection: the daemon's memo.
    request: Duration,
}

#[derive(Debug)]
struct DaemonResult {
    rpc_p50: Duration,
    rpc_p99: Duration,
    /// `status` with `fresh: true`: the watcher settled by a sync cookie.
    fresh_p50: Duration,
    fresh_p99: Duration,
    hpmctl_status: Duration,
    by_hand_status: Duration,
    concurrent_answered: usize,
    concurrent_sent: usize,
    concurrent_elapsed: Duration,
    /// The status computed from scratch in-process: the work behind
    /// `hpmctl --no-daemon status`, and the most a daemon cache miss costs.
    status_cold: Duration,
    rss_kib: u64,
    /// Of which anonymous memory (heap, stacks) and mapped files (code).
    rss_anon_kib: u64,
    rss_file_kib: u64,
    /// Save of `hpm.yaml` (changing the plan) → `job_started`, median.
    save_to_job: Duration,
    /// `git commit` in a dev clone started → `repo_changed`, median.
    commit_to_event: Duration,
    /// inotify watches the daemon holds (from `/proc/PID/fdinfo`).
    inotify_watches: usize,
}

const LIVE_RUNS: usize = 5;

const RPC_RUNS: usize = 200;
const CLIENTS: usize = 32;
const REQUESTS_PER_CLIENT: usize = 500;

/// What `--help` prints, and an unknown argument's error.
const USAGE: &str = "usage: hpm-bench [--sizes 10,50,200] [--write BENCHMARKS.md | --daemon-only | --make-world N | --closure N | --release N | --binaries N [LABEL] | --image | --polling 10,50,200 | --ssh-remotes 10,50,200]\n\nTimes hpm against the real binaries of the tools it is compared with (uv, git), in worlds of 10, 50 and 200 packages by default; --write puts the results in BENCHMARKS.md with the command that made them.";

fn main() -> Result<()> {
    let mut sizes = vec![10, 50, 200];
    let mut write_to: Option<PathBuf> = None;
    // Only the daemon's figures, printed, not written: for working on them.
    let mut daemon_only = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--sizes" => {
                let list = args
                    .next()
                    .context("--sizes needs a list such as 10,50,200")?;
                sizes = list.split(',').map(str::parse).collect::<Result<_, _>>()?;
            }
            "--write" => {
                write_to = Some(PathBuf::from(args.next().context("--write needs a file")?))
            }
            "--daemon-only" => daemon_only = true,
            "--make-world" => {
                // A world to profile by hand, left on disk: its path is printed.
                let size = args.next().context("--make-world needs a size")?.parse()?;
                let names: Vec<String> = (0..size).map(|i| format!("plugin-{i:03}")).collect();
                let world = World::with_dev_plugins(&names)?;
                world.ok(&["sync"])?;
                world.ok(&["daemon", "stop"])?;
                println!("{}", world.keep().display());
                return Ok(());
            }
            "--closure" => {
                let size = args.next().context("--closure needs a size")?.parse()?;
                return closure_times(size);
            }
            "--release" => {
                let size = args.next().context("--release needs a size")?.parse()?;
                return release_times(size);
            }
            "--binaries" => {
                let size = args.next().context("--binaries needs a size")?.parse()?;
                let label = args.next().unwrap_or_else(|| "this build".to_string());
                return binaries_times(size, &label);
            }
            "--image" => return image_times(),
            "--ssh-remotes" => {
                let list = args
                    .next()
                    .context("--ssh-remotes needs a list such as 10,50,200")?;
                let sizes = list
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<Vec<usize>, _>>()?;
                return ssh_remote_times(&sizes);
            }
            "--polling" => {
                let list = args
                    .next()
                    .context("--polling needs a list such as 10,50,200")?;
                let sizes = list
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<Vec<usize>, _>>()?;
                return polling_times(&sizes);
            }
            "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument `{other}`\n{USAGE}"),
        }
    }
    let uv = uv_binary()?;
    if daemon_only {
        for size in sizes {
            let names: Vec<String> = (0..size).map(|i| format!("plugin-{i:03}")).collect();
            let world = World::with_dev_plugins(&names)?;
            world.ok(&["sync"])?;
            eprintln!("{:#?}", measure_daemon(&world, &names, &uv.path)?);
        }
        return Ok(());
    }
    let plan_write = plan_and_write_time(1000)?;
    eprintln!("plan+write, 1000 packages: {:.2} ms", ms(plan_write));
    let mut results = Vec::new();
    for size in sizes {
        eprintln!("world of {size} packages: building");
        let result = measure_world(size, &uv.path)?;
        eprintln!("{result:?}");
        results.push(result);
    }
    let report = render(&results, plan_write, &uv);
    println!("{report}");
    if let Some(path) = write_to {
        let notes = std::fs::read_to_string(&path)
            .ok()
            .and_then(|old| old.find(NOTES_HEADING).map(|at| old[at..].to_owned()))
            .map(|notes| format!("\n{notes}"))
            .unwrap_or_default();
        std::fs::write(&path, report + &notes)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// What the build settings cost or save: the sizes of the `hpmctl` and
/// `hpmd` this benchmark runs (the ones beside it), and the paths where a
/// bigger or slower-to-load binary would show: `hpmctl --version` (start
/// and exit, nothing else) and the no-op `hpmctl sync` against a warm
/// daemon, in a world of `size` dev packages. Prints one Markdown row,
/// headed `label` (the profile it was built with).
/// The prod image (`--image`, with the engine `tests/image-tools` starts):
/// a cold `hpmctl image build`, a rebuild after a change to the app's
/// code, and the runtime image's size beside the base's, the venv's, and a
/// single-stage image built the naive way (`COPY . .` + `uv sync`) from
/// the same context and lock in the same run.
fn image_times() -> Result<()> {
    use hpm_tests::image::{product, write_app, Engine};
    const RUNS: usize = 5;
    let engine = Engine::from_env()?;
    let world = product()?;
    let tag = "hpm-bench/core-app:prod";
    let mut build: Vec<String> = ["--no-daemon", "image", "build", "--tag", tag]
        .iter()
        .map(|s| s.to_string())
        .collect();
    build.extend(engine.build_args());
    let build: Vec<&str> = build.iter().map(String::as_str).collect();
    let timed = |what: &str| -> Result<Duration> {
        let started = Instant::now();
        let output = engine.hpmctl(&world, &build).output()?;
        anyhow::ensure!(output.status.success(), "{what}: {}", describe(&output));
        Ok(started.elapsed())
    };
    let size = |image: &str| -> Result<f64> {
        let bytes: u64 = engine
            .docker_ok(&["image", "inspect", "--format", "{{.Size}}", image])?
            .trim()
            .parse()?;
        Ok(bytes as f64 / 1e6)
    };
    let mut cold = Vec::new();
    let mut rebuild = Vec::new();
    for run in 0..RUNS {
        let _ = engine.docker(&["rmi", "-f", tag]);
        engine.docker_ok(&["builder", "prune", "-af"])?;
        cold.push(Ok(timed("a cold build")?));
        write_app(&world.core(), &format!("changed {run}"))?;
        rebuild.push(Ok(timed("a rebuild after a code change")?));
    }
    let cold = median(cold.into_iter())?;
    let rebuild = median(rebuild.into_iter())?;
    let venv: f64 = engine
        .docker_ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            tag,
            "du",
            "-sb",
            "/app/.venv",
        ])?
        .split_whitespace()
        .next()
        .context("du's size")?
        .parse::<f64>()?
        / 1e6;

    // The naive image: one stage on the builder (uv and git in it), the
    // whole context copied in, `uv sync` with its cache in the layer.
    let context = world.core().join(".hpm/image/prod/context");
    let generated = std::fs::read_to_string(context.join("Dockerfile"))?;
    let insteadof = generated
        .lines()
        .find_map(|line| {
            let start = line.find("GIT_CONFIG_COUNT")?;
            let end = line.find("uv sync")?;
            Some(line[start..end].replace("/src/git", "/ctx/git"))
        })
        .unwrap_or_default();
    let naive = format!(
        "FROM {}\nENV UV_PYTHON=/usr/bin/python3 UV_PYTHON_DOWNLOADS=never UV_OFFLINE=1 UV_FIND_LINKS=/ctx/wheels\nCOPY . /ctx\nWORKDIR /ctx/project\nRUN {insteadof}uv sync --locked\nCMD [\"/ctx/project/.venv/bin/core-app\"]\n",
        engine.builder
    );
    let naive_file = world.root().join("Dockerfile.naive");
    std::fs::write(&naive_file, naive)?;
    let started = Instant::now();
    engine.docker_ok(&[
        "build",
        "--network",
        "none",
        "--file",
        &naive_file.display().to_string(),
        "--tag",
        "hpm-bench/naive:prod",
        &context.display().to_string(),
    ])?;
    let naive_cold = started.elapsed();
    let ran = engine.docker_ok(&["run", "--rm", "--network", "none", "hpm-bench/naive:prod"])?;
    anyhow::ensure!(
        ran.contains("plugin-a 1.0.0"),
        "the naive image does not run: {ran}"
    );
    let (base, runtime, naive) = (
        size(&engine.base)?,
        size(tag)?,
        size("hpm-bench/naive:prod")?,
    );

    println!("Machine: {}.\n", machine());
    println!("| figure | value |");
    println!("| --- | ---: |");
    println!(
        "| cold `hpmctl image build` (builder cache pruned; median of {RUNS}) | {:.1} s |",
        cold.as_secs_f64()
    );
    println!(
        "| rebuild after a change to the app's code (median of {RUNS}) | {:.1} s |",
        rebuild.as_secs_f64()
    );
    println!(
        "| naive single-stage build, cold (once) | {:.1} s |",
        naive_cold.as_secs_f64()
    );
    println!("| base image (`{}`) | {base:.1} MB |", engine.base);
    println!("| the venv inside (`du -sb /app/.venv`) | {venv:.2} MB |");
    println!(
        "| runtime image | {runtime:.1} MB (base + {:.2} MB) |",
        runtime - base
    );
    println!("| naive image (`COPY . .` + `uv sync`, on the builder) | {naive:.1} MB |");
    println!(
        "| runtime against naive | {:.0}% smaller |",
        100.0 * (1.0 - runtime / naive)
    );
    Ok(())
}

fn binaries_times(size: usize, label: &str) -> Result<()> {
    const RUNS: usize = 51;
    let names: Vec<String> = (0..size).map(|i| format!("plugin-{i:03}")).collect();
    let world = World::with_dev_plugins(&names)?;
    world.ok(&["sync"])?;
    world.ok(&["sync"])?;
    let hpmctl = hpm_tests::hpmctl_path();
    let megabytes = |path: &Path| -> Result<f64> {
        let bytes = std::fs::metadata(path)
            .with_context(|| format!("`{}`", path.display()))?
            .len();
        Ok(bytes as f64 / 1_000_000.0)
    };
    let version = version_time(RUNS)?;
    let noop = hpmctl_time(&world, &["sync"], RUNS)?;
    world.ok(&["daemon", "stop"])?;
    println!("Machine: {}.\n", machine());
    println!("| build | hpmctl | hpmd | `hpmctl --version` (median of {RUNS}) | no-op `hpmctl sync`, {size} packages (median of {RUNS}) |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    println!(
        "| {label} | {:.1} MB | {:.1} MB | {:.2} ms | {:.2} ms |",
        megabytes(&hpmctl)?,
        megabytes(&hpm_tests::target_dir().join("hpmd"))?,
        ms(version),
        ms(noop)
    );
    Ok(())
}

/// What a workspace costs when the watch limit forces polling
/// (`HPMD_MAX_WATCHES=1`): the daemon's CPU while idle (every watched
/// folder's files read and hashed twice a second), and how long a save of
/// `hpm.yaml` and a commit in a dev clone take to be noticed.
fn polling_times(sizes: &[usize]) -> Result<()> {
    const IDLE: Duration = Duration::from_secs(20);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let ticks_per_second: f64 =
        String::from_utf8(Command::new("getconf").arg("CLK_TCK").output()?.stdout)?
            .trim()
            .parse()?;
    println!("Machine: {}.\n", machine());
    println!("| packages | hpmd CPU while idle, polled ({} s) | save of `hpm.yaml` → reconcile started (median of {}) | `git commit` in a dev clone → `repo_changed` (median of {LIVE_RUNS}) |", IDLE.as_secs(), LIVE_RUNS * 2);
    println!("| ---: | ---: | ---: | ---: |");
    for &size in sizes {
        let names: Vec<String> = (0..size).map(|i| format!("plugin-{i:03}")).collect();
        let world = World::with_dev_plugins(&names)?;
        world.ok(&["sync"])?;
        world.start_polled_daemon()?;
        let pid = runtime.block_on(async {
            use hpm_protocol::HpmApiClient;
            anyhow::Ok(rpc_client(&world.socket()).await?.hello().await?.pid)
        })?;
        std::thread::sleep(Duration::from_secs(2));
        let before = cpu_ticks(pid)?;
        std::thread::sleep(IDLE);
        let used = (cpu_ticks(pid)? - before) as f64 / ticks_per_second;
        let (save, commit) = runtime.block_on(measure_live(&world, &names))?;
        world.ok(&["daemon", "stop"])?;
        println!(
            "| {size} | {:.1}% of a core | {:.0} ms | {:.0} ms |",
            100.0 * used / IDLE.as_secs_f64(),
            ms(save),
            ms(commit)
        );
    }
    Ok(())
}

/// The user and system CPU time (in clock ticks) process `pid` has used.
fn cpu_ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command's closing parenthesis, from the third on:
    // utime and stime are the 14th and 15th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .context("an unreadable /proc stat")?
        .1
        .split_whitespace()
        .collect();
    let field =
        |n: usize| -> Result<u64> { Ok(fields.get(n - 3).context("a short /proc stat")?.parse()?) };
    Ok(field(14)? + field(15)?)
}

/// A staging release of `size` packages and the core, end to end, as CI
/// runs it (`hpmctl release plan … --with-core`, then `release apply
/// --yes --notes auto`): every package tagged, pushed to its `file://`
/// remote and published on the fake forge, the registry moved, the core
/// released last. Packages form layers (each third one starts a new
/// chain: a package depends on the one before it otherwise). Prints a
/// Markdown table of median times over three fresh worlds.
fn release_times(size: usize) -> Result<()> {
    use hpm_tests::release::{ReleaseWorld, GITHUB};
    const RUNS: usize = 3;
    let names: Vec<String> = (0..size).map(|i| format!("plugin-{i:03}")).collect();
    let mut plans = Vec::new();
    let mut applies = Vec::new();
    let mut steps = 0;
    for _ in 0..RUNS {
        let dependencies: Vec<Vec<&str>> = (0..size)
            .map(|i| {
                if i % 3 == 0 {
                    Vec::new()
                } else {
                    vec![names[i - 1].as_str()]
                }
            })
            .collect();
        let plugins: Vec<(&str, &[&str])> = names
            .iter()
            .zip(&dependencies)
            .map(|(name, deps)| (name.as_str(), deps.as_slice()))
            .collect();
        let world = ReleaseWorld::new(&plugins, GITHUB)?;
        let mut plan_args = vec!["--mode", "staging", "--with-core"];
        plan_args.extend(names.iter().map(String::as_str));
        let started = Instant::now();
        let id = world.plan(&plan_args)?;
        plans.push(started.elapsed());
        let started = Instant::now();
        let (output, report) = world.apply(&id, false)?;
        applies.push(started.elapsed());
        anyhow::ensure!(
            report["outcome"] == "complete",
            "the release did not complete:\n{}",
            hpm_tests::describe(&output)
        );
        steps = report["steps"]
            .as_array()
            .map(|steps| steps.len())
            .unwrap_or(0);
    }
    let median_of = |mut samples: Vec<Duration>| {
        samples.sort();
        samples[samples.len() / 2]
    };
    let totals: Vec<Duration> = plans.iter().zip(&applies).map(|(p, a)| *p + *a).collect();
    println!("Machine: {}; {RUNS} fresh worlds, median.\n", machine());
    println!("| packages | measure | time | goal | met |\n| ---: | --- | ---: | --- | --- |");
    println!(
        "| {size} + core | `release plan` | {:.2} s | – | – |",
        median_of(plans).as_secs_f64()
    );
    println!(
        "| {size} + core | `release apply` ({steps} steps) | {:.2} s | – | – |",
        median_of(applies).as_secs_f64()
    );
    let total = median_of(totals);
    println!(
        "| {size} + core | staging release end to end | {:.2} s | < 60 s | {} |",
        total.as_secs_f64(),
        if total < Duration::from_secs(60) {
            "yes"
        } else {
            "**no**"
        }
    );
    Ok(())
}

/// The dependency closure, in-process: a chain of `size` packages (each
/// depending on the next, all in the registry, the manifest listing only
/// the first) planned in prod, cold (an empty cache: each package's
/// repository fetched for its `pyproject.toml`) and warm (from the cache,
/// median of 5). Prints the figures.
fn closure_times(size: usize) -> Result<()> {
    let world = World::new()?;
    let names: Vec<String> = (0..size).map(|i| format!("plugin-{i:03}")).collect();
    for (i, name) in names.iter().enumerate() {
        let next: Vec<&str> = names.get(i + 1).map(String::as_str).into_iter().collect();
        world.add_plugin(
            name,
            &[hpm_tests::Release::new("v1.0.0", "1.0.0").depending_on(&next)],
        )?;
        world.register(name, "v1.0.0", "v1.0.0")?;
    }
    world.write_manifest(&format!(
        "version: 1\nmode: prod\nregistry: ./hpm-registry\npackages: [{}]\n",
        names[0]
    ))?;
    // The engine reads its cache folder from the environment; this
    // process is single-threaded here.
    std::env::set_var("HPM_CACHE_DIR", world.root().join("cache"));
    let workspace = hpm_engine::workspace::Workspace::at(&world.core())?;
    let plan = |expected: usize| -> Result<Duration> {
        let started = Instant::now();
        let inputs = hpm_engine::inputs::Inputs::read(&workspace)?;
        let (_, plan) = inputs.current_plan(&workspace)?;
        let elapsed = started.elapsed();
        if plan.packages.len() != expected {
            bail!(
                "the closure has {} packages, not {expected}",
                plan.packages.len()
            );
        }
        Ok(elapsed)
    };
    let cold = plan(size)?;
    let warm = median((0..5).map(|_| plan(size)))?;
    println!(
        "| {size} | plan with the dependency closure (a chain; one package listed), cold: every repository fetched | {:.1} ms |",
        ms(cold)
    );
    println!(
        "| {size} | plan with the dependency closure, warm: from the cache (median of 5) | {:.1} ms |",
        ms(warm)
    );
    Ok(())
}

/// Remotes over ssh (`--ssh-remotes`): N packages whose every source is an
/// `ssh://` URL on a local stock sshd (key-only, a test user's key given to
/// ssh with `GIT_SSH_COMMAND`): `hpmctl doctor`, which lists every remote
/// as a switch does, against `git ls-remote` over each URL in turn (what a
/// user's script would do). Median of 3 each. A whole switch is not timed
/// here: uv fetches every git dependency at once, which a stock sshd
/// refuses beyond ten (README, "Many remotes on one server").
fn ssh_remote_times(sizes: &[usize]) -> Result<()> {
    use hpm_tests::ssh::{is_root, SshServer, TestUser};
    anyhow::ensure!(
        is_root(),
        "--ssh-remotes needs root (a user of its own, sshd)"
    );
    println!(
        "| packages | measure | hpm | `git ls-remote`, one remote after another | git ÷ hpm |"
    );
    println!("| ---: | --- | ---: | ---: | ---: |");
    for &size in sizes {
        let world = World::new()?;
        let names: Vec<String> = (0..size).map(|i| format!("plugin-{i:03}")).collect();
        for name in &names {
            world.add_plugin(name, &[hpm_tests::Release::new("v1.0.0", "1.0.0")])?;
        }
        let user = TestUser::create(&world.root().join("home"))?;
        user.give(world.root())?;
        let key = user.key("id_ed25519", "")?;
        let server = SshServer::start(&world.root().join("sshd"), &user)?;
        let ssh = user.ssh_command_with(&key);
        let urls: Vec<String> = names
            .iter()
            .map(|name| {
                format!(
                    "ssh://{}@127.0.0.1:{}{}",
                    user.name,
                    server.port,
                    world
                        .root()
                        .join("remotes")
                        .join(format!("{name}.git"))
                        .display()
                )
            })
            .collect();
        for (name, url) in names.iter().zip(&urls) {
            world.write_registry_entry(
                name,
                &format!("name: {name}\nsources:\n  prod: {{ type: git, url: \"{url}\", tag: v1.0.0 }}\n"),
            )?;
        }
        world.write_manifest(&format!(
            "version: 1\nmode: prod\nregistry: ./hpm-registry\npackages: [{}]\n",
            names.join(", ")
        ))?;
        user.give(world.root())?;

        // Every remote listed: hpm's doctor (8 at a time) against git one
        // remote after another, on a fresh connection each.
        let serial = serial_ls_remote(&urls, &ssh)?;
        let doctor = median((0..3).map(|_| {
            let started = Instant::now();
            let output = world
                .hpmctl()
                .env("GIT_SSH_COMMAND", &ssh)
                .args(["--no-daemon", "doctor"])
                .output()?;
            let elapsed = started.elapsed();
            if !output.status.success() {
                bail!("hpmctl doctor:\n{}", describe(&output));
            }
            Ok(elapsed)
        }))?;
        row(
            size,
            "every remote listed: `hpmctl doctor`; fresh ssh connections",
            doctor,
            serial,
        );
    }
    Ok(())
}

/// `git ls-remote` over each URL in turn, with `ssh` (median of 3).
fn serial_ls_remote(urls: &[String], ssh: &str) -> Result<Duration> {
    median((0..3).map(|_| {
        let started = Instant::now();
        for url in urls {
            let output = Command::new("git")
                .args(["ls-remote", "--", url])
                .env("GIT_SSH_COMMAND", ssh)
                .output()?;
            if !output.status.success() {
                bail!("git ls-remote {url}:\n{}", describe(&output));
            }
        }
        Ok(started.elapsed())
    }))
}

/// One row of `--ssh-remotes`' table.
fn row(size: usize, what: &str, hpm: Duration, git: Duration) {
    println!(
        "| {size} | {what} | {:.0} ms | {:.0} ms | {:.1}× |",
        ms(hpm),
        ms(git),
        git.as_secs_f64() / hpm.as_secs_f64()
    );
}

fn measure_world(size: usize, uv: &Path) -> Result<SizeResult> {
    let names: Vec<String> = (0..size).map(|i| format!("plugin-{i:03}")).collect();
    let world = World::with_dev_plugins(&names)?;
    eprintln!("  warming caches (dev → prod → dev)");
    for args in [&["sync"][..], &["switch", "prod"], &["switch", "dev"]] {
        world.ok(args)?;
    }

    eprintln!("  mode switch ({SWITCH_RUNS} cycles)");
    let mut hpm_switches = Vec::new();
    let mut uv_switches = Vec::new();
    let mut hpm_own = Vec::new();
    for _ in 0..SWITCH_RUNS {
        let started = Instant::now();
        let output = world.ok(&["switch", "prod", "--json"])?;
        let elapsed = started.elapsed();
        hpm_switches.push(Ok(elapsed));
        let report: serde_json::Value = serde_json::from_slice(&output.stdout)?;
        let uv_ms = report["uv_ms"]
            .as_u64()
            .context("the switch's report has no `uv_ms`")?;
        hpm_own.push(Ok(elapsed.saturating_sub(Duration::from_millis(uv_ms))));
        let uv_args = uv_arguments(&String::from_utf8_lossy(&output.stderr))?;
        let prod_pyproject = world.bytes("pyproject.toml").context("pyproject.toml")?;
        let prod_lock = std::fs::read(world.core().join(".hpm/locks/prod.uv.lock"))?;
        world.ok(&["switch", "dev"])?;
        // Raw uv from the same starting point (dev installed), given the
        // files hpm wrote and the arguments hpm passed.
        std::fs::write(world.core().join("pyproject.toml"), &prod_pyproject)?;
        std::fs::write(world.core().join("uv.lock"), &prod_lock)?;
        uv_switches.push(time_uv(uv, &world.core(), &uv_args));
        world.ok(&["switch", "dev"])?;
    }
    let hpm_switch = median(hpm_switches.into_iter())?;
    let uv_switch = median(uv_switches.into_iter())?;
    let hpm_own = median(hpm_own.into_iter())?;
    world.ok(&["switch", "prod"])?;

    eprintln!("  no-op");
    let hpm_noop = hpmctl_time(&world, &["sync"], NOOP_RUNS)?;
    let uv_noop =
        median((0..UV_NOOP_RUNS).map(|_| time_uv(uv, &world.core(), &["sync".to_string()])))?;
    let noop_phases = noop_phases(&world)?;

    eprintln!("  daemon (every package in dev)");
    world.ok(&["switch", "dev"])?;
    let daemon = measure_daemon(&world, &names, uv)?;
    Ok(SizeResult {
        packages: size,
        hpm_noop,
        uv_noop,
        noop_phases,
        hpm_switch,
        uv_switch,
        hpm_own,
        daemon,
    })
}

/// The no-op's phases: a process that only starts, one that also says
/// hello to the daemon, and the sync request on a connection already open.
fn noop_phases(world: &World) -> Result<NoopPhases> {
    use hpm_protocol::{Change, HpmApiClient};
    let process = version_time(NOOP_RUNS)?;
    let hello = hpmctl_time(world, &["daemon", "status"], NOOP_RUNS)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let request = runtime.block_on(async {
        let client = rpc_client(&world.socket()).await?;
        let mut samples = Vec::new();
        for _ in 0..NOOP_RUNS {
            let started = Instant::now();
            let change = Change::Sync {
                mode: None,
                force: false,
            };
            client.apply(world.core(), change, None).await?;
            samples.push(Ok(started.elapsed()));
        }
        median(samples.into_iter())
    })?;
    Ok(NoopPhases {
        process,
        hello,
        request,
    })
}

fn measure_daemon(world: &World, names: &[String], uv: &Path) -> Result<DaemonResult> {
    use hpm_protocol::HpmApiClient;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let root = world.core();
    let socket = world.socket();
    let (rpc, fresh, pid, concurrent) = runtime.block_on(async {
        let client = rpc_client(&socket).await?;
        let pid = client.hello().await?.pid;
        // An idle workspace: the watcher has reported the last job's writes.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut latencies = Vec::new();
        for _ in 0..RPC_RUNS {
            let started = Instant::now();
            client.status(root.clone(), None).await?;
            latencies.push(started.elapsed());
        }
        latencies.sort();
        let mut fresh = Vec::new();
        for _ in 0..RPC_RUNS {
            let started = Instant::now();
            client.status(root.clone(), Some(true)).await?;
            fresh.push(started.elapsed());
        }
        fresh.sort();
        // 32 clients, each on its own connection; every 50th request is a status.
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..CLIENTS {
            let socket = socket.clone();
            let root = root.clone();
            tasks.push(tokio::spawn(async move {
                let client = rpc_client(&socket).await?;
                let mut answered = 0;
                for request in 0..REQUESTS_PER_CLIENT {
                    let ok = if request % 50 == 0 {
                        client.status(root.clone(), None).await.is_ok()
                    } else {
                        client.hello().await.is_ok()
                    };
                    answered += usize::from(ok);
                }
                anyhow::Ok(answered)
            }));
        }
        let mut answered = 0;
        for task in tasks {
            answered += task.await??;
        }
        anyhow::Ok((latencies, fresh, pid, (answered, started.elapsed())))
    })?;
    let (save_to_job, commit_to_event) = runtime.block_on(measure_live(world, names))?;
    std::thread::sleep(Duration::from_secs(1));
    let inotify_watches = inotify_watches(pid);
    let proc_status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = |field: &str| {
        proc_status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
            .unwrap_or(0)
    };
    let (rss_kib, rss_anon_kib, rss_file_kib) = (kib("VmRSS:"), kib("RssAnon:"), kib("RssFile:"));
    let workspace = hpm_engine::workspace::Workspace::at(&root)?;
    let status_cold = median((0..5).map(|_| {
        let started = Instant::now();
        hpm_engine::ops::status::status(&workspace)?;
        Ok(started.elapsed())
    }))?;
    let hpmctl_status = hpmctl_time(world, &["status", "--json"], 11)?;
    // The same information by hand: what is installed, and each clone's state.
    let by_hand_status = median((0..3).map(|_| {
        let started = Instant::now();
        let listed = Command::new(uv)
            .args(["pip", "list", "--format", "json"])
            .current_dir(&root)
            .output()?;
        anyhow::ensure!(
            listed.status.success(),
            "uv pip list failed:\n{}",
            describe(&listed)
        );
        for name in names {
            let clone = root.join("packages").join(name);
            let git = Command::new("git")
                .args(["status", "--porcelain=v2", "--branch"])
                .current_dir(&clone)
                .output()?;
            anyhow::ensure!(
                git.status.success(),
                "git status failed in {}",
                clone.display()
            );
        }
        Ok(started.elapsed())
    }))?;
    Ok(DaemonResult {
        rpc_p50: rpc[rpc.len() / 2],
        rpc_p99: p99(&rpc),
        fresh_p50: fresh[fresh.len() / 2],
        fresh_p99: p99(&fresh),
        hpmctl_status,
        by_hand_status,
        concurrent_answered: concurrent.0,
        concurrent_sent: CLIENTS * REQUESTS_PER_CLIENT,
        concurrent_elapsed: concurrent.1,
        status_cold,
        rss_kib,
        rss_anon_kib,
        rss_file_kib,
        save_to_job,
        commit_to_event,
        inotify_watches,
    })
}

/// The live daemon's reaction times: a save of `hpm.yaml` that changes the
/// plan (the last package dropped, then restored) until the reconcile
/// starts, and a commit in `clone`'s repository until its `repo_changed`.
async fn measure_live(world: &World, names: &[String]) -> Result<(Duration, Duration)> {
    use hpm_protocol::{EventBody, HpmApiClient};
    let client = rpc_client(&world.socket()).await?;
    let mut events = client.subscribe_events().await?;
    let manifest_path = world.core().join("hpm.yaml");
    let original = std::fs::read_to_string(&manifest_path)?;
    let last = names.last().context("no packages")?;
    let shorter = original.replace(&format!(", {last}]"), "]");
    anyhow::ensure!(
        shorter != original,
        "the manifest does not end with `{last}`"
    );
    let mut save_times = Vec::new();
    for run in 0..LIVE_RUNS * 2 {
        let text = if run % 2 == 0 { &shorter } else { &original };
        // Let the previous save's burst window pass: a save after a quiet
        // second is synced at once.
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let started = Instant::now();
        std::fs::write(&manifest_path, text)?;
        let mut job_started = None;
        while let Some(event) = events.next().await {
            match event?.body {
                EventBody::JobStarted { .. } => job_started = Some(started.elapsed()),
                EventBody::JobFinished { .. } | EventBody::JobFailed { .. } => break,
                _ => {}
            }
        }
        save_times.push(job_started.context("no job started after a save")?);
    }
    let mut commit_times = Vec::new();
    let repository = world.core().join("packages").join(&names[0]);
    for run in 0..LIVE_RUNS {
        let started = Instant::now();
        let committed = Command::new("git")
            .args([
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                &format!("bench {run}"),
            ])
            .current_dir(&repository)
            .output()?;
        anyhow::ensure!(committed.status.success(), "{}", describe(&committed));
        loop {
            let event = events.next().await.context("the event stream ended")??;
            if let EventBody::RepoChanged { .. } = event.body {
                commit_times.push(started.elapsed());
                break;
            }
        }
    }
    save_times.sort();
    commit_times.sort();
    Ok((
        save_times[save_times.len() / 2],
        commit_times[commit_times.len() / 2],
    ))
}

/// The uv command line hpm reported in its progress (`running uv sync …`).
fn uv_arguments(progress: &str) -> Result<Vec<String>> {
    for line in progress.lines() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
        // In-process progress has `phase`; the daemon's events have `line`.
        let phase = event["phase"].as_str().or(event["line"].as_str());
        if let Some(command) = phase.and_then(|p| p.strip_prefix("running uv ")) {
            return Ok(command.split(' ').map(str::to_string).collect());
        }
    }
    bail!("hpm did not report its uv command:\n{progress}")
}

/// The uv binary both sides run, and how it was found.
struct UvBinary {
    path: PathBuf,
    version: String,
    found: String,
}

/// The uv binary itself, never a wrapper: `HPM_UV`, else `uv` on `PATH`
/// unless that is a script (a pyenv or asdf shim adds a shell's start to
/// every call), else the binary of the `uv` Python package. Its folder is
/// put first on `PATH`, so the hpm under test runs the same binary.
fn uv_binary() -> Result<UvBinary> {
    let (path, found) = match std::env::var_os("HPM_UV") {
        Some(path) => (PathBuf::from(path), "from HPM_UV".to_string()),
        None => {
            let on_path = which::which("uv").context("uv is not on PATH (set HPM_UV)")?;
            if is_script(&on_path) {
                let binary = hpm_engine::uv::uv_from_python_package().with_context(|| {
                    format!(
                        "`{}` is a script, not uv's binary, and `python3 -c 'import uv'` does not name one: set HPM_UV to the binary",
                        on_path.display()
                    )
                })?;
                let found = format!(
                    "the `uv` on PATH, `{}`, is a script: the binary named by `python3 -c 'import uv; uv.find_uv_bin()'`",
                    on_path.display()
                );
                (binary, found)
            } else {
                (on_path, "on PATH".to_string())
            }
        }
    };
    if is_script(&path) {
        bail!("`{}` is a script, not uv's binary", path.display());
    }
    let version = hpm_engine::uv::Uv::find_at(&path)?.version;
    let folder = path.parent().context("the uv binary has no folder")?;
    let search = std::env::var_os("PATH").unwrap_or_default();
    let joined = std::env::join_paths(
        std::iter::once(folder.to_path_buf()).chain(std::env::split_paths(&search)),
    )?;
    std::env::set_var("PATH", joined);
    eprintln!("uv {version}: {} ({found})", path.display());
    Ok(UvBinary {
        path,
        version,
        found,
    })
}

fn time_uv(uv: &Path, dir: &Path, args: &[String]) -> Result<Duration> {
    let started = Instant::now();
    let output = Command::new(uv)
        .args(args)
        .current_dir(dir)
        .env("UV_NO_PROGRESS", "1")
        .output()?;
    let elapsed = started.elapsed();
    if !output.status.success() {
        bail!("uv {} failed:\n{}", args.join(" "), describe(&output));
    }
    Ok(elapsed)
}

/// The median time of `runs` runs of `hpmctl ARGS` in `world`.
fn hpmctl_time(world: &World, args: &[&str], runs: usize) -> Result<Duration> {
    median((0..runs).map(|_| {
        let started = Instant::now();
        world.ok(args).map(|_| started.elapsed())
    }))
}

/// The median time of `runs` runs of `hpmctl --version`: a process that
/// starts and exits.
fn version_time(runs: usize) -> Result<Duration> {
    let hpmctl = hpm_tests::hpmctl_path();
    median((0..runs).map(|_| {
        let started = Instant::now();
        let output = Command::new(&hpmctl).arg("--version").output()?;
        anyhow::ensure!(output.status.success(), "hpmctl --version failed");
        Ok(started.elapsed())
    }))
}

/// The 99th percentile of sorted, non-empty samples.
fn p99(sorted: &[Duration]) -> Duration {
    sorted[(sorted.len() * 99 / 100).min(sorted.len() - 1)]
}

fn median(samples: impl Iterator<Item = Result<Duration>>) -> Result<Duration> {
    let mut samples: Vec<Duration> = samples.collect::<Result<_>>()?;
    samples.sort();
    samples
        .get(samples.len() / 2)
        .copied()
        .context("no samples")
}

/// Resolve + transform for `count` packages, in memory (no IO), median.
fn plan_and_write_time(count: usize) -> Result<Duration> {
    let names: Vec<String> = (0..count).map(|i| format!("plugin-{i:04}")).collect();
    let manifest_text = format!("version: 1\nmode: prod\npackages: [{}]\n", names.join(", "));
    let manifest = Manifest::parse(&manifest_text, Path::new("hpm.yaml"))?;
    let entries: Vec<(RegistryEntry, EntryOrigin)> = names
        .iter()
        .map(|name| {
            let yaml = format!(
                "name: {name}\nsources:\n  prod: {{ type: git, url: \"https://example.org/{name}.git\", tag: v1.0.0 }}\n"
            );
            let origin = EntryOrigin::File(PathBuf::from(format!("{name}.yaml")));
            Ok((serde_yaml_ng::from_str(&yaml)?, origin))
        })
        .collect::<Result<_>>()?;
    let registry = Registry::from_entries(entries);
    let mut pyproject =
        String::from("[project]\nname = \"core\"\nversion = \"1\"\ndependencies = [\n");
    for name in &names {
        let _ = writeln!(pyproject, "    \"{name}\",");
    }
    pyproject.push_str("]\n\n[tool.uv.sources]\n");
    for name in &names {
        let _ = writeln!(
            pyproject,
            "{name} = {{ path = \"packages/{name}\", editable = true }}"
        );
    }
    let mode = Mode::new("prod").map_err(anyhow::Error::msg)?;
    let overrides = BTreeMap::new();
    median((0..PLAN_RUNS).map(|_| {
        let started = Instant::now();
        let plan = resolve(ResolveInput {
            requested: &std::collections::BTreeSet::new(),
            manifest: &manifest,
            manifest_path: Path::new("hpm.yaml"),
            registry: &registry,
            mode: &mode,
            overrides: &overrides,
            required: &BTreeMap::new(),
            linked: &BTreeMap::new(),
        })?;
        let plan = PinnedPlan::without_remotes(plan)?;
        let mut document = PyprojectMut::parse(&pyproject, Path::new("pyproject.toml"))?;
        document.apply(&plan, &plan.names(), Path::new("pyproject.toml"))?;
        let text = document.to_string();
        let elapsed = started.elapsed();
        if !text.contains("tag = \"v1.0.0\"") {
            bail!("the transform did not switch the sources");
        }
        Ok(elapsed)
    }))
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    format!("{cores} cores, {cpu}, {}", std::env::consts::OS)
}

/// The report's hand-written part: from this heading on, `--write` keeps
/// what the file already says.
const NOTES_HEADING: &str = "## Notes";

fn render(results: &[SizeResult], plan_write: Duration, uv: &UvBinary) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Benchmarks\n");
    let _ = writeln!(out, "Produced by `cargo build --profile dist --workspace && target/dist/hpm-bench --sizes 10,50,200 --write BENCHMARKS.md`");
    let _ = writeln!(
        out,
        "(the source, `tests/src/bin/hpm-bench.rs`, says what each row measures).\n"
    );
    let _ = writeln!(
        out,
        "Machine: {}; uv {} (the binary `{}`, {}); hpm {}.\n",
        machine(),
        uv.version,
        uv.path.display(),
        uv.found,
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(out, "Each comparison is run in the same session on the same files; caches are warm on both sides.\n");
    let _ = writeln!(
        out,
        "| packages | measure | hpm | raw uv | ratio | goal | met |"
    );
    let _ = writeln!(out, "| ---: | --- | ---: | ---: | ---: | --- | --- |");
    for r in results {
        let speedup = r.uv_noop.as_secs_f64() / r.hpm_noop.as_secs_f64().max(1e-9);
        let _ = writeln!(
            out,
            "| {} | no-op sync (median of {NOOP_RUNS} / {UV_NOOP_RUNS}) | {:.1} ms | {:.1} ms | {speedup:.1}× faster | ≥ 10× faster | {} |",
            r.packages,
            ms(r.hpm_noop),
            ms(r.uv_noop),
            if speedup >= 10.0 { "yes" } else { "**no**" }
        );
        let phases = &r.noop_phases;
        let _ = writeln!(
            out,
            "| {} | that no-op by phase (medians of {NOOP_RUNS}): process start and exit (`hpmctl --version`) / with the socket, WebSocket handshake and hello (`hpmctl daemon status`) / the sync request alone on an open connection | {:.2} / {:.2} / {:.2} ms | – | – | – | – |",
            r.packages,
            ms(phases.process),
            ms(phases.hello),
            ms(phases.request),
        );
        let overhead = r.hpm_switch.as_secs_f64() / r.uv_switch.as_secs_f64().max(1e-9) - 1.0;
        let _ = writeln!(
            out,
            "| {} | mode switch dev → prod (median of {SWITCH_RUNS} interleaved pairs) | {:.0} ms | {:.0} ms | {:+.1}% | within 3% | {} |",
            r.packages,
            ms(r.hpm_switch),
            ms(r.uv_switch),
            overhead * 100.0,
            if overhead <= 0.03 { "yes" } else { "**no**" }
        );
        // Without uv's run-to-run spread: what hpm adds, measured inside
        // the same switches.
        let own = r.hpm_own.as_secs_f64() / r.uv_switch.as_secs_f64().max(1e-9);
        let _ = writeln!(
            out,
            "| {} | hpm's own time in those switches (wall time less uv's run inside each: process start, request, plan, checks, writes, commit; median of {SWITCH_RUNS}) | {:.0} ms | {:.0} ms | {:+.1}% | within 3% | {} |",
            r.packages,
            ms(r.hpm_own),
            ms(r.uv_switch),
            own * 100.0,
            if own <= 0.03 { "yes" } else { "**no**" }
        );
    }
    for r in results {
        let d = &r.daemon;
        let _ = writeln!(
            out,
            "| {} | `status` over the socket, p50 / p99 of {RPC_RUNS} | {:.2} / {:.2} ms | – | – | p99 ≤ 1 ms | {} |",
            r.packages,
            ms(d.rpc_p50),
            ms(d.rpc_p99),
            if ms(d.rpc_p99) <= 1.0 { "yes" } else { "**no**" }
        );
        let _ = writeln!(
            out,
            "| {} | fresh `status` over the socket (the watcher settled by a sync cookie, what `hpmctl status` asks), p50 / p99 of {RPC_RUNS} | {:.2} / {:.2} ms | – | – | – | – |",
            r.packages,
            ms(d.fresh_p50),
            ms(d.fresh_p99),
        );
        let _ = writeln!(
            out,
            "| {} | status computed from scratch in-process, no cache or watcher (the work of `hpmctl --no-daemon status`; a daemon cache miss costs at most this; median of 5) | {:.1} ms | – | – | – | – |",
            r.packages,
            ms(d.status_cold),
        );
        let speedup = d.by_hand_status.as_secs_f64() / d.hpmctl_status.as_secs_f64().max(1e-9);
        let _ = writeln!(
            out,
            "| {} | `hpmctl status --json` vs `uv pip list` + `git status` per clone | {:.1} ms | {:.1} ms | {speedup:.1}× faster | ≥ 20× faster, ≤ 10 ms | {} |",
            r.packages,
            ms(d.hpmctl_status),
            ms(d.by_hand_status),
            if speedup >= 20.0 && ms(d.hpmctl_status) <= 10.0 { "yes" } else { "**no**" }
        );
        let _ = writeln!(
            out,
            "| {} | {CLIENTS} clients × {REQUESTS_PER_CLIENT} requests (1 in 50 a `status`) | {}/{} answered in {:.1} s | – | – | all answered | {} |",
            r.packages,
            d.concurrent_answered,
            d.concurrent_sent,
            d.concurrent_elapsed.as_secs_f64(),
            if d.concurrent_answered == d.concurrent_sent { "yes" } else { "**no**" }
        );
        let _ = writeln!(
            out,
            "| {} | save of `hpm.yaml` → reconcile started (median of {}) | {:.0} ms | – | – | ≤ 150 ms | {} |",
            r.packages,
            LIVE_RUNS * 2,
            ms(d.save_to_job),
            if ms(d.save_to_job) <= 150.0 { "yes" } else { "**no**" }
        );
        let _ = writeln!(
            out,
            "| {} | `git commit` in a dev clone → `repo_changed` (median of {LIVE_RUNS}, git's own run included) | {:.0} ms | – | – | < 200 ms | {} |",
            r.packages,
            ms(d.commit_to_event),
            if ms(d.commit_to_event) < 200.0 { "yes" } else { "**no**" }
        );
        let _ = writeln!(
            out,
            "| {} | inotify watches held (every package a dev clone) | {} ({:.1} per package) | – | – | grows with packages, not files | {} |",
            r.packages,
            d.inotify_watches,
            d.inotify_watches as f64 / r.packages.max(1) as f64,
            if d.inotify_watches <= r.packages * 8 + 8 { "yes" } else { "**no**" }
        );
        let _ = writeln!(
            out,
            "| {} | daemon RSS after the above, idle (heap and stacks / mapped files) | {:.1} MB ({:.1} / {:.1}) | – | – | < 30 MB | {} |",
            r.packages,
            d.rss_kib as f64 / 1024.0,
            d.rss_anon_kib as f64 / 1024.0,
            d.rss_file_kib as f64 / 1024.0,
            if d.rss_kib < 30 * 1024 {
                "yes"
            } else {
                "**no**"
            }
        );
    }
    let _ = writeln!(
        out,
        "| 1000 | plan + pyproject write, in memory (median of {PLAN_RUNS}) | {:.2} ms | – | – | < 20 ms | {} |",
        ms(plan_write),
        if ms(plan_write) < 20.0 { "yes" } else { "**no**" }
    );
    out
}
