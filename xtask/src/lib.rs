//! The library behind `cargo xtask`; the integration tests use it too.

use std::path::{Path, PathBuf};

pub mod aws;
pub mod backfill;
pub mod bench;
pub mod build;
pub mod cargo;
pub mod dashboards;
pub mod demo;
pub mod deploy;
pub mod engine;
pub mod env;
pub mod fuzz;
pub mod genlogs;
pub mod local;
pub mod mappings;
pub mod metrics;
pub mod pgo;
pub mod replay;
pub mod report;
pub mod test;

/// The workspace root (the directory holding `Cargo.toml`, `infra/`, ...).
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}
