//! How hpmctl shows things: tables and progress for people, JSON on stdout
//! for programs. Reports arrive as JSON (from the daemon, or serialized from
//! the in-process engine), so both paths render the same. Progress goes to
//! stderr; stdout is data.

use std::path::Path;

use hpm::engine::Progress;
use hpm_protocol::{Event, EventBody, Hello};
use serde_json::Value;

/// The manifest `hpmctl init` writes.
pub const INITIAL_MANIFEST: &str = "\
version: 1
mode: dev                 # the workspace's default mode
registry: ./hpm-registry  # a folder of <package>.yaml files
packages: []              # the packages hpm manages, e.g. [bench-utils]
settings:
  packages_dir: packages  # where dev clones live
";

/// A step of an in-process sync.
pub fn progress(progress: &Progress, json: bool) {
    if json {
        if let Ok(line) = serde_json::to_string(progress) {
            eprintln!("{line}");
        }
        return;
    }
    match progress {
        Progress::Recovered(recovery) => recovered(
            &recovery
                .restored
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>(),
            &recovery
                .kept_user_edits
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>(),
        ),
        Progress::Phase { phase } => eprintln!("hpm: {phase}"),
        Progress::Uv { line } => eprintln!("  {line}"),
    }
}

/// The progress part of a daemon event, during a command.
pub fn event_progress(event: &Event, json: bool) {
    match &event.body {
        EventBody::Progress { .. } | EventBody::Recovered { .. } if json => {
            if let Ok(line) = serde_json::to_string(event) {
                eprintln!("{line}");
            }
        }
        EventBody::Progress { line, .. }
            if line.starts_with(|c: char| c.is_whitespace()) || !is_phase(line) =>
        {
            eprintln!("  {line}")
        }
        EventBody::Progress { line, .. } => eprintln!("hpm: {line}"),
        EventBody::Recovered {
            restored,
            kept_user_edits,
        } => recovered(restored, kept_user_edits),
        _ => {}
    }
}

fn is_phase(line: &str) -> bool {
    ["validating", "writing", "running uv", "cloning", "cloned"]
        .iter()
        .any(|phase| line.starts_with(phase))
}

fn recovered(restored: &[String], kept: &[String]) {
    for path in restored {
        eprintln!("warning: an earlier sync was interrupted; restored `{path}`");
    }
    for path in kept {
        eprintln!("warning: an earlier sync was interrupted and `{path}` was edited since; kept your edit (hpm's original is in .hpm/backup/)");
    }
}

