//! The edits part's kills of the commands that run in hpmctl's own
//! process: `release apply` and `import`, each `kill -9`ed at a random
//! moment of its run (its children, git and uv, left to end as orphans
//! do). A fresh world per trial: both change repositories for good.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use hpm_tests::release::{ReleaseWorld, GITHUB};
use hpm_tests::{describe, stdout};
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
    row.case
        .push_str(&format!(" ({killed} killed mid-run, the rest after it ended)"));
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
