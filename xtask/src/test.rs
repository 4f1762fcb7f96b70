//! Placeholder: being written.

use std::path::Path;

#[derive(Debug, clap::Args)]
pub struct TestArgs {}

pub fn run(_root: &Path, _args: TestArgs) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
