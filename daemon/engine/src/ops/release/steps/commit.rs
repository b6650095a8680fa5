//! `Commit`: the release commit (the version file, the relocked
//! `uv.lock`, the plan's extra files), carrying [`trailer`] so a later
//! run finds it.

use std::path::Path;

use hpm_core::release::plan::{PackageRelease, ReleasePlan, Step};

use super::{commit_files, run_git, trailer, Effect, Observed, Runner, StepType, Undo};
use crate::error::Result;
use crate::git::history;

pub struct Commit;

impl StepType for Commit {
    fn observe(&self, run: &Runner, step: &Step) -> Result<Observed> {
        let p = run.package(step)?;
        Ok(match run.release_commit(p)? {
            Some(_) => Observed::Done,
            None => Observed::Todo,
        })
    }

    fn effects(&self, run: &Runner, step: &Step) -> Result<Vec<Effect>> {
        let p = run.package(step)?;
        let mut argv: Vec<String> = ["commit", "-q", "--only", "-F"].map(String::from).to_vec();
        argv.push(run.message_file(&p.name, "commit").display().to_string());
        argv.push("--".into());
        argv.extend(commit_files(p));
        Ok(vec![Effect::Git {
            dir: p.clone.clone(),
            argv,
        }])
    }

    fn apply(&self, run: &Runner, step: &Step, effects: &[Effect]) -> Result<()> {
        let p = run.package(step)?;
        run.write_message(&p.name, "commit", &commit_message(run.plan, p))?;
        run.perform(effects)
    }

    /// The release commit goes when it is the clone's head; with commits
    /// on top it stays.
    fn undo(&self, run: &Runner, step: &Step) -> Result<Vec<Undo>> {
        let p = run.package(step)?;
        let Some(commit) = run.trailer_commit(p)? else {
            return Ok(Vec::new());
        };
        let clone = Path::new(&p.clone);
        let repo = history::open(clone)?;
        if history::head(&repo)?.1 != commit {
            return Ok(vec![Undo::Kept(format!(
                "{}: the release commit {commit} has commits on top; left as it is",
                p.name
            ))]);
        }
        run_git(
            &run.caller,
            clone,
            &["reset", "-q", "--keep", "HEAD~1"].map(String::from),
        )?;
        Ok(vec![Undo::Undone(format!(
            "{}: removed the release commit {}",
            p.name,
            &commit.to_string()[..12]
        ))])
    }
}

fn commit_message(plan: &ReleasePlan, p: &PackageRelease) -> String {
    format!(
        "chore(release): {} {}\n\n{}\n\n{}\n",
        p.name,
        p.version,
        p.why,
        trailer(&plan.id)
    )
}
