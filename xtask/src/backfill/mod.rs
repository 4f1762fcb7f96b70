//! `cargo xtask backfill --env E --from DAY --to DAY`: reads a period of the
//! environment's application log groups through `FilterLogEvents` and runs
//! it through the Lambda's own handler, rules and sink into the
//! environment's OpenSearch (docs/backfill.md).
//!
//! - [`period`]: `--from` / `--to`;
//! - [`plan`]: the period in windows per log group;
//! - [`checkpoint`]: which windows are read, for a resumed run;
//! - [`fetch`]: `FilterLogEvents` page by page, rate-limited, retried;
//! - [`payload`]: a page as the Lambda events a subscription delivers;
//! - [`engine`]: the loop over windows; [`progress`]: the bar.

pub mod checkpoint;
pub mod engine;
pub mod fetch;
pub mod payload;
pub mod period;
pub mod plan;
pub mod progress;

pub use engine::{Options, Report, backfill};
pub use period::Period;

use crate::env::Environment;
use anyhow::bail;
use indicatif::ProgressBar;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct BackfillArgs {
    /// The environment (`infra/environments/<env>.yaml`).
    #[arg(long, value_name = "NAME")]
    pub env: String,
    /// First UTC day (YYYY-MM-DD, from its midnight) or instant (RFC 3339).
    #[arg(long, value_name = "DAY|RFC3339")]
    pub from: String,
    /// Last UTC day (YYYY-MM-DD, included whole) or the first instant left out (RFC 3339).
    #[arg(long, value_name = "DAY|RFC3339")]
    pub to: String,
    /// A log group to read (repeatable) [default: all of `logs.log_groups`].
    #[arg(long = "log-group", value_name = "G")]
    pub log_groups: Vec<String>,
    /// FilterLogEvents requests per second, at most (the API allows 25 per account and region in most regions, for everyone there).
    #[arg(long, value_name = "PER_SECOND", default_value_t = fetch::DEFAULT_RATE)]
    pub rate: f64,
    /// Windows read at once.
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
    /// Length of a window, the unit of the checkpoint: a resumed run reads at most the windows in flight again.
    #[arg(long, value_name = "MINUTES", default_value_t = plan::DEFAULT_WINDOW_MINUTES)]
    pub window_minutes: u32,
    /// Forget what an interrupted run of the same backfill recorded and read the whole period.
    #[arg(long)]
    pub restart: bool,
    /// The pipeline rules (default: infra/pipeline.yaml).
    #[arg(long)]
    pub pipeline: Option<PathBuf>,
    /// Tests: stop like an interruption once N windows are read.
    #[arg(long, value_name = "N", hide = true)]
    pub stop_after_windows: Option<usize>,
}

/// Where checkpoints live: the checkout's `target/`, which git ignores.
pub fn checkpoint_dir(root: &Path) -> PathBuf {
    root.join("target").join("backfill")
}

/// The log groups to read: `--log-group`s (each one of the environment's,
/// so that a typo fails instead of reading nothing), or all of them.
pub fn select_log_groups(env: &Environment, given: &[String]) -> anyhow::Result<Vec<String>> {
    let known = &env.logs.log_groups;
    if given.is_empty() {
        return Ok(known.clone());
    }
    let mut groups: Vec<String> = Vec::new();
    for group in given {
        if !known.contains(group) {
            bail!(
                "--log-group `{group}` is not one of `logs.log_groups` in {} ({})",
                env.source.display(),
                known.join(", ")
            );
        }
        if !groups.contains(group) {
            groups.push(group.clone());
        }
    }
    Ok(groups)
}

/// The options of a command line, checked.
pub fn options(root: &Path, env: &Environment, args: &BackfillArgs) -> anyhow::Result<Options> {
    let period = Period::parse(&args.from, &args.to)?;
    if !(args.rate.is_finite() && args.rate > 0.0) {
        bail!("--rate {}: must be a positive number", args.rate);
    }
    if args.jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    if args.window_minutes == 0 {
        bail!("--window-minutes must be at least 1");
    }
    if args.stop_after_windows == Some(0) {
        bail!("--stop-after-windows must be at least 1");
    }
    Ok(Options {
        log_groups: select_log_groups(env, &args.log_groups)?,
        period,
        window_minutes: args.window_minutes,
        jobs: args.jobs,
        rate: args.rate,
        backoff: fetch::Backoff::default(),
        page_size: None,
        checkpoint_dir: checkpoint_dir(root),
        restart: args.restart,
        stop_after_windows: args.stop_after_windows,
    })
}

