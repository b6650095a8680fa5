//! `hpmctl group add|remove|list`: select and deselect a group's options
//! (a sync), or list them (read from the manifest).

use hpm_engine::ops;
use hpm_protocol::Change;

use super::Context;
use crate::failure::Failure;
use crate::render;

pub fn list(context: &Context) -> anyhow::Result<()> {
    let workspace = context.workspace()?;
    let groups = ops::group::list(&workspace).map_err(Failure::from)?;
    if context.json {
        return render::json(&groups);
    }
    render::out(&render::groups(&groups))
}

pub async fn select(
    context: &Context,
    group: String,
    option: String,
    select: bool,
) -> anyhow::Result<()> {
    let change = Change::Group {
        group,
        option,
        select,
    };
    super::change::apply(context, change, false).await
}
