//! Placeholder: being written.

use std::path::Path;

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {}

pub fn run(_root: &Path, _args: ReplayArgs) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
