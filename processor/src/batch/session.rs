//! Session summaries: a pure fold over a session's request events.
//!
//! The same fold runs over one batch (offline, `bench`) and over every event
//! of a session read back from OpenSearch (the Lambda), so a summary is a
//! function of the set of its events and nothing else: the order and the
//! number of deliveries cannot change it.

use crate::jsonstr::{write_str, write_str_array};
use crate::timefmt;
use serde_json::{Map, Value, json};
use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BTreeSet;

/// A set of strings in order, as a `BTreeSet<Cow<str>>` iterates them: a
/// sorted vector while small (a session has a few modules, paths, asset
/// types and sites; a vector costs one allocation and a binary search where
/// a B-tree allocates nodes), a `BTreeSet` once it holds more than
/// `SMALL_SET` values, so that a session with thousands of distinct paths
/// does not pay a quadratic number of moves.
#[derive(Debug, Clone)]
pub enum StrSet<'a> {
    Small(Vec<Cow<'a, str>>),
    Large(BTreeSet<Cow<'a, str>>),
}

/// Past this many values a `StrSet` turns into a B-tree.
const SMALL_SET: usize = 64;

/// Equal when they hold the same values, whichever form each is in.
impl PartialEq for StrSet<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Default for StrSet<'_> {
    fn default() -> Self {
        StrSet::Small(Vec::new())
    }
}

impl<'a> StrSet<'a> {
    pub fn new() -> Self {
        Self::default()
    }

    /// A set of these values (in any order, repeats allowed).
    pub fn from_values(values: impl Iterator<Item = Cow<'a, str>>) -> Self {
        let mut values: Vec<Cow<'a, str>> = values.collect();
        values.sort_unstable();
        values.dedup();
        if values.len() <= SMALL_SET {
            StrSet::Small(values)
        } else {
            StrSet::Large(values.into_iter().collect())
        }
    }

    pub fn len(&self) -> usize {
        match self {
            StrSet::Small(v) => v.len(),
            StrSet::Large(b) => b.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, value: &str) -> bool {
        match self {
            StrSet::Small(v) => v.binary_search_by(|e| e.as_ref().cmp(value)).is_ok(),
            StrSet::Large(b) => b.contains(value),
        }
    }

    /// The values in order.
    pub fn iter(&self) -> impl Iterator<Item = &Cow<'a, str>> {
        let (small, large) = match self {
            StrSet::Small(v) => (Some(v.iter()), None),
            StrSet::Large(b) => (None, Some(b.iter())),
        };
        small
            .into_iter()
            .flatten()
            .chain(large.into_iter().flatten())
    }

    /// Adds `value` if it is new; an owned value is cloned only then.
    // Takes the Cow itself (not &str) so that a borrowed value stays borrowed.
    #[allow(clippy::ptr_arg)]
    pub fn insert(&mut self, value: &Cow<'a, str>) {
        match self {
            StrSet::Small(v) => {
                if let Err(at) = v.binary_search_by(|e| e.as_ref().cmp(value.as_ref())) {
                    if v.len() < SMALL_SET {
                        v.insert(at, value.clone());
                    } else {
                        let mut tree: BTreeSet<Cow<'a, str>> =
                            std::mem::take(v).into_iter().collect();
                        tree.insert(value.clone());
                        *self = StrSet::Large(tree);
                    }
                }
            }
            StrSet::Large(b) => {
                if !b.contains(value.as_ref()) {
                    b.insert(value.clone());
                }
            }
        }
    }
}

/// What a session summary needs from one request event.
#[derive(Debug, Clone)]
pub struct EventView<'e, 'a> {
    pub id: Cow<'a, str>,
    pub timestamp_ms: i64,
    pub user: &'e Cow<'a, str>,
    pub path: &'e Cow<'a, str>,
    pub module: Option<&'e Cow<'a, str>>,
    pub site_token: Option<&'e Cow<'a, str>>,
    pub asset_types: &'e [Cow<'a, str>],
}

