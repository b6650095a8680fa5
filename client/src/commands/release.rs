//! `hpmctl release`: plan, notes, apply, resume, status, abort and run of
//! a multi-repo release. Runs in this process (the engine's
//! `ops::release`); the exit code says how a run ended, for CI: 0
//! complete, 3 preflight failed (nothing changed), 4 partial (the resume
//! command is printed), 5 a conflict needing a person.

use std::io::{BufRead, IsTerminal, Write};

use hpm_core::release::versions::Bump;
use hpm_core::Mode;
use hpm_engine::ops::release::steps::Effect;
use hpm_engine::ops::release::{
    self, ApplyOptions, ApplyReport, Outcome, PlanReport, PlanRequest, ReleaseProgress, StepReport,
    StepState,
};
use hpm_protocol::codes;

use super::Context;
use crate::failure::{Exit, Failure};
use crate::render;

/// Releases across the packages' repositories, in dependency order: plan, notes, apply, resume, status, abort, run.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Decide versions, tags, layers and registry edits; write .hpm/releases/<id>/plan.json.
    Plan(PlanArgs),
    /// Write the LLM bundle (context, commits, diff, prompts, empty slots); `--check` validates what was filled in.
    Notes {
        id: String,
        #[arg(long)]
        check: bool,
    },
    /// Run the plan (with the global --dry-run: print every effect, change nothing).
    Apply {
        id: String,
        /// Apply without asking (needed without a terminal).
        #[arg(long, short)]
        yes: bool,
        #[arg(long, value_enum, default_value = "files")]
        notes: NotesSource,
    },
    /// Finish a release that stopped, from what is observed.
    Resume {
        id: String,
        #[arg(long, short)]
        yes: bool,
        #[arg(long, value_enum, default_value = "files")]
        notes: NotesSource,
    },
    /// Each step: done, to do, or in conflict (observed now).
    Status { id: String },
    /// Undo what is not public yet: local commits and tags, drafts, version files.
    Abort { id: String },
    /// plan + notes (pausing for the LLM files unless --notes auto) + apply.
    Run {
        #[command(flatten)]
        plan: PlanArgs,
        #[arg(long, value_enum, default_value = "files")]
        notes: NotesSource,
        #[arg(long, short)]
        yes: bool,
    },
}

/// `--notes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum NotesSource {
    /// Notes grouped by commit type, from the commits.
    Auto,
    /// The LLM bundle's filled files (the default).
    Files,
}

impl Args {
    /// Whether it changes the environment (`--dry-run` applies).
    pub fn changes(&self) -> bool {
        matches!(
            self.action,
            Action::Apply { .. } | Action::Resume { .. } | Action::Run { .. }
        )
    }

    pub fn exec(self, context: &Context) -> anyhow::Result<()> {
        match self.action {
            Action::Plan(args) => plan(context, &args),
            Action::Notes { id, check } => notes(context, &id, check),
            Action::Apply { id, yes, notes } | Action::Resume { id, yes, notes } => {
                apply(context, &id, yes, notes == NotesSource::Auto)
            }
            Action::Status { id } => status(context, &id),
            Action::Abort { id } => abort(context, &id),
            Action::Run { plan, notes, yes } => {
                run(context, &plan, notes == NotesSource::Auto, yes)
            }
        }
    }
}

/// What `plan` and `run` take.
#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    /// The packages to release (registry names).
    #[arg(required = true)]
    packages: Vec<String>,
    /// `staging` (X.Y.Z.devN tags) or `prod` (X.Y.Z).
    #[arg(long)]
    mode: String,
    /// auto (from Conventional Commits), patch, minor, major, dev, stable, or =X.Y.Z.
    #[arg(long, default_value = "auto")]
    bump: String,
    /// Release the core (the workspace's own repository) last.
    #[arg(long)]
    with_core: bool,
    /// Release the manifest's packages that depend on these too.
    #[arg(long)]
    with_dependents: bool,
    /// Let a prod release differ from its last staging tag in more than the version files.
    #[arg(long)]
    allow_changes: bool,
}

fn request(args: &PlanArgs) -> Result<PlanRequest, Failure> {
    let mode = Mode::new(&args.mode).map_err(|e| Failure::user(codes::INVALID_INPUT, e, None))?;
    let bump: Bump = args
        .bump
        .parse()
        .map_err(|e: String| Failure::user(codes::INVALID_INPUT, e, None))?;
    Ok(PlanRequest {
        packages: args.packages.clone(),
        mode,
        bump,
        with_core: args.with_core,
        with_dependents: args.with_dependents,
        allow_changes: args.allow_changes,
    })
}

