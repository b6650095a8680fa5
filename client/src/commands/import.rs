//! `hpmctl import`: hpm's files for a product in the seeds' layout
//! (submodules or member clones, hand-kept `staging/` and `prod/`
//! pyprojects). Runs in this process: it is a one-time move, needing no
//! daemon.

use hpm_core::Mode;
use hpm_engine::ops::import::{import, ImportRequest};
use hpm_protocol::codes;
use hpm_protocol::release::ImportReport;

use super::Context;
use crate::failure::Failure;
use crate::render;

fn run(
    context: &Context,
    modes: &[String],
    uv_args: Vec<String>,
    detach_submodules: bool,
    no_sync: bool,
) -> anyhow::Result<()> {
    let request = ImportRequest {
        modes: parsed_modes(modes)?,
        uv_args,
        detach_submodules,
        dry_run: context.dry_run,
        no_sync,
    };
    let json = context.json;
    let mut on_progress =
        |progress: hpm_protocol::report::Progress| render::progress(&progress, json);
    let report = import(
        &context.caller(),
        context.folder(),
        &request,
        &mut on_progress,
    )
    .map_err(Failure::from)?;
    if context.json {
        return render::json(&report);
    }
    render::out(&rendered(&report, context.dry_run))
}

/// `--mode NAME=PATH` arguments as modes and paths.
fn parsed_modes(modes: &[String]) -> Result<Vec<(Mode, String)>, Failure> {
    modes
        .iter()
        .map(|text| {
            let (name, path) = text.split_once('=').ok_or_else(|| {
                Failure::user(
                    codes::INVALID_INPUT,
                    format!("`--mode {text}` is not NAME=PATH"),
                    Some("for example `--mode qa=qa/pyproject.toml`".to_string()),
                )
            })?;
            let mode = Mode::new(name).map_err(|e| Failure::user(codes::INVALID_INPUT, e, None))?;
            Ok((mode, path.to_string()))
        })
        .collect()
}

/// The report for people: the diffs, what was found, detached, noted and
/// written, the sync's report, and what to do next.
fn rendered(report: &ImportReport, dry_run: bool) -> String {
    let mut out = String::new();
    for diff in &report.diffs {
        out.push_str(&diff.diff);
        if !diff.diff.ends_with('\n') {
            out.push('\n');
        }
    }
    for package in &report.packages {
        out.push_str(&format!(
            "found {} in {} ({}{})\n",
            package.name,
            package.path,
            if package.submodule {
                "submodule"
            } else {
                "clone"
            },
            package
                .url
                .as_deref()
                .map(|u| format!(", {u}"))
                .unwrap_or_default()
        ));
    }
    for path in &report.detached {
        out.push_str(&match dry_run {
            true => format!(
                "would detach {path}: its git folder moves from the core's .git/modules into {path}/.git (every commit, branch, stash and edit kept); .gitmodules and the core's index lose it; {path}/ goes into the core's .git/info/exclude\n"
            ),
            false => format!("detached {path}: an independent clone now (nothing committed)\n"),
        });
    }
    for note in &report.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    let verb = if dry_run { "would write" } else { "wrote" };
    for path in &report.written {
        out.push_str(&format!("{verb} {}\n", path.display()));
    }
    if dry_run && !report.detached.is_empty() {
        out.push_str("nothing was changed\n");
    }
    match &report.synced {
        Some(synced) => {
            out.push_str(&render::sync_report(synced));
            out.push_str("next: `hpmctl check`, then commit; `hpmctl switch prod` (or another mode) when you want it\n");
        }
        None if !dry_run => {
            out.push_str("next: `hpmctl sync`, then `hpmctl check`\n");
        }
        None => {}
    }
    out
}

/// Move a product in the submodule / staging+prod layout to hpm: registry entries, hpm.yaml, the core's pyproject.toml.
#[derive(Debug, clap::Args)]
pub struct Args {
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
}

impl Args {
    pub fn exec(self, context: &Context) -> anyhow::Result<()> {
        run(
            context,
            &self.modes,
            self.uv_args,
            self.detach_submodules,
            self.no_sync,
        )
    }
}
