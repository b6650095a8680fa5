//! The one driver of a release's steps, for every way of going through
//! them: a run (and a resume, which is a run that finds steps done), a
//! dry run, and `status`. Each step is observed; what follows depends on
//! the pass:
//!
//! | observed | run | dry run | status |
//! | --- | --- | --- | --- |
//! | done | done | done | done |
//! | to do | applied, journaled | to do, with its effects | to do |
//! | conflict | stop: a person decides | stop | go on |
//! | cannot look | failed, journaled; stop | unreachable, stop (network) | failed, go on |
//!
//! Every step that ends is told (`on_step`) as it ends. `abort` goes
//! through the steps the other way ([`undo`]).

use hpm_core::release::plan::{Step, StepKind};
use hpm_core::Problem;

use super::journal::{Entry, Journal};
use super::steps::{Observed, Runner, Undo};
use super::{with_core_notes, AbortReport, ApplyReport, Outcome, StepReport, StepState};
use crate::error::{Error, Result};

/// How the driver goes through the steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Apply what is not done, journaling each step.
    Run,
    /// Say what a run would do; change nothing.
    DryRun,
    /// Observe every step.
    Status,
}

/// What the driver does after a step.
enum Flow {
    Next,
    Stop,
}

pub struct Driver<'r, 'a> {
    runner: &'r mut Runner<'a>,
    pass: Pass,
    /// A run's journal (`None` for a dry run and `status`).
    journal: Option<Journal>,
    report: ApplyReport,
    core_notes_gathered: bool,
}

impl<'r, 'a> Driver<'r, 'a> {
    pub fn new(runner: &'r mut Runner<'a>, pass: Pass, journal: Option<Journal>) -> Self {
        let report = ApplyReport {
            id: runner.plan.id.clone(),
            outcome: Outcome::Complete,
            steps: Vec::new(),
            problems: Vec::new(),
            resume: None,
        };
        Driver {
            runner,
            pass,
            journal,
            report,
            core_notes_gathered: false,
        }
    }

    /// Goes through every step but the preflight, and ends the report.
    pub fn drive(mut self, on_step: &mut dyn FnMut(&StepReport)) -> Result<ApplyReport> {
        let steps = self.runner.plan.steps();
        for step in steps.iter().filter(|s| s.kind != StepKind::Preflight) {
            self.gather_core_notes(step);
            let (entry, flow) = self.step(step)?;
            on_step(&entry);
            self.report.steps.push(entry);
            if let Flow::Stop = flow {
                break;
            }
        }
        Ok(self.finish())
    }

    /// Before the core's first step: the packages are tagged by now, so
    /// their commits go in the core's notes.
    fn gather_core_notes(&mut self, step: &Step) {
        let plan = self.runner.plan;
        let of_core = step
            .package
            .as_deref()
            .and_then(|n| plan.package(n))
            .is_some_and(|p| p.core);
        if of_core && !self.core_notes_gathered {
            self.core_notes_gathered = true;
            with_core_notes(plan, &mut self.runner.notes);
        }
    }

    /// One step, observed and then, as the pass says, applied, described
    /// or only reported.
    fn step(&mut self, step: &Step) -> Result<(StepReport, Flow)> {
        let key = step.key();
        let entry = |state, detail| StepReport {
            step: key.clone(),
            state,
            effects: Vec::new(),
            detail,
        };
        let observed = match (self.runner.observe(step), self.pass) {
            (Ok(observed), _) => observed,
            (Err(error), Pass::Status) => {
                return Ok((
                    entry(StepState::Failed, Some(error.to_string())),
                    Flow::Next,
                ))
            }
            // A dry run that cannot look is not a conflict, and has
            // nothing to resume: it says what did not answer.
            (Err(Error::Network { problems }), Pass::DryRun) => {
                return Ok((
                    self.unreachable(entry(StepState::Failed, None), problems),
                    Flow::Stop,
                ))
            }
            (Err(error), Pass::DryRun) => return Err(error),
            (Err(error), Pass::Run) => return Ok((self.fail(&key, &error)?, Flow::Stop)),
        };
        Ok(match (observed, self.pass) {
            (Observed::Done, _) => (entry(StepState::Done, None), Flow::Next),
            (Observed::Conflict(why), Pass::Status) => {
                (entry(StepState::Conflict, Some(why)), Flow::Next)
            }
            (Observed::Conflict(why), _) => {
                self.report.outcome = Outcome::Conflict;
                (entry(StepState::Conflict, Some(why)), Flow::Stop)
            }
            (Observed::Todo, Pass::Status) => (entry(StepState::Todo, None), Flow::Next),
            (Observed::Todo, Pass::DryRun) => {
                let mut todo = entry(StepState::Todo, None);
                todo.effects = self.runner.effects(step).unwrap_or_default();
                (todo, Flow::Next)
            }
            (Observed::Todo, Pass::Run) => self.apply(step, &key)?,
        })
    }

