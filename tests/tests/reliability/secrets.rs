//! The secrets part: every command hpm has that can meet the forge token,
//! run at `HPM_LOG=trace` with the token in its environment, in-process
//! and through a daemon started with it; then every byte they printed and
//! every file under the world (the core, the clones, the remotes, the
//! cache, the daemon's log, the release's folder) is searched for the
//! token in every form a trace could dump it in.

use std::path::Path;

use anyhow::{bail, Result};
use hpm_tests::describe;
use hpm_tests::forge::{leaked_form, TOKEN};
use hpm_tests::release::{ReleaseWorld, GITHUB};

use super::Row;

/// The commands, as `hpmctl ARGS` (`{id}` stands for the planned release).
const COMMANDS: &[&[&str]] = &[
    &["status", "--json"],
    &["sync"],
    &["check"],
    &["doctor"],
    &["switch", "staging"],
    &["switch", "dev"],
    &["export", "prod", "--force"],
    &["--json", "release", "plan", "alpha", "--mode", "staging"],
    &[
        "--dry-run",
        "release",
        "apply",
        "{id}",
        "--yes",
        "--notes",
        "auto",
    ],
    &["release", "apply", "{id}", "--yes", "--notes", "auto"],
    &["release", "status", "{id}"],
];

pub fn secrets() -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for daemon in [false, true] {
        let case = if daemon {
            "trace of every command through a daemon holding the token: no form of it anywhere"
        } else {
            "trace of every command in-process: no form of it anywhere"
        };
        let mut row = Row::new("secrets", case);
        row.record(trace_run(daemon));
        rows.push(row);
    }
    Ok(rows)
}

fn trace_run(daemon: bool) -> Result<()> {
    let fixture = ReleaseWorld::new(&[("alpha", &[]), ("beta", &["alpha"])], GITHUB)?;
    let mut printed = String::new();
    let mut id = String::new();
    for command in COMMANDS {
        let args: Vec<&str> = command
            .iter()
            .map(|arg| if *arg == "{id}" { id.as_str() } else { arg })
            .collect();
        let mut hpmctl = fixture.hpmctl(&[]);
        if daemon {
            // The same environment, through the world's daemon.
            hpmctl = fixture.world.hpmctl();
            hpmctl
                .env("XDG_STATE_HOME", fixture.world.root().join("state"))
                .env("HPM_FORGE_API", fixture.forge.url())
                .env("GITHUB_TOKEN", TOKEN)
                .env("GIT_CONFIG_GLOBAL", fixture.git_config())
                .env("GIT_CONFIG_NOSYSTEM", "1");
        }
        let output = hpmctl.args(&args).env("HPM_LOG", "trace").output()?;
        if !output.status.success() {
            bail!("hpmctl {} failed:\n{}", args.join(" "), describe(&output));
        }
        if args.starts_with(&["--json", "release", "plan"]) {
            let plan: serde_json::Value = serde_json::from_slice(&output.stdout)?;
            id = plan["id"].as_str().unwrap_or_default().to_string();
        }
        printed.push_str(&String::from_utf8_lossy(&output.stdout));
        printed.push_str(&String::from_utf8_lossy(&output.stderr));
    }
    if !printed.contains("TRACE") {
        bail!("HPM_LOG=trace took no effect");
    }
    if let Some(form) = leaked_form(&printed, TOKEN) {
        bail!("the token was printed ({form})");
    }
    let mut searched = 0;
    let mut leaks = Vec::new();
    walk(fixture.world.root(), &mut |path| {
        searched += 1;
        let text = String::from_utf8_lossy(&std::fs::read(path)?).to_string();
        if let Some(form) = leaked_form(&text, TOKEN) {
            leaks.push(format!("{} ({form})", path.display()));
        }
        Ok(())
    })?;
    if daemon && !fixture.world.root().join("state/hpm/hpmd.log").is_file() {
        bail!("the daemon wrote no log to search");
    }
    if !leaks.is_empty() {
        bail!(
            "the token is in {} of {searched} files: {}",
            leaks.len(),
            leaks.join(", ")
        );
    }
    Ok(())
}

fn walk(dir: &Path, each: &mut dyn FnMut(&Path) -> Result<()>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_symlink() {
            continue;
        }
        if path.is_dir() {
            walk(&path, each)?;
        } else if path.is_file() {
            each(&path)?;
        }
    }
    Ok(())
}
