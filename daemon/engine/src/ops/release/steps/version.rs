//! `SetVersion`: the new version written into the package's version file
//! (and its `uv.lock` relocked when the plan says so).

use std::path::Path;

use hpm_core::release::plan::Step;
use hpm_core::release::version_file::{read_version, set_version};
use hpm_core::Problem;

use super::{Effect, Observed, Runner, StepType, Undo};
use crate::error::{Error, Result};
use crate::fsutil::{read_text, write_through};
use crate::process::{CancelToken, RunOptions};

pub struct SetVersion;

impl StepType for SetVersion {
    fn observe(&self, run: &Runner, step: &Step) -> Result<Observed> {
        let p = run.package(step)?;
        if run.release_commit(p)?.is_some() {
            return Ok(Observed::Done);
        }
        let path = Path::new(&p.clone).join(&p.version_file);
        let text = read_text(&path).map_err(|e| Error::read(&path, e))?;
        Ok(match read_version(&p.version_file, &text) {
            Some(v) if v == p.version => Observed::Done,
            Some(v) if v == p.current_version => Observed::Todo,
            other => Observed::Conflict(format!(
                "`{}` holds version {} now, neither the plan's {} nor {}",
                path.display(),
                other.unwrap_or_else(|| "(none)".into()),
                p.current_version,
                p.version
            )),
        })
    }

    fn effects(&self, run: &Runner, step: &Step) -> Result<Vec<Effect>> {
        let p = run.package(step)?;
        let path = Path::new(&p.clone).join(&p.version_file);
        let text = read_text(&path).map_err(|e| Error::read(&path, e))?;
        let new = set_version(&p.version_file, &text, &p.version)
            .map_err(|e| Error::invalid(Problem::new(e).in_file(&path).for_package(&p.name)))?;
        let mut effects = vec![Effect::Write {
            path: path.display().to_string(),
            diff: hpm_core::diff::unified(&p.version_file, &text, &new),
        }];
        if p.relock {
            effects.push(Effect::Uv {
                dir: p.clone.clone(),
                argv: vec!["lock".into()],
            });
        }
        Ok(effects)
    }

    fn apply(&self, run: &Runner, step: &Step, _effects: &[Effect]) -> Result<()> {
        let p = run.package(step)?;
        let path = Path::new(&p.clone).join(&p.version_file);
        let text = read_text(&path).map_err(|e| Error::read(&path, e))?;
        let new = set_version(&p.version_file, &text, &p.version)
            .map_err(|e| Error::invalid(Problem::new(e).in_file(&path)))?;
        write_through(&path, new.as_bytes()).map_err(|e| Error::write(&path, e))?;
        if p.relock {
            let uv = crate::uv::Uv::for_caller(&run.caller)?;
            uv.run(
                Path::new(&p.clone),
                &["lock".to_string()],
                &RunOptions::for_caller(&run.caller),
                &mut |_| {},
                &CancelToken::new(),
            )?;
        }
        Ok(())
    }

    /// A version written but not committed goes back.
    fn undo(&self, run: &Runner, step: &Step) -> Result<Vec<Undo>> {
        let p = run.package(step)?;
        let path = Path::new(&p.clone).join(&p.version_file);
        let Ok(text) = read_text(&path) else {
            return Ok(Vec::new());
        };
        let written = read_version(&p.version_file, &text).as_deref() == Some(p.version.as_str());
        if !written || p.current_version == p.version {
            return Ok(Vec::new());
        }
        let Ok(back) = set_version(&p.version_file, &text, &p.current_version) else {
            return Ok(Vec::new());
        };
        write_through(&path, back.as_bytes()).map_err(|e| Error::write(&path, e))?;
        Ok(vec![Undo::Undone(format!(
            "{}: {} back to {}",
            p.name, p.version_file, p.current_version
        ))])
    }
}
