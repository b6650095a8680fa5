//! The reliability suite: hpm held to its promise that it never loses or
//! corrupts what the user has, whatever happens. It runs the real `hpmd`,
//! `hpmctl`, uv and git, counts what each part tried and what survived, and
//! prints one table at the end. Every part is bounded in time.
//!
//! - crash: `kill -9` of the daemon at random points of a reconcile (before
//!   and during the write, during uv's run, during the rollback after uv
//!   failed); after each restart the files must be the old or the new
//!   state, byte for byte, and the environment must import again;
//! - faults: uv missing, crashing, hanging (timeout and cancel), writes
//!   refused part-way (the file-size limit standing in for a full disk), a
//!   read-only `pyproject.toml`, a git remote that vanished, a registry
//!   entry that does not parse: each a clear error, the files unchanged;
//! - concurrency: 32 clients mixing status, sync, switch and group edits on
//!   3 workspaces of one daemon;
//! - bad input: property tests of the manifest and registry parsers and of
//!   the pyproject transform, for a fixed time budget, and hostile values;
//! - user data: the adversarial classes, each with random variants: text
//!   layouts (CRLF, byte order mark, comments around managed entries) and
//!   symlinked files kept through switch round trips; damaged journal
//!   copies refused with nothing touched; SIGINT/SIGTERM to `--no-daemon`
//!   at random moments of a real switch; many spellings of one workspace;
//!   a `uv.lock` the user re-locked between switches; a rollback uv got
//!   in the way of; a FIFO at `uv.lock`; a client of another version while
//!   a job runs;
//! - edits (`reliability/edits.rs`): `kill -9` of the daemon at random
//!   moments of `add`, `remove` and `group add`, which edit `hpm.yaml` and
//!   a registry entry as well: after the restart and a sync, hpm.yaml, the
//!   entry, `pyproject.toml` and `uv.lock` are all old or all new; and
//!   (`reliability/kills.rs`) `kill -9` of `release apply` and `import` at
//!   random moments: a resume reaches the uninterrupted end with nothing
//!   done twice, and the next import finds its files all old or all new;
//! - secrets (`reliability/secrets.rs`): every command that can meet the
//!   forge token, at `HPM_LOG=trace`, in-process and through a daemon that
//!   holds it: no form of the token in anything printed or any file written;
//! - security: other users refused, nothing on TCP, no shell.
//!
//! `HPM_SEED` replays a run (each trial prints its own seed too);
//! `HPM_PARTS=crash,faults` runs only those parts;
//! `HPM_CRASH_TRIALS`, `HPM_CONCURRENCY_SECONDS`, `HPM_FUZZ_SECONDS`,
//! `HPM_USER_DATA_TRIALS`, `HPM_EDIT_TRIALS` and `HPM_KILL_TRIALS` set
//! the budgets; `HPM_LONG=1` is the long mode (500 crash trials, a minute
//! each of concurrency and fuzzing, 30 user data trials per class, 120 edit
//! trials: 30 each of add and remove, 60 of group add; 30 kills each of
//! `release apply` and `import`), each budget still overridable.

#[path = "reliability/edits.rs"]
mod edits;
#[path = "reliability/kills.rs"]
mod kills;
#[path = "reliability/secrets.rs"]
mod secrets;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use hpm_protocol::{Change, EventBody, HpmApiClient};
use hpm_tests::{curl_hello, describe, fake_uv, rpc_client, stderr, stdout, wait_for, World};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

/// One row of the summary: a kind of trial, how many ran, how many held.
#[derive(Debug)]
struct Row {
    part: &'static str,
    case: String,
    tried: usize,
    survived: usize,
    /// What went wrong, one line per failed trial (with its seed).
    failures: Vec<String>,
}

impl Row {
    fn new(part: &'static str, case: impl Into<String>) -> Row {
        Row {
            part,
            case: case.into(),
            tried: 0,
            survived: 0,
            failures: Vec::new(),
        }
    }

    /// Counts one trial: survived when `outcome` is `Ok`.
    fn record(&mut self, outcome: Result<()>) {
        self.tried += 1;
        match outcome {
            Ok(()) => self.survived += 1,
            Err(error) => self.failures.push(format!("{error:#}")),
        }
    }

    fn single(part: &'static str, case: &str, outcome: Result<()>) -> Row {
        let mut row = Row::new(part, case);
        row.record(outcome);
        row
    }
}

/// One part of the suite: its rows, drawing randomness from the run's seed.
type Part<'a> = dyn Fn(&mut StdRng) -> Result<Vec<Row>> + 'a;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> ExitCode {
    // `cargo test NAME` passes NAME: run only when it names this suite.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if !filters.is_empty() && !filters.iter().any(|f| "reliability".contains(f.as_str())) {
        return ExitCode::SUCCESS;
    }
    let seed = env_number("HPM_SEED", rand::random::<u32>().into());
    println!("reliability suite: HPM_SEED={seed}");
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut rows = Vec::new();
    let long = std::env::var("HPM_LONG").is_ok_and(|v| v == "1");
    let budget = |name: &str, short: u64, long_mode: u64| {
        env_number(name, if long { long_mode } else { short })
    };
    let crash_trials = budget("HPM_CRASH_TRIALS", 51, 500) as usize;
    let concurrency_seconds = budget("HPM_CONCURRENCY_SECONDS", 20, 60);
    let fuzz_seconds = budget("HPM_FUZZ_SECONDS", 20, 60);
    let user_data_trials = budget("HPM_USER_DATA_TRIALS", 4, 30) as usize;
    // The edits cycle add, group add, remove, group add: about half are
    // `group add`.
    let edit_trials = budget("HPM_EDIT_TRIALS", 40, 120) as usize;
    // `release apply` and `import`, killed at random moments: a fresh
    // world each, so fewer.
    let kill_trials = budget("HPM_KILL_TRIALS", 10, 30) as usize;
    println!(
        "budgets: {crash_trials} crash trials, {concurrency_seconds} s concurrency, \
         {fuzz_seconds} s fuzzing, {user_data_trials} user data trials per class, \
         {edit_trials} edit trials, {kill_trials} kills of release and import each{}",
        if long { " (long mode)" } else { "" }
    );
    let parts: [(&str, &Part<'_>); 8] = [
        ("crash", &|rng| crash(rng, crash_trials)),
        ("faults", &|_| faults()),
        ("concurrency", &|rng| {
            concurrency(rng, Duration::from_secs(concurrency_seconds))
        }),
        ("bad input", &|rng| {
            bad_input(rng, Duration::from_secs(fuzz_seconds))
        }),
        ("user data", &|rng| user_data(rng, user_data_trials)),
        ("edits", &|rng| {
            let mut rows = edits::edits(rng, edit_trials)?;
            rows.extend(kills::release_kills(rng, kill_trials)?);
            rows.extend(kills::import_kills(rng, kill_trials)?);
            Ok(rows)
        }),
        ("secrets", &|_| secrets::secrets()),
        ("security", &|_| security()),
    ];
    let only = std::env::var("HPM_PARTS").unwrap_or_default();
    for (name, part) in parts {
        if !only.is_empty() && !only.split(',').any(|p| p.trim() == name) {
            continue;
        }
        let part_started = Instant::now();
        println!("--- {name}");
        match part(&mut rng) {
            Ok(part_rows) => rows.extend(part_rows),
            Err(error) => {
                let mut row = Row::new("setup", name);
                row.record(Err(error));
                rows.push(row);
            }
        }
        println!("    {name}: {:.0} s", part_started.elapsed().as_secs_f64());
    }
    let failed = print_table(&rows, started.elapsed());
    if failed {
        println!("reliability suite FAILED (replay with HPM_SEED={seed})");
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Prints the summary; answers whether anything failed.
fn print_table(rows: &[Row], elapsed: Duration) -> bool {
    let mut out = String::new();
    let _ = writeln!(out, "\n| part | case | tried | survived |");
    let _ = writeln!(out, "| --- | --- | ---: | ---: |");
    for row in rows {
        let mark = if row.survived == row.tried {
            ""
        } else {
            " **FAILED**"
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {}{mark} |",
            row.part, row.case, row.tried, row.survived
        );
    }
    let tried: usize = rows.iter().map(|r| r.tried).sum();
    let survived: usize = rows.iter().map(|r| r.survived).sum();
    let _ = writeln!(
        out,
        "| all | | {tried} | {survived} |\n\nin {:.0} s",
        elapsed.as_secs_f64()
    );
    for row in rows.iter().filter(|r| !r.failures.is_empty()) {
        let _ = writeln!(out, "\n{} / {}:", row.part, row.case);
        for failure in &row.failures {
            let _ = writeln!(out, "  - {failure}");
        }
    }
    println!("{out}");
    survived != tried
}

// ---------------------------------------------------------------- crash --

/// The user's files, byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Files {
    pyproject: Option<Vec<u8>>,
    uv_lock: Option<Vec<u8>>,
    manifest: Option<Vec<u8>>,
}

impl Files {
    fn of(world: &World) -> Files {
        Files {
            pyproject: world.bytes("pyproject.toml"),
            uv_lock: world.bytes("uv.lock"),
            manifest: world.bytes("hpm.yaml"),
        }
    }
}

/// Where in a reconcile a crash trial kills the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum KillPoint {
    /// From the request on: planning, validating, writing the journal and
    /// the new `pyproject.toml`, the start of uv.
    AroundTheWrite,
    /// While uv runs (uv is killed too; the next start stops it otherwise).
    DuringUv,
    /// After uv failed, while hpm restores the files.
    DuringRollback,
}

