//! One decoded CloudWatch Logs batch to its kept request events, counted by
//! reason, and its sessions folded from those events. Pure.

use crate::config::Rules;
use crate::counts::Counts;
use crate::counts::Reason;
use crate::envelope::{LogBatch, Message, ReadLines};
use crate::fastrecord::LineKind;
use crate::noise::AgentMemo;
use crate::record::{RequestEvent, from_raw, parse_escaped_record_memo, parse_record_memo};
use crate::session::{EventView, SessionSummary};
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
        let mut seen: HashSet<&str, BuildHasherDefault<IdHasher>> =
            HashSet::with_capacity_and_hasher(batch.log_events.len(), Default::default());
        events.reserve(batch.log_events.len());
        let mut memo = AgentMemo::default();
        for log_event in &batch.log_events {
            let line = kinds.next().zip(records.next());
            counts.log_events += 1;
            if !seen.insert(&log_event.id) {
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
