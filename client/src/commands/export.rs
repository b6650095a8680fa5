//! `hpmctl export MODE`: `MODE/pyproject.toml` and `MODE/uv.lock` for a
//! machine without hpm (`uv sync --project MODE --frozen`).

use std::path::PathBuf;

use hpm_core::Mode;
use hpm_protocol::codes;
use hpm_protocol::report::ExportRequest;

use super::Context;
use crate::failure::Failure;
use crate::render;

pub async fn run(
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
