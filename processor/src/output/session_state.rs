//! How a batch's stored events are counted into their sessions, as data.
//! Pure: the sink sends what this builds and reads back what it parses.
//! Why this is exact is argued in ARCHITECTURE.md ("A session summary
//! counts each stored event once").
//!
//! Two kinds of internal document live in the state index
//! (`Indices::session_state`), both changed only by the painless scripts
//! below, run inside the shard (`_update` with `retry_on_conflict`):
//!
//! - a **state** per session. Its recent buckets (ten minutes of event
//!   time each) hold their events inline, one entry per log event id
//!   (`open`), so that the update that adds a batch's events knows the
//!   session's count. A bucket that falls three hours behind the session's
//!   latest one is frozen, in steps of an hour (`sealing`: no more changes
//!   inline; see [`FREEZE_SLACK`]), copied into its tally, and then kept
//!   as that tally's (version, size, fold) (`sealed`). The summary's fields, rendered in the same update, are
//!   the fold of all three.
//! - a **tally** per (session, sealed bucket): the bucket's entries, the
//!   frozen ones copied once, and those of events that arrive after it
//!   froze. Its `_version` grows with every change, and an update's answer
//!   gives the version, the size and the fold read together.
//!
//! The public `session-summaries` document is rendered from the state the
//! update returned, with an external version that grows with the state's
//! `_seq_no`, so that an older rendering never replaces a newer one.

use crate::batch::{EventView, SessionSummary, StrSet};
use crate::jsonstr::{write_str, write_str_array};
use crate::output::document_id;
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// The span of event time one bucket covers. A tally's entries are
/// bounded by what one session does in this long.
pub const TALLY_SPAN_MS: i64 = 10 * 60 * 1000;

/// How many buckets behind a session's latest one stay inline in its
/// state (three hours of event time): events older than that, relative
/// to the session, take the tallies' longer path.
pub const OPEN_BUCKETS: i64 = 18;

/// Open buckets that fell [`OPEN_BUCKETS`] behind wait until one has
/// fallen this many more behind, then freeze together: a long session
/// pays for the follow-up rounds of freezing once an hour of its event
/// time, not every ten minutes, for up to an hour more of keys inline.
pub const FREEZE_SLACK: i64 = 5;

/// Public versions are the state's `_seq_no + 1` shifted by this many
/// bits; the low bits number the attempts to write a summary again over a
/// deletion's tombstone (which holds the deleted version plus one).
pub const RESTORE_BITS: u32 = 20;

/// Added to every public version: above anything the previous state
/// layout (whose documents this one does not read) published, so that a
/// replay or backfill after an upgrade replaces those summaries.
pub const LAYOUT_EPOCH: u64 = 1 << 52;

/// Painless functions both scripts share.
///
/// A bucket (open or frozen in a state, or a tally) keeps the keys of its
/// events (see [`packed_key`]) packed in one string `k`,
/// each followed by a record separator (U+001E) behind a leading one, so
/// that the shard reads and writes it back as one value and
/// `indexOf(RS + key + RS)` is a membership test; `n` is how many.
/// `compareIds` is `session::compare_event_ids` (numeric ids by value,
/// others as strings; Java compares strings by UTF-16 unit where Rust
/// compares bytes, which differ only for non-numeric ids mixing characters
/// above U+FFFF with U+E000..U+FFFF: CloudWatch Logs ids are decimal).
macro_rules! painless_keys {
    () => {
        "long num(def x) { return ((Number) x).longValue(); } \
String rs() { return String.valueOf((char) 30); } \
boolean addKeys(Map o, List keys) { String have = (String) o.k; String sep = rs(); StringBuilder more = null; long added = 0; \
for (def key : keys) { if (have.indexOf(sep + key + sep) < 0) { if (more == null) { more = new StringBuilder(have); } \
more.append((String) key).append(sep); added++; } } \
if (added == 0) { return false; } o.k = more.toString(); o.n = num(o.n) + added; return true; } \
boolean removeKeys(Map o, List keys) { String k = (String) o.k; String sep = rs(); long removed = 0; \
for (def key : keys) { String needle = sep + key + sep; int at = k.indexOf(needle); \
if (at >= 0) { k = k.substring(0, at) + k.substring(at + needle.length() - 1); removed++; } } \
if (removed == 0) { return false; } o.k = k; o.n = num(o.n) - removed; return true; } "
    };
}

