//! Placeholder: being written.

use std::path::Path;

#[derive(Debug, clap::Args)]
pub struct GenLogsArgs {}

pub fn run(_root: &Path, _args: GenLogsArgs) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