/// A uv that follows the plan a crash trial writes to `crash-plan` beside
/// it: `uv D` kills the daemon D seconds into `uv sync`; `rollback D` runs
/// the real uv, fails, and kills the daemon D seconds later, while hpm rolls
/// back. Anything else runs the real uv untouched.
fn crash_uv(world: &World, real: &Path) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let plan = world.root().join("crash-plan");
    let path = world.root().join("crash-uv");
    let script = format!(
        r#"#!/bin/sh
real='{real}'
[ "$1" = "sync" ] || exec "$real" "$@"
plan=$(cat '{plan}' 2>/dev/null)
case "$plan" in
  uv\ *) (sleep "${{plan#uv }}"; kill -9 "$PPID") >/dev/null 2>&1 &
         exec "$real" "$@" ;;
  rollback\ *) "$real" "$@"
         (sleep "${{plan#rollback }}"; kill -9 "$PPID") >/dev/null 2>&1 &
         echo "crash-uv: failing on purpose" >&2; exit 1 ;;
  *) exec "$real" "$@" ;;
esac
"#,
        real = real.display(),
        plan = plan.display()
    );
    std::fs::write(&path, script)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    Ok(path)
}

fn start_daemon(world: &World, uv: &Path) -> Result<u32> {
    let output = world
        .hpmctl()
        .env("HPM_UV", uv)
        .args(["daemon", "start", "--json"])
        .output()?;
    if !output.status.success() {
        bail!("cannot start the daemon:\n{}", describe(&output));
    }
    let hello: Value = serde_json::from_str(&stdout(&output))?;
    hello["hello"]["pid"]
        .as_u64()
        .map(|pid| pid as u32)
        .context("no pid in the daemon's hello")
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

fn kill9(pid: u32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// The version each mode installs of `plugin-a` in the crash world.
fn installed_version_of(mode: &str) -> &'static str {
    if mode == "prod" {
        "1.0.0"
    } else {
        "1.1.0.dev0"
    }
}

fn crash(rng: &mut StdRng, trials: usize) -> Result<Vec<Row>> {
    let world = World::with_dev_plugins(&["plugin-a"])?;
    let real_uv = hpm_engine::uv::Uv::find()?.path;
    let uv = crash_uv(&world, &real_uv)?;
    let plan = world.root().join("crash-plan");
    start_daemon(&world, &uv)?;
    // Both states once, for their bytes and for warm caches; the last
    // switch also times uv's run.
    let mut states = BTreeMap::new();
    world.ok(&["switch", "prod"])?;
    states.insert("prod", Files::of(&world));
    let timed = Instant::now();
    world.ok(&["switch", "dev"])?;
    let switch_time = timed.elapsed();
    states.insert("dev", Files::of(&world));

    let mut rows: BTreeMap<KillPoint, Row> = BTreeMap::new();
    // Per kill point, how many restarts found the old state and the new.
    let mut found: BTreeMap<KillPoint, (usize, usize)> = BTreeMap::new();
    for trial in 0..trials {
        let trial_seed: u64 = rng.random();
        let mut trial_rng = StdRng::seed_from_u64(trial_seed);
        let point = [
            KillPoint::AroundTheWrite,
            KillPoint::DuringUv,
            KillPoint::DuringRollback,
        ][trial % 3];
        let outcome = crash_trial(
            &world,
            &uv,
            &plan,
            &states,
            point,
            switch_time,
            &mut trial_rng,
        )
        .with_context(|| format!("trial {trial} ({point:?}, seed {trial_seed})"));
        let tally = found.entry(point).or_default();
        match outcome {
            Ok(Found::Old) => tally.0 += 1,
            Ok(Found::New) => tally.1 += 1,
            Err(_) => {}
        }
        let row = rows
            .entry(point)
            .or_insert_with(|| Row::new("crash", format!("kill -9 {point:?}")));
        row.record(outcome.map(drop));
        print!(".");
        let _ = std::io::Write::flush(&mut std::io::stdout());
    }
    println!();
    let _ = world.run(&["daemon", "stop"]);
    for (point, (old, new)) in found {
        if let Some(row) = rows.get_mut(&point) {
            let _ = write!(row.case, " (restart found old {old}, new {new})");
        }
    }
    Ok(rows.into_values().collect())
}

/// Which state a restart after a crash found the files in.
#[derive(Debug, Clone, Copy)]
enum Found {
    Old,
    New,
}

fn crash_trial(
    world: &World,
    uv: &Path,
    plan: &Path,
    states: &BTreeMap<&str, Files>,
    point: KillPoint,
    switch_time: Duration,
    rng: &mut StdRng,
) -> Result<Found> {
    let status: Value = serde_json::from_str(&stdout(&world.ok(&["status", "--json"])?))?;
    let from = status["mode"].as_str().unwrap_or("dev").to_string();
    let to = if from == "dev" { "prod" } else { "dev" };
    let before = Files::of(world);
    let pid = start_daemon(world, uv)?;
    let kill_after = match point {
        KillPoint::AroundTheWrite => {
            std::fs::write(plan, "none")?;
            Some(Duration::from_millis(rng.random_range(0..300)))
        }
        KillPoint::DuringUv => {
            let seconds = rng.random_range(0.0..switch_time.as_secs_f64().max(0.2));
            std::fs::write(plan, format!("uv {seconds:.3}"))?;
            None
        }
        KillPoint::DuringRollback => {
            let seconds = rng.random_range(0.0..0.008);
            std::fs::write(plan, format!("rollback {seconds:.4}"))?;
            None
        }
    };
    let mut client = world
        .hpmctl()
        .env("HPM_UV", uv)
        .args(["switch", to])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    if let Some(delay) = kill_after {
        std::thread::sleep(delay);
        kill9(pid);
    }
    // The kill lands while the client waits; a job that ended first is
    // killed after it, which must hold too.
    let deadline = Instant::now() + Duration::from_secs(120);
    while alive(pid) && client.try_wait()?.is_none() {
        if Instant::now() > deadline {
            bail!("the switch neither ended nor was killed in 120 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    kill9(pid);
    let _ = client.wait();
    std::fs::write(plan, "none")?;
    wait_for("the killed daemon to be gone", || !alive(pid))?;

    // Restart: opening the workspace rolls back what the killed run left.
    start_daemon(world, uv)?;
    let status: Value = serde_json::from_str(&stdout(&world.ok(&["status", "--json"])?))?;
    let after = Files::of(world);
    let found = if after == before {
        Found::Old
    } else if after == states[to] {
        Found::New
    } else {
        bail!(
            "after the restart the files are neither the old nor the new state (pyproject old {} new {}, uv.lock old {} new {}, hpm.yaml unchanged {})",
            after.pyproject == before.pyproject,
            after.pyproject == states[to].pyproject,
            after.uv_lock == before.uv_lock,
            after.uv_lock == states[to].uv_lock,
            after.manifest == before.manifest,
        );
    };
    // The environment follows the files again after a sync, and imports.
    world.ok(&["sync"])?;
    let mode = status["mode"].as_str().unwrap_or_default().to_string();
    if Files::of(world) != states[mode.as_str()] {
        bail!("after a sync in {mode} the files are not that mode's");
    }
    let version = world.imported_version("plugin-a")?;
    if version != installed_version_of(&mode) {
        bail!("{mode} imports plugin-a {version}");
    }
    Ok(found)
}

// --------------------------------------------------------------- faults --

/// Runs `hpmctl --no-daemon ARGS` with `env`, expects a failure whose
/// message contains every one of `naming`, and the files unchanged.
fn fails_cleanly(
    world: &World,
    args: &[&str],
    env: &[(&str, &str)],
    naming: &[&str],
) -> Result<()> {
    let before = Files::of(world);
    let mut command = world.hpmctl_in_process();
    command.args(args);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output()?;
    if output.status.success() {
        bail!("hpmctl {} succeeded", args.join(" "));
    }
    let message = stderr(&output);
    for word in naming {
        if !message.contains(word) {
            bail!("the error does not name `{word}`:\n{message}");
        }
    }
    if Files::of(world) != before {
        bail!("the files changed:\n{message}");
    }
    Ok(())
}

fn faults() -> Result<Vec<Row>> {
    let world = World::with_dev_plugins(&["plugin-a"])?;
    world.ok(&["--no-daemon", "sync"])?;
    let dir = world.root();
    let mut rows = Vec::new();

    rows.push(Row::single(
        "faults",
        "uv missing",
        fails_cleanly(
            &world,
            &["switch", "prod"],
            &[("HPM_UV", "/nonexistent/uv")],
            &["uv", "/nonexistent/uv"],
        ),
    ));
    let crashing = fake_uv(dir, "0.9.0", "kill -SEGV $$")?;
    rows.push(Row::single(
        "faults",
        "uv crashing (SIGSEGV)",
        fails_cleanly(
            &world,
            &["switch", "prod"],
            &[("HPM_UV", &crashing.display().to_string())],
            &["uv sync"],
        ),
    ));
    rows.push(Row::single("faults", "uv hanging: settings.uv_timeout", {
        let hanging = fake_uv(dir, "0.9.0", "sleep 600")?;
        let manifest = world.read("hpm.yaml")?;
        world.write_manifest(&format!("{manifest}settings:\n  uv_timeout: 1\n"))?;
        let started = Instant::now();
        let outcome = fails_cleanly(
            &world,
            &["switch", "prod"],
            &[("HPM_UV", &hanging.display().to_string())],
            &["did not finish in time"],
        )
        .and_then(|()| {
            if started.elapsed() > Duration::from_secs(30) {
                bail!("the timeout took {:?}", started.elapsed());
            }
            Ok(())
        });
        world.write_manifest(&manifest)?;
        outcome
    }));
    rows.push(Row::single(
        "faults",
        "uv hanging: cancel",
        cancel_hanging(&world),
    ));
    rows.push(refused_writes(&world)?);
    rows.push(Row::single("faults", "read-only pyproject.toml", {
        use std::os::unix::fs::PermissionsExt;
        let path = world.core().join("pyproject.toml");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444))?;
        let outcome = fails_cleanly(&world, &["switch", "prod"], &[], &["pyproject.toml"]);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
        outcome
    }));
    // A ref the lock does not pin yet, so the switch must ask the remote
    // (one the lock pins is not asked: uv installs the locked commit).
    rows.push(Row::single("faults", "git remote vanished", {
        let entry = world.core().join("hpm-registry/plugin-a.yaml");
        let good = std::fs::read(&entry)?;
        world.register("plugin-a", "v1.1.0.dev0", "v1.1.0.dev0")?;
        let remote = world.root().join("remotes/plugin-a.git");
        let moved = world.root().join("remotes/plugin-a.git.gone");
        std::fs::rename(&remote, &moved).context("the fixture's remote")?;
        let outcome = fails_cleanly(&world, &["switch", "prod"], &[], &["plugin-a"]);
        std::fs::rename(&moved, &remote)?;
        std::fs::write(&entry, good)?;
        outcome
    }));
    rows.push(Row::single(
        "faults",
        "registry entry that does not parse",
        {
            let entry = world.core().join("hpm-registry/plugin-a.yaml");
            let good = std::fs::read(&entry)?;
            std::fs::write(&entry, "name: plugin-a\nsources: [unclosed\n")?;
            let outcome = fails_cleanly(&world, &["switch", "prod"], &[], &["plugin-a.yaml`:2:"]);
            std::fs::write(&entry, good)?;
            outcome
        },
    ));
    // After every fault the workspace still works.
    rows.push(Row::single(
        "faults",
        "workspace usable after the faults",
        {
            world
                .ok(&["--no-daemon", "switch", "prod"])
                .and_then(|_| world.imported_version("plugin-a"))
                .and_then(|version| match version.as_str() {
                    "1.0.0" => Ok(()),
                    other => bail!("prod imports plugin-a {other}"),
                })
        },
    ));
    Ok(rows)
}

/// A uv that hangs, cancelled through the daemon: the switch fails as
/// cancelled, uv is gone, the files are as before.
fn cancel_hanging(world: &World) -> Result<()> {
    let hanging = fake_uv(world.root(), "0.9.0", "echo $$ > uv.pid; sleep 600")?;
    let _ = world.run(&["daemon", "stop"]);
    start_daemon(world, &hanging)?;
    let before = Files::of(world);
    let pid_file = world.core().join("uv.pid");
    let _ = std::fs::remove_file(&pid_file);
    let switch = world
        .hpmctl()
        .args(["switch", "prod"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    wait_for("the hanging uv to start", || pid_file.exists())?;
    world.ok(&["cancel"])?;
    let output = switch.wait_with_output()?;
    let _ = world.run(&["daemon", "stop"]);
    let uv_pid: u32 = std::fs::read_to_string(&pid_file)?.trim().parse()?;
    let _ = std::fs::remove_file(&pid_file);
    if output.status.success() || !stderr(&output).contains("cancel") {
        bail!(
            "the cancelled switch did not say so:\n{}",
            describe(&output)
        );
    }
    if alive(uv_pid) {
        bail!("the cancelled uv ({uv_pid}) still runs");
    }
    if Files::of(world) != before {
        bail!("the files changed");
    }
    Ok(())
}

/// Writes refused part-way, as a full disk would refuse them: the file-size
/// limit (`ulimit -f`, with SIGXFSZ ignored so writes fail with an error)
/// at several sizes, so that the refusal lands at different writes. Each
/// run fails with an error naming a file, or succeeds; either way the files
/// are the old or the new state, and the next unlimited sync works.
fn refused_writes(world: &World) -> Result<Row> {
    let mut row = Row::new(
        "faults",
        "writes refused part-way (ulimit -f, as a full disk)",
    );
    world.ok(&["--no-daemon", "switch", "dev"])?;
    let dev = Files::of(world);
    world.ok(&["--no-daemon", "switch", "prod"])?;
    let prod = Files::of(world);
    world.ok(&["--no-daemon", "switch", "dev"])?;
    for blocks in [0, 1, 2, 4, 8, 16, 64] {
        let outcome = (|| {
            let output = Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "trap '' XFSZ; ulimit -f {blocks}; exec \"$0\" --no-daemon switch prod"
                ))
                .arg(hpm_tests::hpmctl_path())
                .current_dir(world.core())
                .env("HPM_SOCKET", world.socket())
                .env("UV_PYTHON_DOWNLOADS", "never")
                .stdin(Stdio::null())
                .output()?;
            let after = Files::of(world);
            if after != dev && after != prod {
                bail!("limit {blocks} blocks: the files are neither state");
            }
            if !output.status.success() && !stderr(&output).contains('`') {
                bail!(
                    "limit {blocks} blocks: the error names no file:\n{}",
                    describe(&output)
                );
            }
            world.ok(&["--no-daemon", "switch", "dev"])?;
            if Files::of(world) != dev {
                bail!("limit {blocks} blocks: the next sync did not restore dev");
            }
            Ok(())
        })();
        row.record(outcome);
    }
    Ok(row)
}

// ------------------------------------------------------------ user data --

/// The classes the adversarial round found, each tried in random variants.
fn user_data(rng: &mut StdRng, trials: usize) -> Result<Vec<Row>> {
    let mut layouts = Row::new(
        "user data",
        "CRLF, BOM, comments, symlinked files: switch round trips keep every byte",
    );
    let mut journals = Row::new(
        "user data",
        "damaged journal copies: recovery refuses, touches nothing",
    );
    let mut signals = Row::new(
        "user data",
        "SIGINT/SIGTERM to --no-daemon mid-switch: old or new state, uv gone",
    );
    for trial in 0..trials {
        let seed: u64 = rng.random();
        let mut trial_rng = StdRng::seed_from_u64(seed);
        let context = |what: &str| format!("{what} trial {trial} (seed {seed})");
        layouts.record(layout_trial(&mut trial_rng).with_context(|| context("layout")));
        journals.record(journal_trial(&mut trial_rng).with_context(|| context("journal")));
        signals.record(signal_trial(&mut trial_rng).with_context(|| context("signal")));
        print!(".");
        let _ = std::io::Write::flush(&mut std::io::stdout());
    }
    println!();
    let aliases = Row::single(
        "user data",
        "20 spellings of one folder: one workspace in the daemon",
        aliased_paths(rng),
    );
    let relocked = Row::single(
        "user data",
        "uv.lock re-locked by the user between switches: kept as that mode's lock",
        relocked_lock(),
    );
    let mut stuck = Row::new(
        "user data",
        "uv removes pyproject.toml and blocks its return (a folder) or not: what became of it is said, with uv's error",
    );
    for obstacle in ["mkdir pyproject.toml", "true"] {
        stuck.record(stuck_rollback(obstacle).with_context(|| format!("obstacle `{obstacle}`")));
    }
    let blocking = Row::single(
        "user data",
        "a FIFO at uv.lock: refused at once, another workspace answers",
        fifo_lock(),
    );
    let replaced = Row::single(
        "user data",
        "a client of another version while a job runs: waits for it, the job ends synced",
        World::with_dev_plugins(&["plugin-a"]).and_then(|world| {
            world.ok(&["--no-daemon", "sync"])?;
            hpm_tests::replacing_a_daemon_mid_job_waits_for_the_job(&world)
        }),
    );
    Ok(vec![
        layouts, journals, signals, aliases, relocked, stuck, blocking, replaced,
    ])
}

/// A core `pyproject.toml` with a random layout: line endings, comments
/// beside and below the managed entries; `hpm.yaml` with CRLF or a byte
/// order mark (Python's TOML reader, and so hatchling, refuses a BOM in
/// `pyproject.toml`); maybe both symlinked from outside the core. dev →
/// prod → dev gives back the first dev bytes, `hpm.yaml` is untouched,
/// links stay links, the layout stays.
fn layout_trial(rng: &mut StdRng) -> Result<()> {
    let world = World::with_dev_plugins(&["plugin-a"])?;
    let crlf = rng.random_bool(0.5);
    let bom = rng.random_bool(0.5);
    let mut text = world.read("pyproject.toml")?.replace(
        "    # plugins are added by hpm below\n",
        "    # plugins are added by hpm below\n    \"requests\",  # kept beside\n",
    );
    if rng.random_bool(0.5) {
        text.push_str("\n# above the sources, the user's own\n[tool.uv.sources]\n");
    }
    if crlf {
        text = text.replace('\n', "\r\n");
    }
    std::fs::write(world.core().join("pyproject.toml"), &text)?;
    let mut manifest = world.read("hpm.yaml")?;
    if rng.random_bool(0.5) {
        manifest = manifest.replace('\n', "\r\n");
    }
    if bom {
        manifest.insert(0, '\u{feff}');
    }
    world.write_manifest(&manifest)?;
    let linked = rng.random_bool(0.5);
    if linked {
        for name in ["pyproject.toml", "hpm.yaml"] {
            let target = world.root().join(format!("kept-{name}"));
            std::fs::rename(world.core().join(name), &target)?;
            std::os::unix::fs::symlink(&target, world.core().join(name))?;
        }
    }
    world.ok(&["--no-daemon", "sync"])?;
    let dev = world.read("pyproject.toml")?;
    world.ok(&["--no-daemon", "switch", "prod"])?;
    let prod = world.read("pyproject.toml")?;
    world.ok(&["--no-daemon", "switch", "dev"])?;
    let again = world.read("pyproject.toml")?;
    if again != dev {
        bail!("dev after a round trip differs:\n{dev:?}\n{again:?}");
    }
    if world.read("hpm.yaml")? != manifest {
        bail!("hpm.yaml changed");
    }
    for (mode, text) in [("dev", &dev), ("prod", &prod)] {
        let lines_without_cr = text
            .split('\n')
            .filter(|l| !l.is_empty() && !l.ends_with('\r'))
            .count();
        if crlf && lines_without_cr > 0 {
            bail!("{mode}: {lines_without_cr} lines lost their CRLF");
        }
        if !text.contains("\"requests\",  # kept beside") {
            bail!("{mode}: the user's entry or its comment moved:\n{text}");
        }
    }
    if linked {
        for name in ["pyproject.toml", "hpm.yaml"] {
            let path = world.core().join(name);
            if !std::fs::symlink_metadata(&path)?.file_type().is_symlink() {
                bail!("`{name}` is no longer a link");
            }
        }
    }
    Ok(())
}

/// A switch killed while its uv hangs leaves a journal; one copy is then
/// damaged at random (truncated, a byte flipped, deleted). The next sync
/// refuses naming the journal and leaves the files and journal as they were.
fn journal_trial(rng: &mut StdRng) -> Result<()> {
    let world = World::with_dev_plugins(&["plugin-a"])?;
    world.ok(&["--no-daemon", "sync"])?;
    hpm_tests::crash_mid_switch(&world, "prod")?;
    let journal = world.core().join(".hpm/journal");
    let copies: Vec<PathBuf> = std::fs::read_dir(&journal)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "orig"))
        .collect();
    let Some(copy) = copies.get(rng.random_range(0..copies.len().max(1))) else {
        bail!(
            "the killed switch left no journal copies in {}",
            journal.display()
        );
    };
    let original = std::fs::read(copy)?;
    let damage = rng.random_range(0..3);
    match damage {
        0 => std::fs::write(copy, &original[..original.len() / 2])?,
        1 if !original.is_empty() => {
            let mut flipped = original.clone();
            let at = rng.random_range(0..flipped.len());
            flipped[at] ^= 0x20;
            std::fs::write(copy, flipped)?;
        }
        _ => std::fs::remove_file(copy)?,
    }
    let before = Files::of(&world);
    let output = world.run(&["--no-daemon", "sync"]);
    if output.status.success() {
        bail!(
            "damage {damage} to {}: the sync went on:\n{}",
            copy.display(),
            describe(&output)
        );
    }
    if !stderr(&output).contains("journal") {
        bail!(
            "damage {damage}: the error does not name the journal:\n{}",
            describe(&output)
        );
    }
    if Files::of(&world) != before {
        bail!("damage {damage}: the refused recovery changed the files");
    }
    if !journal.join("journal.json").exists() {
        bail!("damage {damage}: the journal is gone");
    }
    Ok(())
}

