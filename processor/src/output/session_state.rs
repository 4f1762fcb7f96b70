//! How a batch's stored events are counted into their sessions, as data.
//! Pure: the sink sends what this builds and reads back what it parses.
//! Why this is exact is argued in ARCHITECTURE.md ("A session summary
//! counts each stored event once").
//!
//! Two kinds of internal document live in the state index
//! (`Indices::session_state`), both changed only by painless scripts run
//! inside the shard (`_update` with `retry_on_conflict`):
//!
//! - a **tally** per (session, ten minutes of event time): the set of log
//!   event ids counted there. Adding ids is idempotent; its size only grows.
//! - a **state** per session: every tally's size as last reported (kept as
//!   the largest ever reported), the earliest and latest timestamps, the
//!   earliest event (its user), and the four sets. Every part is a max, a
//!   min or a union, so applying the same report twice, or two reports in
//!   either order, gives the same state.
//!
//! The public `session-summaries` document is rendered from the state the
//! update returned, with an external version that grows with the state's
//! `_seq_no`, so that an older rendering never replaces a newer one.

use crate::batch::{EventView, SessionSummary, StrSet};
use crate::jsonstr::{write_str, write_str_array};
use crate::output::document_id;
use serde::Deserialize;
use serde_json::{Value, json};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// The span of event time one tally covers. Its set of ids is bounded by
/// what one session does in this long, not by the session's length.
pub const TALLY_SPAN_MS: i64 = 10 * 60 * 1000;

/// Public versions are the state's `_seq_no + 1` shifted by this many
/// bits; the low bits number the attempts to write a summary again over a
/// deletion's tombstone (which holds the deleted version plus one).
pub const RESTORE_BITS: u32 = 20;

/// Adds a batch's ids to a tally; `ctx.op = 'none'` when none is new.
pub const TALLY_ADD_SCRIPT: &str = "def s = ctx._source; \
if (s.ids == null) { s.ids = new ArrayList(); } \
Set have = new HashSet(s.ids); int added = 0; \
for (def id : params.ids) { if (have.add(id)) { s.ids.add(id); added++; } } \
if (added == 0) { ctx.op = 'none'; } else { s.n = s.ids.size(); }";

/// Takes ids out of a tally: events OpenSearch refused after they were
/// added with their batch's writes.
pub const TALLY_REMOVE_SCRIPT: &str = "def s = ctx._source; \
if (s.ids == null || !s.ids.removeAll(params.ids)) { ctx.op = 'none'; } else { s.n = s.ids.size(); }";

/// Folds a batch's report into a session's state: min, max, union, and
/// for each tally the size reported with its highest version (a tally's
/// `_version` grows with every change, and its answer reads both at once).
/// A state with no event yet is not created. `compareIds` is
/// `session::compare_event_ids` (numeric ids by value, others as strings;
/// Java compares strings by UTF-16 unit where Rust compares bytes, which
/// differ only for non-numeric ids mixing characters above U+FFFF with
/// U+E000..U+FFFF: CloudWatch Logs ids are decimal).
pub const STATE_SCRIPT: &str = "boolean digits(String x) { if (x.length() == 0) { return false; } \
for (int i = 0; i < x.length(); ++i) { char c = x.charAt(i); if (c < (char) '0' || c > (char) '9') { return false; } } return true; } \
String unpad(String x) { int i = 0; while (i < x.length() && x.charAt(i) == (char) '0') { ++i; } return x.substring(i); } \
int compareIds(String a, String b) { if (digits(a) && digits(b)) { String x = unpad(a); String y = unpad(b); \
if (x.length() != y.length()) { return x.length() < y.length() ? -1 : 1; } return x.compareTo(y); } return a.compareTo(b); } \
def s = ctx._source; boolean changed = false; \
if (params.first_ms != null) { \
if (s.session_id == null) { s.session_id = params.session_id; } \
long fts = ((Number) params.first_ms).longValue(); \
if (s.first_ms == null || fts < ((Number) s.first_ms).longValue() \
  || (fts == ((Number) s.first_ms).longValue() && compareIds(params.first_id, s.first_id) < 0)) { \
  s.first_ms = fts; s.first_id = params.first_id; s.user = params.user; changed = true; } \
long start = ((Number) params.start_ms).longValue(); \
if (s.start_ms == null || start < ((Number) s.start_ms).longValue()) { s.start_ms = start; changed = true; } \
long end = ((Number) params.end_ms).longValue(); \
if (s.end_ms == null || end > ((Number) s.end_ms).longValue()) { s.end_ms = end; changed = true; } \
for (String k : ['modules', 'paths', 'assetTypes', 'siteTokens']) { \
  List have = s[k]; if (have == null) { have = new ArrayList(); s[k] = have; } \
  Set seen = new HashSet(have); \
  for (def v : params[k]) { if (seen.add(v)) { have.add(v); changed = true; } } } } \
List tallies = s.tallies; if (tallies == null) { tallies = new ArrayList(); s.tallies = tallies; } \
Map at = new HashMap(); \
for (int i = 0; i < tallies.size(); ++i) { at.put(((Number) tallies.get(i).b).longValue(), i); } \
for (def t : params.tallies) { long b = ((Number) t.b).longValue(); long v = ((Number) t.v).longValue(); \
  def entry = ['b': b, 'v': v, 'n': ((Number) t.n).longValue()]; \
  if (!at.containsKey(b)) { tallies.add(entry); at.put(b, tallies.size() - 1); changed = true; } \
  else { int i = (int) at.get(b); \
    if (((Number) tallies.get(i).v).longValue() < v) { tallies.set(i, entry); changed = true; } } } \
if (s.start_ms == null || !changed) { ctx.op = 'none'; } else { long total = 0; \
  for (def t : tallies) { total += ((Number) t.n).longValue(); } \
  s.event_count = total; s.last_updated_ms = ctx._now; }";

