//! `Tag`: the annotated tag on the release commit, its message the
//! package's notes. hpm never moves a tag: one elsewhere is a conflict.

use std::path::Path;

use hpm_core::release::plan::Step;

use super::{run_git, Effect, Observed, Runner, StepType, Undo};
use crate::error::Result;
use crate::git::history;

pub struct Tag;

impl StepType for Tag {
    fn observe(&self, run: &Runner, step: &Step) -> Result<Observed> {
        let p = run.package(step)?;
        let repo = history::open(Path::new(&p.clone))?;
        let target = run.release_commit(p)?;
        Ok(match (history::tag_commit(&repo, &p.tag), target) {
            (Some(at), Some(target)) if at == target => Observed::Done,
            (Some(at), _) => Observed::Conflict(format!(
                "the tag `{}` exists in `{}` at {at}, not at the release commit; hpm never moves a tag",
                p.tag, p.clone
            )),
            (None, _) => Observed::Todo,
        })
    }

    fn effects(&self, run: &Runner, step: &Step) -> Result<Vec<Effect>> {
        let p = run.package(step)?;
        // The name after `--`: never read as an option, whatever
        // `release.tag_prefix` made of it.
        let argv = vec![
            "tag".to_string(),
            "-a".into(),
            "--cleanup=verbatim".into(),
            "-F".into(),
            run.message_file(&p.name, "tag").display().to_string(),
            "--".into(),
            p.tag.clone(),
            "HEAD".into(),
        ];
        Ok(vec![Effect::Git {
            dir: p.clone.clone(),
            argv,
        }])
    }

    fn apply(&self, run: &Runner, step: &Step, effects: &[Effect]) -> Result<()> {
        let p = run.package(step)?;
        let notes = run.notes.get(&p.name).cloned().unwrap_or_default();
        run.write_message(&p.name, "tag", &notes)?;
        run.perform(effects)
    }

    /// The local tag goes when it is on this release's commit.
    fn undo(&self, run: &Runner, step: &Step) -> Result<Vec<Undo>> {
        let p = run.package(step)?;
        let repo = history::open(Path::new(&p.clone))?;
        let ours = run.trailer_commit(p)?;
        if ours.is_none() || history::tag_commit(&repo, &p.tag) != ours {
            return Ok(Vec::new());
        }
        run_git(
            &run.caller,
            Path::new(&p.clone),
            &["tag", "-d", "--", &p.tag].map(String::from),
        )?;
        Ok(vec![Undo::Undone(format!(
            "{}: deleted the local tag {}",
            p.name, p.tag
        ))])
    }
}
