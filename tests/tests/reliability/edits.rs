//! The edits part: `kill -9` of the daemon at random moments of commands
//! that edit more than `pyproject.toml` and `uv.lock`: `add` and `remove
//! --registry-too` (which write `hpm.yaml` and a registry entry too) and `group add` (which
//! writes `hpm.yaml`). After the restart and the next sync, every file hpm
//! manages is wholly the old state or wholly the new one, together.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use hpm_tests::{Release, World};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{alive, group_manifest, kill9, start_daemon, Row};

/// Every file these commands touch, byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Managed {
    manifest: Option<Vec<u8>>,
    entry: Option<Vec<u8>>,
    pyproject: Option<Vec<u8>>,
    uv_lock: Option<Vec<u8>>,
}

impl Managed {
    fn of(world: &World) -> Managed {
        Managed {
            manifest: world.bytes("hpm.yaml"),
            entry: world.bytes("hpm-registry/plugin-c.yaml"),
            pyproject: world.bytes("pyproject.toml"),
            uv_lock: world.bytes("uv.lock"),
        }
    }
}

/// A state of the world: whether plugin-c was added, which option of the
/// group is selected.
type State = (bool, &'static str);

/// The states the cycle of edits goes through, each the start of one edit.
const CYCLE: [State; 4] = [
    (false, "plugin-a"),
    (true, "plugin-a"),
    (true, "plugin-b"),
    (false, "plugin-b"),
];

/// A command of the part, and the state it leads to from `state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Edit {
    Add,
    Remove,
    GroupAdd,
}

impl Edit {
    /// The one edit made from `state`: the cycle add, select plugin-b,
    /// remove, select plugin-a. Each state is then always reached by the
    /// same edit from the same state, so its files are the same bytes each
    /// time (the order of `dependencies` follows the order of the edits).
    fn from(state: State) -> Edit {
        match state {
            (false, "plugin-a") => Edit::Add,
            (true, "plugin-a") => Edit::GroupAdd,
            (true, _) => Edit::Remove,
            (false, _) => Edit::GroupAdd,
        }
    }

    fn after(self, (added, selected): State) -> State {
        match self {
            Edit::Add => (true, selected),
            Edit::Remove => (false, selected),
            Edit::GroupAdd => (added, other(selected)),
        }
    }

    fn args(self, world: &World, (_, selected): State) -> Vec<String> {
        match self {
            Edit::Add => vec![
                "add".into(),
                "plugin-c".into(),
                "--git".into(),
                world.remote_url("plugin-c"),
                "--yes".into(),
            ],
            Edit::Remove => vec!["remove".into(), "plugin-c".into(), "--registry-too".into()],
            Edit::GroupAdd => vec![
                "group".into(),
                "add".into(),
                "slot".into(),
                "--option".into(),
                other(selected).into(),
            ],
        }
    }
}

fn other(selected: &str) -> &'static str {
    if selected == "plugin-a" {
        "plugin-b"
    } else {
        "plugin-a"
    }
}