/// SIGINT or SIGTERM to `hpmctl --no-daemon switch prod` at a random moment
/// of a real switch: it ends with the files in the old or the new state,
/// no journal left, and no uv of its group still running.
fn signal_trial(rng: &mut StdRng) -> Result<()> {
    let world = World::with_dev_plugins(&["plugin-a"])?;
    world.ok(&["--no-daemon", "sync"])?;
    let dev = Files::of(&world);
    world.ok(&["--no-daemon", "switch", "prod"])?;
    let prod = Files::of(&world);
    world.ok(&["--no-daemon", "switch", "dev"])?;
    let signal = if rng.random_bool(0.5) {
        nix::sys::signal::Signal::SIGINT
    } else {
        nix::sys::signal::Signal::SIGTERM
    };
    let delay = Duration::from_millis(rng.random_range(0..1500));
    let child = world
        .hpmctl_in_process()
        .args(["switch", "prod"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    std::thread::sleep(delay);
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal);
    let output = child.wait_with_output()?;
    let after = Files::of(&world);
    if after != dev && after != prod {
        bail!(
            "{signal} after {delay:?}: the files are neither state:\n{}",
            describe(&output)
        );
    }
    if world.core().join(".hpm/journal/journal.json").exists() {
        bail!(
            "{signal} after {delay:?}: a journal is left:\n{}",
            describe(&output)
        );
    }
    let leftover = Command::new("pgrep")
        .args(["-f", &format!("uv.*{}", world.core().display())])
        .output()?;
    if leftover.status.success() {
        bail!(
            "{signal} after {delay:?}: uv still runs: {}",
            stdout(&leftover)
        );
    }
    Ok(())
}

/// Twenty spellings of one folder (a link, `..`, `.`, doubled slashes)
/// open one workspace in the daemon.
fn aliased_paths(rng: &mut StdRng) -> Result<()> {
    let world = World::with_dev_plugins(&["plugin-a"])?;
    world.ok(&["sync"])?;
    let core = world.core();
    let alias = world.root().join("alias");
    std::os::unix::fs::symlink(&core, &alias)?;
    let spellings = [
        core.display().to_string(),
        alias.display().to_string(),
        format!("{}/..", core.join("src").display()),
        format!("{}/.", core.display()),
        format!("{}//", core.display()),
        format!("{}/../core", core.display()),
        format!("{}/src/../", alias.display()),
    ];
    for _ in 0..20 {
        let spelling = &spellings[rng.random_range(0..spellings.len())];
        world.ok(&["--workspace", spelling, "status"])?;
    }
    let hello: Value = serde_json::from_str(&stdout(&world.ok(&["daemon", "status", "--json"])?))?;
    let open = hello["hello"]["workspaces"].as_array().map_or(0, Vec::len);
    let _ = world.run(&["daemon", "stop"]);
    if open != 1 {
        bail!("{open} workspaces open: {hello}");
    }
    Ok(())
}

/// prod → dev → (the user re-locks) → prod: the user's `uv.lock` becomes
/// dev's lock (its snapshot, which a switch back to dev starts from), the
/// report says so, and prod starts from its own snapshot.
fn relocked_lock() -> Result<()> {
    let world = World::with_dev_plugins(&["plugin-a"])?;
    world.ok(&["--no-daemon", "switch", "prod"])?;
    world.ok(&["--no-daemon", "switch", "dev"])?;
    let relocked = format!("# re-locked by the user\n{}", world.read("uv.lock")?);
    std::fs::write(world.core().join("uv.lock"), &relocked)?;
    let output = world.ok(&["--no-daemon", "switch", "prod", "--json"])?;
    let report: Value = serde_json::from_str(&stdout(&output))?;
    if !report["notes"].to_string().contains("kept as dev's lock") {
        bail!(
            "the user's uv.lock is not said to be kept:\n{}",
            describe(&output)
        );
    }
    let snapshot = world.core().join(".hpm/locks/dev.uv.lock");
    if std::fs::read_to_string(&snapshot)? != relocked {
        bail!(
            "the user's lock is not dev's snapshot {}",
            snapshot.display()
        );
    }
    Ok(())
}

/// uv deletes `pyproject.toml` and fails, maybe after putting a folder in
/// its place (run in the core by the fake uv): hpm shows uv's own error and
/// says exactly what became of the file (left as it is with hpm's copy in
/// `.hpm/backup/`, or the rollback failed and the journal is kept), never
/// "restored" or "nothing was changed" while it is gone.
fn stuck_rollback(obstacle: &str) -> Result<()> {
    let world = World::with_dev_plugins(&["plugin-a"])?;
    world.ok(&["--no-daemon", "sync"])?;
    let failing = fake_uv(
        world.root(),
        "0.9.0",
        &format!("rm -f pyproject.toml; {obstacle}; echo 'no solution for plugin-a' >&2; exit 1"),
    )?;
    let output = world
        .hpmctl_in_process()
        .args(["switch", "prod"])
        .env("HPM_UV", &failing)
        .output()?;
    // Running as root, a read-only folder does not stop the write: then
    // the rollback succeeds, which is as good.
    let _ = Command::new("chmod")
        .args(["u+w", &world.core().display().to_string()])
        .status();
    let said = stderr(&output);
    if output.status.success() || !said.contains("no solution for plugin-a") {
        bail!("uv's error is not shown:\n{}", describe(&output));
    }
    if said.contains("nothing was changed") && !world.core().join("pyproject.toml").is_file() {
        bail!("\"nothing was changed\" with pyproject.toml gone:\n{said}");
    }
    let restored = world.core().join("pyproject.toml").is_file();
    let journal = world.core().join(".hpm/journal/journal.json").exists();
    let failed_said = journal && said.contains("failed too");
    let kept_said = said.contains("left as it is") && said.contains(".hpm/backup/");
    if !restored && (said.contains("were restored") || !(failed_said || kept_said)) {
        bail!("pyproject.toml is not back and the message does not say what became of it:\n{said}");
    }
    Ok(())
}

/// A FIFO at `uv.lock` is refused at once, and the daemon still answers
/// another workspace.
fn fifo_lock() -> Result<()> {
    let world = World::with_dev_plugins(&["plugin-a"])?;
    world.ok(&["sync"])?;
    std::fs::remove_file(world.core().join("uv.lock"))?;
    let made = Command::new("mkfifo")
        .arg(world.core().join("uv.lock"))
        .status()?;
    if !made.success() {
        bail!("mkfifo failed");
    }
    let started = Instant::now();
    let output = world.run(&["status"]);
    if output.status.success() || !stderr(&output).contains("not a regular file") {
        bail!("the FIFO was not refused:\n{}", describe(&output));
    }
    if started.elapsed() > Duration::from_secs(30) {
        bail!("refusing took {:?}", started.elapsed());
    }
    let other = World::with_dev_plugins(&["plugin-a"])?;
    other.ok(&["--no-daemon", "sync"])?;
    let answer = other.run(&["--socket", &world.socket().display().to_string(), "status"]);
    let _ = world.run(&["daemon", "stop"]);
    if !answer.status.success() {
        bail!("another workspace got no answer:\n{}", describe(&answer));
    }
    Ok(())
}

// ---------------------------------------------------------- concurrency --

const CLIENTS: usize = 32;

fn group_manifest() -> &'static str {
    "version: 1\nmode: dev\nregistry: ./hpm-registry\ngroups:\n  slot:\n    options: [plugin-a, plugin-b]\n    selected: plugin-a\n"
}

