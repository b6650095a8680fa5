//! How hpmctl shows things: tables and progress for people, JSON on stdout
//! for programs. Reports arrive typed (from the daemon, or from the
//! in-process engine), so both paths render the same. Progress goes to
//! stderr; stdout is data.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use hpm_core::plan::PlannedSource;
use hpm_protocol::report::GroupListing;
use hpm_protocol::report::{
    CheckReport, DoctorReport, DoctorSubject, DryRunReport, ExportReport, ImageReport, Progress,
    Recovery, RegistryUpdate, RepoState, StatusReport, SyncOutcome, SyncReport,
};
use hpm_protocol::{Event, EventBody, Hello};
use serde::Serialize;

/// Writes `text` to stdout, control characters escaped (much of what hpm
/// prints came from repositories: commit subjects, branch and file names,
/// git's and uv's words). A reader that went away (`| head`) is an
/// `io::Error` of kind `BrokenPipe`, which `main` treats as success, where
/// `print!` would panic.
pub fn out(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(escape_controls(text).as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// Prints `value` as pretty JSON on stdout.
pub fn json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    out(&format!("{}\n", serde_json::to_string_pretty(value)?))
}

/// Whether uv's own lines went to this terminal during the command: its
/// error then needs no second copy of them.
static UV_SHOWN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn uv_output_shown() -> bool {
    UV_SHOWN.load(std::sync::atomic::Ordering::Relaxed)
}

fn uv_line(line: &str) {
    UV_SHOWN.store(true, std::sync::atomic::Ordering::Relaxed);
    eprintln!("  {}", escape_controls(line));
}

/// A step of an in-process sync.
pub fn progress(progress: &Progress, json: bool) {
    if json {
        if let Ok(line) = serde_json::to_string(progress) {
            eprintln!("{line}");
        }
        return;
    }
    match progress {
        Progress::Recovered(recovery) => recovered(recovery),
        Progress::Phase { phase } => eprintln!("hpm: {}", escape_controls(&phase.to_string())),
        Progress::Uv { line } => uv_line(line),
    }
}

/// One line of the container engine's output, during `image build`.
pub fn engine_line(line: &str, json: bool) {
    if json {
        let event = serde_json::json!({ "event": "image_progress", "line": line });
        eprintln!("{event}");
    } else {
        eprintln!("  {}", escape_controls(line));
    }
}

/// The progress part of a daemon event, during a command.
pub fn event_progress(event: &Event, json: bool) {
    match &event.body {
        EventBody::ImageProgress { line } => engine_line(line, json),
        EventBody::Progress { .. } | EventBody::Recovered { .. } if json => {
            if let Ok(line) = serde_json::to_string(event) {
                eprintln!("{line}");
            }
        }
        EventBody::Progress {
            line,
            phase: Some(_),
            ..
        } => eprintln!("hpm: {}", escape_controls(line)),
        EventBody::Progress { line, .. } => uv_line(line),
        EventBody::Recovered {
            restored,
            kept_user_edits,
            backups,
        } => {
            let paths = |paths: &[String]| paths.iter().map(PathBuf::from).collect::<Vec<_>>();
            recovered(&Recovery {
                restored: paths(restored),
                kept_user_edits: paths(kept_user_edits),
                backups: paths(backups),
            })
        }
        _ => {}
    }
}

fn recovered(recovery: &Recovery) {
    for path in &recovery.restored {
        eprintln!(
            "warning: an earlier hpm command was interrupted; put back `{}`",
            path.display()
        );
    }
    for path in &recovery.kept_user_edits {
        eprintln!("warning: an earlier hpm command was interrupted and `{}` was edited since; kept your edit (hpm's original is in .hpm/backup/)", path.display());
    }
    for path in &recovery.backups {
        eprintln!(
            "warning: the file put back had changed since the interrupted sync (by its uv, or by you); that version is saved as `{}`",
            path.display()
        );
    }
}

/// `hpmctl registry update`: per git registry, what moved.
pub fn registry_update(updates: &[RegistryUpdate]) -> String {
    let mut out = String::new();
    if updates.is_empty() {
        out.push_str("no git registry in hpm.yaml\n");
    }
    for update in updates {
        match &update.from {
            Some(from) => {
                let _ = writeln!(
                    out,
                    "{}: {} -> {}",
                    update.url,
                    short(from),
                    short(&update.to)
                );
            }
            None => {
                let _ = writeln!(out, "{}: already at {}", update.url, short(&update.to));
            }
        }
        for name in &update.added {
            let _ = writeln!(out, "  added    {name}");
        }
        for name in &update.removed {
            let _ = writeln!(out, "  removed  {name}");
        }
        for moved in &update.moved {
            let _ = writeln!(
                out,
                "  moved    {} ({}): {} -> {}",
                moved.package, moved.mode, moved.from, moved.to
            );
        }
    }
    out
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// One event of `hpmctl events`.
pub fn event(event: &Event) -> anyhow::Result<String> {
    let what = match &event.body {
        EventBody::JobQueued { change, merged } => format!(
            "queued{}: {}",
            if *merged { " (merged)" } else { "" },
            serde_json::to_string(change)?
        ),
        EventBody::JobStarted { job, change } => {
            format!("job {job} started: {}", serde_json::to_string(change)?)
        }
        EventBody::Progress { job, line, .. } => format!("job {job}: {line}"),
        EventBody::JobFinished { job, report } => format!(
            "job {job} finished: {}",
            match report.outcome {
                SyncOutcome::UpToDate => "up_to_date",
                SyncOutcome::Synced => "synced",
                SyncOutcome::Edited => "edited",
            }
        ),
        EventBody::JobFailed { job, message, .. } => format!("job {job} failed: {message}"),
        EventBody::RolledBack { job } => format!("job {job} rolled back"),
        EventBody::Recovered { restored, .. } => format!(
            "recovered an interrupted command ({} files put back)",
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
            changed
                .iter()
                .map(|field| field.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            repo.branch.as_deref().unwrap_or("(detached)"),
            repo.head.as_deref().unwrap_or("-"),
            if repo.dirty { "dirty" } else { "clean" }
        ),
        EventBody::RegistryUpdated { report } => {
            format!("registry updated: {}", serde_json::to_string(report)?)
        }
        EventBody::ReleaseStep {
            id,
            step,
            state,
            detail,
        } => match detail {
            Some(detail) => format!("release {id}: {step} {state}: {detail}"),
            None => format!("release {id}: {step} {state}"),
        },
        EventBody::ReleaseWaiting { id, message } => format!("release {id}: waiting: {message}"),
        EventBody::ReleaseFinished { id, outcome } => format!("release {id}: {outcome}"),
        EventBody::ImageProgress { line } => format!("image: {line}"),
        EventBody::ImageBuilt { image_id, tags } => {
            format!("image built: {image_id} ({})", tags.join(", "))
        }
        EventBody::WatchDegraded { message } => format!("warning: {message}"),
    };
    Ok(format!("#{} {}  {what}", event.seq, event.workspace))
}

/// A sync's outcome in a line, and the user edits it kept.
pub fn sync_report(report: &SyncReport) -> String {
    let count = report.plan.packages.len();
    let mut out = match report.outcome {
        // uv's lines were shown, yet this sync had nothing to do: they
        // came from a sync the daemon ran just before (a save of
        // hpm.yaml, say), which did the work.
        SyncOutcome::UpToDate if uv_output_shown() => format!(
            "up to date ({} mode, {count} packages): the uv lines above are the daemon's sync of a change saved just before, which did the work\n",
            report.mode
        ),
        SyncOutcome::UpToDate => format!("up to date ({} mode, {count} packages)\n", report.mode),
        SyncOutcome::Synced => format!("synced ({} mode, {count} packages)\n", report.mode),
        SyncOutcome::Edited => String::new(),
    };
    for note in &report.notes {
        let _ = writeln!(out, "note: {note}");
    }
    for path in &report.kept_user_edits {
        let _ = writeln!(
            out,
            "warning: `{}` was edited during the sync; your edit was kept\n  hint: run `hpmctl sync` again to apply the plan on top of it",
            path.display()
        );
    }
    for warning in &report.warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    out
}

/// A dry run: the diffs, then what would be cloned and reinstalled.
pub fn dry_run(report: &DryRunReport) -> String {
    let mut out = String::new();
    for diff in &report.diffs {
        out.push_str(&diff.diff);
        if !diff.diff.ends_with('\n') {
            out.push('\n');
        }
    }
    for clone in &report.clones {
        let _ = writeln!(
            out,
            "would clone {} from {} into {}",
            clone.package, clone.url, clone.path
        );
    }
    for name in &report.reinstalled {
        let _ = writeln!(out, "would reinstall {name}");
    }
    for note in &report.notes {
        let _ = writeln!(out, "note: {note}");
    }
    for warning in &report.warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    if report.resolves == Some(true) {
        out.push_str("uv resolves it (checked on a scratch copy)\n");
    }
    let count = report.plan.packages.len();
    if report.up_to_date || (report.diffs.is_empty() && report.clones.is_empty()) {
        let _ = writeln!(
            out,
            "dry run: nothing to change ({} mode, {count} packages)",
            report.mode
        );
    } else {
        let _ = writeln!(
            out,
            "dry run: nothing was changed ({} mode, {count} packages)",
            report.mode
        );
    }
    out
}

/// The status table.
pub fn status(report: &StatusReport) -> String {
    let mut out = format!("workspace  {}\n", report.workspace);
    let note = if report.interrupted.is_some() {
        "  (a sync was interrupted: see below)"
    } else if report.in_sync {
        ""
    } else {
        "  (not synced: run `hpmctl sync`)"
    };
    let _ = writeln!(out, "mode       {}{note}", report.mode);
    let rows: Vec<[String; 5]> = report
        .packages
        .iter()
        .map(|package| {
            let mut installed = package
                .installed_version
                .clone()
                .unwrap_or_else(|| "-".to_string());
            if package.installed_matches == Some(false) {
                installed.push_str(" (stale)");
            }
            let mut name = package.name.clone();
            if !package.required_by.is_empty() {
                name.push_str(&format!(
                    " (required by {})",
                    package.required_by.join(", ")
                ));
            }
            if !package.linked_by.is_empty() {
                name.push_str(&format!(" (in dev with {})", package.linked_by.join(", ")));
            }
            [
                name,
                package.mode.to_string(),
                describe_source(&package.source),
                installed,
                package
                    .repo
                    .as_ref()
                    .map_or_else(|| "-".to_string(), repo_state),
            ]
        })
        .collect();
    out.push_str(&table(
        ["PACKAGE", "MODE", "SOURCE", "INSTALLED", "REPO"],
        &rows,
    ));
    if !report.unused_clones.is_empty() {
        out.push_str("\nclones not used in this mode:\n");
        for clone in &report.unused_clones {
            let _ = writeln!(
                out,
                "  {}  {}{}",
                clone.repo.path,
                clone.package.as_deref().unwrap_or("(unknown package)"),
                if clone.repo.dirty {
                    "  (uncommitted changes)"
                } else {
                    ""
                }
            );
        }
    }
    if let Some(interrupted) = &report.interrupted {
        let _ = writeln!(
            out,
            "\nwarning: a sync{} was interrupted; `pyproject.toml` and `uv.lock` may be half-switched\n  hint: {}",
            interrupted.pid.map(|pid| format!(" (pid {pid})")).unwrap_or_default(),
            interrupted.hint
        );
    }
    out
}

fn repo_state(repo: &RepoState) -> String {
    let mut state = format!(
        "{} {}",
        repo.branch.as_deref().unwrap_or("-"),
        repo.head.as_deref().unwrap_or("-")
    );
    if repo.dirty {
        state.push_str(" dirty");
    }
    if let (Some(ahead), Some(behind)) = (repo.ahead, repo.behind) {
        if ahead + behind > 0 {
            let _ = write!(state, " +{ahead}/-{behind}");
        }
    }
    state
}

/// `ok: …` when every check passed, else the failures, one a line.
/// What `hpmctl export` wrote (or would write, in a dry run).
pub fn export(report: &ExportReport, dry_run: bool) -> String {
    let mut out = String::new();
    for diff in &report.diffs {
        out.push_str(&diff.diff);
        if !diff.diff.ends_with('\n') {
            out.push('\n');
        }
    }
    for note in &report.notes {
        let _ = writeln!(out, "note: {note}");
    }
    if let Some(saved) = &report.saved {
        let _ = writeln!(
            out,
            "saved the previous pyproject.toml as {}",
            saved.display()
        );
    }
    let count = report.plan.packages.len();
    let folder = report.out.display();
    let verb = if dry_run { "would write" } else { "wrote" };
    if report.changed.is_empty() {
        let _ = writeln!(
            out,
            "{folder}: up to date ({} mode, {count} packages)",
            report.mode
        );
    } else {
        let files: Vec<String> = report
            .changed
            .iter()
            .map(|path| {
                path.file_name().map_or_else(
                    || path.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "{verb} {} in {folder} ({} mode, {count} packages); install it with `uv sync --project {folder} --frozen`",
            files.join(" and "),
            report.mode
        );
    }
    out
}

/// Checks of one or more modes: a line for each mode that passed or was
/// not checked, and the failures of those that failed (named by mode when
/// there are several), if any.
pub fn checks(reports: &[CheckReport]) -> (String, Option<String>) {
    let mut said = String::new();
    let mut failed = Vec::new();
    for report in reports {
        for warning in &report.warnings {
            said.push_str(&format!("warning: {warning}\n"));
        }
        match (&report.not_checked, report.ok) {
            (Some(why), _) => {
                said.push_str(&format!("not checked: {} mode here: {why}\n", report.mode))
            }
            (None, true) => said.push_str(&format!(
                "ok: {} ({} mode)\n",
                report.workspace, report.mode
            )),
            (None, false) => failed.push(report),
        }
    }
    if failed.is_empty() {
        return (said, None);
    }
    let failures: Vec<String> = failed
        .iter()
        .flat_map(|report| {
            report
                .failures
                .iter()
                .map(move |failure| match reports.len() {
                    1 => format!("{}: {}", failure.check, failure.message),
                    _ => format!(
                        "{} mode: {}: {}",
                        report.mode, failure.check, failure.message
                    ),
                })
        })
        .collect();
    let failures = format!("the check failed:\n{}", failures.join("\n"));
    (said, Some(failures))
}

/// `hpmctl doctor`: a line per check, a `hint:` under each failure.
/// What came from a remote or a registry is shown with its control
/// characters escaped.
pub fn doctor(report: &DoctorReport) -> String {
    let mut out = String::new();
    for check in &report.checks {
        let subject = match check.subject {
            DoctorSubject::Git => "git",
            DoctorSubject::Uv => "uv",
            DoctorSubject::Daemon => "daemon",
            DoctorSubject::Workspace => "workspace",
            DoctorSubject::Remote => "remote",
        };
        out.push_str(&format!(
            "{} {subject:<9} {}: {} ({} ms)\n",
            if check.ok { "ok  " } else { "FAIL" },
            escape_controls(&check.name),
            escape_controls(&check.detail).replace('\n', "\n       "),
            check.millis
        ));
        if let Some(hint) = &check.hint {
            out.push_str(&format!("       hint: {}\n", escape_controls(hint)));
        }
    }
    out
}

/// `text` with control characters but newlines and tabs shown as escapes,
/// so that nothing a repository says can move the cursor, retitle the
/// window or recolour a terminal.
pub fn escape_controls(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' | '\t' => c.to_string(),
            c if c.is_control() => c.escape_unicode().to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// `hpmctl group list`.
pub fn groups(groups: &BTreeMap<String, GroupListing>) -> String {
    let mut out = String::new();
    for (name, group) in groups {
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
        let _ = writeln!(out, "{name}: {kind} {}", options.join(", "));
    }
    out
}

pub fn hello(hello: Option<&Hello>, socket: &Path, json: bool) -> anyhow::Result<()> {
    if json {
        let body = match hello {
            Some(hello) => serde_json::json!({ "running": true, "socket": socket, "hello": hello }),
            None => serde_json::json!({ "running": false, "socket": socket }),
        };
        return out(&format!("{body}\n"));
    }
    out(&match hello {
        Some(hello) => format!(
            "hpmd {} running (pid {}) on {}; {} workspaces open\n",
            hello.version,
            hello.pid,
            socket.display(),
            hello.workspaces.len()
        ),
        None => format!("hpmd is not running ({})\n", socket.display()),
    })
}

fn describe_source(source: &PlannedSource) -> String {
    match source {
        PlannedSource::Path {
            path, member: true, ..
        } => format!("{path} (workspace member)"),
        PlannedSource::Path {
            path,
            editable: true,
            ..
        } => format!("{path} (editable)"),
        PlannedSource::Path { path, .. } => path.clone(),
        PlannedSource::Git { url, reference, .. } => match reference.name() {
            Some(name) => format!("{url} @ {name}"),
            None => url.clone(),
        },
        PlannedSource::Index { version, index } => format!(
            "{} {}",
            index.as_deref().unwrap_or("pypi"),
            version.as_deref().unwrap_or("")
        )
        .trim()
        .to_string(),
    }
}

fn table<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
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
        format!("{}\n", text.join("  ").trim_end())
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// `hpmctl image build`'s summary.
pub fn image(report: &ImageReport) -> String {
    let mut out = String::new();
    if report.dry_run {
        out.push_str(&format!(
            "would build the {} image in {} and run:\n",
            report.mode,
            report.context.display()
        ));
        for command in &report.commands {
            out.push_str(&format!("  {}\n", command.join(" ")));
        }
    } else if let Some(id) = &report.image_id {
        let size = report
            .size
            .map(|bytes| format!(", {:.1} MB", bytes as f64 / 1e6))
            .unwrap_or_default();
        out.push_str(&format!(
            "built the {} image {id}{size}: {}\n",
            report.mode,
            report.tags.join(", ")
        ));
        for pushed in &report.pushed {
            out.push_str(&format!("pushed {} ({})\n", pushed.tag, pushed.digest));
        }
    }
    let managed: Vec<String> = report
        .packages
        .iter()
        .filter(|package| package.managed)
        .map(|package| format!("{} {}", package.name, package.version))
        .collect();
    if !managed.is_empty() {
        out.push_str(&format!("packages: {}\n", managed.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hpm_core::registry::{GitRef, MovedSource};
    use hpm_core::Mode;
    use hpm_protocol::report::{
        CheckFailure, CheckKind, Interrupted, PackageStatus, UnusedClone, WatchMode,
    };

    fn mode(name: &str) -> Mode {
        Mode::new(name).unwrap()
    }

    fn repo(path: &str, dirty: bool, ahead: usize) -> RepoState {
        RepoState {
            path: path.into(),
            branch: Some("main".into()),
            head: Some("0a1b2c3d4e5f".into()),
            dirty,
            ahead: Some(ahead),
            behind: Some(0),
        }
    }

    fn status_report() -> StatusReport {
        StatusReport {
            workspace: "/work/core".into(),
            mode: mode("prod"),
            in_sync: false,
            interrupted: None,
            watching: Some(WatchMode::Native),
            modes: Vec::new(),
            packages: vec![
                PackageStatus {
                    name: "plugin-a".into(),
                    group: None,
                    mode: mode("prod"),
                    source: PlannedSource::Git {
                        url: "https://github.com/org/plugin-a.git".into(),
                        reference: GitRef::Tag("v1.0.0".into()),
                        subdirectory: None,
                    },
                    requirement: "plugin-a".into(),
                    installed_version: Some("1.0.0".into()),
                    installed_matches: Some(true),
                    repo: None,
                    required_by: Vec::new(),
                    linked_by: Vec::new(),
                },
                PackageStatus {
                    name: "plugin-b".into(),
                    group: Some("vector-db".into()),
                    mode: mode("dev"),
                    source: PlannedSource::Path {
                        path: "packages/plugin-b".into(),
                        editable: true,
                        member: false,
                    },
                    requirement: "plugin-b".into(),
                    installed_version: Some("1.1.0.dev0".into()),
                    installed_matches: Some(false),
                    repo: Some(repo("packages/plugin-b", true, 2)),
                    required_by: Vec::new(),
                    linked_by: Vec::new(),
                },
                PackageStatus {
                    name: "plugin-c".into(),
                    group: None,
                    mode: mode("prod"),
                    source: PlannedSource::Index {
                        version: Some("==2.0".into()),
                        index: None,
                    },
                    requirement: "plugin-c==2.0".into(),
                    installed_version: None,
                    installed_matches: None,
                    repo: None,
                    required_by: vec!["plugin-a".into()],
                    linked_by: Vec::new(),
                },
            ],
            unused_clones: vec![UnusedClone {
                package: Some("plugin-d".into()),
                repo: repo("packages/plugin-d", true, 0),
            }],
        }
    }

    #[test]
    fn the_status_table() {
        insta::assert_snapshot!(status(&status_report()));
    }

    #[test]
    fn the_status_table_of_an_interrupted_sync() {
        let report = StatusReport {
            interrupted: Some(Interrupted {
                pid: Some(4242),
                hint: "run `hpmctl sync` to restore `pyproject.toml` and `uv.lock` and sync again, before you commit them".into(),
            }),
            packages: Vec::new(),
            unused_clones: Vec::new(),
            ..status_report()
        };
        insta::assert_snapshot!(status(&report));
    }

    #[test]
    fn a_failed_check() {
        let report = CheckReport {
            workspace: "/work/core".into(),
            mode: "prod".into(),
            ok: false,
            failures: vec![
                CheckFailure {
                    check: CheckKind::Pyproject,
                    message: "`pyproject.toml` does not match the plan; run `hpmctl sync` and commit the result".into(),
                },
                CheckFailure {
                    check: CheckKind::LocalSource,
                    message: "`plugin-a` is in prod mode but `uv.lock` installs it from a local folder".into(),
                },
            ],
            warnings: Vec::new(),
            not_checked: None,
        };
        insta::assert_snapshot!(checks(std::slice::from_ref(&report)).1.unwrap());
        let ok = CheckReport {
            ok: true,
            failures: Vec::new(),
            ..report.clone()
        };
        assert_eq!(
            checks(std::slice::from_ref(&ok)),
            ("ok: /work/core (prod mode)\n".to_string(), None)
        );
        // Several modes: each one's line, the failures named by mode.
        let dev = CheckReport {
            mode: "dev".into(),
            not_checked: Some(
                "`plugin-a` installs from `packages/plugin-a`, which is not here".into(),
            ),
            ..ok.clone()
        };
        let staging = CheckReport {
            mode: "staging".into(),
            ..report.clone()
        };
        let (said, failures) = checks(&[ok, dev, staging]);
        insta::assert_snapshot!(format!(
            "{said}--- stderr:\n{}",
            failures.unwrap_or_default()
        ));
    }

    #[test]
    fn a_registry_update() {
        let updates = vec![
            RegistryUpdate {
                url: "https://example.org/registry.git".into(),
                from: Some("0123456789abcdef0123456789abcdef01234567".into()),
                to: "89abcdef0123456789abcdef0123456789abcdef".into(),
                added: vec!["plugin-e".into()],
                removed: vec!["plugin-old".into()],
                moved: vec![MovedSource {
                    package: "plugin-a".into(),
                    mode: "prod".into(),
                    from: "git https://example.org/a.git@v1.0.0".into(),
                    to: "git https://example.org/a.git@v1.1.0".into(),
                }],
            },
            RegistryUpdate {
                url: "https://example.org/other.git".into(),
                from: None,
                to: "fedcba9876543210fedcba9876543210fedcba98".into(),
                ..RegistryUpdate::default()
            },
        ];
        insta::assert_snapshot!(registry_update(&updates));
        assert_eq!(registry_update(&[]), "no git registry in hpm.yaml\n");
    }

    #[test]
    fn a_sync_that_kept_a_user_edit() {
        let report = SyncReport {
            mode: mode("staging"),
            outcome: SyncOutcome::Synced,
            plan: hpm_core::plan::Plan {
                mode: mode("staging"),
                packages: Vec::new(),
            },
            reinstalled: Vec::new(),
            kept_user_edits: vec!["/work/core/pyproject.toml".into()],
            dirty_clones: Vec::new(),
            warnings: vec![
                "package `plugin-a`: tag `v0.1.2` has version `0.1.0` in its `pyproject.toml`"
                    .into(),
            ],
            notes: Vec::new(),
            uv_ms: None,
        };
        insta::assert_snapshot!(sync_report(&report));
    }
}
