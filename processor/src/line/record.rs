//! One log line to one request event, or the reason it is skipped.

use crate::config::{Field, Rules};
use crate::counts::Reason;
use crate::rules::{AgentMemo, noise_reason_memo};
use crate::rules::{
    lowercase, push_asset_types, scan_query, segment_after_found, split_url, trim, uppercase,
};
use crate::timefmt::{self, MAX_MS, MIN_MS};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// A kept request, ready to be stored. Strings borrow from the log message
/// where normalisation leaves them unchanged.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestEvent<'a> {
    pub timestamp_ms: i64,
    pub session_id: Cow<'a, str>,
    pub user: Cow<'a, str>,
    pub path: Cow<'a, str>,
    pub method: Option<Cow<'a, str>>,
    pub status_code: Option<i64>,
    pub response_time: Option<i64>,
    pub module: Option<Cow<'a, str>>,
    pub site_token: Option<Cow<'a, str>>,
    pub asset_types: Vec<Cow<'a, str>>,
}

/// A JSON value reduced to what the record's fields can use.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lite<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    Float(f64),
    Strs(Vec<Cow<'a, str>>),
    Other,
}

struct LiteVisitor;

impl<'de> Visitor<'de> for LiteVisitor {
    type Value = Lite<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Lite::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Lite::Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Lite::Str(Cow::Owned(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Lite::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(i64::try_from(v).map_or(Lite::Float(v as f64), Lite::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Lite::Float(v))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Lite::Other)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Lite::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut strings = Vec::new();
        while let Some(item) = seq.next_element::<Lite<'de>>()? {
            if let Lite::Str(s) = item {
                strings.push(s);
            }
        }
        Ok(Lite::Strs(strings))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Lite::Other)
    }
}

impl<'de> de::Deserialize<'de> for Lite<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LiteVisitor)
    }
}

const FIELD_COUNT: usize = 12;

/// The record's known keys, last occurrence winning as in most JSON readers.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct RawRecord<'a> {
    pub(crate) values: [Option<Lite<'a>>; FIELD_COUNT],
}

impl<'a> RawRecord<'a> {
    fn take(&mut self, field: Field) -> Option<Lite<'a>> {
        self.values[field as usize].take()
    }
}

struct KeySeed<'r>(&'r Rules);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<Field>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Option<Field>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.0.field_of(v))
    }
}

struct RecordVisitor<'r>(&'r Rules);

impl<'de> Visitor<'de> for RecordVisitor<'_> {
    type Value = RawRecord<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut record = RawRecord::default();
        while let Some(key) = map.next_key_seed(KeySeed(self.0))? {
            match key {
                Some(field) => record.values[field as usize] = Some(map.next_value()?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(record)
    }
}

/// The JSON object of a line: from the first `{` to the end of the line.
/// The usual lines are read by `fastrecord` (same result); serde_json reads
/// the others and judges whether they are JSON at all.
fn parse_object<'a>(message: &'a str, rules: &Rules) -> Option<RawRecord<'a>> {
    let start = memchr::memchr(b'{', message.as_bytes())?;
    let json = &message[start..];
    crate::line::fastrecord::parse(json, rules).or_else(|| parse_object_slow(json, rules))
}

/// `json` (from its `{`) read by serde_json with the record's visitor.
pub(crate) fn parse_object_slow<'a>(json: &'a str, rules: &Rules) -> Option<RawRecord<'a>> {
    let mut de = serde_json::Deserializer::from_str(json);
    let record = de.deserialize_map(RecordVisitor(rules)).ok()?;
    de.end().ok()?;
    Some(record)
}