fn concurrency(rng: &mut StdRng, duration: Duration) -> Result<Vec<Row>> {
    let worlds: Vec<World> = (0..3)
        .map(|_| {
            let world = World::with_dev_plugins(&["plugin-a", "plugin-b"])?;
            world.write_manifest(group_manifest())?;
            Ok(world)
        })
        .collect::<Result<_>>()?;
    // One daemon for all three: the first world's.
    let socket = worlds[0].socket();
    for world in &worlds {
        let output = world
            .hpmctl()
            .env("HPM_SOCKET", &socket)
            .args(["sync"])
            .output()?;
        if !output.status.success() {
            bail!("warm-up sync failed:\n{}", describe(&output));
        }
    }
    let roots: Vec<PathBuf> = worlds.iter().map(World::core).collect();
    let seeds: Vec<u64> = (0..CLIENTS).map(|_| rng.random()).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let outcome = runtime.block_on(async {
        tokio::time::timeout(
            duration + Duration::from_secs(300),
            run_clients(&socket, &roots, &seeds, duration),
        )
        .await
        .map_err(|_| {
            anyhow::anyhow!("deadlock: the clients did not finish within 5 minutes of the end")
        })?
    });
    let mut rows = Vec::new();
    let (answers, events) = match outcome {
        Ok(result) => result,
        Err(error) => {
            rows.push(Row::single("concurrency", "run", Err(error)));
            return Ok(rows);
        }
    };
    let mut answered = Row::new(
        "concurrency",
        format!(
            "{CLIENTS} clients × 3 workspaces, {} s: requests answered",
            duration.as_secs()
        ),
    );
    for answer in &answers {
        answered.record(answer.clone().map_err(anyhow::Error::msg));
    }
    rows.push(answered);
    rows.push(no_overlap(&events, &roots));
    let mut last_state = Row::new("concurrency", "final state is the last accepted request's");
    for (world, root) in worlds.iter().zip(&roots) {
        last_state.record(final_state_matches(world, &socket, root, &events));
    }
    rows.push(last_state);
    println!(
        "    {} requests in {:.0} s",
        answers.len(),
        started.elapsed().as_secs_f64()
    );
    let _ = worlds[0].run(&["daemon", "stop"]);
    Ok(rows)
}