/// A session's state, changed by one batch: `add` puts the batch's keys
/// into their open buckets (creating them; a bucket already `keep`
/// buckets behind the latest is created sealed instead), then, once an
/// open bucket has fallen `keep + slack` behind, freezes every open bucket
/// that fell `keep` behind, together; `fields` are the batch's events
/// folded (earliest event, span, sets), merged in by min, max and union,
/// or, with `replace`, set (the fold of the stored events, after a
/// refusal); `remove` takes refused events' keys out of open buckets;
/// `report` moves a frozen bucket to sealed with its tally's (version,
/// size), or keeps the one of higher version. A key of a frozen or sealed
/// bucket is never added inline: the sink sends it to the tally. The count
/// is the sum of the buckets' sizes; `g` counts the changes of what the
/// state renders.
pub const STATE_SCRIPT: &str = concat!(
    painless_keys!(),
    "boolean digits(String x) { if (x.length() == 0) { return false; } \
for (int i = 0; i < x.length(); ++i) { char c = x.charAt(i); if (c < (char) '0' || c > (char) '9') { return false; } } return true; } \
String unpad(String x) { int i = 0; while (i < x.length() && x.charAt(i) == (char) '0') { ++i; } return x.substring(i); } \
int compareIds(String a, String b) { if (digits(a) && digits(b)) { String x = unpad(a); String y = unpad(b); \
if (x.length() != y.length()) { return x.length() < y.length() ? -1 : 1; } return x.compareTo(y); } return a.compareTo(b); } \
Map index(List l) { Map at = new HashMap(); for (int i = 0; i < l.size(); ++i) { at.put(num(l[i].b), i); } return at; } \
def s = ctx._source; boolean dirty = false; boolean changed = false; \
if (s.session_id == null) { s.session_id = params.session_id; dirty = true; } \
if (s.open == null) { s.open = new ArrayList(); } if (s.sealing == null) { s.sealing = new ArrayList(); } \
if (s.sealed == null) { s.sealed = new ArrayList(); } \
List open = s.open; List sealing = s.sealing; List sealed = s.sealed; \
Map openAt = index(open); Map sealingAt = index(sealing); Map sealedAt = index(sealed); \
if (params.remove != null) { for (def x : params.remove) { long b = num(x.b); \
  if (openAt.containsKey(b) && removeKeys(open[(int) openAt[b]], x.keys)) { dirty = true; } } } \
if (params.report != null) { Set done = new HashSet(); \
  for (def x : params.report) { long b = num(x.b); long ver = num(x.ver); \
    Map entry = new HashMap(); entry.b = b; entry.ver = ver; entry.n = num(x.n); \
    if (sealingAt.containsKey(b) && !done.contains(b)) { done.add(b); sealed.add(entry); sealedAt.put(b, sealed.size() - 1); dirty = true; } \
    else if (sealedAt.containsKey(b)) { int i = (int) sealedAt[b]; if (num(sealed[i].ver) < ver) { sealed.set(i, entry); dirty = true; } } } \
  if (!done.isEmpty()) { sealing.removeIf(o -> done.contains(((Number) o.b).longValue())); } } \
if (params.add != null) { long top = Long.MIN_VALUE; \
  for (def k : openAt.keySet()) { if (num(k) > top) { top = num(k); } } \
  for (def k : sealingAt.keySet()) { if (num(k) > top) { top = num(k); } } \
  for (def k : sealedAt.keySet()) { if (num(k) > top) { top = num(k); } } \
  for (def x : params.add) { if (num(x.b) > top) { top = num(x.b); } } \
  long horizon = top - num(params.keep); \
  for (def x : params.add) { long b = num(x.b); \
    if (sealingAt.containsKey(b) || sealedAt.containsKey(b)) { continue; } \
    if (!openAt.containsKey(b)) { Map entry = new HashMap(); entry.b = b; entry.n = 0L; \
      if (b < horizon) { entry.ver = 0L; sealed.add(entry); sealedAt.put(b, sealed.size() - 1); dirty = true; continue; } \
      entry.k = rs(); open.add(entry); openAt.put(b, open.size() - 1); dirty = true; } \
    if (addKeys(open[(int) openAt[b]], x.k)) { dirty = true; } } \
  boolean due = false; for (def o : open) { if (num(o.b) < horizon - num(params.slack)) { due = true; } } \
  if (due) { Iterator it = open.iterator(); \
    while (it.hasNext()) { def o = it.next(); if (num(o.b) < horizon) { sealing.add(o); it.remove(); dirty = true; } } } } \
def f = params.fields; \
if (f != null && params.replace == true) { \
  for (String k : ['first_ms', 'first_id', 'user', 'start_ms', 'end_ms', 'modules', 'paths', 'assetTypes', 'siteTokens']) { \
    if (!Objects.equals(s[k], f[k])) { s[k] = f[k]; changed = true; } } } \
else if (f != null) { \
  long fts = num(f.first_ms); \
  if (s.first_ms == null || fts < num(s.first_ms) || (fts == num(s.first_ms) && compareIds(f.first_id, s.first_id) < 0)) { \
    s.first_ms = fts; s.first_id = f.first_id; s.user = f.user; changed = true; } \
  long start = num(f.start_ms); if (s.start_ms == null || start < num(s.start_ms)) { s.start_ms = start; changed = true; } \
  long end = num(f.end_ms); if (s.end_ms == null || end > num(s.end_ms)) { s.end_ms = end; changed = true; } \
  for (String k : ['modules', 'paths', 'assetTypes', 'siteTokens']) { \
    List have = s[k]; if (have == null) { have = new ArrayList(); s[k] = have; } \
    Set seen = new HashSet(have); \
    for (def v : f[k]) { if (seen.add(v)) { have.add(v); changed = true; } } } } \
long total = 0; for (def o : open) { total += num(o.n); } for (def o : sealing) { total += num(o.n); } \
for (def o : sealed) { total += num(o.n); } \
if (s.event_count == null || num(s.event_count) != total) { s.event_count = total; changed = true; } \
if (changed) { s.g = (s.g == null ? 0 : num(s.g)) + 1; s.last_updated_ms = ctx._now; dirty = true; } \
if (!dirty) { ctx.op = 'none'; }"
);