/// The tally an event is counted in: its session and its ten minutes.
pub fn tally_bucket(timestamp_ms: i64) -> i64 {
    timestamp_ms.div_euclid(TALLY_SPAN_MS)
}

/// `_id` of a tally (`t:` keeps it apart from every state id).
pub fn tally_id(session: &str, bucket: i64) -> String {
    document_id(&format!("t:{bucket}:{session}")).into_owned()
}

/// `_id` of a session's state.
pub fn state_id(session: &str) -> String {
    document_id(&format!("s:{session}")).into_owned()
}

/// One session's events in a batch, as the state script takes them:
/// everything but the tallies' sizes, which only the tally updates know.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionReport<'b> {
    pub session_id: &'b str,
    /// The earliest event: (timestamp, log event id, user).
    pub first: (i64, Cow<'b, str>, Cow<'b, str>),
    pub start_ms: i64,
    pub end_ms: i64,
    pub modules: StrSet<'b>,
    pub paths: StrSet<'b>,
    pub asset_types: StrSet<'b>,
    pub site_tokens: StrSet<'b>,
    /// Tally bucket → the log event ids of this batch counted there.
    pub tallies: BTreeMap<i64, Vec<Cow<'b, str>>>,
}

impl<'b> SessionReport<'b> {
    /// The report of a session's stored events in one batch (not empty;
    /// each log event id once).
    pub fn of(session_id: &'b str, events: &[EventView<'_, 'b>]) -> Option<Self> {
        let (head, rest) = events.split_first()?;
        let mut summary = SessionSummary::new(Cow::Borrowed(session_id), head.clone());
        let mut tallies: BTreeMap<i64, Vec<Cow<'b, str>>> = BTreeMap::new();
        tallies
            .entry(tally_bucket(head.timestamp_ms))
            .or_default()
            .push(head.id.clone());
        for event in rest {
            summary.add(event.clone());
            tallies
                .entry(tally_bucket(event.timestamp_ms))
                .or_default()
                .push(event.id.clone());
        }
        let (first_ms, first_id) = summary.first_event();
        Some(SessionReport {
            session_id,
            first: (first_ms, first_id, summary.user.clone()),
            start_ms: summary.start_ms,
            end_ms: summary.end_ms,
            modules: summary.modules,
            paths: summary.paths,
            asset_types: summary.asset_types,
            site_tokens: summary.site_tokens,
            tallies,
        })
    }
}

/// A tally as one update answered: its version and its size then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TallyCount {
    pub version: u64,
    pub size: u64,
}