/// Every answer (`Ok` or a JSON-RPC error object is an answer; a transport
/// failure is not), and every event the daemon sent meanwhile.
async fn run_clients(
    socket: &Path,
    roots: &[PathBuf],
    seeds: &[u64],
    duration: Duration,
) -> Result<(Vec<Result<(), String>>, Vec<hpm_protocol::Event>)> {
    let watcher = rpc_client(socket).await?;
    let mut subscription = watcher.subscribe_events().await?;
    let collector = tokio::spawn(async move {
        let mut events = Vec::new();
        while let Some(Ok(event)) = subscription.next().await {
            events.push(event);
        }
        events
    });
    let deadline = tokio::time::Instant::now() + duration;
    let mut tasks = Vec::new();
    for &seed in seeds {
        let socket = socket.to_path_buf();
        let roots = roots.to_vec();
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed);
            let client = rpc_client(&socket).await?;
            let mut answers = Vec::new();
            while tokio::time::Instant::now() < deadline {
                let root = roots[rng.random_range(0..roots.len())].clone();
                let roll = rng.random_range(0..100);
                let answer = if roll < 60 {
                    client.status(root, None).await.map(drop)
                } else {
                    let change = match roll {
                        60..=74 => Change::Sync {
                            mode: None,
                            force: false,
                        },
                        75..=89 => Change::Switch {
                            mode: ["dev", "prod"][rng.random_range(0..2)].to_string(),
                        },
                        _ => Change::Group {
                            group: "slot".into(),
                            option: ["plugin-a", "plugin-b"][rng.random_range(0..2)].into(),
                            select: true,
                        },
                    };
                    client.apply(root, change, None).await.map(drop)
                };
                answers.push(match answer {
                    Ok(()) | Err(jsonrpsee::core::ClientError::Call(_)) => Ok(()),
                    Err(error) => Err(format!("client (seed {seed}): no answer: {error}")),
                });
            }
            anyhow::Ok(answers)
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.extend(task.await??);
    }
    // Let the last jobs' events arrive, then stop listening.
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(watcher);
    let events = collector.await?;
    Ok((answers, events))
}