/// A sealed bucket's tally: on its first change, the frozen bucket
/// (`snapshot`) becomes its content, never again (every copy of one
/// snapshot is the same: the state froze it); then keys are added and
/// refused ones taken out.
pub const TALLY_SCRIPT: &str = concat!(
    painless_keys!(),
    "def s = ctx._source; boolean dirty = false; \
if (s.k == null) { s.k = rs(); s.n = 0L; } \
if (s.sealed != true) { s.sealed = true; dirty = true; \
  if (params.snapshot != null) { s.k = params.snapshot.k; s.n = num(params.snapshot.n); } } \
if (params.add != null && addKeys(s, params.add)) { dirty = true; } \
if (params.remove != null && removeKeys(s, params.remove)) { dirty = true; } \
if (!dirty) { ctx.op = 'none'; }"
);

/// The bucket an event is counted in: ten minutes of event time.
pub fn tally_bucket(timestamp_ms: i64) -> i64 {
    timestamp_ms.div_euclid(TALLY_SPAN_MS)
}

/// `_id` of a tally (`t2:` keeps it apart from every state id and from
/// the previous layout's tallies).
pub fn tally_id(session: &str, bucket: i64) -> String {
    document_id(&format!("t2:{bucket}:{session}")).into_owned()
}

/// `_id` of a session's state.
pub fn state_id(session: &str) -> String {
    document_id(&format!("s2:{session}")).into_owned()
}

/// The separators of a bucket's packed strings (see `painless_buckets`).
const RECORD_SEPARATOR: char = '\u{1e}';
const UNIT_SEPARATOR: char = '\u{1f}';

/// Where a key's length and digits are written: printable ASCII without
/// `"` and `\` (which JSON would escape), `%` (escapes) and `~` (the mark
/// of a packed decimal id); 90 symbols.
const KEY_ALPHABET: &[u8; 90] =
    b"!#$&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}";

/// Decimal digits per chunk of a packed id (`90^10 > 10^19`), and the
/// shortest decimal id packed (a shorter one would gain little).
const DIGITS_PER_CHUNK: usize = 19;
const SHORTEST_PACKED: usize = 20;

/// Base-90 symbols that hold any number of `digits` decimal digits.
fn symbols_for(digits: usize) -> usize {
    let mut symbols = 0;
    let mut capacity = 1u128;
    let needed = 10u128.pow(digits as u32);
    while capacity < needed {
        capacity *= 90;
        symbols += 1;
    }
    symbols
}

