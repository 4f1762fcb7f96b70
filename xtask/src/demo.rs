//! Placeholder: being written.

use std::path::Path;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {}

pub fn run(_root: &Path, _args: DemoArgs) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
