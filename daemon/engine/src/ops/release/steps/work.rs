//! `CommitWork`: the package's uncommitted work (the files the plan
//! listed) committed first, with the message the user gave, carrying
//! [`work_trailer`] so a later run finds it done.

use super::{work_trailer, Effect, Observed, Runner, StepType};
use crate::error::{Error, Result};
use hpm_core::release::plan::Step;

pub struct CommitWork;

impl StepType for CommitWork {
    fn observe(&self, run: &Runner, step: &Step) -> Result<Observed> {
        let p = run.package(step)?;
        Ok(match run.work_commit(p)? {
            Some(_) => Observed::Done,
            None => Observed::Todo,
        })
    }

    fn effects(&self, run: &Runner, step: &Step) -> Result<Vec<Effect>> {
        let p = run.package(step)?;
        let mut add: Vec<String> = ["add", "--all", "--"].map(String::from).to_vec();
        add.extend(p.work.iter().cloned());
        let mut commit: Vec<String> = ["commit", "-q", "--only", "-F"].map(String::from).to_vec();
        commit.push(run.message_file(&p.name, "work").display().to_string());
        commit.push("--".into());
        commit.extend(p.work.iter().cloned());
        Ok(vec![
            Effect::Git {
                dir: p.clone.clone(),
                argv: add,
            },
            Effect::Git {
                dir: p.clone.clone(),
                argv: commit,
            },
        ])
    }

    fn apply(&self, run: &Runner, step: &Step, effects: &[Effect]) -> Result<()> {
        let p = run.package(step)?;
        let message = run
            .work_messages
            .get(&p.name)
            .ok_or_else(|| Error::internal(format!("no commit message for `{}`'s work", p.name)))?;
        let text = format!("{}\n\n{}\n", message.trim_end(), work_trailer(&run.plan.id));
        run.write_message(&p.name, "work", &text)?;
        run.perform(effects)
    }
}