/// The `_bulk` item that adds `ids` to a tally (created if missing), and
/// asks for its size back.
pub fn write_tally_add_item(out: &mut Vec<u8>, index: &str, id: &str, ids: &[Cow<'_, str>]) {
    tally_item(out, index, id, ids, TALLY_ADD_SCRIPT, true);
}

/// The `_bulk` item that takes `ids` out of a tally.
pub fn write_tally_remove_item(out: &mut Vec<u8>, index: &str, id: &str, ids: &[Cow<'_, str>]) {
    tally_item(out, index, id, ids, TALLY_REMOVE_SCRIPT, false);
}

fn tally_item(
    out: &mut Vec<u8>,
    index: &str,
    id: &str,
    ids: &[Cow<'_, str>],
    script: &str,
    upsert: bool,
) {
    out.extend_from_slice(b"{\"update\":{\"_index\":");
    write_str(out, index);
    out.extend_from_slice(b",\"_id\":");
    write_str(out, id);
    out.extend_from_slice(b",\"retry_on_conflict\":");
    out.extend_from_slice(RETRY_ON_CONFLICT.as_bytes());
    out.extend_from_slice(b"}}\n{\"_source\":[\"n\"],");
    if upsert {
        out.extend_from_slice(b"\"scripted_upsert\":true,\"upsert\":{},");
    }
    out.extend_from_slice(b"\"script\":{\"lang\":\"painless\",\"source\":");
    write_str(out, script);
    out.extend_from_slice(b",\"params\":{\"ids\":");
    write_str_array(out, ids.iter().map(|id| id.as_ref()));
    out.extend_from_slice(b"}}}\n");
}

/// Shard-side retries of an `_update` that met a concurrent write: every
/// script here is a merge that can run again on the newer document.
const RETRY_ON_CONFLICT: &str = "64";

/// The `_bulk` item that folds into a session's state its tallies' counts
/// and, unless OpenSearch refused them all, its events of the batch
/// (`report`). The state is created only with events.
pub fn write_state_item(
    out: &mut Vec<u8>,
    index: &str,
    session_id: &str,
    report: Option<&SessionReport<'_>>,
    tallies: &BTreeMap<i64, TallyCount>,
) {
    let list = |set: &StrSet<'_>| Value::Array(set.iter().map(|s| json!(s)).collect());
    // A list, not an object keyed by bucket: an index without this
    // project's template maps fields dynamically, and keys that are
    // numbers would make a new field per ten minutes.
    let tallies: Vec<Value> = tallies
        .iter()
        .map(|(bucket, t)| json!({"b": bucket, "v": t.version, "n": t.size}))
        .collect();
    let mut params = json!({ "session_id": session_id, "tallies": tallies });
    if let Some(report) = report {
        let events = json!({
            "first_ms": report.first.0,
            "first_id": report.first.1,
            "user": report.first.2,
            "start_ms": report.start_ms,
            "end_ms": report.end_ms,
            "modules": list(&report.modules),
            "paths": list(&report.paths),
            "assetTypes": list(&report.asset_types),
            "siteTokens": list(&report.site_tokens),
        });
        if let (Some(params), Value::Object(events)) = (params.as_object_mut(), events) {
            params.extend(events);
        }
    }
    let body = json!({
        "_source": {"excludes": ["tallies"]},
        "scripted_upsert": true,
        "upsert": {},
        "script": {"lang": "painless", "source": STATE_SCRIPT, "params": params}
    });
    out.extend_from_slice(b"{\"update\":{\"_index\":");
    write_str(out, index);
    out.extend_from_slice(b",\"_id\":");
    write_str(out, &state_id(session_id));
    out.extend_from_slice(b",\"retry_on_conflict\":");
    out.extend_from_slice(RETRY_ON_CONFLICT.as_bytes());
    out.extend_from_slice(b"}}\n");
    serde_json::to_writer(&mut *out, &body).expect("Vec write");
    out.push(b'\n');
}

/// A session's state as its update answered: the summary to publish, when
/// it last changed, and the version that orders publications.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    pub summary: SessionSummary<'static>,
    pub last_updated_ms: i64,
    /// The state document's `_seq_no`: it grows with every change.
    pub seq_no: u64,
}

/// What an `_update` answered, as far as this module reads it: the
/// document (`_source` of `get`), its version and sequence number.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
pub struct UpdateAnswer {
    #[serde(default)]
    pub result: Option<String>,
    /// Negative in the answer to an item that failed.
    #[serde(default, rename = "_seq_no")]
    pub seq_no: Option<i64>,
    #[serde(default, rename = "_version")]
    pub version: Option<i64>,
    #[serde(default)]
    pub get: Option<GetAnswer>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
pub struct GetAnswer {
    #[serde(default, rename = "_source")]
    pub source: Source,
}

/// A tally's or a state's `_source`, read without a JSON tree: every
/// field is optional here and checked where it is needed.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
pub struct Source {
    /// A tally's size.
    pub n: Option<u64>,
    pub session_id: Option<String>,
    pub user: Option<String>,
    pub first_ms: Option<i64>,
    pub first_id: Option<String>,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub modules: Option<Vec<String>>,
    pub paths: Option<Vec<String>>,
    #[serde(rename = "assetTypes")]
    pub asset_types: Option<Vec<String>>,
    #[serde(rename = "siteTokens")]
    pub site_tokens: Option<Vec<String>>,
    pub event_count: Option<u64>,
    pub last_updated_ms: Option<i64>,
}

impl UpdateAnswer {
    fn source(&self) -> Option<&Source> {
        self.get.as_ref().map(|get| &get.source)
    }

    /// A tally's version and size.
    pub fn tally_count(&self) -> Option<TallyCount> {
        Some(TallyCount {
            version: u64::try_from(self.version?).ok()?,
            size: self.source()?.n?,
        })
    }
}

impl State {
    /// From a state's update answer; `None` when the session has no state
    /// (every event it ever had was refused).
    pub fn from_update(answer: &UpdateAnswer) -> Result<Option<State>, String> {
        let empty = Source::default();
        let source = answer.source().unwrap_or(&empty);
        if source.start_ms.is_none() && answer.result.as_deref() == Some("noop") {
            return Ok(None);
        }
        let seq_no = answer
            .seq_no
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| format!("no _seq_no in the state's update answer: {answer:?}"))?;
        fn field<T>(value: Option<T>, key: &str) -> Result<T, String> {
            value.ok_or_else(|| format!("state field `{key}` missing or of the wrong type"))
        }
        let text = |value: &Option<String>, key: &str| {
            field(value.as_ref(), key).map(|s| Cow::Owned(s.clone()))
        };
        let set = |value: &Option<Vec<String>>, key: &str| {
            field(value.as_ref(), key)
                .map(|values| StrSet::from_values(values.iter().map(|v| Cow::Owned(v.clone()))))
        };
        let summary = SessionSummary::from_parts(
            text(&source.session_id, "session_id")?,
            text(&source.user, "user")?,
            (
                field(source.first_ms, "first_ms")?,
                text(&source.first_id, "first_id")?,
            ),
            [
                set(&source.modules, "modules")?,
                set(&source.paths, "paths")?,
                set(&source.asset_types, "assetTypes")?,
                set(&source.site_tokens, "siteTokens")?,
            ],
            (
                field(source.start_ms, "start_ms")?,
                field(source.end_ms, "end_ms")?,
            ),
            field(source.event_count.filter(|&n| n > 0), "event_count")?,
        );
        Ok(Some(State {
            summary,
            last_updated_ms: field(source.last_updated_ms, "last_updated_ms")?,
            seq_no,
        }))
    }

    /// The external version of the summary rendered from this state, on
    /// the `attempt`th try over a tombstone (0 first).
    pub fn public_version(&self, attempt: u64) -> u64 {
        ((self.seq_no + 1) << RESTORE_BITS) + attempt
    }
}

/// The `_bulk` item that publishes a state as its session's summary,
/// unless a rendering of a newer state is there already.
pub fn write_summary_item(out: &mut Vec<u8>, index: &str, state: &State, attempt: u64) {
    out.extend_from_slice(b"{\"index\":{\"_index\":");
    write_str(out, index);
    out.extend_from_slice(b",\"_id\":");
    write_str(out, &document_id(&state.summary.session_id));
    out.extend_from_slice(b",\"version_type\":\"external_gte\",\"version\":");
    out.extend_from_slice(
        itoa::Buffer::new()
            .format(state.public_version(attempt))
            .as_bytes(),
    );
    out.extend_from_slice(b"}}\n");
    state.summary.write_document(out, state.last_updated_ms);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::ptr_arg)]
    fn view<'e>(
        id: &'static str,
        ts: i64,
        user: &'e Cow<'static, str>,
        path: &'e Cow<'static, str>,
    ) -> EventView<'e, 'static> {
        EventView {
            id: Cow::Borrowed(id),
            timestamp_ms: ts,
            user,
            path,
            module: None,
            site_token: None,
            asset_types: &[],
        }
    }

    #[test]
    fn tallies_split_at_ten_minutes_of_event_time_and_ids_never_collide() {
        assert_eq!(tally_bucket(0), 0);
        assert_eq!(tally_bucket(TALLY_SPAN_MS - 1), 0);
        assert_eq!(tally_bucket(TALLY_SPAN_MS), 1);
        assert_eq!(tally_bucket(-1), -1);
        // A session id that looks like a tally's suffix gets another id.
        assert_ne!(state_id("t:1:x"), tally_id("x", 1));
        assert_ne!(tally_id("1:x", 2), tally_id("x", 21));
        assert!(tally_id(&"s".repeat(600), 3).starts_with("sha256:"));
    }

    #[test]
    fn a_report_holds_the_earliest_event_by_time_then_id_and_each_tally() {
        let (a, b, p) = (Cow::from("ann"), Cow::from("bob"), Cow::from("/p"));
        let events = [
            view("30", 1_000, &a, &p),
            view("7", 1_000, &b, &p),
            view("9", TALLY_SPAN_MS + 5, &a, &p),
        ];
        let report = SessionReport::of("s1", &events).unwrap();
        assert_eq!(report.first, (1_000, Cow::from("7"), Cow::from("bob")));
        assert_eq!((report.start_ms, report.end_ms), (1_000, TALLY_SPAN_MS + 5));
        assert_eq!(
            report.tallies,
            BTreeMap::from([
                (0, vec![Cow::from("30"), Cow::from("7")]),
                (1, vec![Cow::from("9")])
            ])
        );
        assert!(SessionReport::of("s1", &[]).is_none());
    }

    fn answer(value: Value) -> UpdateAnswer {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_state_answer_renders_the_summary_and_orders_its_versions() {
        let item = json!({"_seq_no": 41, "result": "updated", "get": {"_source": {
            "session_id": "s1", "user": "bob", "first_ms": 1000, "first_id": "7",
            "start_ms": 1000, "end_ms": 61000, "modules": ["m2", "m1", "m2"], "paths": ["/p"],
            "assetTypes": [], "siteTokens": ["t"], "event_count": 3, "last_updated_ms": 5
        }}});
        let state = State::from_update(&answer(item.clone())).unwrap().unwrap();
        assert_eq!(state.summary.event_count, 3);
        assert_eq!(state.summary.duration_seconds(), 60.0);
        assert_eq!(
            state.summary.modules.iter().collect::<Vec<_>>(),
            ["m1", "m2"]
        );
        let newer = State {
            seq_no: 42,
            ..state.clone()
        };
        // Any number of restores of one state stays below the next state.
        assert!(state.public_version((1 << RESTORE_BITS) - 1) < newer.public_version(0));
        assert!(state.public_version(0) >= 1);

        let mut missing = item.clone();
        missing["get"]["_source"]
            .as_object_mut()
            .unwrap()
            .remove("end_ms");
        let error = State::from_update(&answer(missing)).unwrap_err();
        assert!(error.contains("`end_ms`"), "{error}");
        // Not created: the session's only events were refused.
        let none = json!({"_seq_no": 3, "result": "noop", "get": {"_source": {}}});
        assert_eq!(State::from_update(&answer(none)), Ok(None));
        // A failed item's sequence number is negative.
        let failed = json!({"_seq_no": -2, "result": "updated", "get": item["get"]});
        assert!(State::from_update(&answer(failed)).is_err());
    }

    #[test]
    fn a_tally_answer_gives_its_version_and_size() {
        let item = answer(json!({"_version": 4, "get": {"_source": {"n": 9}}}));
        assert_eq!(
            item.tally_count(),
            Some(TallyCount {
                version: 4,
                size: 9
            })
        );
        assert_eq!(answer(json!({"_version": 4})).tally_count(), None);
    }

    #[test]
    fn items_are_one_action_line_and_one_body_line_of_json() {
        let mut out = Vec::new();
        write_tally_add_item(
            &mut out,
            "st",
            "t:1:s",
            &[Cow::from("a\"b"), Cow::from("c")],
        );
        let lines: Vec<Value> = out
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["update"]["_id"], "t:1:s");
        assert_eq!(lines[1]["script"]["params"]["ids"], json!(["a\"b", "c"]));
        assert_eq!(lines[1]["script"]["source"], TALLY_ADD_SCRIPT);
        assert_eq!(lines[1]["scripted_upsert"], true);

        let mut out = Vec::new();
        let tallies = BTreeMap::from([(
            7,
            TallyCount {
                version: 3,
                size: 2,
            },
        )]);
        write_state_item(&mut out, "st", "s1", None, &tallies);
        let body: Value =
            serde_json::from_slice(out.split(|&b| b == b'\n').nth(1).unwrap()).unwrap();
        assert_eq!(
            body["script"]["params"],
            json!({"session_id": "s1", "tallies": [{"b": 7, "v": 3, "n": 2}]}),
            "no event fields when every event was refused"
        );
    }
}
