//! The edits part's kills of the commands that run in hpmctl's own
//! process: `release apply` and `import`, each `kill -9`ed at a random
//! moment of its run (its children, git and uv, left to end as orphans
//! do). A fresh world per trial: both change repositories for good.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use hpm_tests::release::{ReleaseWorld, GITHUB};
use hpm_tests::{describe, git_output, stderr, stdout, World};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use super::{kill9, Row};

/// Runs `command` in a process group of its own, kills its leader
/// `0..took × 1.1` in, and waits until every process of the group has
/// ended; answers whether the leader was killed (false: it ended first).
fn kill_at_random(mut command: Command, took: Duration, rng: &mut StdRng) -> Result<bool> {
    let mut child = command
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let group = nix::unistd::Pid::from_raw(child.id() as i32);
    std::thread::sleep(took.mul_f64(rng.random_range(0.0..1.1)));
    let killed = child.try_wait()?.is_none();
    kill9(child.id());
    child.wait()?;
    hpm_tests::wait_for("the killed command's children to end", || {
        nix::sys::signal::killpg(group, None).is_err()
    })?;
    Ok(killed)
}

/// `release apply` of two plugins and the core, killed at a random moment;
/// `release resume` then reaches the same end as an uninterrupted run,
/// with nothing done twice.
pub fn release_kills(rng: &mut StdRng, trials: usize) -> Result<Vec<Row>> {
    let mut row = Row::new("edits", "kill -9 during `release apply`, then resume");
    let took = {
        let (fixture, id) = release_world()?;
        let started = Instant::now();
        fixture.ok(&apply_args(&id, "apply"))?;
        let took = started.elapsed();
        fixture.released_once(&id, &RELEASED)?;
        took
    };
    let mut killed = 0;
    for trial in 0..trials {
        let seed: u64 = rng.random();
        let outcome = release_trial(took, &mut StdRng::seed_from_u64(seed))
            .with_context(|| format!("trial {trial} (seed {seed})"));
        if let Ok(true) = outcome {
            killed += 1;
        }
        row.record(outcome.map(drop));
        print!(".");
        let _ = std::io::Write::flush(&mut std::io::stdout());
    }
    println!();
    row.case.push_str(&format!(
        " ({killed} killed mid-run, the rest after it ended)"
    ));
    Ok(vec![row])
}

const RELEASED: [&str; 3] = ["alpha", "beta", "core-app"];

fn release_world() -> Result<(ReleaseWorld, String)> {
    let fixture = ReleaseWorld::new(&[("alpha", &[]), ("beta", &["alpha"])], GITHUB)?;
    let id = fixture.plan(&["alpha", "beta", "--mode", "staging", "--with-core"])?;
    Ok((fixture, id))
}

fn apply_args<'a>(id: &'a str, verb: &'a str) -> [&'a str; 7] {
    ["--json", "release", verb, id, "--yes", "--notes", "auto"]
}

fn release_trial(took: Duration, rng: &mut StdRng) -> Result<bool> {
    let (fixture, id) = release_world()?;
    let killed = kill_at_random(fixture.hpmctl(&apply_args(&id, "apply")), took, rng)?;
    let resumed = fixture.run(&apply_args(&id, "resume"))?;
    let report: Value = serde_json::from_slice(&resumed.stdout).unwrap_or(Value::Null);
    if !resumed.status.success() || report["outcome"] != "complete" {
        bail!("the resume did not complete:\n{}", describe(&resumed));
    }
    fixture.released_once(&id, &RELEASED)?;
    let status = fixture.ok(&["--json", "release", "status", &id])?;
    let status: Value = serde_json::from_str(&stdout(&status))?;
    ensure!(status["outcome"] == "complete", "status says {status}");
    Ok(killed)
}

/// `import --detach-submodules` of the submodule product, killed at a
/// random moment. Right after, with no journal left, every file and the
/// git state of the core and each clone are wholly old or wholly new; the
/// next import puts back a journaled half (saying so) and ends where an
/// uninterrupted import does.
pub fn import_kills(rng: &mut StdRng, trials: usize) -> Result<Vec<Row>> {
    let mut row = Row::new("edits", "kill -9 during `import`, then import again");
    // Each trial's world is a copy of one product: its remotes stay here.
    let template = hpm_tests::submodules::product()?;
    let old = import_state(&template)?;
    let (new, took) = {
        let reference = copy_of(&template)?;
        let started = Instant::now();
        reference.ok(&IMPORT)?;
        (import_state(&reference)?, started.elapsed())
    };
    ensure!(old != new, "the import changed nothing");
    let mut found = [0; 3];
    for trial in 0..trials {
        let seed: u64 = rng.random();
        let outcome = import_trial(
            &template,
            (&old, &new),
            took,
            &mut StdRng::seed_from_u64(seed),
        )
        .with_context(|| format!("trial {trial} (seed {seed})"));
        if let Ok(kind) = outcome {
            found[kind as usize] += 1;
        }
        row.record(outcome.map(drop));
        print!(".");
        let _ = std::io::Write::flush(&mut std::io::stdout());
    }
    println!();
    row.case.push_str(&format!(
        " (found old {}, new {}, a journaled half put back {})",
        found[Found::Old as usize],
        found[Found::New as usize],
        found[Found::Journaled as usize]
    ));
    Ok(vec![row])
}

