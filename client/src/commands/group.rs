//! `hpmctl group add|remove|list`: select and deselect a group's options
//! (a sync), or list them (read from the manifest, by the daemon or
//! in-process as any read).

use hpm_protocol::Change;

use super::Context;
use crate::render;

async fn list(context: &Context) -> anyhow::Result<()> {
    let workspace = context.workspace()?;
    let groups = context.backend().await?.group_list(&workspace).await?;
    if context.json {
        return render::json(&groups);
    }
    render::out(&render::groups(&groups))
}

async fn select(
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

/// Plugin groups: select, deselect, list.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Select an option (an exclusive group's selection is replaced) and sync.
    Add {
        group: String,
        #[arg(long)]
        option: String,
    },
    /// Deselect an option and sync.
    Remove {
        group: String,
        #[arg(long)]
        option: String,
    },
    /// Each group with its options, the selected ones marked.
    List,
}

impl Args {
    /// Whether it changes the environment (`--dry-run` applies).
    pub fn changes(&self) -> bool {
        !matches!(self.action, Action::List)
    }

    pub async fn exec(self, context: &Context) -> anyhow::Result<()> {
        match self.action {
            Action::List => list(context).await,
            Action::Add { group, option } => select(context, group, option, true).await,
            Action::Remove { group, option } => select(context, group, option, false).await,
        }
    }
}
