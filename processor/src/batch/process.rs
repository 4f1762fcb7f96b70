//! One decoded CloudWatch Logs batch to its kept request events, counted by
//! reason, and its sessions folded from those events. Pure.

use crate::batch::{EventView, SessionSummary};
use crate::config::Rules;
use crate::counts::Counts;
use crate::counts::Reason;
use crate::decode::{LogBatch, LogEvent, Message, ReadLines};
use crate::line::LineKind;
use crate::line::{RequestEvent, from_raw, parse_escaped_record_memo, parse_record_memo};
use crate::rules::AgentMemo;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// A fast hash for log event ids (trusted, uniformly distributed digits):
/// the default SipHash costs more than the rest of deduplication.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mix = |h: u64, word: u64| (h.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.0 = mix(
                self.0,
                u64::from_le_bytes(chunk.try_into().expect("eight bytes")),
            );
        }
        // The last few bytes byte by byte: a copy of a slice of unknown
        // length would be a call to memcpy.
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = 0u64;
            for (i, &b) in rest.iter().enumerate() {
                word |= u64::from(b) << (8 * i);
            }
            self.0 = mix(self.0, word);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Which log event ids of a batch came before. CloudWatch Logs delivers a
/// batch's events in id order, and while every id is greater than the one
/// before none can repeat: the ids are only compared with their
/// predecessor. The first id out of order builds the set of all ids so far,
/// which then decides as usual.
#[derive(Default)]
struct SeenIds<'b> {
    set: Option<HashSet<&'b str, BuildHasherDefault<IdHasher>>>,
}

impl<'b> SeenIds<'b> {
    /// Whether `events[position]`'s id is new among `events[..=position]`
    /// (called for each position in order).
    fn first_time(&mut self, events: &'b [LogEvent<'_>], position: usize) -> bool {
        let id: &'b str = &events[position].id;
        if let Some(set) = &mut self.set {
            return set.insert(id);
        }
        let in_order = position
            .checked_sub(1)
            .is_none_or(|before| id_order(&events[before].id, id) == std::cmp::Ordering::Less);
        if in_order {
            return true;
        }
        let mut set: HashSet<&'b str, BuildHasherDefault<IdHasher>> =
            HashSet::with_capacity_and_hasher(events.len(), Default::default());
        set.extend(events[..position].iter().map(|e| &*e.id));
        let new = set.insert(id);
        self.set = Some(set);
        new
    }
}

/// Ids by length, then byte by byte: numeric order for the digit strings
/// CloudWatch Logs uses; any total order would do.
fn id_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.len()
        .cmp(&b.len())
        .then_with(|| a.as_bytes().cmp(b.as_bytes()))
}

/// A request event with the coordinates of the log event it came from.
#[derive(Debug, Clone)]
pub struct KeptEvent<'b> {
    pub id: &'b str,
    pub log_timestamp_ms: i64,
    /// The raw line, kept for the dead-letter index.
    pub message: &'b Message<'b>,
    pub event: RequestEvent<'b>,
}

impl<'b> KeptEvent<'b> {
    pub fn view(&self) -> EventView<'_, 'b> {
        EventView {
            id: Cow::Borrowed(self.id),
            timestamp_ms: self.event.timestamp_ms,
            user: &self.event.user,
            path: &self.event.path,
            module: self.event.module.as_ref(),
            site_token: self.event.site_token.as_ref(),
            asset_types: &self.event.asset_types,
        }
    }
}

#[derive(Debug)]
pub struct ProcessedBatch<'b> {
    pub log_group: &'b str,
    pub log_stream: &'b str,
    pub events: Vec<KeptEvent<'b>>,
    pub counts: Counts,
}

/// Parses, filters and enriches every log event of a batch. A log event id
/// seen twice in one batch is processed once.
pub fn process_batch<'b>(batch: &'b LogBatch<'_>, rules: &Rules) -> ProcessedBatch<'b> {
    process_read_batch(batch, ReadLines::default(), rules)
}