/// Each workspace's jobs ran one at a time: between a `job_started` and its
/// end no other job of that workspace started.
fn no_overlap(events: &[hpm_protocol::Event], roots: &[PathBuf]) -> Row {
    let mut row = Row::new("concurrency", "reconciles of one workspace never overlap");
    for root in roots {
        let root = root.display().to_string();
        let outcome = (|| {
            let mut running: Option<u64> = None;
            let mut jobs = 0;
            for event in events.iter().filter(|e| e.workspace == root) {
                match &event.body {
                    EventBody::JobStarted { job, .. } => {
                        if let Some(other) = running {
                            bail!(
                                "{root}: job {job} started while job {other} ran (seq {})",
                                event.seq
                            );
                        }
                        running = Some(*job);
                        jobs += 1;
                    }
                    EventBody::JobFinished { job, .. } | EventBody::JobFailed { job, .. }
                        if running == Some(*job) =>
                    {
                        running = None;
                    }
                    _ => {}
                }
            }
            if jobs == 0 {
                bail!("{root}: no job ran");
            }
            Ok(())
        })();
        row.record(outcome);
    }
    row
}

/// The workspace's mode and group selection are those of the last
/// successful job that set them, and `hpmctl check` passes.
fn final_state_matches(
    world: &World,
    socket: &Path,
    root: &Path,
    events: &[hpm_protocol::Event],
) -> Result<()> {
    let root_text = root.display().to_string();
    let mut started: BTreeMap<u64, &Change> = BTreeMap::new();
    let mut mode = "dev".to_string();
    let mut selected = "plugin-a".to_string();
    for event in events.iter().filter(|e| e.workspace == root_text) {
        match &event.body {
            EventBody::JobStarted { job, change } => {
                started.insert(*job, change);
            }
            EventBody::JobFinished { job, .. } => match started.get(job) {
                Some(Change::Switch { mode: to }) => mode.clone_from(to),
                Some(Change::Group { option, .. }) => selected.clone_from(option),
                _ => {}
            },
            _ => {}
        }
    }
    let output = world
        .hpmctl()
        .env("HPM_SOCKET", socket)
        .args(["status", "--json"])
        .output()?;
    let status: Value = serde_json::from_str(&stdout(&output))
        .with_context(|| format!("status of {root_text}:\n{}", describe(&output)))?;
    if status["mode"] != mode.as_str() {
        bail!(
            "{root_text}: mode {} but the last switch was to {mode}",
            status["mode"]
        );
    }
    let manifest = world.read("hpm.yaml")?;
    if !manifest.contains(&format!("selected: {selected}")) {
        bail!("{root_text}: the last group edit selected {selected}, hpm.yaml says:\n{manifest}");
    }
    let check = world
        .hpmctl()
        .env("HPM_SOCKET", socket)
        .args(["check"])
        .output()?;
    if !check.status.success() {
        bail!("{root_text}: check failed:\n{}", describe(&check));
    }
    Ok(())
}

// ------------------------------------------------------------ bad input --

fn bad_input(rng: &mut StdRng, budget: Duration) -> Result<Vec<Row>> {
    let mut rows = fuzz(rng, budget)?;
    rows.push(hostile_values()?);
    Ok(rows)
}