#[derive(Debug, Clone, PartialEq)]
pub struct SessionSummary<'a> {
    pub session_id: Cow<'a, str>,
    pub user: Cow<'a, str>,
    /// The (timestamp, log event id) of the event `user` was taken from.
    first_event: (i64, Cow<'a, str>),
    pub modules: StrSet<'a>,
    pub paths: StrSet<'a>,
    pub asset_types: StrSet<'a>,
    pub site_tokens: StrSet<'a>,
    pub start_ms: i64,
    pub end_ms: i64,
    pub event_count: u64,
}

/// Orders CloudWatch Logs event ids (decimal strings) numerically, so that
/// ties on timestamp are broken the same way whatever the delivery order.
pub fn compare_event_ids(a: &str, b: &str) -> Ordering {
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    if numeric(a) && numeric(b) {
        let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
        a.len().cmp(&b.len()).then_with(|| a.cmp(b))
    } else {
        a.cmp(b)
    }
}

impl<'a> SessionSummary<'a> {
    /// A summary of one event; `add` the others. Each event must be added
    /// once: callers deduplicate by log event id.
    pub fn new(session_id: Cow<'a, str>, first: EventView<'_, 'a>) -> Self {
        let mut summary = SessionSummary {
            session_id,
            user: first.user.clone(),
            first_event: (first.timestamp_ms, first.id.clone()),
            modules: StrSet::new(),
            paths: StrSet::new(),
            asset_types: StrSet::new(),
            site_tokens: StrSet::new(),
            start_ms: first.timestamp_ms,
            end_ms: first.timestamp_ms,
            event_count: 0,
        };
        summary.add_sets(first);
        summary
    }