pub fn run(root: &Path, args: BackfillArgs) -> anyhow::Result<()> {
    let env = crate::aws::load_with_endpoint(root, &args.env)?;
    let options = options(root, &env, &args)?;
    if options.rate > 25.0 {
        eprintln!(
            "warning: --rate {} is above FilterLogEvents' usual quota of 25 per second: expect throttling (it is retried)",
            options.rate
        );
    }
    let handler = Arc::new(crate::replay::handler_for(
        root,
        &env,
        args.pipeline.as_deref(),
    )?);
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(crate::replay::require_reachable(&env))?;
    let aws = runtime.block_on(crate::aws::AwsClients::new(&env))?;
    let source = Arc::new(fetch::CloudWatchLogs::new(aws.logs.clone()));
    let checkpoint = options.checkpoint_path(&env);
    println!(
        "backfilling {} over {} from {} into {} ({})",
        options.log_groups.join(", "),
        options.period,
        aws.target,
        env.name,
        env.opensearch_endpoint()?
    );
    let progress = ProgressBar::new(0);
    progress.set_style(progress::style());
    let started = Instant::now();
    let outcome = runtime.block_on(async {
        tokio::select! {
            report = backfill(&env, handler, source, &options, &progress) => Some(report),
            _ = tokio::signal::ctrl_c() => None,
        }
    });
    progress.finish_and_clear();
    let Some(report) = outcome else {
        bail!(
            "interrupted: the windows read so far are recorded in {}; run the same command again to go on from there (--restart to start over)",
            checkpoint.display()
        );
    };
    let report = report?;
    print_report(&env, &options, &report, started.elapsed().as_secs_f64());
    if let Err(error) = runtime.block_on(crate::replay::make_searchable(&env)) {
        eprintln!(
            "warning: {error:#}; the last writes become searchable within the indices' refresh_interval"
        );
    }
    if !report.finished {
        bail!(
            "stopped after {} windows as --stop-after-windows asked; they are recorded in {}: run again without it to go on",
            report.windows_read,
            report.checkpoint.display()
        );
    }
    Ok(())
}

fn print_report(env: &Environment, options: &Options, report: &Report, seconds: f64) {
    println!(
        "backfilled {} into {} in {seconds:.1}s",
        options.period, env.name
    );
    println!("log groups          {}", options.log_groups.join(", "));
    println!(
        "windows             {:>10} read, {} done before, of {} ({} min each)",
        report.windows_read, report.windows_skipped, report.windows_total, options.window_minutes
    );
    println!(
        "FilterLogEvents     {:>10} requests, {} pages, {} log events, {} retried after throttling",
        report.requests, report.pages, report.events_read, report.retried
    );
    crate::replay::print_counts(&report.counts);
    if report.counts.dead_lettered > 0 {
        println!(
            "dead letters: query `{}` for the reasons",
            env.indices().dead_letters
        );
    }
    if report.finished {
        println!("checkpoint          every window read; none kept");
    } else {
        println!("checkpoint          {}", report.checkpoint.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: BackfillArgs,
    }

    fn env() -> Environment {
        let mut env = Environment::load(&crate::project_root(), "local").unwrap();
        env.logs.log_groups = vec!["/a/app".into(), "/b/app".into()];
        env
    }

    fn parse(extra: &[&str]) -> anyhow::Result<Options> {
        let mut argv = vec![
            "backfill",
            "--env",
            "local",
            "--from",
            "2026-12-01",
            "--to",
            "2026-12-02",
        ];
        argv.extend_from_slice(extra);
        let cli = Cli::try_parse_from(argv)?;
        options(Path::new("/repo"), &env(), &cli.args)
    }

    #[test]
    fn defaults_read_every_log_group_within_the_api_quota() {
        let o = parse(&[]).unwrap();
        assert_eq!(o.log_groups, ["/a/app", "/b/app"]);
        assert_eq!(o.rate, 10.0);
        assert!(o.rate < 25.0);
        assert_eq!((o.jobs, o.window_minutes), (4, 60));
        assert_eq!(o.checkpoint_dir, Path::new("/repo/target/backfill"));
        assert!(!o.restart);
        assert_eq!(o.stop_after_windows, None);
        assert_eq!(o.period.duration_ms(), 2 * 86_400_000);
    }

    #[test]
    fn log_groups_are_checked_against_the_environment() {
        let o = parse(&["--log-group", "/b/app", "--log-group", "/b/app"]).unwrap();
        assert_eq!(o.log_groups, ["/b/app"]);
        let err = parse(&["--log-group", "/c/app"]).unwrap_err().to_string();
        assert!(err.starts_with("--log-group `/c/app`"), "{err}");
        assert!(err.contains("/a/app, /b/app"), "{err}");
    }

    #[test]
    fn bad_flags_are_named() {
        for (flags, named) in [
            (&["--rate", "0"][..], "--rate"),
            (&["--rate", "NaN"][..], "--rate"),
            (&["--jobs", "0"][..], "--jobs"),
            (&["--window-minutes", "0"][..], "--window-minutes"),
            (&["--stop-after-windows", "0"][..], "--stop-after-windows"),
        ] {
            let err = parse(flags).unwrap_err().to_string();
            assert!(err.contains(named), "{flags:?}: {err}");
        }
        let cli = Cli::try_parse_from([
            "backfill",
            "--env",
            "local",
            "--from",
            "2026-12-02",
            "--to",
            "2026-12-01",
        ])
        .unwrap();
        let err = options(Path::new("/repo"), &env(), &cli.args)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--from 2026-12-02") && err.contains("--to 2026-12-01"),
            "{err}"
        );
    }
}