/// Runs `test` on values from `strategy` until `budget` is spent, in
/// batches with seeds from `rng`; counts every case.
fn fuzz_for<S: proptest::strategy::Strategy>(
    row: &mut Row,
    rng: &mut StdRng,
    budget: Duration,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), String>,
) where
    S::Value: std::fmt::Debug,
{
    use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
    let deadline = Instant::now() + budget;
    while Instant::now() < deadline {
        let seed: [u8; 32] = rng.random();
        let mut runner = TestRunner::new_with_rng(
            Config {
                cases: 64,
                failure_persistence: None,
                ..Config::default()
            },
            TestRng::from_seed(RngAlgorithm::ChaCha, &seed),
        );
        let counted = std::cell::Cell::new(0usize);
        let result = runner.run(&strategy, |value| {
            counted.set(counted.get() + 1);
            test(value).map_err(TestCaseError::fail)
        });
        row.tried += counted.get();
        match result {
            Ok(()) => row.survived += counted.get(),
            Err(error) => {
                // The shrunk input is what failed; the rest held.
                row.survived += counted.get().saturating_sub(1);
                row.failures.push(format!("{error} (seed {})", hex(&seed)));
                return;
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// YAML-ish text: fragments of real manifests and registry entries,
/// recombined, plus arbitrary characters.
fn yamlish() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let fragment = prop_oneof![
        Just("version: 1\n".to_string()),
        Just("mode: dev\n".to_string()),
        Just("mode: ../etc\n".to_string()),
        Just("registry: ./hpm-registry\n".to_string()),
        Just("registry: [{ git: \"ext::sh -c touch% /tmp/x\" }]\n".to_string()),
        Just("packages: [plugin-a, \"x; rm -rf /\"]\n".to_string()),
        Just("packages:\n  - name: plugin-a\n    extras: [fast]\n".to_string()),
        Just("groups:\n  slot:\n    options: [a, b]\n    selected: a\n".to_string()),
        Just("settings:\n  uv_args: [\"--extra\", \"x\"]\n  uv_timeout: 5\n".to_string()),
        Just("name: plugin-a\n".to_string()),
        Just("sources:\n  prod: { type: git, url: \"https://h/x.git\", tag: v1 }\n".to_string()),
        Just("sources:\n  dev: { type: local, path: ../../etc }\n".to_string()),
        Just("a: &a [*a, *a]\n".to_string()),
        Just("  - \n".to_string()),
        Just("\t: {\n".to_string()),
        "\\PC{0,40}",
    ];
    proptest::collection::vec(fragment, 0..8).prop_map(|parts| parts.concat())
}

fn fuzz(rng: &mut StdRng, budget: Duration) -> Result<Vec<Row>> {
    use hpm_core::manifest::Manifest;
    let each = budget / 3;
    let manifest_path = Path::new("/w/hpm.yaml");

    let mut manifest = Row::new(
        "bad input",
        "fuzz: manifest parser (no panic; errors name the file)",
    );
    fuzz_for(
        &mut manifest,
        rng,
        each,
        yamlish(),
        |text| match std::panic::catch_unwind(|| Manifest::parse(&text, manifest_path)) {
            Err(_) => Err("the parser panicked".into()),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) if error.to_string().contains("hpm.yaml") => Ok(()),
            Ok(Err(error)) => Err(format!("the error does not name the file: {error}")),
        },
    );

    let mut registry = Row::new(
        "bad input",
        "fuzz: registry entry parser (no panic; errors name file and package)",
    );
    let entry_path = Path::new("/w/hpm-registry/plugin-a.yaml");
    fuzz_for(
        &mut registry,
        rng,
        each,
        yamlish(),
        |text| match std::panic::catch_unwind(|| {
            hpm_core::registry::parse_entry(
                &text,
                &hpm_core::registry::EntryOrigin::File(entry_path.to_path_buf()),
                "plugin-a",
            )
        }) {
            Err(_) => Err("the parser panicked".into()),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(problem)) => {
                let shown = problem.to_string();
                if shown.contains("plugin-a.yaml") {
                    Ok(())
                } else {
                    Err(format!("the problem does not name the file: {shown}"))
                }
            }
        },
    );

    let mut transform = Row::new(
        "bad input",
        "fuzz: pyproject transform (output parses, unmanaged keys kept)",
    );
    fuzz_for(
        &mut transform,
        rng,
        each,
        pyproject_case(),
        |(text, mode)| check_transform(&text, &mode),
    );
    Ok(vec![manifest, registry, transform])
}

/// A `pyproject.toml` with unmanaged content around the managed parts, and
/// a mode to plan.
fn pyproject_case() -> impl proptest::strategy::Strategy<Value = (String, String)> {
    use proptest::prelude::*;
    let key = "[a-z][a-z0-9_-]{0,8}";
    let value = prop_oneof![
        "[a-zA-Z0-9 ._#=-]{0,12}".prop_map(|s| format!("{s:?}")),
        (0i64..1000).prop_map(|n| n.to_string()),
        Just("true".to_string()),
        Just("[1, \"two\"]".to_string()),
    ];
    let pairs = proptest::collection::btree_map(key, value, 0..5);
    (
        pairs.clone(),
        pairs.clone(),
        pairs,
        proptest::collection::vec("[a-z][a-z0-9-]{0,6}( ?>= ?1\\.0)?", 0..4),
        proptest::bool::ANY,
        prop_oneof![Just("dev".to_string()), Just("prod".to_string())],
    )
        .prop_map(|(project, tool, sources, deps, comment, mode)| {
            let mut text = String::from("[project]\nname = \"core\"\nversion = \"1\"\n");
            for (k, v) in &project {
                if !matches!(k.as_str(), "name" | "version" | "dependencies") {
                    let _ = writeln!(text, "{k} = {v}");
                }
            }
            text.push_str("dependencies = [\n");
            for dep in &deps {
                if !dep.starts_with("plugin") {
                    let _ = writeln!(text, "    \"{dep}\",");
                }
            }
            if comment {
                text.push_str("    # the team's note\n");
            }
            text.push_str("]\n\n[tool.other]\n");
            for (k, v) in &tool {
                let _ = writeln!(text, "{k} = {v}");
            }
            text.push_str("\n[tool.uv.sources]\n");
            for (k, v) in &sources {
                if !k.starts_with("plugin") {
                    let _ = writeln!(text, "{k} = {{ index = {v} }}");
                }
            }
            (text, mode)
        })
}

/// Plans two plugins in `mode` and applies the plan: the output must parse,
/// and every key the plan does not manage must be there with its value.
fn check_transform(text: &str, mode: &str) -> Result<(), String> {
    use hpm_core::manifest::Manifest;
    use hpm_core::pin::PinnedPlan;
    use hpm_core::plan::{resolve, ResolveInput};
    use hpm_core::pyproject::PyprojectMut;
    use hpm_core::registry::{EntryOrigin, Registry, RegistryEntry};
    use hpm_core::Mode;
    let manifest = Manifest::parse(
        "version: 1\nmode: dev\npackages: [plugin-a, plugin-b]\n",
        Path::new("hpm.yaml"),
    )
    .map_err(|e| e.to_string())?;
    let entries: Vec<(RegistryEntry, EntryOrigin)> = ["plugin-a", "plugin-b"]
        .iter()
        .map(|name| {
            let yaml = format!(
                "name: {name}\nsources:\n  dev: {{ type: local, path: packages/{name} }}\n  prod: {{ type: git, url: \"https://example.org/{name}.git\", tag: v1.0.0 }}\n"
            );
            serde_yaml_ng::from_str(&yaml).map(|entry| {
                (entry, EntryOrigin::File(PathBuf::from(format!("{name}.yaml"))))
            })
        })
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let registry = Registry::from_entries(entries);
    let mode = Mode::new(mode).map_err(|e| e.to_string())?;
    let plan = resolve(ResolveInput {
        requested: &std::collections::BTreeSet::new(),
        manifest: &manifest,
        manifest_path: Path::new("hpm.yaml"),
        registry: &registry,
        mode: &mode,
        overrides: &BTreeMap::new(),
        required: &BTreeMap::new(),
        linked: &BTreeMap::new(),
    })
    .map_err(|e| e.to_string())?;
    let plan = PinnedPlan::without_remotes(plan).map_err(|e| e.to_string())?;
    let mut document =
        PyprojectMut::parse(text, Path::new("pyproject.toml")).map_err(|e| e.to_string())?;
    document
        .apply(&plan, &plan.names(), Path::new("pyproject.toml"))
        .map_err(|e| e.to_string())?;
    let output = document.to_string();
    let before: toml_edit::DocumentMut = text.parse().map_err(|e| format!("input: {e}"))?;
    let after: toml_edit::DocumentMut = output
        .parse()
        .map_err(|e| format!("the output does not parse: {e}\n{output}"))?;
    let managed = |key: &str| key.starts_with("plugin");
    // Every unmanaged key of [project], [tool.other] and [tool.uv.sources] is kept.
    for (table, path) in [
        ("project", &["project"][..]),
        ("tool.other", &["tool", "other"][..]),
        ("tool.uv.sources", &["tool", "uv", "sources"][..]),
    ] {
        let (Some(old), new) = (
            lookup(before.as_item(), path),
            lookup(after.as_item(), path),
        ) else {
            continue;
        };
        let Some(old) = old.as_table_like() else {
            continue;
        };
        for (key, value) in old.iter() {
            if managed(key) || key == "dependencies" {
                continue;
            }
            let kept = new
                .and_then(|t| t.as_table_like())
                .and_then(|t| t.get(key))
                .map(|v| v.to_string().trim().to_string());
            if kept.as_deref() != Some(value.to_string().trim()) {
                return Err(format!("[{table}] {key} was not kept:\n{output}"));
            }
        }
    }
    // Every unmanaged dependency is kept.
    let deps = |doc: &toml_edit::DocumentMut| -> Vec<String> {
        doc["project"]["dependencies"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let after_deps = deps(&after);
    for dep in deps(&before) {
        if !after_deps.contains(&dep) {
            return Err(format!("the dependency `{dep}` was dropped:\n{output}"));
        }
    }
    Ok(())
}

fn lookup<'a>(item: &'a toml_edit::Item, path: &[&str]) -> Option<&'a toml_edit::Item> {
    path.iter().try_fold(item, |item, key| item.get(key))
}

/// Hostile values in the files a user or a teammate writes: each refused
/// with an error naming it, before anything is written or run.
fn hostile_values() -> Result<Row> {
    let mut row = Row::new("bad input", "hostile values refused with clear errors");
    let world = World::with_dev_plugins(&["plugin-a"])?;
    world.ok(&["--no-daemon", "sync"])?;
    let manifest = world.read("hpm.yaml")?;
    let entry_path = world.core().join("hpm-registry/plugin-a.yaml");
    let entry = std::fs::read_to_string(&entry_path)?;
    let marker = world.root().join("pwned");
    let cases: Vec<(&str, String, String, Vec<&str>)> = vec![
        (
            "path traversal in a package name",
            manifest.replace("[plugin-a]", "[\"../../etc/passwd\"]"),
            entry.clone(),
            vec!["../../etc/passwd"],
        ),
        (
            "shell metacharacters in a package name",
            manifest.replace("[plugin-a]", &format!("[\"x; touch {}\"]", marker.display())),
            entry.clone(),
            vec!["not a valid package name"],
        ),
        (
            "an ext:: git URL in a registry entry",
            manifest.clone(),
            entry.replace(
                &world.remote_url("plugin-a"),
                &format!("ext::sh -c touch% {}", marker.display()),
            ),
            vec!["transport", "plugin-a"],
        ),
        (
            "an ext:: git registry",
            manifest.replace(
                "registry: ./hpm-registry",
                &format!("registry: [{{ git: \"ext::sh -c touch% {}\" }}]", marker.display()),
            ),
            entry.clone(),
            vec!["transport", "hpm.yaml"],
        ),
        (
            "an option-like git URL",
            manifest.clone(),
            entry.replace(&world.remote_url("plugin-a"), "--upload-pack=touch"),
            vec!["plugin-a"],
        ),
        (
            "a huge manifest",
            format!("{manifest}# {}\n", "x".repeat(2 << 20)),
            entry.clone(),
            vec!["hpm.yaml", "bytes"],
        ),
        (
            "a YAML alias bomb",
            format!(
                "{manifest}bomb: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
            ),
            entry.clone(),
            vec!["hpm.yaml"],
        ),
    ];
    for (name, manifest_text, entry_text, naming) in cases {
        world.write_manifest(&manifest_text)?;
        std::fs::write(&entry_path, &entry_text)?;
        let outcome = fails_cleanly(&world, &["switch", "prod"], &[], &naming)
            .and_then(|()| {
                if marker.exists() {
                    bail!("a command ran: {} exists", marker.display());
                }
                Ok(())
            })
            .with_context(|| name.to_string());
        row.record(outcome);
    }
    world.write_manifest(&manifest)?;
    std::fs::write(&entry_path, entry)?;
    Ok(row)
}

// ------------------------------------------------------------- security --

fn security() -> Result<Vec<Row>> {
    let world = World::with_dev_plugins(&["plugin-a"])?;
    world.ok(&["sync"])?;
    let pid = start_daemon(&world, &hpm_engine::uv::Uv::find()?.path)?;
    let mut rows = vec![
        Row::single(
            "security",
            "the socket refuses other users",
            other_users_refused(&world),
        ),
        Row::single("security", "nothing listens on TCP", no_tcp_listener(pid)),
        Row::single(
            "security",
            "no command line goes through a shell",
            no_shell(),
        ),
    ];
    let _ = world.run(&["daemon", "stop"]);
    rows.retain(|row| row.tried > 0);
    Ok(rows)
}

/// As another user (root is needed to become one), with the socket's mode
/// opened so that only the peer-uid check stands in the way, a request gets
/// no answer.
fn other_users_refused(world: &World) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if !nix::unistd::getuid().is_root() {
        println!("    (other users: not root, so only the socket's 0600 mode is checked)");
        let mode = std::fs::metadata(world.socket())?.permissions().mode() & 0o777;
        if mode != 0o600 {
            bail!("the socket's mode is {mode:o}");
        }
        return Ok(());
    }
    std::fs::set_permissions(world.socket(), std::fs::Permissions::from_mode(0o666))?;
    std::fs::set_permissions(world.root(), std::fs::Permissions::from_mode(0o755))?;
    let output = curl_hello(&world.socket(), Some(65534))?;
    if output.status.success() || stdout(&output).contains("result") {
        bail!("another user was answered:\n{}", describe(&output));
    }
    // The owner still is.
    world.ok(&["daemon", "status"])?;
    Ok(())
}

