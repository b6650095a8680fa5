//! `hpmctl export MODE`: `MODE/pyproject.toml` and `MODE/uv.lock` for a
//! machine without hpm (`uv sync --project MODE --frozen`).

use std::path::PathBuf;

use hpm_core::Mode;
use hpm_protocol::codes;
use hpm_protocol::report::ExportRequest;

use super::Context;
use crate::failure::Failure;
use crate::render;

async fn run(
    context: &Context,
    mode: &str,
    out: Option<PathBuf>,
    with_core: bool,
    force: bool,
) -> anyhow::Result<()> {
    let workspace = context.workspace()?;
    let mode = Mode::new(mode).map_err(|e| Failure::user(codes::INVALID_INPUT, e, None))?;
    let request = ExportRequest {
        mode,
        out,
        with_core,
        force,
        dry_run: context.dry_run,
    };
    let report = context.backend().await?.export(&workspace, request).await?;
    if context.json {
        return render::json(&report);
    }
    render::out(&render::export(&report, context.dry_run))
}

/// Write MODE/pyproject.toml and MODE/uv.lock: the core with every managed package pinned to MODE, for `uv sync --frozen` without hpm.
#[derive(Debug, clap::Args)]
pub struct Args {
    mode: String,
    /// The folder to write into (default: MODE/ in the workspace).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Include the core project itself (by its folder).
    #[arg(long)]
    with_core: bool,
    /// Replace a pyproject.toml there that hpm did not write (saved under .hpm/backup/).
    #[arg(long)]
    force: bool,
}

impl Args {
    pub async fn exec(self, context: &Context) -> anyhow::Result<()> {
        run(context, &self.mode, self.out, self.with_core, self.force).await
    }
}
