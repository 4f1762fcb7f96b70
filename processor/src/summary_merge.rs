//! How one invocation folds its events into a stored session summary, at a
//! cost that follows the batch. Pure: the sink reads, this decides, the
//! sink writes.
//!
//! The invariant (argued in ARCHITECTURE.md, "A session summary counts
//! each stored event once"): an event is counted in its session's summary
//! exactly when its request event is stored, or it is listed in the
//! summary's `pending_events`. A summary is written (conditionally on the
//! version read) *before* the events it newly counts are created, with
//! those events listed as pending; an event seen stored leaves the list
//! with the next write that is due anyway. So, reading the summary first and then whether each of
//! the batch's events is stored, an event is new to the summary exactly
//! when it is neither stored nor pending.

use crate::bulk::write_str;
use crate::session::{EventView, SessionSummary};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashSet;

/// The field of a summary document that lists its pending events.
pub const PENDING_FIELD: &str = "pending_events";

/// An event a summary counts whose request event may not be stored yet:
/// what the summary took from it, so that a rebuild can take it again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingEvent {
    pub id: Cow<'static, str>,
    pub timestamp_ms: i64,
    pub user: Cow<'static, str>,
    pub path: Cow<'static, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<Cow<'static, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_token: Option<Cow<'static, str>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub asset_types: Vec<Cow<'static, str>>,
}

impl PendingEvent {
    pub fn from_view(view: &EventView<'_, '_>) -> Self {
        let own = |s: &Cow<'_, str>| Cow::Owned(s.to_string());
        PendingEvent {
            id: own(&view.id),
            timestamp_ms: view.timestamp_ms,
            user: own(view.user),
            path: own(view.path),
            module: view.module.map(own),
            site_token: view.site_token.map(own),
            asset_types: view.asset_types.iter().map(own).collect(),
        }
    }

    pub fn view(&self) -> EventView<'_, 'static> {
        EventView {
            id: self.id.clone(),
            timestamp_ms: self.timestamp_ms,
            user: &self.user,
            path: &self.path,
            module: self.module.as_ref(),
            site_token: self.site_token.as_ref(),
            asset_types: &self.asset_types,
        }
    }
}

/// How a summary write is guarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Nothing is stored: `create`.
    Create,
    /// `index` only if the stored document is still the one read.
    IfUnchanged { seq_no: u64, primary_term: u64 },
}

/// What is stored under a session's summary id, as the merge needs it.
#[derive(Debug, Clone)]
pub struct Base {
    pub condition: Condition,
    /// `None` with `Create`: nothing stored. `None` with `IfUnchanged`: a
    /// document that is not a readable summary.
    pub summary: Option<SessionSummary<'static>>,
    pub pending: Vec<PendingEvent>,
    /// The stored `last_updated`, kept by a write that only empties
    /// `pending_events`.
    pub last_updated_ms: Option<i64>,
}

impl Base {
    pub fn nothing_stored() -> Self {
        Base {
            condition: Condition::Create,
            summary: None,
            pending: Vec::new(),
            last_updated_ms: None,
        }
    }

    /// From a found `_mget`/`_get` document's `_source` and its version.
    pub fn from_document(source: &Value, seq_no: u64, primary_term: u64) -> Self {
        let pending = match &source[PENDING_FIELD] {
            Value::Null => Some(Vec::new()),
            Value::String(encoded) => decode_pending(encoded),
            list => serde_json::from_value(list.clone()).ok(),
        };
        let summary = SessionSummary::from_document(source);
        // Pending events that cannot be read make the whole summary
        // unreadable: rebuilding it is the only exact way on.
        let (summary, pending) = match pending {
            Some(pending) => (summary, pending),
            None => (None, Vec::new()),
        };
        Base {
            condition: Condition::IfUnchanged {
                seq_no,
                primary_term,
            },
            summary,
            pending,
            last_updated_ms: source["last_updated"]
                .as_str()
                .and_then(crate::timefmt::parse_rfc3339),
        }
    }

    pub fn is_pending(&self, id: &str) -> bool {
        self.pending.iter().any(|p| p.id == id)
    }
}

/// Why a summary must be rebuilt from the stored events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepairReason {
    /// No summary, yet events of the session are stored: it was deleted,
    /// or created (with those events) after it was read. The sink reads
    /// it again before it believes the first.
    Deleted,
    /// The stored document is not a readable summary.
    Unreadable,
    /// A new event ties with the start time and names another user, and
    /// the stored summary does not know its earliest event's id.
    Tie,
    /// An event it counted was refused by OpenSearch for good.
    Rejected,
}

