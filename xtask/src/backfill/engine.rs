//! The backfill itself: windows of every log group read page by page, each
//! page handed to the Lambda's handler as the deliveries a subscription
//! would make, a few windows in flight, each finished window recorded in
//! the checkpoint.

use super::checkpoint::{self, Checkpoint, Key};
use super::fetch::{Backoff, LogSource, PageRequest, Pager};
use super::payload::{self, Origin};
use super::period::Period;
use super::plan::{self, Coverage, Unit};
use super::progress::Tracker;
use crate::env::Environment;
use anyhow::Context as _;
use indicatif::ProgressBar;
use processor::counts::Counts;
use processor::handler::Handler;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long one delivery may take in the handler, retries included (the
/// Lambda's is its timeout; `replay` allows the same).
const DELIVERY_DEADLINE: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
pub struct Options {
    /// Deduplicated, in the order given.
    pub log_groups: Vec<String>,
    pub period: Period,
    pub window_minutes: u32,
    /// Windows in flight at once.
    pub jobs: usize,
    /// `FilterLogEvents` requests per second, at most.
    pub rate: f64,
    pub backoff: Backoff,
    /// Events per page (`None`: the API's default, 10,000).
    pub page_size: Option<i32>,
    pub checkpoint_dir: PathBuf,
    /// Forget the checkpoint and read everything.
    pub restart: bool,
    /// Stop (as an interruption would) once this many windows are read.
    pub stop_after_windows: Option<usize>,
}

impl Options {
    pub fn checkpoint_path(&self, env: &Environment) -> PathBuf {
        self.key(env).path_in(&self.checkpoint_dir)
    }

    fn key(&self, env: &Environment) -> Key {
        Key::new(&env.name, &self.log_groups, self.period)
    }
}

#[derive(Debug, Default)]
pub struct Report {
    /// The handler's counts, summed over every delivery.
    pub counts: Counts,
    pub pages: u64,
    /// Log events `FilterLogEvents` returned.
    pub events_read: u64,
    pub requests: u64,
    /// Requests throttled (or refused as unavailable) and sent again.
    pub retried: u64,
    pub windows_total: usize,
    /// Windows a previous run had read (from the checkpoint).
    pub windows_skipped: usize,
    pub windows_read: usize,
    /// Every window is read (the checkpoint is then deleted); false when
    /// `stop_after_windows` stopped the run.
    pub finished: bool,
    pub checkpoint: PathBuf,
}

/// What the windows in flight share.
struct Context {
    handler: Arc<Handler>,
    pager: Pager,
    origins: Vec<Origin>,
    filter_pattern: String,
    page_size: Option<i32>,
    tracker: Tracker,
}

#[derive(Default)]
struct WindowRead {
    counts: Counts,
    pages: u64,
    events: u64,
}

/// Backfills `options.period` of `options.log_groups` into `env`'s
/// OpenSearch through `handler`, reading from `source`.
pub async fn backfill(
    env: &Environment,
    handler: Arc<Handler>,
    source: Arc<dyn LogSource>,
    options: &Options,
    progress: &ProgressBar,
) -> anyhow::Result<Report> {
    let key = options.key(env);
    let path = key.path_in(&options.checkpoint_dir);
    if options.restart {
        checkpoint::remove(&path)?;
    }
    let mut checkpoint = checkpoint::load(&path, &key)?.unwrap_or_else(|| Checkpoint::new(&key));

    let window_ms = i64::from(options.window_minutes.max(1)) * 60_000;
    let windows = plan::windows(&options.period, window_ms);
    let units = plan::units(options.log_groups.len(), &windows);
    let mut coverage = Coverage::new(&units, &options.period);
    let mut to_read = Vec::new();
    for (index, unit) in units.iter().enumerate() {
        if checkpoint.is_done(&options.log_groups[unit.group], unit.window) {
            coverage.mark(index);
        } else {
            to_read.push(index);
        }
    }
    let mut report = Report {
        windows_total: units.len(),
        windows_skipped: units.len() - to_read.len(),
        checkpoint: path.clone(),
        ..Report::default()
    };

    let context = Arc::new(Context {
        handler,
        pager: Pager::new(source, options.rate, options.backoff),
        origins: options
            .log_groups
            .iter()
            .map(|group| Origin {
                owner: env.aws.account_id.clone(),
                log_group: group.clone(),
                subscription_filter: env.logs.subscription_filter.name.clone(),
            })
            .collect(),
        filter_pattern: env.logs.subscription_filter.pattern.clone(),
        page_size: options.page_size,
        tracker: Tracker::new(progress.clone(), to_read.len(), coverage.until()),
    });
    // A window that had not ended when the run began may still receive
    // events: it is read, but not recorded as done.
    let started_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(i64::MAX, |d| d.as_millis() as i64);

    let mut pending = to_read.into_iter();
    let mut tasks = tokio::task::JoinSet::new();
    let jobs = options.jobs.max(1);
    loop {
        while tasks.len() < jobs {
            let Some(index) = pending.next() else { break };
            let unit = units[index].clone();
            let context = context.clone();
            tasks.spawn(async move { (index, read_window(&context, &unit).await) });
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        let (index, outcome) = joined.context("a backfill task panicked")?;
        let unit = &units[index];
        let group = &options.log_groups[unit.group];
        let read = match outcome {
            Ok(read) => read,
            Err(error) => {
                tasks.abort_all();
                let done = report.windows_skipped + report.windows_read;
                let stopped = if done == 0 {
                    "the backfill stopped before it finished a window".to_string()
                } else {
                    format!(
                        "the backfill stopped: {done} of {} windows are read and recorded in {}; run the same command again to go on from there",
                        report.windows_total,
                        path.display()
                    )
                };
                return Err(error.context(stopped));
            }
        };
        if unit.window.end_ms <= started_ms {
            checkpoint.mark_done(group, unit.window);
            checkpoint::save(&path, &checkpoint)?;
        }
        coverage.mark(index);
        context.tracker.window_done(coverage.until());
        report.counts.add(&read.counts);
        report.pages += read.pages;
        report.events_read += read.events;
        report.windows_read += 1;
        if options
            .stop_after_windows
            .is_some_and(|n| report.windows_read >= n)
        {
            // As abrupt as an interruption: windows in flight stop where
            // they are, part written.
            tasks.abort_all();
            break;
        }
    }
    report.requests = context.pager.requests();
    report.retried = context.pager.retried();
    report.finished = report.windows_skipped + report.windows_read == report.windows_total;
    if report.finished {
        checkpoint::remove(&path)?;
    }
    Ok(report)
}

/// Every page of one window of one log group, through the handler.
async fn read_window(context: &Context, unit: &Unit) -> anyhow::Result<WindowRead> {
    let origin = &context.origins[unit.group];
    let mut request = PageRequest {
        log_group: origin.log_group.clone(),
        window: unit.window,
        filter_pattern: context.filter_pattern.clone(),
        next_token: None,
        limit: context.page_size,
    };
    let mut read = WindowRead::default();
    loop {
        let page = context.pager.page(&request).await.with_context(|| {
            format!(
                "reading log group `{}`, window {}",
                origin.log_group, unit.window
            )
        })?;
        for event in payload::lambda_events(origin, &page.events) {
            let counts = context
                .handler
                .handle(&event, Instant::now() + DELIVERY_DEADLINE)
                .await
                .map_err(anyhow::Error::new)
                .with_context(|| {
                    format!(
                        "writing the events of log group `{}`, window {}",
                        origin.log_group, unit.window
                    )
                })?;
            read.counts.add(&counts);
        }
        read.pages += 1;
        read.events += page.events.len() as u64;
        context.tracker.page(page.events.len());
        // The token is good only for this run (it expires): never stored.
        match page.next_token {
            Some(token) if !token.is_empty() => request.next_token = Some(token),
            _ => return Ok(read),
        }
    }
}
