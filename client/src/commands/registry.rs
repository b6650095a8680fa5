//! `hpmctl registry update`: fetch the git registries and move the pins.

use super::Context;
use crate::render;

pub async fn update(context: &Context) -> anyhow::Result<()> {
    let workspace = context.workspace()?;
    let updates = context.backend().await?.registry_update(&workspace).await?;
    if context.json {
        return render::json(&updates);
    }
    render::out(&render::registry_update(&updates))
}
