//! `hpmctl init`: a starting manifest and registry folder.

use hpm_engine::ops;

use super::Context;
use crate::failure::Failure;

fn run(context: &Context) -> anyhow::Result<()> {
    let manifest = ops::init::init(context.folder()).map_err(Failure::from)?;
    eprintln!(
        "wrote {} and {}/; add packages and run `hpmctl sync`",
        manifest.display(),
        ops::init::REGISTRY_FOLDER
    );
    Ok(())
}

/// Write an hpm.yaml and an empty registry folder for an existing project.
#[derive(Debug, clap::Args)]
pub struct Args {}

impl Args {
    pub fn exec(self, context: &Context) -> anyhow::Result<()> {
        run(context)
    }
}