/// None of the daemon's sockets is a TCP socket.
fn no_tcp_listener(pid: u32) -> Result<()> {
    let mut inodes = Vec::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))?.flatten() {
        if let Ok(target) = std::fs::read_link(fd.path()) {
            let target = target.display().to_string();
            if let Some(inode) = target
                .strip_prefix("socket:[")
                .and_then(|t| t.strip_suffix(']'))
            {
                inodes.push(inode.to_string());
            }
        }
    }
    if inodes.is_empty() {
        bail!("the daemon holds no socket at all (is {pid} the daemon?)");
    }
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let inode = line.split_whitespace().nth(9).unwrap_or_default();
            if inodes.iter().any(|i| i == inode) {
                bail!("the daemon holds a TCP socket: {line}");
            }
        }
    }
    Ok(())
}

/// No source file of hpm's binaries starts a shell.
fn no_shell() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut checked = 0;
    for dir in [
        "daemon/core/src",
        "daemon/engine/src",
        "daemon/hpmd/src",
        "client/src",
        "protocol/src",
    ] {
        for path in rust_files(&root.join(dir))? {
            let text = std::fs::read_to_string(&path)?;
            checked += 1;
            for shell in ["\"sh\"", "\"bash\"", "\"/bin/sh\"", "\"zsh\"", "\"cmd\""] {
                if text.contains(&format!("Command::new({shell}")) {
                    bail!("{} starts a shell ({shell})", path.display());
                }
            }
        }
    }
    if checked < 10 {
        bail!("found only {checked} source files under {}", root.display());
    }
    Ok(())
}

fn rust_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(rust_files(&path)?);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    Ok(files)
}
