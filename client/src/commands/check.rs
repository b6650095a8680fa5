//! `hpmctl check`: CI's checks; a failed check exits 1.

use hpm_protocol::codes;

use super::Context;
use crate::failure::Failure;
use crate::render;

pub async fn run(context: &Context) -> anyhow::Result<()> {
    let workspace = context.workspace()?;
    let report = context.backend().await?.check(&workspace).await?;
    let rendered = render::check(&report);
    if context.json {
        render::json(&report)?;
    }
    match rendered {
        Ok(ok) if !context.json => render::out(&ok),
        Ok(_) => Ok(()),
        Err(failures) => Err(Failure::user(codes::INVALID_INPUT, failures, None).into()),
    }
}
