//! `Push`: the branch and the tag pushed together (`--atomic`). Done when
//! the remote has the tag at the release commit and its branch contains
//! it; the tag elsewhere on the remote is a conflict (public tags never
//! move).

use std::path::Path;

use hpm_core::release::plan::Step;

use super::{remote_refs, Effect, Observed, Runner, StepType, Undo};
use crate::error::Result;
use crate::git::history;

pub struct Push;

impl StepType for Push {
    fn observe(&self, run: &Runner, step: &Step) -> Result<Observed> {
        let p = run.package(step)?;
        let refs = remote_refs(&run.caller, &p.remote)?;
        let repo = history::open(Path::new(&p.clone))?;
        let peeled = refs
            .get(&format!("refs/tags/{}^{{}}", p.tag))
            .or_else(|| refs.get(&format!("refs/tags/{}", p.tag)));
        let Some(peeled) = peeled else {
            return Ok(Observed::Todo);
        };
        Ok(match run.release_commit(p)? {
            Some(target) if *peeled == target => {
                let branch = refs.get(&format!("refs/heads/{}", p.branch));
                match branch {
                    Some(tip) if history::contains(&repo, *tip, target) => Observed::Done,
                    _ => Observed::Todo,
                }
            }
            _ => Observed::Conflict(format!(
                "the tag `{}` is on `{}` at {peeled}, which is not this release's commit; hpm never moves or deletes a public tag",
                p.tag, p.remote
            )),
        })
    }

    fn effects(&self, run: &Runner, step: &Step) -> Result<Vec<Effect>> {
        let p = run.package(step)?;
        let argv = vec![
            "push".to_string(),
            "--atomic".into(),
            "--porcelain".into(),
            "origin".into(),
            format!("refs/heads/{0}:refs/heads/{0}", p.branch),
            format!("refs/tags/{0}:refs/tags/{0}", p.tag),
        ];
        Ok(vec![Effect::Git {
            dir: p.clone.clone(),
            argv,
        }])
    }

    fn apply(&self, run: &Runner, _step: &Step, effects: &[Effect]) -> Result<()> {
        run.perform(effects)
    }

    fn undo(&self, run: &Runner, step: &Step) -> Result<Vec<Undo>> {
        let p = run.package(step)?;
        Ok(match self.observe(run, step)? {
            Observed::Done => vec![Undo::Public(format!("{}: {} is pushed", p.name, p.tag))],
            _ => Vec::new(),
        })
    }
}