/// An event id as its session's state keeps it: the key is one to one with
/// the id and never holds RS or US, so that the separators stay separators
/// and `indexOf` of a key finds only that key.
///
/// CloudWatch Logs ids are 56 decimal digits; the state rewrites every key
/// of its recent buckets on each change, so a long decimal id is packed
/// into 32 symbols: `~`, its length, then each run of 19 digits (the last
/// may be shorter) as a number in base 90, in as many symbols as a run of
/// its length needs (the length tells where runs end, so leading zeros
/// count). Any other id is percent-escaped (`%`, `~`, RS, US), so it never
/// holds a `~` and never meets a packed one.
pub fn packed_key(id: &str) -> Cow<'_, str> {
    let digits = id.as_bytes();
    if (SHORTEST_PACKED..KEY_ALPHABET.len()).contains(&digits.len())
        && digits.iter().all(u8::is_ascii_digit)
    {
        let mut out = String::with_capacity(34);
        out.push('~');
        out.push(KEY_ALPHABET[digits.len()] as char);
        for chunk in digits.chunks(DIGITS_PER_CHUNK) {
            let mut value = chunk.iter().fold(0u64, |v, d| v * 10 + u64::from(d - b'0'));
            let mut symbols = [0u8; 10];
            let symbols = &mut symbols[..symbols_for(chunk.len())];
            for symbol in symbols.iter_mut().rev() {
                *symbol = KEY_ALPHABET[(value % 90) as usize];
                value /= 90;
            }
            out.push_str(std::str::from_utf8(symbols).expect("ASCII"));
        }
        return Cow::Owned(out);
    }
    if !id.contains(['%', '~', RECORD_SEPARATOR, UNIT_SEPARATOR]) {
        return Cow::Borrowed(id);
    }
    let mut out = String::with_capacity(id.len() + 8);
    for c in id.chars() {
        match c {
            '%' => out.push_str("%25"),
            '~' => out.push_str("%7E"),
            RECORD_SEPARATOR => out.push_str("%1E"),
            UNIT_SEPARATOR => out.push_str("%1F"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn write_keys(out: &mut Vec<u8>, events: &[EventView<'_, '_>]) {
    let keys: Vec<Cow<'_, str>> = events.iter().map(|e| packed_key(&e.id)).collect();
    write_str_array(out, keys.iter().map(|k| k.as_ref()));
}

/// Shard-side retries of an `_update` that met a concurrent write: every
/// script here is a merge that can run again on the newer document.
const RETRY_ON_CONFLICT: &str = "64";

fn update_header(out: &mut Vec<u8>, index: &str, id: &str) {
    out.extend_from_slice(b"{\"update\":{\"_index\":");
    write_str(out, index);
    out.extend_from_slice(b",\"_id\":");
    write_str(out, id);
    out.extend_from_slice(b",\"retry_on_conflict\":");
    out.extend_from_slice(RETRY_ON_CONFLICT.as_bytes());
    out.extend_from_slice(b"}}\n");
}

/// What a state's answer carries: the rendering and the buckets' phases;
/// the open buckets' keys stay in the shard.
const STATE_ANSWER: &[u8] = b"\"_source\":{\"excludes\":[\"open\"]},";

fn state_script_start(out: &mut Vec<u8>, session_id: &str, upsert: bool) {
    out.extend_from_slice(STATE_ANSWER);
    if upsert {
        out.extend_from_slice(b"\"scripted_upsert\":true,\"upsert\":{},");
    }
    out.extend_from_slice(b"\"script\":{\"lang\":\"painless\",\"source\":");
    write_str(out, STATE_SCRIPT);
    out.extend_from_slice(b",\"params\":{\"session_id\":");
    write_str(out, session_id);
}

/// The summary's fields of some events of one session, as the state
/// script merges (or, after a refusal, sets) them; `None` for no events.
fn write_fields(out: &mut Vec<u8>, fields: Option<&SessionSummary<'_>>) {
    let Some(summary) = fields else {
        out.extend_from_slice(
            b"{\"first_ms\":null,\"first_id\":null,\"user\":null,\"start_ms\":null,\"end_ms\":null,\
\"modules\":null,\"paths\":null,\"assetTypes\":null,\"siteTokens\":null}",
        );
        return;
    };
    let (first_ms, first_id) = summary.first_event();
    let list = |out: &mut Vec<u8>, key: &[u8], set: &StrSet<'_>| {
        out.extend_from_slice(key);
        write_str_array(out, set.iter().map(|v| v.as_ref()));
    };
    out.extend_from_slice(b"{\"first_ms\":");
    out.extend_from_slice(itoa::Buffer::new().format(first_ms).as_bytes());
    out.extend_from_slice(b",\"first_id\":");
    write_str(out, &first_id);
    out.extend_from_slice(b",\"user\":");
    write_str(out, &summary.user);
    out.extend_from_slice(b",\"start_ms\":");
    out.extend_from_slice(itoa::Buffer::new().format(summary.start_ms).as_bytes());
    out.extend_from_slice(b",\"end_ms\":");
    out.extend_from_slice(itoa::Buffer::new().format(summary.end_ms).as_bytes());
    list(out, b",\"modules\":", &summary.modules);
    list(out, b",\"paths\":", &summary.paths);
    list(out, b",\"assetTypes\":", &summary.asset_types);
    list(out, b",\"siteTokens\":", &summary.site_tokens);
    out.push(b'}');
}

/// The summary's fields of a session's events (each log event id once).
pub fn fold_events<'b>(
    session_id: &'b str,
    events: &[EventView<'_, 'b>],
) -> Option<SessionSummary<'b>> {
    let (head, rest) = events.split_first()?;
    let mut summary = SessionSummary::new(Cow::Borrowed(session_id), head.clone());
    for event in rest {
        summary.add(event.clone());
    }
    Some(summary)
}

/// The `_bulk` item that adds one session's events of a batch (by bucket)
/// to its state: their keys to the open buckets, their fields merged.
pub fn write_state_add_item(
    out: &mut Vec<u8>,
    index: &str,
    session_id: &str,
    buckets: &BTreeMap<i64, Vec<EventView<'_, '_>>>,
) {
    update_header(out, index, &state_id(session_id));
    out.push(b'{');
    state_script_start(out, session_id, true);
    out.extend_from_slice(b",\"keep\":");
    out.extend_from_slice(itoa::Buffer::new().format(OPEN_BUCKETS).as_bytes());
    out.extend_from_slice(b",\"slack\":");
    out.extend_from_slice(itoa::Buffer::new().format(FREEZE_SLACK).as_bytes());
    out.extend_from_slice(b",\"add\":[");
    for (i, (bucket, events)) in buckets.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"b\":");
        out.extend_from_slice(itoa::Buffer::new().format(*bucket).as_bytes());
        out.extend_from_slice(b",\"k\":");
        write_keys(out, events);
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"fields\":");
    let all: Vec<EventView<'_, '_>> = buckets.values().flatten().cloned().collect();
    write_fields(out, fold_events(session_id, &all).as_ref());
    out.extend_from_slice(b"}}}\n");
}