/// What to do with one session.
#[derive(Debug)]
pub enum Plan<'b> {
    /// Everything in the batch is counted already.
    Keep,
    Write(Box<Write<'b>>),
    Repair(RepairReason),
}

/// A summary document to write.
#[derive(Debug, Clone)]
pub struct Write<'b> {
    pub summary: SessionSummary<'b>,
    pub pending: Vec<PendingEvent>,
    pub condition: Condition,
    /// Events this write counts for the first time.
    pub newly_counted: usize,
}

/// The plan for one session given what is stored (`base`), the batch's
/// events of that session (each log event id once), and which log event
/// ids are stored as request events. `may_have_history`: with nothing
/// stored under the summary's id, a search found stored events of the
/// session (the summary was deleted).
pub fn plan<'b>(
    session_id: &Cow<'b, str>,
    base: &Base,
    batch: &[EventView<'_, 'b>],
    is_stored: impl Fn(&str) -> bool,
    may_have_history: bool,
) -> Plan<'b> {
    let Some(stored) = &base.summary else {
        if base.condition != Condition::Create {
            return Plan::Repair(RepairReason::Unreadable);
        }
        if may_have_history || batch.iter().any(|e| is_stored(&e.id)) {
            return Plan::Repair(RepairReason::Deleted);
        }
        // A new session: every event is new.
        let Some((first, rest)) = batch.split_first() else {
            return Plan::Keep;
        };
        let mut summary = SessionSummary::new(session_id.clone(), first.clone());
        for event in rest {
            summary.add(event.clone());
        }
        return Plan::Write(Box::new(Write {
            summary,
            pending: batch.iter().map(PendingEvent::from_view).collect(),
            condition: base.condition,
            newly_counted: batch.len(),
        }));
    };
    let resolved: HashSet<&str> = base
        .pending
        .iter()
        .filter(|p| is_stored(&p.id))
        .map(|p| p.id.as_ref())
        .collect();
    let new: Vec<&EventView<'_, 'b>> = batch
        .iter()
        .filter(|e| !is_stored(&e.id) && !base.is_pending(&e.id))
        .collect();
    // Pending events now stored are dropped from the list only along with
    // a write that is due anyway: a redelivery writes nothing.
    if new.is_empty() {
        return Plan::Keep;
    }
    let mut summary: SessionSummary<'b> = stored.clone();
    for event in &new {
        if summary.tie_is_ambiguous(event) {
            return Plan::Repair(RepairReason::Tie);
        }
        summary.add((*event).clone());
    }
    let pending = base
        .pending
        .iter()
        .filter(|p| !resolved.contains(p.id.as_ref()))
        .cloned()
        .chain(new.iter().map(|e| PendingEvent::from_view(e)))
        .collect();
    Plan::Write(Box::new(Write {
        summary,
        pending,
        condition: base.condition,
        newly_counted: new.len(),
    }))
}

/// A base rebuilt from every stored event of a session (`stored`, each
/// once) and the pending events of what was read (`read`), less the events
/// refused for good (`refused`). Its condition is the one of `read`, so
/// the rebuild is written only if nothing changed since `read` was read.
pub fn rebuild(
    session_id: &str,
    read: &Base,
    stored: &[PendingEvent],
    refused: &HashSet<String>,
) -> Base {
    let stored_ids: HashSet<&str> = stored.iter().map(|e| e.id.as_ref()).collect();
    let pending: Vec<PendingEvent> = read
        .pending
        .iter()
        .filter(|p| !stored_ids.contains(p.id.as_ref()) && !refused.contains(p.id.as_ref()))
        .cloned()
        .collect();
    let mut events = stored
        .iter()
        .filter(|e| !refused.contains(e.id.as_ref()))
        .chain(&pending);
    let summary = events.next().map(|first| {
        let mut summary = SessionSummary::new(Cow::Owned(session_id.to_string()), first.view());
        for event in events {
            summary.add(event.view());
        }
        summary
    });
    Base {
        condition: read.condition,
        summary,
        pending,
        last_updated_ms: read.last_updated_ms,
    }
}

/// The summary document with its pending events, in a stored `binary`
/// field that the mapping keeps out of `_source`: a reader of summaries
/// sees exactly the documented document (none pending: no field at all).
pub fn write_document(
    out: &mut Vec<u8>,
    summary: &SessionSummary<'_>,
    pending: &[PendingEvent],
    last_updated_ms: i64,
) {
    summary.write_document(out, last_updated_ms);
    if pending.is_empty() {
        return;
    }
    debug_assert_eq!(out.last(), Some(&b'}'));
    out.pop();
    out.push(b',');
    write_str(out, PENDING_FIELD);
    out.extend_from_slice(b":\"");
    let json = serde_json::to_vec(pending).expect("Vec write");
    out.extend_from_slice(STANDARD.encode(json).as_bytes());
    out.extend_from_slice(b"\"}");
}

