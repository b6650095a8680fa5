//! `Draft` and `Publish`: the forge release, made as a draft (its body
//! carrying the hidden marker hpm finds it by again), then published.
//! A release for the tag that hpm did not make is a conflict: hpm never
//! replaces it.

use hpm_core::manifest::ForgeKind;
use hpm_core::release::notes::marker;
use hpm_core::release::plan::Step;
use hpm_core::release::versions::ReleaseKind;
use serde_json::json;

use super::{Effect, Observed, Runner, StepType, Undo};
use crate::error::{Error, Result};
use crate::ops::release::forge::Forge;

pub struct Draft;

pub struct Publish;

/// Both steps find the release by its marker: a draft is done once it
/// exists, a publish once it is no longer a draft.
fn observe(run: &Runner, step: &Step, published: bool) -> Result<Observed> {
    let p = run.package(step)?;
    let releases = run.forge(p)?.list()?;
    let mark = marker(&run.plan.id, &p.name);
    let ours = releases
        .iter()
        .find(|r| r.body.as_deref().is_some_and(|b| b.contains(&mark)));
    Ok(match ours {
        Some(found) if !published || !found.draft => Observed::Done,
        Some(_) => Observed::Todo,
        None => match releases.iter().find(|r| r.tag_name == p.tag) {
            Some(other) => Observed::Conflict(format!(
                "a release for `{}` exists on the forge (id {}) that this release did not make",
                p.tag, other.id
            )),
            None => Observed::Todo,
        },
    })
}

impl StepType for Draft {
    fn observe(&self, run: &Runner, step: &Step) -> Result<Observed> {
        observe(run, step, false)
    }

    fn effects(&self, run: &Runner, step: &Step) -> Result<Vec<Effect>> {
        let p = run.package(step)?;
        Ok(vec![Effect::Http {
            method: "POST".into(),
            url: Forge::releases_url(run.plan.forge, run.api()?, &p.forge_repo),
            body: json!({
                "tag_name": p.tag,
                "name": format!("{} {}", p.name, p.version),
                "body": run.forge_body(p),
                "draft": true,
                "prerelease": run.plan.kind == ReleaseKind::Staging,
            }),
        }])
    }

    fn apply(&self, run: &Runner, step: &Step, effects: &[Effect]) -> Result<()> {
        let p = run.package(step)?;
        let forge = run.forge(p)?;
        let mark = marker(&run.plan.id, &p.name);
        for effect in effects {
            if let Effect::Http { body, .. } = effect {
                if forge.create(body, &mark)?.is_none() && forge.find(&mark)?.is_none() {
                    return Err(Error::Refused {
                        message: format!("the forge already has a release for `{}` that this release did not make", p.tag),
                        hint: Some("look at it on the forge; hpm never replaces a release it did not make".to_string()),
                    });
                }
            }
        }
        Ok(())
    }

    /// A draft is deleted; a published release stays.
    fn undo(&self, run: &Runner, step: &Step) -> Result<Vec<Undo>> {
        let p = run.package(step)?;
        // Without a token there is no draft of hpm's to find either.
        let Ok(forge) = run.forge(p) else {
            return Ok(Vec::new());
        };
        Ok(match forge.find(&marker(&run.plan.id, &p.name))? {
            Some(found) if found.draft => {
                forge.delete(found.id)?;
                vec![Undo::Undone(format!(
                    "{}: deleted the draft release of {}",
                    p.name, p.tag
                ))]
            }
            Some(_) => vec![Undo::Kept(format!(
                "{}: the release of {} is published",
                p.name, p.tag
            ))],
            None => Vec::new(),
        })
    }
}

impl StepType for Publish {
    fn observe(&self, run: &Runner, step: &Step) -> Result<Observed> {
        observe(run, step, true)
    }

    fn effects(&self, run: &Runner, step: &Step) -> Result<Vec<Effect>> {
        let p = run.package(step)?;
        let mut body = json!({ "draft": false });
        if run.plan.forge == ForgeKind::Github {
            body["make_latest"] = json!(if run.makes_latest(p)? {
                "true"
            } else {
                "false"
            });
        }
        Ok(vec![Effect::Http {
            method: "PATCH".into(),
            url: format!(
                "{}/{{id of the draft}}",
                Forge::releases_url(run.plan.forge, run.api()?, &p.forge_repo)
            ),
            body,
        }])
    }

    fn apply(&self, run: &Runner, step: &Step, effects: &[Effect]) -> Result<()> {
        let p = run.package(step)?;
        let forge = run.forge(p)?;
        let Some(draft) = forge.find(&marker(&run.plan.id, &p.name))? else {
            return Err(Error::internal(format!(
                "the draft release of `{}` is not on the forge",
                p.tag
            )));
        };
        for effect in effects {
            if let Effect::Http { body, .. } = effect {
                forge.update(draft.id, body)?;
            }
        }
        Ok(())
    }
}
