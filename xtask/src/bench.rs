//! Placeholder: being written.

use std::path::Path;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {}

pub fn run(_root: &Path, _args: BenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