fn plan(context: &Context, args: &PlanArgs) -> anyhow::Result<()> {
    let workspace = context.workspace()?;
    let report = release::plan(&workspace, &request(args)?).map_err(Failure::from)?;
    if context.json {
        return render::json(&report);
    }
    render::out(&(render_plan(&report) + &format!("next: `hpmctl release notes {0}` (LLM notes) or `hpmctl release apply {0} --dry-run`\n", report.id)))
}

fn notes(context: &Context, id: &str, check: bool) -> anyhow::Result<()> {
    let workspace = context.workspace()?;
    let report = release::notes(&workspace, id, check).map_err(Failure::from)?;
    if context.json {
        return render::json(&report);
    }
    let mut out = String::new();
    for folder in &report.folders {
        out.push_str(&format!(
            "{} {}\n",
            if check { "checked" } else { "wrote" },
            folder.display()
        ));
    }
    for (package, filled) in &report.filled {
        out.push_str(&format!(
            "{package}: release-notes.md {}\n",
            if *filled {
                "filled and valid"
            } else {
                "empty (notes from the commits unless filled)"
            }
        ));
    }
    render::out(&out)
}

fn apply(context: &Context, id: &str, yes: bool, notes_auto: bool) -> anyhow::Result<()> {
    let workspace = context.workspace()?;
    let options = ApplyOptions {
        dry_run: context.dry_run,
        notes_auto,
        token: None,
    };
    if !context.dry_run && !confirmed(&workspace, id, yes, notes_auto)? {
        return Err(Exit(3).into());
    }
    let json = context.json;
    let dry_run = context.dry_run;
    let report = release::apply(&workspace, id, options, &mut |progress| match progress {
        ReleaseProgress::Step(step) if !json && !dry_run => eprintln!("{}", step_line(step)),
        ReleaseProgress::Step(_) => {}
        ReleaseProgress::Waiting(message) => say_wait(message),
    })
    .map_err(Failure::from)?;
    finish(context, &report)
}

fn status(context: &Context, id: &str) -> anyhow::Result<()> {
    let workspace = context.workspace()?;
    let report = release::status(&workspace, id).map_err(Failure::from)?;
    finish(context, &report)
}

fn abort(context: &Context, id: &str) -> anyhow::Result<()> {
    let workspace = context.workspace()?;
    let report = release::abort(&workspace, id).map_err(Failure::from)?;
    if context.json {
        return render::json(&report);
    }
    let mut out = String::new();
    for line in &report.undone {
        out.push_str(&format!("undone: {line}\n"));
    }
    for line in &report.kept {
        out.push_str(&format!("kept (public): {line}\n"));
    }
    if report.undone.is_empty() && report.kept.is_empty() {
        out.push_str("nothing of this release was done; nothing to undo\n");
    }
    render::out(&out)
}

/// `run`: plan, notes (pausing for the LLM unless `--notes auto`), apply.
fn run(context: &Context, args: &PlanArgs, notes_auto: bool, yes: bool) -> anyhow::Result<()> {
    let workspace = context.workspace()?;
    let planned = release::plan(&workspace, &request(args)?).map_err(Failure::from)?;
    if !context.json {
        eprint!("{}", render_plan(&planned));
    }
    if !notes_auto {
        let notes = release::notes(&workspace, &planned.id, false).map_err(Failure::from)?;
        let mut out = String::from(
            "the LLM bundle is written; fill each release-notes.md (its prompt is beside it):\n",
        );
        for folder in &notes.folders {
            out.push_str(&format!("  {}\n", folder.display()));
        }
        out.push_str(&format!(
            "then `hpmctl release notes {0} --check` and `hpmctl release apply {0}` (or run again with `--notes auto`)\n",
            planned.id
        ));
        return render::out(&out);
    }
    apply(context, &planned.id, yes, true)
}

