//! The period cut into fixed windows per log group: the unit of work, of
//! progress and of the checkpoint (a resumed run redoes at most the windows
//! that were in flight).

use super::period::{Period, fmt_ms};

/// One hour: small enough that redoing one costs little, large enough that
/// months make a few thousand windows (a few thousand checkpoint writes).
pub const DEFAULT_WINDOW_MINUTES: u32 = 60;

/// The half-open `[start_ms, end_ms)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Window {
    pub start_ms: i64,
    pub end_ms: i64,
}

impl Window {
    pub fn duration_ms(&self) -> i64 {
        self.end_ms - self.start_ms
    }
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}, {})", fmt_ms(self.start_ms), fmt_ms(self.end_ms))
    }
}

/// The period in windows of `window_ms`, on multiples of `window_ms` since
/// the epoch (whole hours by default), the first and last cut to the
/// period.
pub fn windows(period: &Period, window_ms: i64) -> Vec<Window> {
    assert!(window_ms > 0, "a window lasts some time");
    let mut out = Vec::new();
    let mut start = period.from_ms;
    while start < period.to_ms {
        let boundary = (start.div_euclid(window_ms) + 1) * window_ms;
        let end = boundary.min(period.to_ms);
        out.push(Window {
            start_ms: start,
            end_ms: end,
        });
        start = end;
    }
    out
}

/// One window of one log group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// Index into the log groups.
    pub group: usize,
    pub window: Window,
}

/// Every window of every group in time order, the groups of one window
/// together, so that what is done is a prefix of the period ("covered up
/// to") rather than one group finished and the next not begun.
pub fn units(groups: usize, windows: &[Window]) -> Vec<Unit> {
    windows
        .iter()
        .flat_map(|&window| (0..groups).map(move |group| Unit { group, window }))
        .collect()
}

/// How far the done units reach, in schedule order: everything before
/// [`Coverage::until`] is read for every group. Units finish out of order
/// (several are in flight), so this is the start of the first one not done.
pub struct Coverage {
    starts: Vec<i64>,
    done: Vec<bool>,
    first_not_done: usize,
    end_ms: i64,
}

impl Coverage {
    pub fn new(units: &[Unit], period: &Period) -> Coverage {
        Coverage {
            starts: units.iter().map(|u| u.window.start_ms).collect(),
            done: vec![false; units.len()],
            first_not_done: 0,
            end_ms: period.to_ms,
        }
    }

    /// Unit `index` (into the `units` given to `new`) is done.
    pub fn mark(&mut self, index: usize) {
        self.done[index] = true;
        while self.done.get(self.first_not_done) == Some(&true) {
            self.first_not_done += 1;
        }
    }

    pub fn until(&self) -> i64 {
        self.starts
            .get(self.first_not_done)
            .copied()
            .unwrap_or(self.end_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn period(from: &str, to: &str) -> Period {
        Period::parse(from, to).unwrap()
    }

    #[test]
    fn a_day_is_24_hourly_windows_that_tile_it() {
        let p = period("2026-12-01", "2026-12-01");
        let w = windows(&p, HOUR);
        assert_eq!(w.len(), 24);
        assert_eq!(w[0].start_ms, p.from_ms);
        assert_eq!(w[23].end_ms, p.to_ms);
        for pair in w.windows(2) {
            assert_eq!(pair[0].end_ms, pair[1].start_ms, "no gap, no overlap");
        }
        assert!(w.iter().all(|w| w.duration_ms() == HOUR));
        assert_eq!(
            w[1].to_string(),
            "[2026-12-01T01:00:00Z, 2026-12-01T02:00:00Z)"
        );
    }

    #[test]
    fn instants_off_the_hour_cut_the_first_and_last_windows() {
        let p = period("2026-12-01T06:30:00Z", "2026-12-01T09:15:00Z");
        let w = windows(&p, HOUR);
        let shown: Vec<String> = w.iter().map(Window::to_string).collect();
        assert_eq!(
            shown,
            [
                "[2026-12-01T06:30:00Z, 2026-12-01T07:00:00Z)",
                "[2026-12-01T07:00:00Z, 2026-12-01T08:00:00Z)",
                "[2026-12-01T08:00:00Z, 2026-12-01T09:00:00Z)",
                "[2026-12-01T09:00:00Z, 2026-12-01T09:15:00Z)",
            ]
        );
        // Shorter than a window and inside one.
        let p = period("2026-12-01T06:10:00Z", "2026-12-01T06:20:00Z");
        assert_eq!(
            windows(&p, HOUR),
            [Window {
                start_ms: p.from_ms,
                end_ms: p.to_ms
            }]
        );
        // Before the epoch too (div_euclid, not `/`).
        let p = Period {
            from_ms: -HOUR - 5,
            to_ms: 5,
        };
        let w = windows(&p, HOUR);
        assert_eq!(w.len(), 3);
        assert_eq!((w[0].end_ms, w[1].end_ms), (-HOUR, 0));
    }

    #[test]
    fn units_go_window_by_window_and_the_covered_prefix_follows() {
        let p = period("2026-12-01T00:00:00Z", "2026-12-01T03:00:00Z");
        let w = windows(&p, HOUR);
        let u = units(2, &w);
        let order: Vec<(usize, i64)> = u
            .iter()
            .map(|u| (u.group, (u.window.start_ms - p.from_ms) / HOUR))
            .collect();
        assert_eq!(order, [(0, 0), (1, 0), (0, 1), (1, 1), (0, 2), (1, 2)]);

        let mut coverage = Coverage::new(&u, &p);
        assert_eq!(coverage.until(), p.from_ms);
        coverage.mark(0);
        coverage.mark(2);
        // Group 1 has not finished the first hour: nothing is covered yet.
        assert_eq!(coverage.until(), p.from_ms);
        coverage.mark(1);
        // Group 1's second hour is still to do.
        assert_eq!(coverage.until(), p.from_ms + HOUR);
        coverage.mark(3);
        assert_eq!(coverage.until(), p.from_ms + 2 * HOUR);
        for i in 4..u.len() {
            coverage.mark(i);
        }
        assert_eq!(coverage.until(), p.to_ms);
    }
}
