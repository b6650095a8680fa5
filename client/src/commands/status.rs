//! `hpmctl status`: the mode, and per package its mode, source, installed
//! version and clone state.

use super::Context;
use crate::render;

pub async fn run(context: &Context) -> anyhow::Result<()> {
    let workspace = context.workspace()?;
    let report = context.backend().await?.status(&workspace).await?;
    if context.json {
        return render::json(&report);
    }
    render::out(&render::status(&report))
}