pub fn edits(rng: &mut StdRng, trials: usize) -> Result<Vec<Row>> {
    let world = World::with_dev_plugins(&["plugin-a", "plugin-b"])?;
    world.add_plugin("plugin-c", &[Release::new("v1.0.0", "1.0.0")])?;
    world.write_manifest(group_manifest())?;
    let uv = hpm_engine::uv::Uv::find()?.path;
    start_daemon(&world, &uv)?;
    world.ok(&["sync"])?;

    // Each state's files, and how long each edit takes: the cycle twice,
    // the second round's bytes kept (the first starts from a fresh sync).
    let mut states: BTreeMap<State, Managed> = BTreeMap::new();
    let mut took: BTreeMap<Edit, Duration> = BTreeMap::new();
    let mut state: State = (false, "plugin-a");
    for _ in 0..8 {
        let edit = Edit::from(state);
        let args = edit.args(&world, state);
        let started = Instant::now();
        world.ok(&args.iter().map(String::as_str).collect::<Vec<_>>())?;
        took.insert(edit, started.elapsed());
        state = edit.after(state);
        states.insert(state, Managed::of(&world));
    }

    let mut rows: BTreeMap<Edit, Row> = BTreeMap::new();
    // Per edit, how many restarts found the old state and the new.
    let mut found: BTreeMap<Edit, (usize, usize)> = BTreeMap::new();
    for trial in 0..trials {
        let trial_seed: u64 = rng.random();
        let mut trial_rng = StdRng::seed_from_u64(trial_seed);
        // Trials take the cycle's edits in turn: the world is brought to
        // this one's start by the edits before it, uninterrupted (a kill
        // that finds the old state would otherwise repeat the same edit).
        let start = CYCLE[trial % CYCLE.len()];
        while state != start {
            let edit = Edit::from(state);
            let args = edit.args(&world, state);
            world
                .ok(&args.iter().map(String::as_str).collect::<Vec<_>>())
                .with_context(|| format!("trial {trial}: reaching {start:?} by {edit:?}"))?;
            state = edit.after(state);
        }
        let edit = Edit::from(state);
        let outcome = edit_trial(
            &world,
            &uv,
            &states,
            state,
            edit,
            took[&edit],
            &mut trial_rng,
        )
        .with_context(|| format!("trial {trial} ({edit:?}, seed {trial_seed})"));
        if let Ok(now) = &outcome {
            let tally = found.entry(edit).or_default();
            if *now == state {
                tally.0 += 1;
            } else {
                tally.1 += 1;
            }
            state = *now;
        }
        rows.entry(edit)
            .or_insert_with(|| {
                Row::new(
                    "edits",
                    format!(
                        "kill -9 during `{}`",
                        edit.args(&world, state)[..2].join(" ")
                    ),
                )
            })
            .record(outcome.map(drop));
        // A failed trial leaves the world unknown: read it again.
        if let Some(found) = states
            .iter()
            .find(|(_, files)| **files == Managed::of(&world))
        {
            state = *found.0;
        }
        print!(".");
        let _ = std::io::Write::flush(&mut std::io::stdout());
    }
    println!();
    let _ = world.run(&["daemon", "stop"]);
    for (edit, (old, new)) in found {
        if let Some(row) = rows.get_mut(&edit) {
            row.case.push_str(&format!(" (found old {old}, new {new})"));
        }
    }
    Ok(rows.into_values().collect())
}

/// One edit, the daemon killed `0..took` into it; answers the state found
/// after the restart and a sync: the old one or the new one, every file.
fn edit_trial(
    world: &World,
    uv: &std::path::Path,
    states: &BTreeMap<State, Managed>,
    from: State,
    edit: Edit,
    took: Duration,
    rng: &mut StdRng,
) -> Result<State> {
    let to = edit.after(from);
    let pid = start_daemon(world, uv)?;
    let mut client = world
        .hpmctl()
        .env("HPM_UV", uv)
        .args(edit.args(world, from))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let delay = took.mul_f64(rng.random_range(0.0..1.1));
    std::thread::sleep(delay);
    kill9(pid);
    let _ = client.kill();
    let _ = client.wait();
    hpm_tests::wait_for("the killed daemon to be gone", || !alive(pid))?;

    // Restart; the next sync finishes or undoes what the killed one left.
    start_daemon(world, uv)?;
    world.ok(&["sync"])?;
    let after = Managed::of(world);
    if after == states[&from] {
        Ok(from)
    } else if after == states[&to] {
        Ok(to)
    } else {
        let old = &states[&from];
        let new = &states[&to];
        bail!(
            "after the restart and a sync the files are neither wholly old nor wholly new (hpm.yaml old {} new {}; entry old {} new {}; pyproject old {} new {}; uv.lock old {} new {})",
            after.manifest == old.manifest,
            after.manifest == new.manifest,
            after.entry == old.entry,
            after.entry == new.entry,
            after.pyproject == old.pyproject,
            after.pyproject == new.pyproject,
            after.uv_lock == old.uv_lock,
            after.uv_lock == new.uv_lock,
        );
    }
}