    /// A summary from its parts (a session's state read back): the sets
    /// are modules, paths, asset types and site tokens; the span is (start,
    /// end).
    pub fn from_parts(
        session_id: Cow<'a, str>,
        user: Cow<'a, str>,
        first_event: (i64, Cow<'a, str>),
        [modules, paths, asset_types, site_tokens]: [StrSet<'a>; 4],
        (start_ms, end_ms): (i64, i64),
        event_count: u64,
    ) -> Self {
        SessionSummary {
            session_id,
            user,
            first_event,
            modules,
            paths,
            asset_types,
            site_tokens,
            start_ms,
            end_ms,
            event_count,
        }
    }

    /// The (timestamp, log event id) of the event `user` comes from.
    pub fn first_event(&self) -> (i64, Cow<'a, str>) {
        self.first_event.clone()
    }

    /// Adds an event; the user is the earliest event's (ties on the
    /// timestamp go to the smaller event id).
    pub fn add(&mut self, event: EventView<'_, 'a>) {
        let earlier = event
            .timestamp_ms
            .cmp(&self.first_event.0)
            .then_with(|| compare_event_ids(&event.id, &self.first_event.1));
        if earlier == Ordering::Less {
            self.user = event.user.clone();
            self.first_event = (event.timestamp_ms, event.id.clone());
        }
        self.start_ms = self.start_ms.min(event.timestamp_ms);
        self.end_ms = self.end_ms.max(event.timestamp_ms);
        self.add_sets(event);
    }

    fn add_sets(&mut self, event: EventView<'_, 'a>) {
        self.event_count += 1;
        self.paths.insert(event.path);
        if let Some(module) = event.module {
            self.modules.insert(module);
        }
        if let Some(site) = event.site_token {
            self.site_tokens.insert(site);
        }
        for asset in event.asset_types {
            self.asset_types.insert(asset);
        }
    }

    pub fn duration_seconds(&self) -> f64 {
        (self.end_ms - self.start_ms) as f64 / 1000.0
    }

    /// The `session-summaries` document without `last_updated`: what two
    /// writes of the same session are compared on.
    pub fn content(&self) -> Value {
        let list = |set: &StrSet<'a>| -> Value {
            Value::Array(set.iter().map(|s| Value::String(s.to_string())).collect())
        };
        json!({
            "session_id": self.session_id,
            "user": self.user,
            "modules": list(&self.modules),
            "paths": list(&self.paths),
            "assetTypes": list(&self.asset_types),
            "siteTokens": list(&self.site_tokens),
            "start_time": timefmt::format_timestamp(self.start_ms),
            "end_time": timefmt::format_timestamp(self.end_ms),
            "duration_seconds": self.duration_seconds(),
            "event_count": self.event_count,
        })
    }

    /// The full document, stamped with the time of writing.
    pub fn document(&self, last_updated_ms: i64) -> Value {
        let mut doc = self.content();
        doc["last_updated"] = Value::String(timefmt::format_timestamp(last_updated_ms));
        doc
    }

    /// `document()` written straight to bytes (the same JSON, field for field).
    pub fn write_document(&self, out: &mut Vec<u8>, last_updated_ms: i64) {
        fn list(out: &mut Vec<u8>, key: &[u8], set: &StrSet<'_>) {
            out.extend_from_slice(key);
            write_str_array(out, set.iter().map(|v| v.as_ref()));
        }
        out.extend_from_slice(b"{\"session_id\":");
        write_str(out, &self.session_id);
        out.extend_from_slice(b",\"user\":");
        write_str(out, &self.user);
        list(out, b",\"modules\":", &self.modules);
        list(out, b",\"paths\":", &self.paths);
        list(out, b",\"assetTypes\":", &self.asset_types);
        list(out, b",\"siteTokens\":", &self.site_tokens);
        out.extend_from_slice(b",\"start_time\":\"");
        timefmt::write_timestamp(self.start_ms, out);
        out.extend_from_slice(b"\",\"end_time\":\"");
        timefmt::write_timestamp(self.end_ms, out);
        out.extend_from_slice(b"\",\"duration_seconds\":");
        serde_json::to_writer(&mut *out, &self.duration_seconds()).expect("Vec write");
        out.extend_from_slice(b",\"event_count\":");
        out.extend_from_slice(itoa::Buffer::new().format(self.event_count).as_bytes());
        out.extend_from_slice(b",\"last_updated\":\"");
        timefmt::write_timestamp(last_updated_ms, out);
        out.extend_from_slice(b"\"}");
    }
}

/// A stored summary without `last_updated`, to compare with `content()`.
pub fn stored_content(source: &Value) -> Option<Value> {
    let mut map: Map<String, Value> = source.as_object()?.clone();
    map.remove("last_updated");
    Some(Value::Object(map))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Ev {
        id: &'static str,
        ts: i64,
        user: Cow<'static, str>,
        path: Cow<'static, str>,
        module: Option<Cow<'static, str>>,
        site: Option<Cow<'static, str>>,
        assets: Vec<Cow<'static, str>>,
    }

    fn ev(id: &'static str, ts: i64, user: &'static str, path: &'static str) -> Ev {
        Ev {
            id,
            ts,
            user: Cow::Borrowed(user),
            path: Cow::Borrowed(path),
            module: None,
            site: None,
            assets: vec![],
        }
    }

    fn view(e: &Ev) -> EventView<'_, 'static> {
        EventView {
            id: Cow::Borrowed(e.id),
            timestamp_ms: e.ts,
            user: &e.user,
            path: &e.path,
            module: e.module.as_ref(),
            site_token: e.site.as_ref(),
            asset_types: &e.assets,
        }
    }

    fn fold(events: &[Ev]) -> SessionSummary<'static> {
        let mut s = SessionSummary::new(Cow::Borrowed("s"), view(&events[0]));
        for e in &events[1..] {
            s.add(view(e));
        }
        s
    }

