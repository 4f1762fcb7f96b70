//! Placeholder: being written.

use std::path::Path;

#[derive(Debug, clap::Args)]
pub struct DeployArgs {}

pub fn run(_root: &Path, _args: DeployArgs) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
