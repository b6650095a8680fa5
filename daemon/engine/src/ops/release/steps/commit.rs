//! `Commit`: the release commit (the version file, the relocked
//! `uv.lock`, the plan's extra files), carrying [`trailer`] so a later
//! run finds it.

use hpm_core::release::plan::{PackageRelease, ReleasePlan, Step};

use super::{commit_files, trailer, Effect, Observed, Runner, StepType};
use crate::error::Result;

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