    #[test]
    fn order_does_not_matter() {
        let mut a = ev("3", 3_000, "carol", "/c");
        a.module = Some(Cow::Borrowed("Assets"));
        a.assets = vec![Cow::Borrowed("pump"), Cow::Borrowed("valve")];
        let mut b = ev("1", 1_500, "alice", "/a");
        b.site = Some(Cow::Borrowed("ST-1"));
        b.assets = vec![Cow::Borrowed("pump")];
        let c = ev("2", 2_250, "bob", "/a");
        let forward = fold(&[ev("9", 9_999, "zed", "/z"), a, b, c]);
        let mut a = ev("3", 3_000, "carol", "/c");
        a.module = Some(Cow::Borrowed("Assets"));
        a.assets = vec![Cow::Borrowed("pump"), Cow::Borrowed("valve")];
        let mut b = ev("1", 1_500, "alice", "/a");
        b.site = Some(Cow::Borrowed("ST-1"));
        b.assets = vec![Cow::Borrowed("pump")];
        let backward = fold(&[
            b,
            ev("2", 2_250, "bob", "/a"),
            a,
            ev("9", 9_999, "zed", "/z"),
        ]);
        assert_eq!(forward.content(), backward.content());
        let doc = forward.content();
        assert_eq!(doc["user"], "alice");
        assert_eq!(doc["start_time"], "1970-01-01T00:00:01.500Z");
        assert_eq!(doc["end_time"], "1970-01-01T00:00:09.999Z");
        assert_eq!(doc["duration_seconds"], 8.499);
        assert_eq!(doc["event_count"], 4);
        assert_eq!(doc["paths"], json!(["/a", "/c", "/z"]));
        assert_eq!(doc["modules"], json!(["Assets"]));
        assert_eq!(doc["assetTypes"], json!(["pump", "valve"]));
        assert_eq!(doc["siteTokens"], json!(["ST-1"]));
    }

    #[test]
    fn timestamp_ties_go_to_the_smaller_event_id() {
        let one = fold(&[ev("100", 5, "late", "/a"), ev("99", 5, "early", "/a")]);
        let two = fold(&[ev("99", 5, "early", "/a"), ev("100", 5, "late", "/a")]);
        assert_eq!(one.user, "early");
        assert_eq!(two.user, "early");
    }

    #[test]
    fn single_event_sessions_last_zero_seconds() {
        let s = fold(&[ev("1", 42, "u", "/a")]);
        assert_eq!(s.content()["duration_seconds"], 0.0);
        assert_eq!(s.content()["modules"], json!([]));
    }

    #[test]
    fn written_bytes_equal_the_json_document() {
        let mut a = ev("3", 3_000, "Carol \"C\"", "/c");
        a.module = Some(Cow::Borrowed("Work Orders"));
        a.site = Some(Cow::Borrowed("ST-1"));
        a.assets = vec![Cow::Borrowed("pump"), Cow::Borrowed("valve")];
        let s = fold(&[a, ev("4", 4_123, "d", "/d\u{e9}")]);
        let mut out = Vec::new();
        s.write_document(&mut out, 77);
        let parsed: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(parsed, s.document(77));
    }

    #[test]
    fn stored_content_ignores_last_updated() {
        let s = fold(&[ev("1", 42, "u", "/a")]);
        let stored = s.document(1_000);
        assert_eq!(stored_content(&stored).unwrap(), s.content());
    }

    #[test]
    fn str_sets_keep_btree_order_small_and_large() {
        let mut set = StrSet::new();
        let mut tree = BTreeSet::new();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for i in 0..400 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let value: Cow<'static, str> = if i % 2 == 0 {
                Cow::Owned(format!("/p/{}", seed % 150))
            } else {
                Cow::Borrowed(["", "a", "B", "é", "/p/1", "/p/10", "/p/2"][(seed % 7) as usize])
            };
            set.insert(&value);
            tree.insert(value.clone());
            assert_eq!(set.len(), tree.len());
            assert!(set.iter().eq(tree.iter()), "after {i}");
            assert!(set.contains(&value));
            if i == 20 {
                assert!(matches!(set, StrSet::Small(_)));
            }
        }
        assert!(matches!(set, StrSet::Large(_)));
        assert!(!set.contains("/q"));
        let small: StrSet = {
            let mut s = StrSet::new();
            s.insert(&Cow::Borrowed("x"));
            s
        };
        let large = StrSet::Large([Cow::Borrowed("x")].into_iter().collect());
        assert_eq!(small, large);
    }

    #[test]
    fn event_id_order_is_numeric() {
        assert_eq!(compare_event_ids("9", "10"), Ordering::Less);
        assert_eq!(compare_event_ids("0010", "9"), Ordering::Greater);
        assert_eq!(compare_event_ids("b", "a"), Ordering::Greater);
    }
}