/// `hpmctl registry update`: per git registry, what moved.
pub fn registry_update(report: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    let updates = report.as_array().map(Vec::as_slice).unwrap_or_default();
    if updates.is_empty() {
        println!("no git registry in hpm.yaml");
    }
    for update in updates {
        let url = update["url"].as_str().unwrap_or_default();
        let to = update["to"].as_str().unwrap_or_default();
        match update["from"].as_str() {
            Some(from) => println!("{url}: {} -> {}", short(from), short(to)),
            None => println!("{url}: already at {}", short(to)),
        }
        for name in update["added"].as_array().into_iter().flatten() {
            println!("  added    {}", name.as_str().unwrap_or_default());
        }
        for name in update["removed"].as_array().into_iter().flatten() {
            println!("  removed  {}", name.as_str().unwrap_or_default());
        }
        for moved in update["moved"].as_array().into_iter().flatten() {
            println!(
                "  moved    {} ({}): {} -> {}",
                moved["package"].as_str().unwrap_or_default(),
                moved["mode"].as_str().unwrap_or_default(),
                moved["from"].as_str().unwrap_or_default(),
                moved["to"].as_str().unwrap_or_default()
            );
        }
    }
    Ok(())
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// One event of `hpmctl events`.
pub fn event(event: &Event, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(event)?);
        return Ok(());
    }
    let what = match &event.body {
        EventBody::JobQueued { change, merged } => {
            format!(
                "queued{}: {}",
                if *merged { " (merged)" } else { "" },
                serde_json::to_string(change)?
            )
        }
        EventBody::JobStarted { job, change } => {
            format!("job {job} started: {}", serde_json::to_string(change)?)
        }
        EventBody::Progress { job, line } => format!("job {job}: {line}"),
        EventBody::JobFinished { job, report } => {
            format!(
                "job {job} finished: {}",
                report["outcome"].as_str().unwrap_or("done")
            )
        }
        EventBody::JobFailed { job, message, .. } => format!("job {job} failed: {message}"),
        EventBody::RolledBack { job } => format!("job {job} rolled back"),
        EventBody::Recovered { restored, .. } => format!(
            "recovered an interrupted sync ({} files restored)",
            restored.len()
        ),
        EventBody::StatusChanged => "status changed".to_string(),
        EventBody::ManifestInvalid { message, .. } => format!("manifest invalid: {message}"),
        EventBody::ManifestValid => "manifest valid again".to_string(),
        EventBody::PackageModeChanged { package, from, to } => format!(
            "{package}: mode {} -> {to}",
            from.as_deref().unwrap_or("(none)")
        ),
        EventBody::RepoChanged {
            package,
            changed,
            repo,
        } => format!(
            "{package}: {} changed (branch {}, head {}, {})",
            changed.join(", "),
            repo["branch"].as_str().unwrap_or("(detached)"),
            repo["head"].as_str().unwrap_or("-"),
            if repo["dirty"].as_bool().unwrap_or(false) {
                "dirty"
            } else {
                "clean"
            }
        ),
        EventBody::RegistryUpdated { report } => {
            format!("registry updated: {}", serde_json::to_string(report)?)
        }
        EventBody::WatchDegraded { message } => format!("warning: {message}"),
    };
    println!("#{} {}  {what}", event.seq, event.workspace);
    Ok(())
}

pub fn sync_report(report: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    let count = report["plan"]["packages"].as_array().map_or(0, Vec::len);
    let mode = report["mode"].as_str().unwrap_or("?");
    match report["outcome"].as_str() {
        Some("up_to_date") => println!("up to date ({mode} mode, {count} packages)"),
        _ => println!("synced ({mode} mode, {count} packages)"),
    }
    for path in report["kept_user_edits"].as_array().into_iter().flatten() {
        println!(
            "warning: `{}` was edited during the sync; your edit was kept\n  hint: run `hpmctl sync` again to apply the plan on top of it",
            path.as_str().unwrap_or("?")
        );
    }
    Ok(())
}

pub fn status(report: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    println!("workspace  {}", report["workspace"].as_str().unwrap_or("?"));
    let note = if report["in_sync"].as_bool() == Some(true) {
        ""
    } else {
        "  (not synced: run `hpmctl sync`)"
    };
    println!(
        "mode       {}{note}",
        report["mode"].as_str().unwrap_or("?")
    );
    let rows: Vec<[String; 5]> = report["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|package| {
            let text = |value: &Value| value.as_str().unwrap_or("-").to_string();
            let repo = &package["repo"];
            let repo_state = if repo.is_object() {
                let mut state = format!("{} {}", text(&repo["branch"]), text(&repo["head"]));
                if repo["dirty"].as_bool() == Some(true) {
                    state.push_str(" dirty");
                }
                match (repo["ahead"].as_u64(), repo["behind"].as_u64()) {
                    (Some(ahead), Some(behind)) if ahead + behind > 0 => {
                        state.push_str(&format!(" +{ahead}/-{behind}"))
                    }
                    _ => {}
                }
                state
            } else {
                "-".to_string()
            };
            let mut installed = text(&package["installed_version"]);
            if package["installed_matches"].as_bool() == Some(false) {
                installed.push_str(" (stale)");
            }
            [
                text(&package["name"]),
                text(&package["mode"]),
                describe_source(&package["source"]),
                installed,
                repo_state,
            ]
        })
        .collect();
    print_table(["PACKAGE", "MODE", "SOURCE", "INSTALLED", "REPO"], &rows);
    let unused = report["unused_clones"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if !unused.is_empty() {
        println!("\nclones not used in this mode:");
        for clone in unused {
            let repo = &clone["repo"];
            println!(
                "  {}  {}{}",
                repo["path"].as_str().unwrap_or("?"),
                clone["package"].as_str().unwrap_or("(unknown package)"),
                if repo["dirty"].as_bool() == Some(true) {
                    "  (uncommitted changes)"
                } else {
                    ""
                }
            );
        }
    }
    Ok(())
}