/// The stored field's value: base64 of the JSON list (a `binary` field,
/// kept out of `_source` so that readers of summaries never see it).
fn decode_pending(encoded: &str) -> Option<Vec<PendingEvent>> {
    let json = STANDARD.decode(encoded).ok()?;
    serde_json::from_slice(&json).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeSet;

    fn event(id: &str, ts: i64, user: &str, path: &str) -> PendingEvent {
        PendingEvent {
            id: Cow::Owned(id.into()),
            timestamp_ms: ts,
            user: Cow::Owned(user.into()),
            path: Cow::Owned(path.into()),
            module: None,
            site_token: None,
            asset_types: vec![],
        }
    }

    fn fold(events: &[&PendingEvent]) -> SessionSummary<'static> {
        let mut summary = SessionSummary::new(Cow::Borrowed("s"), events[0].view());
        for e in &events[1..] {
            summary.add(e.view());
        }
        summary
    }

    /// What a write leaves stored, read back as the next invocation reads it.
    fn stored(write: &Write<'_>, seq_no: u64) -> Base {
        let mut out = Vec::new();
        write_document(&mut out, &write.summary, &write.pending, 1_000);
        let source: Value = serde_json::from_slice(&out).unwrap();
        Base::from_document(&source, seq_no, 1)
    }

    fn expect_write<'b>(plan: Plan<'b>) -> Write<'b> {
        match plan {
            Plan::Write(write) => *write,
            other => panic!("expected a write, got {other:?}"),
        }
    }

    #[test]
    fn a_new_session_counts_every_event_as_pending() {
        let (a, b) = (event("1", 10, "u", "/a"), event("2", 20, "u", "/b"));
        let views = [a.view(), b.view()];
        let write = expect_write(plan(
            &Cow::Borrowed("s"),
            &Base::nothing_stored(),
            &views,
            |_| false,
            false,
        ));
        assert_eq!(write.condition, Condition::Create);
        assert_eq!(write.newly_counted, 2);
        assert_eq!(write.summary.event_count, 2);
        assert_eq!(write.pending, vec![a, b]);
    }

    #[test]
    fn stored_or_pending_events_are_not_counted_again() {
        let (a, b, c) = (
            event("1", 10, "u", "/a"),
            event("2", 20, "u", "/b"),
            event("3", 30, "u", "/c"),
        );
        let first = expect_write(plan(
            &Cow::Borrowed("s"),
            &Base::nothing_stored(),
            &[a.view(), b.view()],
            |_| false,
            false,
        ));
        let base = stored(&first, 7);
        assert_eq!(base.pending, vec![a.clone(), b.clone()]);
        // `a` stored, `b` still pending (its creator is in flight): a
        // redelivery writes nothing.
        for stored_ids in [&["1"][..], &["1", "2"], &[]] {
            assert!(
                matches!(
                    plan(
                        &Cow::Borrowed("s"),
                        &base,
                        &[a.view(), b.view()],
                        |id| stored_ids.contains(&id),
                        false
                    ),
                    Plan::Keep
                ),
                "{stored_ids:?}"
            );
        }
        // A new event among old ones counts once; the stored `a` leaves
        // the list with that write, the unstored `b` stays.
        let more = expect_write(plan(
            &Cow::Borrowed("s"),
            &base,
            &[a.view(), c.view()],
            |id| id == "1",
            false,
        ));
        assert_eq!((more.newly_counted, more.summary.event_count), (1, 3));
        assert_eq!(more.pending, vec![b.clone(), c.clone()]);
        assert_eq!(
            more.condition,
            Condition::IfUnchanged {
                seq_no: 7,
                primary_term: 1
            }
        );
        assert_eq!(
            more.summary.content(),
            fold(&[&a, &b, &c]).content(),
            "the same as one fold of all three"
        );
    }

    #[test]
    fn a_missing_summary_with_stored_events_was_deleted() {
        let a = event("1", 10, "u", "/a");
        for (stored, history) in [(true, false), (false, true)] {
            assert!(matches!(
                plan(
                    &Cow::Borrowed("s"),
                    &Base::nothing_stored(),
                    &[a.view()],
                    |_| stored,
                    history
                ),
                Plan::Repair(RepairReason::Deleted)
            ));
        }
        let unreadable = Base::from_document(&json!({"hello": 1}), 3, 1);
        assert!(matches!(
            plan(
                &Cow::Borrowed("s"),
                &unreadable,
                &[a.view()],
                |_| false,
                false
            ),
            Plan::Repair(RepairReason::Unreadable)
        ));
        let bad_pending = Base::from_document(
            &json!({"session_id": "s", "user": "u", "modules": [], "paths": ["/a"],
                    "assetTypes": [], "siteTokens": [], "start_time": "2026-01-01T00:00:00.000Z",
                    "end_time": "2026-01-01T00:00:00.000Z", "duration_seconds": 0.0,
                    "event_count": 1, "pending_events": [{"id": 3}]}),
            3,
            1,
        );
        assert!(bad_pending.summary.is_none(), "unreadable pending events");
    }

    #[test]
    fn a_tie_on_the_start_with_another_user_needs_the_stored_events() {
        let first = event("5", 10, "bob", "/a");
        let write = expect_write(plan(
            &Cow::Borrowed("s"),
            &Base::nothing_stored(),
            &[first.view()],
            |_| false,
            false,
        ));
        let base = stored(&write, 1);
        let same_user = event("4", 10, "bob", "/b");
        assert!(matches!(
            plan(
                &Cow::Borrowed("s"),
                &base,
                &[same_user.view()],
                |_| false,
                false
            ),
            Plan::Write(_)
        ));
        let other_user = event("4", 10, "alice", "/b");
        assert!(matches!(
            plan(
                &Cow::Borrowed("s"),
                &base,
                &[other_user.view()],
                |_| false,
                false
            ),
            Plan::Repair(RepairReason::Tie)
        ));
        // The rebuild knows every id and decides: the smaller id wins.
        let rebuilt = rebuild(
            "s",
            &base,
            &[first.clone(), other_user.clone()],
            &HashSet::new(),
        );
        assert_eq!(rebuilt.summary.unwrap().user, "alice");
    }

    #[test]
    fn a_rebuild_takes_stored_and_pending_events_once_and_leaves_out_refused_ones() {
        let (a, b, c) = (
            event("1", 10, "u", "/a"),
            event("2", 20, "u", "/b"),
            event("3", 30, "u", "/c"),
        );
        let read = Base {
            pending: vec![b.clone(), c.clone()],
            ..Base::from_document(&fold(&[&a, &b, &c]).document(0), 9, 2)
        };
        let refused: HashSet<String> = ["3".to_string()].into();
        let rebuilt = rebuild("s", &read, &[a.clone(), b.clone()], &refused);
        assert_eq!(rebuilt.pending, vec![], "b is stored, c refused");
        assert_eq!(
            rebuilt.summary.unwrap().content(),
            fold(&[&a, &b]).content()
        );
        assert_eq!(rebuilt.condition, read.condition);
        let nothing = rebuild("s", &read, &[], &["2".into(), "3".into()].into());
        assert!(nothing.summary.is_none());
    }

    #[test]
    fn pending_events_round_trip_through_the_document() {
        let mut a = event("1", 10, "u\"", "/a");
        a.module = Some(Cow::Borrowed("Work Orders"));
        a.site_token = Some(Cow::Borrowed("ST-1"));
        a.asset_types = vec![Cow::Borrowed("pump")];
        let write = expect_write(plan(
            &Cow::Borrowed("s"),
            &Base::nothing_stored(),
            &[a.view()],
            |_| false,
            false,
        ));
        let base = stored(&write, 4);
        assert_eq!(base.pending, vec![a]);
        assert_eq!(base.summary.unwrap().content(), write.summary.content());
        assert_eq!(base.last_updated_ms, Some(1_000));
        // At rest the document is exactly the documented one.
        let mut out = Vec::new();
        write_document(&mut out, &write.summary, &[], 1_000);
        let doc: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(doc, write.summary.document(1_000));
    }

    /// The protocol as the sink runs it, over an in-memory store, with
    /// invocations interleaved at random and crashed at random (each crash
    /// followed by a redelivery of the whole batch, as Lambda retries):
    /// the summary always ends as one fold of every distinct event.
    #[test]
    fn interleaved_and_crashing_invocations_count_every_event_once() {
        #[derive(Clone, Copy, PartialEq, Debug)]
        enum At {
            ReadSummary,
            ReadStored,
            WriteSummary,
            Create(usize),
        }
        struct Invocation {
            batch: Vec<usize>,
            at: At,
            base: Option<Base>,
            stored: HashSet<String>,
        }
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for trial in 0..400 {
            let pool: Vec<PendingEvent> = (0..12)
                .map(|i| {
                    let ts = 1_000 + (i as i64 % 5) * 10; // ties on purpose
                    event(
                        &format!("{}", 100 + i),
                        ts,
                        ["ann", "bob"][i % 2],
                        &format!("/p{}", i % 4),
                    )
                })
                .collect();
            let mut doc: Option<(Value, u64)> = None;
            let mut events: HashSet<String> = HashSet::new();
            let mut invocations: Vec<Invocation> = (0..2 + next(5))
                .map(|_| {
                    let mut batch: Vec<usize> = (0..pool.len()).filter(|_| next(3) == 0).collect();
                    batch.push(next(pool.len()));
                    batch.sort_unstable();
                    batch.dedup();
                    Invocation {
                        batch,
                        at: At::ReadSummary,
                        base: None,
                        stored: HashSet::new(),
                    }
                })
                .collect();
            let delivered: BTreeSet<usize> =
                invocations.iter().flat_map(|i| i.batch.clone()).collect();
            let mut steps = 0;
            while !invocations.is_empty() {
                steps += 1;
                assert!(steps < 100_000, "trial {trial} does not end");
                let k = next(invocations.len());
                if next(25) == 0 {
                    // A crash: the batch is delivered again from the start.
                    let batch = invocations[k].batch.clone();
                    invocations[k] = Invocation {
                        batch,
                        at: At::ReadSummary,
                        base: None,
                        stored: HashSet::new(),
                    };
                    continue;
                }
                let inv = &mut invocations[k];
                match inv.at {
                    At::ReadSummary => {
                        inv.base = Some(match &doc {
                            None => Base::nothing_stored(),
                            Some((source, seq)) => Base::from_document(source, *seq, 1),
                        });
                        inv.at = At::ReadStored;
                    }
                    At::ReadStored => {
                        inv.stored = events.clone();
                        inv.at = At::WriteSummary;
                    }
                    At::WriteSummary => {
                        let base = inv.base.as_ref().unwrap();
                        let views: Vec<EventView> =
                            inv.batch.iter().map(|&i| pool[i].view()).collect();
                        let stored = &inv.stored;
                        match plan(
                            &Cow::Borrowed("s"),
                            base,
                            &views,
                            |id| stored.contains(id),
                            false,
                        ) {
                            Plan::Keep => inv.at = At::Create(0),
                            Plan::Repair(RepairReason::Tie) => {
                                // The rebuild: everything stored plus pending.
                                let all: Vec<PendingEvent> = pool
                                    .iter()
                                    .filter(|e| events.contains(e.id.as_ref()))
                                    .cloned()
                                    .collect();
                                let rebuilt = rebuild("s", base, &all, &HashSet::new());
                                let ids: HashSet<String> =
                                    all.iter().map(|e| e.id.to_string()).collect();
                                inv.stored.extend(ids);
                                inv.base = Some(Base {
                                    pending: rebuilt.pending.clone(),
                                    ..rebuilt
                                });
                            }
                            // Read before another invocation created the
                            // summary and its events: read again.
                            Plan::Repair(RepairReason::Deleted) => inv.at = At::ReadSummary,
                            Plan::Repair(other) => panic!("{other:?}"),
                            Plan::Write(write) => {
                                let current = doc.as_ref().map(|(_, seq)| *seq);
                                let allowed = match write.condition {
                                    Condition::Create => current.is_none(),
                                    Condition::IfUnchanged { seq_no, .. } => {
                                        current == Some(seq_no)
                                    }
                                };
                                if allowed {
                                    let seq = current.map_or(0, |s| s + 1);
                                    let mut out = Vec::new();
                                    write_document(&mut out, &write.summary, &write.pending, 5);
                                    doc = Some((serde_json::from_slice(&out).unwrap(), seq));
                                    inv.at = At::Create(0);
                                } else {
                                    inv.at = At::ReadSummary;
                                }
                            }
                        }
                    }
                    At::Create(i) => {
                        if let Some(&e) = inv.batch.get(i) {
                            events.insert(pool[e].id.to_string());
                            inv.at = At::Create(i + 1);
                        } else {
                            invocations.swap_remove(k);
                        }
                    }
                }
            }
            let (source, seq) = doc.clone().unwrap();
            let base = Base::from_document(&source, seq, 1);
            let expected: Vec<&PendingEvent> = delivered.iter().map(|&i| &pool[i]).collect();
            assert!(
                base.pending.iter().all(|p| events.contains(p.id.as_ref())),
                "trial {trial}: every event still pending at rest is stored"
            );
            let summary = base.summary.unwrap().content();
            assert_eq!(
                events.len(),
                delivered.len(),
                "trial {trial}: every event stored"
            );
            assert_eq!(summary, fold(&expected).content(), "trial {trial}");
        }
    }
}