const IMPORT: [&str; 4] = [
    "--no-daemon",
    "import",
    "--detach-submodules",
    "--uv-arg=--no-progress",
];

/// What the kill left.
#[derive(Debug, Clone, Copy)]
enum Found {
    Old,
    New,
    Journaled,
}

fn import_trial(
    template: &World,
    (old, new): (&ImportState, &ImportState),
    took: Duration,
    rng: &mut StdRng,
) -> Result<Found> {
    let world = copy_of(template)?;
    let mut import = world.hpmctl();
    import.args(IMPORT);
    kill_at_random(import, took, rng)?;
    let state = world.core().join(".hpm");
    let journaled =
        state.join("edits.json").exists() || state.join("journal/journal.json").exists();
    let now = import_state(&world)?;
    let found = match (journaled, now == *old, now == *new) {
        (true, _, _) => Found::Journaled,
        (false, true, _) => Found::Old,
        (false, _, true) => Found::New,
        (false, false, false) => bail!(
            "no journal left, and the files are neither wholly old nor wholly new:\n{}",
            differences(old, new, &now)
        ),
    };
    let again = world.run(&IMPORT);
    match found {
        Found::New => ensure!(
            again.status.code() == Some(1) && stderr(&again).contains("imported already"),
            "the import had ended; importing again must say so:\n{}",
            describe(&again)
        ),
        Found::Old | Found::Journaled => ensure!(
            again.status.success(),
            "importing again failed:\n{}",
            describe(&again)
        ),
    }
    if let Found::Journaled = found {
        ensure!(
            stderr(&again).contains("an earlier hpm command was interrupted; put back"),
            "importing again put back the journaled half without saying so:\n{}",
            describe(&again)
        );
    }
    let after = import_state(&world)?;
    ensure!(
        after == *new,
        "after importing again the files are not an uninterrupted import's:\n{}",
        differences(old, new, &after)
    );
    Ok(found)
}

/// A world whose core is a copy of `template`'s (`cp -a`: links, modes
/// and git folders as they are), the remotes still `template`'s.
fn copy_of(template: &World) -> Result<World> {
    let world = World::new()?;
    std::fs::remove_dir_all(world.core())?;
    let copied = Command::new("cp")
        .arg("-a")
        .arg(template.core())
        .arg(world.core())
        .output()?;
    ensure!(copied.status.success(), "{}", describe(&copied));
    Ok(world)
}

/// Every file an import writes or changes, and the git state of the core
/// and each clone, by name.
type ImportState = BTreeMap<String, String>;

fn import_state(world: &World) -> Result<ImportState> {
    let core = world.core();
    let mut state = ImportState::new();
    let mut file = |name: String, path: PathBuf| {
        state.insert(name, file_state(&path));
    };
    for name in [
        "hpm.yaml",
        "pyproject.toml",
        "uv.lock",
        ".gitmodules",
        ".git/config",
        ".git/info/exclude",
    ] {
        file(name.to_string(), core.join(name));
    }
    file("hpm-registry".to_string(), core.join("hpm-registry"));
    if let Ok(entries) = std::fs::read_dir(core.join("hpm-registry")) {
        for entry in entries.flatten() {
            let name = format!("hpm-registry/{}", entry.file_name().to_string_lossy());
            file(name, entry.path());
        }
    }
    for package in ["model-interface", "model-qwen2-5-vl"] {
        let clone = core.join("packages").join(package);
        state.insert(format!("{package}/.git"), file_state(&clone.join(".git")));
        let module = core.join(".git/modules/packages").join(package);
        state.insert(
            format!(".git/modules/packages/{package}"),
            file_state(&module),
        );
        for (what, args) in [
            ("status", &["status", "--porcelain"][..]),
            ("log", &["log", "--format=%H %s"]),
            ("stash", &["stash", "list"]),
        ] {
            state.insert(format!("{package}: git {what}"), git_output(&clone, args)?);
        }
    }
    state.insert(
        "core: git ls-files -s".into(),
        git_output(&core, &["ls-files", "-s"])?,
    );
    state.insert(
        "core: git status".into(),
        git_output(&core, &["status", "--porcelain", "--untracked-files=all"])?,
    );
    Ok(state)
}

/// A file's text, or what stands at `path` instead.
fn file_state(path: &std::path::Path) -> String {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => "(a folder)".to_string(),
        Ok(_) => String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned(),
        Err(_) => "(absent)".to_string(),
    }
}

/// For a failure: each entry of `now` that is neither `old`'s nor `new`'s,
/// and whether it is one of them.
fn differences(old: &ImportState, new: &ImportState, now: &ImportState) -> String {
    now.iter()
        .map(|(name, text)| {
            let verdict = match (old.get(name) == Some(text), new.get(name) == Some(text)) {
                (true, true) => "old = new",
                (true, false) => "old",
                (false, true) => "new",
                (false, false) => "NEITHER",
            };
            format!("  {name}: {verdict}\n")
        })
        .collect()
}