/// `process_batch` for a batch from `envelope::parse_batch_reading`: the
/// lines already read are taken as they are (the same result).
pub fn process_read_batch<'b>(
    batch: &'b LogBatch<'_>,
    mut lines: ReadLines<'b>,
    rules: &Rules,
) -> ProcessedBatch<'b> {
    let (mut kinds, mut records) = (lines.0.kinds.iter(), lines.0.records.iter_mut());
    let mut counts = Counts {
        batches: 1,
        ..Counts::default()
    };
    let mut events = Vec::new();
    if batch.is_control_message() {
        counts.control_messages = 1;
    } else {
        let mut seen = SeenIds::default();
        events.reserve(batch.log_events.len());
        let mut memo = AgentMemo::default();
        for (position, log_event) in batch.log_events.iter().enumerate() {
            let line = kinds.next().zip(records.next());
            counts.log_events += 1;
            if !seen.first_time(&batch.log_events, position) {
                counts.duplicate_in_batch += 1;
                continue;
            }
            let parsed = match (line, &log_event.message) {
                (Some((&LineKind::Record, raw)), _) => {
                    from_raw(raw, log_event.timestamp, rules, &mut memo)
                }
                (Some((&LineKind::NoObject, _)), _) => Err(Reason::Unparsed),
                (_, Message::Text(text)) => {
                    parse_record_memo(text, log_event.timestamp, rules, &mut memo)
                }
                (_, Message::Escaped(raw)) => {
                    parse_escaped_record_memo(raw, log_event.timestamp, rules, &mut memo)
                }
            };
            match parsed {
                Ok(event) => {
                    counts.kept += 1;
                    events.push(KeptEvent {
                        id: &log_event.id,
                        log_timestamp_ms: log_event.timestamp,
                        message: &log_event.message,
                        event,
                    });
                }
                Err(reason) => counts.skip(reason),
            }
        }
    }
    ProcessedBatch {
        log_group: &batch.log_group,
        log_stream: &batch.log_stream,
        events,
        counts,
    }
}

/// Folds events (each log event id once) into one summary per session.
pub fn summarize<'e, 'b>(
    events: impl IntoIterator<Item = &'e KeptEvent<'b>>,
) -> HashMap<Cow<'b, str>, SessionSummary<'b>>
where
    'b: 'e,
{
    let mut sessions: HashMap<Cow<'b, str>, SessionSummary<'b>> = HashMap::new();
    for kept in events {
        match sessions.get_mut(&kept.event.session_id) {
            Some(summary) => summary.add(kept.view()),
            None => {
                let id = kept.event.session_id.clone();
                sessions.insert(id.clone(), SessionSummary::new(id, kept.view()));
            }
        }
    }
    sessions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(ids: &[&str]) -> Vec<LogEvent<'static>> {
        ids.iter()
            .map(|id| LogEvent {
                id: Cow::Owned(id.to_string()),
                timestamp: 0,
                message: Message::Text(Cow::Borrowed("")),
            })
            .collect()
    }

    /// Each position's verdict, as a plain set of the ids so far gives it.
    fn expected(ids: &[&str]) -> Vec<bool> {
        let mut set = std::collections::HashSet::new();
        ids.iter().map(|id| set.insert(*id)).collect()
    }

    #[test]
    fn duplicate_ids_are_found_in_order_and_out_of_order() {
        let cases: &[&[&str]] = &[
            &[],
            &["1"],
            &["1", "2", "3", "10"],
            &["1", "2", "2", "3"],
            &["1", "3", "2", "3", "1", "4"],
            &["5", "5"],
            &["9", "10", "9"],
            &["10", "9", "10", "11", "9"],
        ];
        for ids in cases {
            let events = events(ids);
            let mut seen = SeenIds::default();
            let got: Vec<bool> = (0..events.len())
                .map(|i| seen.first_time(&events, i))
                .collect();
            assert_eq!(got, expected(ids), "{ids:?}");
        }
        // Random sequences of a few ids, mostly ascending.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let pool: Vec<String> = (0..12).map(|i| (1000 + i * 7).to_string()).collect();
        for _ in 0..2_000 {
            let mut ids: Vec<&str> = Vec::new();
            let mut at = 0usize;
            for _ in 0..(state % 9) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                at = if state.is_multiple_of(5) {
                    (state as usize / 5) % pool.len()
                } else {
                    (at + 1) % pool.len()
                };
                ids.push(&pool[at]);
            }
            let owned = events(&ids);
            let mut seen = SeenIds::default();
            let got: Vec<bool> = (0..owned.len())
                .map(|i| seen.first_time(&owned, i))
                .collect();
            assert_eq!(got, expected(&ids), "{ids:?}");
        }
    }
}