pub fn check(report: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else if report["ok"].as_bool() == Some(true) {
        println!(
            "ok: {} ({} mode)",
            report["workspace"].as_str().unwrap_or("?"),
            report["mode"].as_str().unwrap_or("?")
        );
    }
    if report["ok"].as_bool() == Some(true) {
        return Ok(());
    }
    let failures: Vec<String> = report["failures"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|failure| {
            format!(
                "{}: {}",
                failure["check"].as_str().unwrap_or("?"),
                failure["message"].as_str().unwrap_or("?")
            )
        })
        .collect();
    Err(crate::failure::Failure {
        code: hpm_protocol::codes::INVALID_INPUT,
        message: format!("the check failed:\n{}", failures.join("\n")),
        data: Value::Null,
    }
    .into())
}

/// `hpmctl group list`.
pub fn groups(manifest: &hpm::manifest::Manifest, json: bool) -> anyhow::Result<()> {
    if json {
        let groups: serde_json::Map<String, Value> = manifest
            .groups
            .iter()
            .map(|(name, group)| {
                let body = serde_json::json!({ "options": group.options, "selected": group.selected, "multiple": group.multiple });
                (name.clone(), body)
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&groups)?);
        return Ok(());
    }
    for (name, group) in &manifest.groups {
        let options: Vec<String> = group
            .options
            .iter()
            .map(|option| {
                if group.selected.contains(option) {
                    format!("*{option}")
                } else {
                    option.clone()
                }
            })
            .collect();
        let kind = if group.multiple { "any of" } else { "one of" };
        println!("{name}: {kind} {}", options.join(", "));
    }
    Ok(())
}

pub fn hello(hello: Option<&Hello>, socket: &Path, json: bool) -> anyhow::Result<()> {
    if json {
        let body = match hello {
            Some(hello) => serde_json::json!({ "running": true, "socket": socket, "hello": hello }),
            None => serde_json::json!({ "running": false, "socket": socket }),
        };
        println!("{body}");
        return Ok(());
    }
    match hello {
        Some(hello) => println!(
            "hpmd {} running (pid {}) on {}; {} workspaces open",
            hello.version,
            hello.pid,
            socket.display(),
            hello.workspaces.len()
        ),
        None => println!("hpmd is not running ({})", socket.display()),
    }
    Ok(())
}

fn describe_source(source: &Value) -> String {
    let text = |key: &str| source[key].as_str().unwrap_or("").to_string();
    match source["type"].as_str() {
        Some("path") if source["editable"].as_bool() == Some(true) => {
            format!("{} (editable)", text("path"))
        }
        Some("path") => text("path"),
        Some("git") => match source["reference"]
            .as_object()
            .and_then(|r| r.values().next())
            .and_then(Value::as_str)
        {
            Some(reference) => format!("{} @ {reference}", text("url")),
            None => text("url"),
        },
        Some("index") => format!(
            "{} {}",
            source["index"].as_str().unwrap_or("pypi"),
            text("version")
        )
        .trim()
        .to_string(),
        _ => "?".to_string(),
    }
}

fn print_table<const N: usize>(header: [&str; N], rows: &[[String; N]]) {
    let mut widths = header.map(str::len);
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let text: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", text.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}
