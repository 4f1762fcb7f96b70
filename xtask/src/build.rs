//! Placeholder until the reproducible build lands (branch `buildci`).

use crate::env::Architecture;
use std::path::{Path, PathBuf};

pub struct BuildOptions {
    pub architecture: Architecture,
}

impl BuildOptions {
    pub fn for_architecture(architecture: Architecture) -> Self {
        BuildOptions { architecture }
    }
}

pub struct BuiltZip {
    pub path: PathBuf,
}

pub fn build_lambda_zip(_root: &Path, _opts: &BuildOptions) -> anyhow::Result<BuiltZip> {
    anyhow::bail!("not yet: pass --code <zip>")
}