    /// Applies a step that is to do, journaled before and after.
    fn apply(&mut self, step: &Step, key: &str) -> Result<(StepReport, Flow)> {
        if let Some(journal) = &self.journal {
            journal.append(&Entry::Started {
                step: key.to_string(),
            })?;
        }
        let effects = match self.runner.apply(step) {
            Ok(effects) => effects,
            Err(error) => return Ok((self.fail(key, &error)?, Flow::Stop)),
        };
        if let Some(journal) = &self.journal {
            journal.append(&Entry::Done {
                step: key.to_string(),
                effects: effects.clone(),
            })?;
        }
        crash_after_for_tests(key);
        Ok((
            StepReport {
                step: key.to_string(),
                state: StepState::Applied,
                effects,
                detail: None,
            },
            Flow::Next,
        ))
    }

    /// A run's step failed: journaled, its problems reported; the run
    /// stops, partly done.
    fn fail(&mut self, key: &str, error: &Error) -> Result<StepReport> {
        if let Some(journal) = &self.journal {
            journal.append(&Entry::Failed {
                step: key.to_string(),
                error: error.to_string(),
            })?;
        }
        let mut problem = Problem::new(error.to_string());
        if let Some(hint) = error.hint() {
            problem = problem.hint(hint);
        }
        self.report.problems.push(problem);
        self.report
            .problems
            .extend(error.problems().iter().cloned());
        self.report.outcome = Outcome::Partial;
        Ok(StepReport {
            step: key.to_string(),
            state: StepState::Failed,
            effects: Vec::new(),
            detail: Some(error.to_string()),
        })
    }

    /// A dry run could not reach a remote or the forge to observe a step:
    /// the problems say what did not answer, and a hint to resume (a real
    /// run's recovery) becomes one to run the dry run again.
    fn unreachable(&mut self, mut entry: StepReport, mut problems: Vec<Problem>) -> StepReport {
        for problem in &mut problems {
            if problem
                .hint
                .as_deref()
                .is_some_and(|hint| hint.contains("release resume"))
            {
                problem.hint =
                    Some("nothing was changed: run the dry run again once it answers".to_string());
            }
        }
        entry.detail = problems.first().map(|problem| problem.message.clone());
        self.report.problems.extend(problems);
        self.report.outcome = Outcome::Unreachable;
        entry
    }

    /// The outcome, from how the pass ended.
    fn finish(mut self) -> ApplyReport {
        let id = self.report.id.clone();
        match self.pass {
            Pass::DryRun if self.report.outcome == Outcome::Complete => {
                self.report.outcome = Outcome::DryRun;
            }
            Pass::Status => self.report.outcome = status_outcome(&mut self.report),
            _ => {}
        }
        // `status` offers a resume only where a run would go on by itself.
        let resumable = match self.pass {
            Pass::Status => self.report.outcome == Outcome::Partial,
            _ => matches!(self.report.outcome, Outcome::Partial | Outcome::Conflict),
        };
        if resumable {
            self.report.resume = Some(format!("hpmctl release resume {id}"));
        }
        self.report
    }
}

/// `abort`: every step undone, last first, except what is public: once a
/// package's push is found done, its earlier steps (the tag, the commit)
/// stay with it.
pub fn undo(runner: &Runner) -> Result<AbortReport> {
    let mut report = AbortReport {
        id: runner.plan.id.clone(),
        undone: Vec::new(),
        kept: Vec::new(),
    };
    let mut public: Vec<Option<String>> = Vec::new();
    let steps = runner.plan.steps();
    for step in steps.iter().rev() {
        if public.contains(&step.package) {
            continue;
        }
        for undo in runner.undo(step)? {
            match undo {
                Undo::Undone(what) => report.undone.push(what),
                Undo::Kept(what) => report.kept.push(what),
                Undo::Public(what) => {
                    report.kept.push(what);
                    public.push(step.package.clone());
                }
            }
        }
    }
    Ok(report)
}

/// What `status` says of the steps it observed: complete when all are
/// done, a conflict when one is, partial when some are done, and when none
/// is, that the release has not started (with how to start it).
fn status_outcome(report: &mut ApplyReport) -> Outcome {
    let states: Vec<StepState> = report.steps.iter().map(|s| s.state).collect();
    if states.iter().all(|s| *s == StepState::Done) {
        return Outcome::Complete;
    }
    let first_not_done = states.iter().find(|s| **s != StepState::Done);
    if first_not_done == Some(&StepState::Conflict) {
        return Outcome::Conflict;
    }
    if !states.contains(&StepState::Done) {
        report.problems.push(
            Problem::new("nothing of this release is done yet")
                .hint(format!("`hpmctl release apply {}` starts it", report.id)),
        );
        return Outcome::PreflightFailed;
    }
    Outcome::Partial
}

/// The test seam: the process dies right after step `key` was journaled
/// done, as a crash there would. Compiled only for the tests.
#[cfg(feature = "test-seams")]
fn crash_after_for_tests(key: &str) {
    if std::env::var(super::CRASH_AFTER).is_ok_and(|after| after == key) {
        std::process::abort();
    }
}

#[cfg(not(feature = "test-seams"))]
fn crash_after_for_tests(_key: &str) {}
