//! The progress bar: windows read of those to read (the time left follows
//! from them), and events, pages, the period covered and the rate.

use super::period::fmt_ms;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub fn style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{spinner} backfill [{bar:30}] {pos}/{len} windows, {msg}, {elapsed} (eta {eta})",
    )
    .expect("valid template")
    .progress_chars("=> ")
}

/// Shared by the windows in flight: each reports its pages as they come.
pub struct Tracker {
    bar: ProgressBar,
    started: Instant,
    events: AtomicU64,
    pages: AtomicU64,
    covered_until: AtomicI64,
}

impl Tracker {
    pub fn new(bar: ProgressBar, windows_to_read: usize, covered_until: i64) -> Tracker {
        bar.set_length(windows_to_read as u64);
        bar.set_position(0);
        bar.reset_eta();
        let tracker = Tracker {
            bar,
            started: Instant::now(),
            events: AtomicU64::new(0),
            pages: AtomicU64::new(0),
            covered_until: AtomicI64::new(covered_until),
        };
        tracker.refresh();
        tracker
    }

    pub fn page(&self, events: usize) {
        self.events.fetch_add(events as u64, Ordering::Relaxed);
        self.pages.fetch_add(1, Ordering::Relaxed);
        self.refresh();
    }

    pub fn window_done(&self, covered_until: i64) {
        self.covered_until.store(covered_until, Ordering::Relaxed);
        self.bar.inc(1);
        self.refresh();
    }

    fn refresh(&self) {
        self.bar.set_message(message(
            self.events.load(Ordering::Relaxed),
            self.pages.load(Ordering::Relaxed),
            self.covered_until.load(Ordering::Relaxed),
            self.started.elapsed(),
        ));
    }
}

/// `1200 events in 3 pages, covered to 2026-12-01T05:00:00Z, 400 events/s`.
pub fn message(events: u64, pages: u64, covered_until: i64, elapsed: Duration) -> String {
    let rate = events as f64 / elapsed.as_secs_f64().max(1e-3);
    format!(
        "{events} events in {pages} pages, covered to {}, {rate:.0} events/s",
        fmt_ms(covered_until)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_says_events_pages_coverage_and_rate() {
        assert_eq!(
            message(1200, 3, 1_796_101_200_000, Duration::from_secs(3)),
            "1200 events in 3 pages, covered to 2026-12-01T05:00:00Z, 400 events/s"
        );
        // No division by zero at the very start.
        assert!(message(0, 0, 0, Duration::ZERO).ends_with(" 0 events/s"));
    }
}