/// `--yes`, or a person at a terminal who says yes after seeing the dry
/// run; with no terminal and no `--yes`, nothing public happens.
fn confirmed(
    workspace: &hpm_engine::workspace::Workspace,
    id: &str,
    yes: bool,
    notes_auto: bool,
) -> anyhow::Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        eprintln!("error: no terminal to confirm on, so nothing was done\n  hint: pass `--yes` to apply release {id} (see it first with `--dry-run`)");
        return Ok(false);
    }
    let preview = release::apply(
        workspace,
        id,
        ApplyOptions {
            dry_run: true,
            notes_auto,
            token: None,
        },
        &mut |progress| {
            if let ReleaseProgress::Waiting(message) = progress {
                say_wait(message);
            }
        },
    )
    .map_err(Failure::from)?;
    eprint!("{}", render_apply(&preview, true));
    if preview.outcome != Outcome::DryRun {
        return Ok(true);
    }
    eprint!("apply release {id}? [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// A wait on the forge, said as it begins, even with `--json` (on
/// stderr): minutes of silence look like a hang.
fn say_wait(message: &str) {
    eprintln!("  waiting: {}", render::escape_controls(message));
}

fn finish(context: &Context, report: &ApplyReport) -> anyhow::Result<()> {
    if context.json {
        render::json(report)?;
    } else {
        render::out(&render_apply(report, context.dry_run))?;
    }
    match report.outcome {
        Outcome::Complete | Outcome::DryRun => Ok(()),
        Outcome::PreflightFailed => Err(Exit(3).into()),
        Outcome::Partial => Err(Exit(4).into()),
        Outcome::Conflict => Err(Exit(5).into()),
        Outcome::Unreachable => Err(Exit(6).into()),
    }
}

fn render_plan(report: &PlanReport) -> String {
    let plan = &report.plan;
    let mut out = format!(
        "release {} ({} mode), {}\n",
        report.id,
        plan.kind.mode(),
        report.dir.display()
    );
    for p in &plan.packages {
        out.push_str(&format!(
            "  layer {}  {:<24} {} → {} ({})  {} commit{}\n      {}\n",
            p.layer,
            p.name,
            p.previous_tag.as_deref().unwrap_or("(no tag)"),
            p.tag,
            p.version,
            p.commits.len(),
            if p.commits.len() == 1 { "" } else { "s" },
            p.why
        ));
        if !p.work.is_empty() {
            out.push_str(&format!(
                "      uncommitted work, committed first (commit-message.txt): {}\n",
                p.work.join(", ")
            ));
        }
    }
    for edit in &plan.registry {
        out.push_str(&format!(
            "  registry: {} {}: {} → {}\n",
            edit.package, edit.mode, edit.from, edit.to
        ));
    }
    for warning in &plan.warnings {
        out.push_str(&format!("warning: {warning}\n"));
    }
    out
}

fn step_line(step: &StepReport) -> String {
    let state = match step.state {
        StepState::Done => "done (found)",
        StepState::Applied => "done",
        StepState::Todo => "to do",
        StepState::Failed => "FAILED",
        StepState::Conflict => "CONFLICT",
    };
    let mut line = format!("  {:<36} {state}", step.step);
    if let Some(detail) = &step.detail {
        line.push_str(&format!("\n      {}", detail.replace('\n', "\n      ")));
    }
    line
}

fn render_apply(report: &ApplyReport, dry_run: bool) -> String {
    let mut out = String::new();
    for step in &report.steps {
        if dry_run || step.state != StepState::Applied {
            out.push_str(&step_line(step));
            out.push('\n');
        }
        if dry_run {
            for effect in &step.effects {
                out.push_str(&effect_lines(effect));
            }
        }
    }
    for problem in &report.problems {
        out.push_str(&format!("error: {problem}\n"));
        if let Some(hint) = &problem.hint {
            out.push_str(&format!("  hint: {hint}\n"));
        }
    }
    out.push_str(&match report.outcome {
        Outcome::Complete => format!("release {} is complete\n", report.id),
        Outcome::DryRun => "dry run: nothing was changed\n".to_string(),
        Outcome::PreflightFailed => "preflight failed: nothing was changed\n".to_string(),
        Outcome::Partial => format!("release {} is partly done\n", report.id),
        Outcome::Conflict => format!(
            "release {} stopped on a conflict a person must resolve\n",
            report.id
        ),
        Outcome::Unreachable => {
            "dry run stopped: a remote or the forge did not answer (above); nothing was changed, run it again when it answers\n"
                .to_string()
        }
    });
    if let Some(resume) = &report.resume {
        out.push_str(&format!("  hint: `{resume}` finishes it\n"));
    }
    out
}

fn effect_lines(effect: &Effect) -> String {
    match effect {
        Effect::Write { path, diff } => format!("      write {path}\n{}", indent(diff, "        ")),
        Effect::Git { dir, argv } => format!("      git -C {dir} {}\n", argv.join(" ")),
        Effect::Uv { dir, argv } => format!("      uv --directory {dir} {}\n", argv.join(" ")),
        Effect::Http { method, url, body } => {
            let mut shown = body.clone();
            if let Some(text) = shown.get("body").and_then(|b| b.as_str()) {
                shown["body"] =
                    serde_json::json!(format!("({} characters of notes)", text.chars().count()));
            }
            format!("      {method} {url} {shown}\n")
        }
    }
}

fn indent(text: &str, by: &str) -> String {
    text.lines().map(|l| format!("{by}{l}\n")).collect()
}
