//! How hpmctl shows things: tables and progress on the terminal for people,
//! JSON on stdout for programs. Progress goes to stderr; stdout is data.

use hpm::engine::{Progress, SyncOutcome, SyncReport};
use hpm::plan::{GitReference, PlannedSource};
use hpm::status::StatusReport;
use serde_json::json;

/// The manifest `hpmctl init` writes.
pub const INITIAL_MANIFEST: &str = "\
version: 1
mode: dev                 # the workspace's default mode
registry: ./hpm-registry  # a folder of <package>.yaml files
packages: []              # the packages hpm manages, e.g. [bench-utils]
settings:
  packages_dir: packages  # where dev clones live
";

pub fn progress(progress: &Progress, json: bool) {
    if json {
        if let Ok(line) = serde_json::to_string(progress) {
            eprintln!("{line}");
        }
        return;
    }
    match progress {
        Progress::Recovered(recovery) => {
            for path in &recovery.restored {
                eprintln!(
                    "warning: an earlier sync was interrupted; restored `{}`",
                    path.display()
                );
            }
            for path in &recovery.kept_user_edits {
                eprintln!(
                    "warning: an earlier sync was interrupted and `{}` was edited since; kept your edit (hpm's original is in .hpm/backup/)",
                    path.display()
                );
            }
        }
        Progress::Phase { phase } => eprintln!("hpm: {phase}"),
        Progress::Uv { line } => eprintln!("  {line}"),
    }
}

pub fn sync_report(report: &SyncReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    match report.outcome {
        SyncOutcome::UpToDate => println!(
            "up to date ({} mode, {} packages)",
            report.mode,
            report.plan.packages.len()
        ),
        SyncOutcome::Synced => println!(
            "synced ({} mode, {} packages)",
            report.mode,
            report.plan.packages.len()
        ),
    }
    for path in &report.kept_user_edits {
        println!(
            "warning: `{}` was edited during the sync; your edit was kept\n  hint: run `hpmctl sync` again to apply the plan on top of it",
            path.display()
        );
    }
    Ok(())
}

pub fn status(report: &StatusReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    println!("workspace  {}", report.workspace);
    println!(
        "mode       {}{}",
        report.mode,
        if report.in_sync {
            ""
        } else {
            "  (not synced: run `hpmctl sync`)"
        }
    );
    let rows: Vec<[String; 4]> = report
        .packages
        .iter()
        .map(|package| {
            [
                package.name.clone(),
                package.mode.to_string(),
                describe_source(&package.source),
                package
                    .installed_version
                    .clone()
                    .unwrap_or_else(|| "-".to_string()),
            ]
        })
        .collect();
    print_table(&["PACKAGE", "MODE", "SOURCE", "INSTALLED"], &rows);
    Ok(())
}

fn describe_source(source: &PlannedSource) -> String {
    match source {
        PlannedSource::Path {
            path,
            editable: true,
        } => format!("{path} (editable)"),
        PlannedSource::Path {
            path,
            editable: false,
        } => path.clone(),
        PlannedSource::Git { url, reference, .. } => match reference {
            GitReference::Tag(r)
            | GitReference::Branch(r)
            | GitReference::Rev(r)
            | GitReference::Ref(r) => {
                format!("{url} @ {r}")
            }
            GitReference::Default => url.clone(),
        },
        PlannedSource::Index { version, index } => format!(
            "{}{}",
            index.as_deref().unwrap_or("pypi"),
            version
                .as_deref()
                .map(|v| format!(" {v}"))
                .unwrap_or_default()
        ),
    }
}

fn print_table(header: &[&str; 4], rows: &[[String; 4]]) {
    let mut widths = header.map(str::len);
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let line = |cells: [&str; 4]| {
        let text: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", text.join("  ").trim_end());
    };
    line(*header);
    for row in rows {
        line([&row[0], &row[1], &row[2], &row[3]]);
    }
}

/// An error as JSON: `{"error": {"code", "message", "problems"}}`.
pub fn error_json(error: &anyhow::Error) -> String {
    let (code, problems) = match error.downcast_ref::<hpm::Error>() {
        Some(error) => (
            error.code(),
            serde_json::to_value(error.problems()).unwrap_or_default(),
        ),
        None => (hpm_protocol::codes::INTERNAL, json!([])),
    };
    json!({ "error": { "code": code, "message": format!("{error:#}"), "problems": problems } })
        .to_string()
}
