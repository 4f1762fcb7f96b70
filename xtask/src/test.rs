//! `cargo xtask test`: starts the local stack, then formatting, lints and
//! every test of the workspace against it, as CI runs them.

use crate::local;
use anyhow::Context as _;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Skips `cargo fmt --check`, `cargo clippy` and `actionlint`.
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

    if !args.no_lint {
        step(
            root,
            "cargo fmt",
            crate::cargo::cargo().args(["fmt", "--all", "--", "--check"]),
        )?;
        step(
            root,
            "cargo clippy",
            crate::cargo::cargo().args([
                "clippy",
                "--workspace",
                "--all-targets",
                // The criterion benches are behind this feature.
                "--features",
                "processor/bench",
                "--",
                "-D",
                "warnings",
            ]),
        )?;
        // The GitHub Actions workflows: expressions, job graph, action
        // inputs, runner labels, and their `run:` scripts with shellcheck.
        let mut actionlint = local::actionlint_command(root)
            .context("step `actionlint` failed: actionlint could not be installed")?;
        step(root, "actionlint", &mut actionlint)?;
    }
    let totals = test_step(
        root,
        crate::cargo::cargo()
            .args(["test", "--workspace"])
            .args(&args.cargo_test_args)
            .env("IRONMAN_OPENSEARCH_URL", local::OPENSEARCH_URL)
            .env("IRONMAN_MOTO_URL", local::MOTO_URL),
    )?;

    println!(
        "\nall steps passed in {:.0}s; the local stack is still running \
         (`cargo xtask local status`, `cargo xtask local down`)",
        started.elapsed().as_secs_f64()
    );
    // Last, so that the run closes on the totals.
    println!("{} passed, {} failed", totals.0, totals.1);
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

/// `cargo test` with its output streamed and its per-binary results added
/// up, so that the run ends on one line with the totals.
fn test_step(root: &Path, cmd: &mut Command) -> anyhow::Result<(u64, u64)> {
    use std::io::BufRead;
    banner("cargo test");
    let started = Instant::now();
    let mut child = cmd
        .current_dir(root)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("step `cargo test` could not start cargo")?;
    let stdout = child.stdout.take().expect("piped");
    let mut totals = (0u64, 0u64);
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.context("reading cargo test's output")?;
        println!("{line}");
        if let Some(rest) = line.strip_prefix("test result: ") {
            totals.0 += number_before(rest, " passed");
            totals.1 += number_before(rest, " failed");
        }
    }
    let status = child.wait()?;
    let secs = started.elapsed().as_secs_f64();
    if !status.success() {
        println!("{} passed, {} failed", totals.0, totals.1.max(1));
        anyhow::bail!("step `cargo test` failed ({status}) after {secs:.0}s");
    }
    println!("==> cargo test passed ({secs:.0}s)");
    Ok(totals)
}

/// `number_before("ok. 6 passed; 0 failed", " passed")` is 6.
fn number_before(text: &str, word: &str) -> u64 {
    text.find(word)
        .and_then(|end| {
            let start = text[..end]
                .rfind(|c: char| !c.is_ascii_digit())
                .map_or(0, |i| i + 1);
            text[start..end].parse().ok()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_cargo_test_result_lines() {
        let line =
            "ok. 6 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 7.05s";
        assert_eq!(super::number_before(line, " passed"), 6);
        assert_eq!(super::number_before(line, " failed"), 2);
        assert_eq!(super::number_before("nothing", " passed"), 0);
    }
}
