//! How a record writes its timestamp, and the instant the spec reads from
//! each way of writing it.

use super::draw::dim;
use super::event::Val;
use super::{Gen, MIN_MS};
use crate::genlogs::render::{push_datetime, push_offset};

/// Record timestamps in other zones.
const OFFSETS: [i32; 12] = [0, 60, 330, 480, 600, 780, -180, -300, -480, 345, -570, 840];

impl Gen<'_> {
    /// The record timestamp as written: (value, or None when the key is
    /// missing; the log event's timestamp; the expected timestamp).
    pub(super) fn timestamp(&mut self, at: i64) -> (Option<Val>, i64, i64) {
        let jitter = self.range(0, 61);
        let style = self.choose(dim::TS, &[45, 6, 2, 8, 3, 12, 4, 3, 10, 3, 2, 2]);
        let mut s = String::with_capacity(36);
        let extra_digits = |g: &mut Gen, s: &mut String, n: usize| {
            for _ in 0..n {
                s.push((b'0' + g.below(10) as u8) as char);
            }
        };
        match style {
            0 | 3 | 4 => {
                push_datetime(&mut s, at, 'T', 3, '.');
                extra_digits(self, &mut s, [0, 0, 0, 3, 6][style]);
                s.push('Z');
                (Some(Val::Str(s)), at + jitter, at)
            }
            1 => {
                let q = at - at.rem_euclid(1000);
                push_datetime(&mut s, q, 'T', 0, '.');
                s.push('Z');
                (Some(Val::Str(s)), at + jitter, q)
            }
            2 => {
                let q = at - at.rem_euclid(100);
                push_datetime(&mut s, q, 'T', 1, '.');
                s.push('Z');
                (Some(Val::Str(s)), at + jitter, q)
            }
            5..=7 => {
                let off = self.pick(&OFFSETS);
                let q = if style == 6 {
                    at - at.rem_euclid(1000)
                } else {
                    at
                };
                let local = q + i64::from(off) * MIN_MS;
                push_datetime(&mut s, local, 'T', if style == 6 { 0 } else { 3 }, '.');
                if style == 7 {
                    extra_digits(self, &mut s, 3);
                }
                push_offset(&mut s, off);
                (Some(Val::Str(s)), at + jitter, q)
            }
            8 => (Some(Val::Int(at)), at + jitter, at),
            9 => (None, at + jitter, at + jitter),
            10 => {
                let v = match self.below(8) {
                    0 => Val::Str("yesterday".into()),
                    1 => Val::Str(String::new()),
                    2 => Val::Str("N/A".into()),
                    3 => Val::Str("2026-13-45T25:61:00Z".into()),
                    4 => Val::Str("not-a-date".into()),
                    5 => Val::Lit("null".into()),
                    6 => Val::Lit("true".into()),
                    _ => Val::Lit("{}".into()),
                };
                (Some(v), at + jitter, at + jitter)
            }
            _ => {
                // Readable only by a lenient parser: the log event carries
                // the same instant, so either reading gives the same result.
                let v = match self.below(3) {
                    0 => {
                        push_datetime(&mut s, at, 'T', 3, '.');
                        Val::Str(s)
                    }
                    1 => {
                        push_datetime(&mut s, at, ' ', 3, '.');
                        s.push('Z');
                        Val::Str(s)
                    }
                    _ => Val::Str(at.to_string()),
                };
                (Some(v), at, at)
            }
        }
    }
}