fn text(value: Option<Lite<'_>>) -> Option<Cow<'_, str>> {
    match value? {
        Lite::Str(s) => Some(s),
        _ => None,
    }
}

/// A string, or an integer written as a number; trimmed; `None` if empty.
fn identifier(value: Option<Lite<'_>>) -> Option<Cow<'_, str>> {
    let value = match value? {
        Lite::Str(s) => trim(s),
        Lite::Int(i) => Cow::Owned(i.to_string()),
        _ => return None,
    };
    (!value.is_empty()).then_some(value)
}

fn timestamp(value: Option<Lite<'_>>) -> Option<i64> {
    let ms = match value? {
        Lite::Str(s) => timefmt::parse_rfc3339(&s)?,
        Lite::Int(i) => i,
        // Only integers are epoch milliseconds; `1.7e12` or `"1793…"` are not.
        _ => return None,
    };
    (MIN_MS..=MAX_MS).contains(&ms).then_some(ms)
}

fn status(value: Option<Lite<'_>>) -> Option<i64> {
    let code = match value? {
        Lite::Int(i) => i,
        Lite::Str(s) => {
            let s = s.trim();
            if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse().ok()?
        }
        _ => return None,
    };
    i32::try_from(code).is_ok().then_some(code)
}

fn milliseconds(value: Option<Lite<'_>>) -> Option<i64> {
    // A JSON number only: the contract does not allow numeric strings here.
    let ms = match value? {
        Lite::Int(i) => return Some(i),
        Lite::Float(f) => f,
        _ => return None,
    };
    (ms.is_finite() && ms.abs() < 9e15).then(|| ms.round() as i64)
}

/// Turns one log message into a request event, or says why it is skipped.
/// `fallback_ms` is the log event's own timestamp.
pub fn parse_record<'a>(
    message: &'a str,
    fallback_ms: i64,
    rules: &Rules,
) -> Result<RequestEvent<'a>, Reason> {
    parse_record_memo(message, fallback_ms, rules, &mut AgentMemo::default())
}

/// `parse_record` with the user-agent verdicts remembered from line to line.
pub(crate) fn parse_record_memo<'a>(
    message: &'a str,
    fallback_ms: i64,
    rules: &Rules,
    memo: &mut AgentMemo,
) -> Result<RequestEvent<'a>, Reason> {
    let mut raw = parse_object(message, rules).ok_or(Reason::Unparsed)?;
    from_raw(&mut raw, fallback_ms, rules, memo)
}

/// `parse_record` for a message still escaped as the content of a JSON
/// string literal (`envelope::Message::Escaped`): read in place when
/// `fastrecord` can, else unescaped and parsed (the event then owns its
/// strings).
pub fn parse_escaped_record<'a>(
    escaped: &'a str,
    fallback_ms: i64,
    rules: &Rules,
) -> Result<RequestEvent<'a>, Reason> {
    parse_escaped_record_memo(escaped, fallback_ms, rules, &mut AgentMemo::default())
}

/// `parse_escaped_record` with the user-agent verdicts remembered.
pub(crate) fn parse_escaped_record_memo<'a>(
    escaped: &'a str,
    fallback_ms: i64,
    rules: &Rules,
    memo: &mut AgentMemo,
) -> Result<RequestEvent<'a>, Reason> {
    match crate::line::fastrecord::parse_escaped(escaped, rules) {
        crate::line::fastrecord::Escaped::Record(mut raw) => {
            from_raw(&mut raw, fallback_ms, rules, memo)
        }
        crate::line::fastrecord::Escaped::NoObject => Err(Reason::Unparsed),
        crate::line::fastrecord::Escaped::Unknown => {
            let message = crate::jsonstr::unescape_content(escaped);
            parse_record_memo(&message, fallback_ms, rules, memo).map(RequestEvent::into_owned)
        }
    }
}

impl RequestEvent<'_> {
    /// The same event, owning all its strings.
    pub fn into_owned(self) -> RequestEvent<'static> {
        fn own(s: Cow<'_, str>) -> Cow<'static, str> {
            Cow::Owned(s.into_owned())
        }
        RequestEvent {
            timestamp_ms: self.timestamp_ms,
            session_id: own(self.session_id),
            user: own(self.user),
            path: own(self.path),
            method: self.method.map(own),
            status_code: self.status_code,
            response_time: self.response_time,
            module: self.module.map(own),
            site_token: self.site_token.map(own),
            asset_types: self.asset_types.into_iter().map(own).collect(),
        }
    }
}

