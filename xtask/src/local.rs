//! Placeholder: being written.

use std::path::Path;

#[derive(Debug, Clone, Copy, clap::Subcommand)]
pub enum Action {
    Up,
    Down,
    Status,
}

pub fn run(_root: &Path, _action: Action) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