/// The `_update` body that sets a state's fields to the fold of its session's counted, stored events,
/// after a refusal: the rare path that unions cannot take.
pub fn write_state_fields_item(
    out: &mut Vec<u8>,
    session_id: &str,
    fields: Option<&SessionSummary<'_>>,
) {
    out.push(b'{');
    // Conditional on the state read, which exists: no upsert.
    state_script_start(out, session_id, false);
    out.extend_from_slice(b",\"replace\":true,\"fields\":");
    write_fields(out, fields);
    out.extend_from_slice(b"}}}");
}

/// A tally as one update answered: its version and size then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TallyReport {
    pub version: u64,
    pub size: u64,
}

/// The `_bulk` item that takes refused events (`remove`, by bucket) out of
/// a state's open buckets and folds tallies' reports into it.
pub fn write_state_change_item(
    out: &mut Vec<u8>,
    index: &str,
    session_id: &str,
    remove: &BTreeMap<i64, Vec<Cow<'_, str>>>,
    report: &BTreeMap<i64, TallyReport>,
) {
    update_header(out, index, &state_id(session_id));
    out.push(b'{');
    state_script_start(out, session_id, true);
    out.extend_from_slice(b",\"remove\":[");
    for (i, (bucket, ids)) in remove.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"b\":");
        out.extend_from_slice(itoa::Buffer::new().format(*bucket).as_bytes());
        out.extend_from_slice(b",\"keys\":");
        let keys: Vec<Cow<'_, str>> = ids.iter().map(|id| packed_key(id)).collect();
        write_str_array(out, keys.iter().map(|k| k.as_ref()));
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"report\":[");
    for (i, (bucket, tally)) in report.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"b\":");
        out.extend_from_slice(itoa::Buffer::new().format(*bucket).as_bytes());
        out.extend_from_slice(b",\"ver\":");
        out.extend_from_slice(itoa::Buffer::new().format(tally.version).as_bytes());
        out.extend_from_slice(b",\"n\":");
        out.extend_from_slice(itoa::Buffer::new().format(tally.size).as_bytes());
        out.push(b'}');
    }
    out.extend_from_slice(b"]}}}\n");
}

/// One change of a sealed bucket's tally: the frozen entries to copy in
/// first if the state had not finished sealing it, events to add, ids of
/// refused events to take out.
#[derive(Debug, Default, Clone)]
pub struct TallyChange<'e, 'b> {
    pub snapshot: Option<Value>,
    pub add: Vec<EventView<'e, 'b>>,
    pub remove: Vec<Cow<'b, str>>,
}

/// The `_bulk` item that applies a change to a tally (created if missing)
/// and asks for its size back.
pub fn write_tally_item(
    out: &mut Vec<u8>,
    index: &str,
    session_id: &str,
    bucket: i64,
    change: &TallyChange<'_, '_>,
) {
    update_header(out, index, &tally_id(session_id, bucket));
    out.extend_from_slice(b"{\"_source\":[\"n\"],\"scripted_upsert\":true,\"upsert\":{},");
    out.extend_from_slice(b"\"script\":{\"lang\":\"painless\",\"source\":");
    write_str(out, TALLY_SCRIPT);
    out.extend_from_slice(b",\"params\":{\"snapshot\":");
    match &change.snapshot {
        Some(entries) => serde_json::to_writer(&mut *out, entries).expect("Vec write"),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"add\":");
    write_keys(out, &change.add);
    out.extend_from_slice(b",\"remove\":");
    let keys: Vec<Cow<'_, str>> = change.remove.iter().map(|id| packed_key(id)).collect();
    write_str_array(out, keys.iter().map(|k| k.as_ref()));
    out.extend_from_slice(b"}}}\n");
}

/// A session's state as its update answered.
#[derive(Debug, Clone, PartialEq)]
pub struct StateView {
    /// The summary to publish; `None` when no stored event is counted
    /// (every event the session had was refused).
    pub state: Option<State>,
    /// The state document's `_seq_no`: it grows with every change.
    pub seq_no: u64,
    /// Grows with every change of the rendering.
    pub generation: u64,
    /// Frozen buckets as answered (keys and size), which their tallies
    /// take in once.
    pub sealing: BTreeMap<i64, Value>,
    pub sealed: BTreeSet<i64>,
}

/// The phase of a bucket in a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Open,
    Sealing,
    Sealed,
}

