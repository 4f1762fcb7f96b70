//! `cargo xtask test`: starts the local stack, then formatting, lints and
//! every test of the workspace against it, as CI runs them.

use crate::local;
use anyhow::Context as _;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Skips `cargo fmt --check` and `cargo clippy`.
    #[arg(long)]
    pub no_lint: bool,
    /// Extra arguments for `cargo test`, after `--`
    /// (e.g. `cargo xtask test -- -p processor -- --nocapture`).
    #[arg(last = true)]
    pub cargo_test_args: Vec<String>,
}

pub fn run(root: &Path, args: TestArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    banner("local stack");
    local::ensure_up(root).context("step `local stack` failed: the services did not start")?;

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    if !args.no_lint {
        step(
            root,
            "cargo fmt",
            Command::new(&cargo).args(["fmt", "--all", "--", "--check"]),
        )?;
        step(
            root,
            "cargo clippy",
            Command::new(&cargo).args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]),
        )?;
    }
    step(
        root,
        "cargo test",
        Command::new(&cargo)
            .args(["test", "--workspace"])
            .args(&args.cargo_test_args)
            .env("IRONMAN_OPENSEARCH_URL", local::OPENSEARCH_URL)
            .env("IRONMAN_MOTO_URL", local::MOTO_URL)
            .env("PATH", local::path_with_venv(root)?),
    )?;

    println!(
        "\nall steps passed in {:.0}s; the local stack is still running \
         (`cargo xtask local status`, `cargo xtask local down`)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn banner(name: &str) {
    println!("\n==> {name}");
}

/// Runs one step with its output streamed; an error names the step.
fn step(root: &Path, name: &str, cmd: &mut Command) -> anyhow::Result<()> {
    banner(name);
    let started = Instant::now();
    let status = cmd
        .current_dir(root)
        .status()
        .with_context(|| format!("step `{name}` could not start {:?}", cmd.get_program()))?;
    let secs = started.elapsed().as_secs_f64();
    if !status.success() {
        anyhow::bail!("step `{name}` failed ({status}) after {secs:.0}s");
    }
    println!("==> {name} passed ({secs:.0}s)");
    Ok(())
}
