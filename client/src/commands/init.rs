//! `hpmctl init`: a starting manifest and registry folder.

use hpm_engine::ops;

use super::Context;
use crate::failure::Failure;

pub fn run(context: &Context) -> anyhow::Result<()> {
    let manifest = ops::init::init(context.folder()).map_err(Failure::from)?;
    eprintln!(
        "wrote {} and {}/; add packages and run `hpmctl sync`",
        manifest.display(),
        ops::init::REGISTRY_FOLDER
    );
    Ok(())
}