impl StateView {
    pub fn phase(&self, bucket: i64) -> Phase {
        if self.sealed.contains(&bucket) {
            Phase::Sealed
        } else if self.sealing.contains_key(&bucket) {
            Phase::Sealing
        } else {
            Phase::Open
        }
    }

    /// The keys (see [`packed_key`]) of a frozen bucket's events.
    pub fn frozen_keys(&self, bucket: i64) -> HashSet<&str> {
        self.sealing
            .get(&bucket)
            .and_then(|frozen| frozen["k"].as_str())
            .map(|keys| {
                keys.split(RECORD_SEPARATOR)
                    .filter(|k| !k.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The external version of what this state publishes, on the
    /// `attempt`th try over a tombstone (0 first): from the generation, so
    /// that freezing and sealing buckets, which change the state but not
    /// what it renders, leave the summary's version as it was.
    pub fn public_version(&self, attempt: u64) -> u64 {
        LAYOUT_EPOCH + (self.generation << RESTORE_BITS) + attempt
    }

    /// From a state's update answer.
    pub fn from_update(answer: &UpdateAnswer) -> Result<StateView, String> {
        let source = answer
            .get
            .as_ref()
            .map(|get| &get.source)
            .ok_or_else(|| format!("no document in the state's update answer: {answer:?}"))?;
        let seq_no = answer
            .seq_no
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| format!("no _seq_no in the state's update answer: {answer:?}"))?;
        let generation = field(source.g, "g")?;
        let sealing = source
            .sealing
            .iter()
            .flatten()
            .map(|frozen| (frozen["b"].as_i64().unwrap_or(i64::MIN), frozen.clone()))
            .collect();
        let sealed = source.sealed.iter().flatten().map(|s| s.b).collect();
        let count = field(source.event_count, "event_count")?;
        let state = if count == 0 {
            None
        } else {
            Some(State::from_source(source, count)?)
        };
        Ok(StateView {
            state,
            seq_no,
            generation,
            sealing,
            sealed,
        })
    }
}

fn field<T>(value: Option<T>, key: &str) -> Result<T, String> {
    value.ok_or_else(|| format!("state field `{key}` missing or of the wrong type"))
}

/// A session's rendering: the summary to publish and when it last changed.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    pub summary: SessionSummary<'static>,
    pub last_updated_ms: i64,
}

impl State {
    fn from_source(source: &Source, count: u64) -> Result<State, String> {
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
            count,
        );
        Ok(State {
            summary,
            last_updated_ms: field(source.last_updated_ms, "last_updated_ms")?,
        })
    }
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

/// A sealed bucket in a state's answer (its fold is left in the shard).
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
pub struct Sealed {
    pub b: i64,
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
    pub g: Option<u64>,
    pub sealing: Option<Vec<Value>>,
    pub sealed: Option<Vec<Sealed>>,
}

impl UpdateAnswer {
    /// A tally's version and size.
    pub fn tally_report(&self) -> Option<TallyReport> {
        let source = &self.get.as_ref()?.source;
        Some(TallyReport {
            version: u64::try_from(self.version?).ok()?,
            size: source.n?,
        })
    }
}

/// The `_bulk` item that publishes a state as its session's summary,
/// unless a rendering of a newer state is there already; a state that
/// counts nothing publishes the summary's deletion.
pub fn write_summary_item(
    out: &mut Vec<u8>,
    index: &str,
    view: &StateView,
    session_id: &str,
    attempt: u64,
) {
    let action: &[u8] = if view.state.is_some() {
        b"{\"index\":{\"_index\":"
    } else {
        b"{\"delete\":{\"_index\":"
    };
    out.extend_from_slice(action);
    write_str(out, index);
    out.extend_from_slice(b",\"_id\":");
    write_str(out, &document_id(session_id));
    out.extend_from_slice(b",\"version_type\":\"external_gte\",\"version\":");
    out.extend_from_slice(
        itoa::Buffer::new()
            .format(view.public_version(attempt))
            .as_bytes(),
    );
    out.extend_from_slice(b"}}\n");
    if let Some(state) = &view.state {
        state.summary.write_document(out, state.last_updated_ms);
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

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

    fn lines(out: &[u8]) -> Vec<Value> {
        out.split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect()
    }

    #[test]
    fn buckets_split_at_ten_minutes_of_event_time_and_ids_never_collide() {
        assert_eq!(tally_bucket(0), 0);
        assert_eq!(tally_bucket(TALLY_SPAN_MS - 1), 0);
        assert_eq!(tally_bucket(TALLY_SPAN_MS), 1);
        assert_eq!(tally_bucket(-1), -1);
        // A session id that looks like a tally's suffix gets another id.
        assert_ne!(state_id("t2:1:x"), tally_id("x", 1));
        assert_ne!(tally_id("1:x", 2), tally_id("x", 21));
        assert!(tally_id(&"s".repeat(600), 3).starts_with("sha256:"));
        // Not the ids of the previous layout, whose documents are not read.
        assert_ne!(state_id("x"), "s:x");
    }

    #[test]
    fn packed_keys_keep_separators_out_and_stay_one_to_one() {
        assert!(matches!(packed_key("x-4711"), Cow::Borrowed("x-4711")));
        assert_eq!(packed_key("a\u{1e}b"), "a%1Eb");
        assert_eq!(packed_key("a\u{1f}b%~"), "a%1Fb%25%7E");
        // Two ids that would meet after escaping without `%` escaped.
        assert_ne!(packed_key("a%1Eb"), packed_key("a\u{1e}b"));
        let cloudwatch = "37734865413264512478421632454891027853123606052329275392";
        assert_eq!(cloudwatch.len(), 56);
        assert_eq!(packed_key(cloudwatch).len(), 32);
        let ids: Vec<String> = [
            "x",
            "a\u{1e}",
            "%",
            "%25",
            "\u{1f}\u{1e}%",
            "~",
            "~x",
            "",
            "0",
            "00",
            "000",
            "1",
            "01",
            "10",
            "9",
            "99",
            "1000000000000000000",
            "9999999999999999999",
            "0000000000000000000",
            "10000000000000000000",
            "09999999999999999999",
            "99999999999999999999",
            cloudwatch,
            "37734865413264512478421632454891027853123606052329275393",
            "3773486541326451247842163245489102785312360605232927539",
            "a1",
            "1a",
        ]
        .into_iter()
        .map(String::from)
        .chain((0..200).map(|n| n.to_string()))
        .chain((0..200).map(|n| format!("{n:03}")))
        .chain(std::iter::once("7".repeat(90)))
        .collect();
        let mut seen = HashMap::new();
        for id in &ids {
            let key = packed_key(id);
            assert!(
                !key.contains(['\u{1e}', '\u{1f}', '"', '\\']),
                "{id:?} -> {key:?}"
            );
            assert_eq!(key.starts_with('~'), key.contains('~'), "{id:?} -> {key:?}");
            if let Some(other) = seen.insert(key.into_owned(), id) {
                assert_eq!(other, id, "two ids, one key");
            }
        }
    }

    #[test]
    fn long_decimal_ids_pack_one_to_one() {
        // Pseudo-random decimal ids of every packed length, many sharing
        // long prefixes (as ids of one bucket do): no two share a key.
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut digit = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            char::from(b'0' + (seed % 10) as u8)
        };
        let mut keys = HashMap::new();
        for len in SHORTEST_PACKED..KEY_ALPHABET.len() {
            let prefix: String = (0..len - 3).map(|_| digit()).collect();
            for _ in 0..200 {
                let id: String = prefix.chars().chain((0..3).map(|_| digit())).collect();
                let key = packed_key(&id).into_owned();
                assert!(key.starts_with('~') && key.is_ascii(), "{id} -> {key}");
                assert!(key.len() < id.len(), "{id} -> {key}");
                if let Some(other) = keys.insert(key, id.clone()) {
                    assert_eq!(other, id, "two ids, one key");
                }
            }
        }
    }

    #[test]
    fn a_state_add_item_carries_keys_by_bucket_and_the_batch_fields() {
        let (a, b, p, q) = (
            Cow::from("ann"),
            Cow::from("bob"),
            Cow::from("/p"),
            Cow::from("/q"),
        );
        let buckets = BTreeMap::from([
            (0, vec![view("30", 1_000, &a, &p), view("7", 1_000, &b, &q)]),
            (1, vec![view("9\u{1e}", TALLY_SPAN_MS + 5, &a, &p)]),
        ]);
        let mut out = Vec::new();
        write_state_add_item(&mut out, "st", "s1", &buckets);
        let lines = lines(&out);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["update"]["_id"], state_id("s1"));
        let params = &lines[1]["script"]["params"];
        assert_eq!(params["keep"], OPEN_BUCKETS);
        assert_eq!(params["slack"], FREEZE_SLACK);
        assert_eq!(
            params["add"],
            json!([{"b": 0, "k": ["30", "7"]}, {"b": 1, "k": ["9%1E"]}])
        );
        // The earliest event by time, then by id: "7" before "30".
        let fields = &params["fields"];
        assert_eq!(
            (&fields["first_ms"], &fields["first_id"], &fields["user"]),
            (&json!(1_000), &json!("7"), &json!("bob"))
        );
        assert_eq!(fields["end_ms"], TALLY_SPAN_MS + 5);
        assert_eq!(fields["paths"], json!(["/p", "/q"]));
        assert_eq!(lines[1]["scripted_upsert"], true);
        assert_eq!(lines[1]["_source"], json!({"excludes": ["open"]}));

        // After a refusal the fields are set, on the state that was read.
        let mut out = Vec::new();
        write_state_fields_item(&mut out, "s1", None);
        let body: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(body["script"]["params"]["replace"], true);
        assert_eq!(body["script"]["params"]["fields"]["paths"], Value::Null);
        assert!(
            body.get("upsert").is_none(),
            "conditional writes take no upsert"
        );
    }

    #[test]
    fn change_and_tally_items_name_keys_reports_and_snapshots() {
        let mut out = Vec::new();
        let remove = BTreeMap::from([(4, vec![Cow::from("r%")])]);
        let report = BTreeMap::from([(
            2,
            TallyReport {
                version: 3,
                size: 8,
            },
        )]);
        write_state_change_item(&mut out, "st", "s1", &remove, &report);
        let params = &lines(&out)[1]["script"]["params"];
        assert_eq!(params["remove"], json!([{"b": 4, "keys": ["r%25"]}]));
        assert_eq!(params["report"], json!([{"b": 2, "ver": 3, "n": 8}]));

        let (u, p) = (Cow::from("u"), Cow::from("/p"));
        let change = TallyChange {
            snapshot: Some(json!({"b": 2, "k": "\u{1e}1\u{1e}", "n": 1})),
            add: vec![view("5", 0, &u, &p)],
            remove: vec![Cow::from("6")],
        };
        let mut out = Vec::new();
        write_tally_item(&mut out, "st", "s1", 2, &change);
        let lines = lines(&out);
        assert_eq!(lines[0]["update"]["_id"], tally_id("s1", 2));
        let params = &lines[1]["script"]["params"];
        assert_eq!(params["snapshot"]["k"], "\u{1e}1\u{1e}");
        assert_eq!(
            (&params["add"], &params["remove"]),
            (&json!(["5"]), &json!(["6"]))
        );
        assert_eq!(lines[1]["script"]["source"], TALLY_SCRIPT);
    }

    fn answer(value: Value) -> UpdateAnswer {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_state_answer_gives_the_rendering_the_phases_and_the_version() {
        let item = json!({"_seq_no": 41, "result": "updated", "get": {"_source": {
            "session_id": "s1", "user": "bob", "first_ms": 1000, "first_id": "7",
            "start_ms": 1000, "end_ms": 61000, "modules": ["m2", "m1"], "paths": ["/p"],
            "assetTypes": [], "siteTokens": ["t"], "event_count": 3, "last_updated_ms": 5, "g": 4,
            "sealing": [{"b": 3, "k": "\u{1e}a\u{1e}b%25\u{1e}", "n": 2}],
            "sealed": [{"b": 1, "ver": 2, "n": 1}]
        }}});
        let view = StateView::from_update(&answer(item.clone())).unwrap();
        let state = view.state.as_ref().unwrap();
        assert_eq!(state.summary.event_count, 3);
        assert_eq!(state.summary.duration_seconds(), 60.0);
        assert_eq!(
            (view.phase(1), view.phase(3), view.phase(9)),
            (Phase::Sealed, Phase::Sealing, Phase::Open)
        );
        assert_eq!(view.frozen_keys(3), HashSet::from(["a", "b%25"]));
        // Versions follow the rendering's generation, not the document's
        // sequence number; restores of one stay below the next.
        let newer = StateView {
            generation: 5,
            seq_no: 41,
            ..view.clone()
        };
        assert!(view.public_version((1 << RESTORE_BITS) - 1) < newer.public_version(0));
        assert!(view.public_version(0) > LAYOUT_EPOCH);

        let mut missing = item.clone();
        missing["get"]["_source"]
            .as_object_mut()
            .unwrap()
            .remove("end_ms");
        let error = StateView::from_update(&answer(missing)).unwrap_err();
        assert!(error.contains("`end_ms`"), "{error}");
        // Counting nothing (every event refused): no summary to publish.
        let mut empty = item.clone();
        empty["get"]["_source"]["event_count"] = json!(0);
        assert_eq!(StateView::from_update(&answer(empty)).unwrap().state, None);
        // A failed item's sequence number is negative.
        let failed = json!({"_seq_no": -2, "get": item["get"]});
        assert!(StateView::from_update(&answer(failed)).is_err());
    }

    #[test]
    fn a_summary_item_writes_or_deletes_under_the_public_version() {
        let item = json!({"_seq_no": 1, "get": {"_source": {"event_count": 0, "g": 2}}});
        let view = StateView::from_update(&answer(item)).unwrap();
        let mut out = Vec::new();
        write_summary_item(&mut out, "sums", &view, "s1", 0);
        let lines = lines(&out);
        assert_eq!(lines.len(), 1, "a deletion has no body");
        assert_eq!(lines[0]["delete"]["version"], view.public_version(0));
        assert_eq!(lines[0]["delete"]["version_type"], "external_gte");
        let tally = answer(json!({"_version": 4, "get": {"_source": {"n": 9}}}));
        assert_eq!(
            tally.tally_report(),
            Some(TallyReport {
                version: 4,
                size: 9
            })
        );
        assert_eq!(answer(json!({"_version": 4})).tally_report(), None);
    }
}