/// The checks, normalisation and enrichment of section 3 to 5 of the log
/// contract, on the record's known keys.
pub(crate) fn from_raw<'a>(
    raw: &mut RawRecord<'a>,
    fallback_ms: i64,
    rules: &Rules,
    memo: &mut AgentMemo,
) -> Result<RequestEvent<'a>, Reason> {
    let kind = text(raw.take(Field::Kind)).ok_or(Reason::NotRequest)?;
    let kind = lowercase(trim(kind));
    if !rules.request_types.iter().any(|t| *t == kind) {
        return Err(Reason::NotRequest);
    }
    let session_id = identifier(raw.take(Field::SessionId)).ok_or(Reason::NoSession)?;
    let user = identifier(raw.take(Field::User))
        .map(lowercase)
        .ok_or(Reason::NoUser)?;
    let url = text(raw.take(Field::Url))
        .map(trim)
        .filter(|u| !u.is_empty())
        .ok_or(Reason::NoUrl)?;
    let method = text(raw.take(Field::Method))
        .map(|m| uppercase(trim(m)))
        .filter(|m| !m.is_empty());
    let user_agent = text(raw.take(Field::UserAgent));

    let (path, query): (Cow<'a, str>, Option<Cow<'a, str>>) = match url {
        Cow::Borrowed(u) => {
            let (p, q) = split_url(u);
            (Cow::Borrowed(p), q.map(Cow::Borrowed))
        }
        Cow::Owned(u) => {
            let (p, q) = split_url(&u);
            (
                Cow::Owned(p.to_string()),
                q.map(|q| Cow::Owned(q.to_string())),
            )
        }
    };
    if path.is_empty() {
        return Err(Reason::NoUrl);
    }
    if let Some(reason) = noise_reason_memo(
        rules,
        method.as_deref(),
        &path,
        user_agent.as_deref(),
        &user,
        memo,
    ) {
        return Err(reason);
    }

    let timestamp_ms = timestamp(raw.take(Field::Timestamp))
        .or_else(|| {
            (MIN_MS..=MAX_MS)
                .contains(&fallback_ms)
                .then_some(fallback_ms)
        })
        .ok_or(Reason::Unparsed)?;
    let module = if rules.module_types.iter().any(|t| *t == kind) {
        text(raw.take(Field::Module))
            .map(trim)
            .filter(|m| !m.is_empty())
    } else {
        None
    };

    let mut asset_types = Vec::new();
    let site_from_query = match &query {
        Some(Cow::Borrowed(q)) => scan_query(
            q,
            &rules.site_query_parameter,
            &rules.asset_query_parameter,
            &rules.asset_separator,
            &mut asset_types,
        ),
        Some(Cow::Owned(q)) => {
            let mut borrowed = Vec::new();
            let site = scan_query(
                q,
                &rules.site_query_parameter,
                &rules.asset_query_parameter,
                &rules.asset_separator,
                &mut borrowed,
            );
            asset_types.extend(borrowed.into_iter().map(|a| Cow::Owned(a.into_owned())));
            site.map(|s| Cow::Owned(s.into_owned()))
        }
        None => None,
    };
    let site_token = text(raw.take(Field::SiteToken))
        .map(trim)
        .filter(|s| !s.is_empty())
        .or_else(|| match &path {
            Cow::Borrowed(p) => segment_after_found(p, &rules.site_path_finder).map(Cow::Borrowed),
            Cow::Owned(p) => {
                segment_after_found(p, &rules.site_path_finder).map(|s| Cow::Owned(s.to_string()))
            }
        })
        .or(site_from_query);

    match raw.take(Field::AssetTypes) {
        Some(Lite::Strs(values)) => {
            for value in values {
                push_asset_types(value, &rules.asset_separator, &mut asset_types);
            }
        }
        Some(Lite::Str(value)) => push_asset_types(value, &rules.asset_separator, &mut asset_types),
        _ => {}
    }

    Ok(RequestEvent {
        timestamp_ms,
        session_id,
        user,
        path,
        method,
        status_code: status(raw.take(Field::Status)),
        response_time: milliseconds(raw.take(Field::ResponseTime)),
        module,
        site_token,
        asset_types,
    })
}

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;
