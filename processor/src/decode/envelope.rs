//! The CloudWatch Logs envelope: `{"awslogs":{"data":"<base64(gzip(JSON))>"}}`
//! decoded into a batch whose strings borrow from the inflated payload.
//!
//! `aws_lambda_events::cloudwatch_logs::LogsEvent` decodes the same format,
//! but inside deserialisation: a bad payload would then fail the invocation
//! (and be retried forever) instead of being dead-lettered with its reason,
//! and every message would be copied. This module keeps both decisions here.

use base64::Engine;
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;
use std::io::Read;

/// An inflated payload larger than this is refused rather than risking the
/// Lambda's memory; CloudWatch Logs batches are far smaller.
pub const MAX_INFLATED_BYTES: u64 = 48 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("the event is not {{\"awslogs\":{{\"data\":\"…\"}}}}: {0}")]
    Envelope(String),
    #[error("awslogs.data is not valid base64: {0}")]
    Base64(base64::DecodeError),
    #[error("awslogs.data is not valid gzip: {0}")]
    Gzip(std::io::Error),
    #[error("awslogs.data inflates to more than {MAX_INFLATED_BYTES} bytes")]
    TooLarge,
    #[error("the inflated payload is not a CloudWatch Logs document: {0}")]
    Payload(serde_json::Error),
}

impl DecodeError {
    /// The reason recorded in the dead-letter index.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::Envelope(_) => "bad_envelope",
            DecodeError::Base64(_) => "bad_base64",
            DecodeError::Gzip(_) => "bad_gzip",
            DecodeError::TooLarge => "payload_too_large",
            DecodeError::Payload(_) => "bad_payload_json",
        }
    }
}

/// The Lambda event exactly as CloudWatch Logs sends it.
#[derive(Debug, Deserialize)]
pub struct RawLogsEvent {
    pub awslogs: RawAwsLogs,
}

#[derive(Debug, Deserialize)]
pub struct RawAwsLogs {
    pub data: String,
}

impl RawLogsEvent {
    pub fn from_slice(bytes: &[u8]) -> Result<Self, DecodeError> {
        serde_json::from_slice(bytes).map_err(|e| DecodeError::Envelope(e.to_string()))
    }
}

/// `awslogs.data` of a Lambda event already parsed as JSON.
pub fn awslogs_data(event: &serde_json::Value) -> Result<&str, DecodeError> {
    match event.get("awslogs").and_then(|a| a.get("data")) {
        Some(serde_json::Value::String(data)) => Ok(data),
        Some(_) => Err(DecodeError::Envelope("awslogs.data is not a string".into())),
        None => Err(DecodeError::Envelope("no awslogs.data field".into())),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogBatch<'a> {
    #[serde(borrow)]
    pub message_type: Cow<'a, str>,
    #[serde(borrow, default)]
    pub owner: Cow<'a, str>,
    #[serde(borrow, default)]
    pub log_group: Cow<'a, str>,
    #[serde(borrow, default)]
    pub log_stream: Cow<'a, str>,
    #[serde(borrow, default)]
    pub log_events: Vec<LogEvent<'a>>,
}

#[derive(Debug, Deserialize)]
pub struct LogEvent<'a> {
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    pub timestamp: i64,
    #[serde(borrow)]
    pub message: Message<'a>,
}

/// A log event's message. The fast batch reader leaves a message that has
/// escapes as it is in the document (`Escaped`): the line is read from
/// there in place (`record::parse_escaped_record`), and unescaped only when
/// its text is needed (`text`, `Display`, dead letters).
#[derive(Clone)]
pub enum Message<'a> {
    Text(Cow<'a, str>),
    /// The content of a valid JSON string literal (between its quotes),
    /// escapes and all.
    Escaped(&'a str),
}

impl<'a> Message<'a> {
    /// The message's text.
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            Message::Text(text) => Cow::Borrowed(text),
            Message::Escaped(raw) => Cow::Owned(crate::jsonstr::unescape_content(raw)),
        }
    }
}

impl fmt::Display for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

/// As the text, whichever form the message is in.
impl fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text(), f)
    }
}

impl PartialEq<&str> for Message<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.text() == *other
    }
}

/// Borrows from the document when the string has no escapes, as
/// `#[serde(borrow)] Cow<str>` does.
impl<'de: 'a, 'a> Deserialize<'de> for Message<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> serde::de::Visitor<'de> for TextVisitor {
            type Value = Message<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Message::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Message::Text(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Message::Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(TextVisitor)
    }
}

impl LogBatch<'_> {
    /// A reachability probe from CloudWatch Logs: acknowledged, never stored.
    pub fn is_control_message(&self) -> bool {
        self.message_type == "CONTROL_MESSAGE"
    }
}

/// Standard base64, with or without padding: CloudWatch Logs pads, but
/// `aws_lambda_events` (and so events built with it) does not.
pub(crate) const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// base64 then gunzip `awslogs.data` into the JSON document it carries.
pub fn inflate(data: &str) -> Result<Vec<u8>, DecodeError> {
    let data = data.trim();
    // SIMD decoding accepts only canonical padded base64, a subset of what
    // BASE64 accepts, with the same bytes; BASE64 judges everything else.
    let compressed = match base64_simd::STANDARD.decode_to_vec(data) {
        Ok(bytes) => bytes,
        Err(_) => BASE64.decode(data).map_err(DecodeError::Base64)?,
    };
    if let Some(json) = inflate_single_member(&compressed) {
        return Ok(json);
    }
    let mut out = Vec::with_capacity(compressed.len().saturating_mul(8).min(16 << 20));
    let mut reader =
        flate2::bufread::MultiGzDecoder::new(&compressed[..]).take(MAX_INFLATED_BYTES + 1);
    reader.read_to_end(&mut out).map_err(DecodeError::Gzip)?;
    if out.len() as u64 > MAX_INFLATED_BYTES {
        return Err(DecodeError::TooLarge);
    }
    Ok(out)
}

/// The fast path: libdeflate inflates a whole single-member gzip stream
/// about twice as fast as a streaming inflater, into a buffer sized by the
/// gzip trailer. `None` sends anything unusual (several members, bytes
/// after the member, a wrong size, corrupt data) to the streaming path,
/// which reports errors.
fn inflate_single_member(compressed: &[u8]) -> Option<Vec<u8>> {
    let trailer = compressed.len().checked_sub(8)?;
    let size = u32::from_le_bytes(compressed[trailer + 4..].try_into().ok()?) as usize;
    if size as u64 > MAX_INFLATED_BYTES {
        return None;
    }
    let mut out = SPARE.with(|spare| std::mem::take(&mut *spare.borrow_mut()));
    // Only bytes past the spare's length are zeroed; libdeflate overwrites
    // the rest, and a size that does not match sends the payload on.
    out.resize(size, 0);
    let inflated = DECOMPRESSOR.with(|d| d.borrow_mut().gzip_decompress(compressed, &mut out));
    match inflated {
        Ok(n) if n == size && only_member(compressed) => Some(out),
        _ => None,
    }
}

/// Whether the member libdeflate inflated is all of `compressed`.
/// libdeflate reads the first member and ignores whatever follows it
/// (another member of the same size, or junk, which the streaming path
/// inflates or refuses); it checks that member's trailer, whose last four
/// bytes are the size inflated, which the caller found equal to the
/// stream's last four. A member that ended earlier left those four bytes
/// before the end, so they must occur nowhere else after the 10-byte
/// header. One search of the compressed bytes (about 1.5% of inflating
/// them); the four bytes turning up elsewhere by chance only costs the
/// streaming path.
fn only_member(compressed: &[u8]) -> bool {
    let end = compressed.len() - 1;
    memchr::memmem::find(&compressed[end.min(10)..end], &compressed[end - 3..]).is_none()
}

/// Hands an inflated document back once its batch is done: the next
/// `inflate` on this thread writes into it rather than into a new, zeroed
/// buffer (the Lambda keeps one between invocations).
pub fn recycle(json: Vec<u8>) {
    if json.capacity() as u64 <= MAX_INFLATED_BYTES {
        SPARE.with(|spare| *spare.borrow_mut() = json);
    }
}

thread_local! {
    /// The buffer `recycle` was last given.
    static SPARE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    /// One decompressor per thread, reused from payload to payload: making
    /// one allocates and clears about 11 KB of tables.
    static DECOMPRESSOR: std::cell::RefCell<libdeflater::Decompressor> =
        std::cell::RefCell::new(libdeflater::Decompressor::new());
}

/// The lines of a batch that `parse_batch_reading` read in place, in the
/// order of its log events (empty when none were).
#[derive(Debug, Default)]
pub struct ReadLines<'a>(pub(crate) crate::decode::fastbatch::ReadLines<'a>);

/// `parse_batch`, reading each message's line in place as it is met where it
/// can (the fast path: one pass over each message instead of one to
/// validate it and one to read it); `batch::process_read_batch` takes both.
pub fn parse_batch_reading<'a>(
    json: &'a [u8],
    rules: &crate::config::Rules,
) -> Result<(LogBatch<'a>, ReadLines<'a>), DecodeError> {
    if let Ok(text) = utf8(json)
        && let Some((batch, lines)) = crate::decode::fastbatch::parse_reading(text, Some(rules))
    {
        return Ok((batch, ReadLines(lines)));
    }
    parse_batch(json).map(|batch| (batch, ReadLines::default()))
}

/// The whole inflated document as text. simdutf8 checks 32 bytes at a time
/// and accepts exactly what `std::str::from_utf8` accepts; on a failure
/// only the fact is used (serde_json then reports where).
fn utf8(json: &[u8]) -> Result<&str, simdutf8::basic::Utf8Error> {
    simdutf8::basic::from_utf8(json)
}

/// Parses an inflated payload; strings borrow from it where they can.
pub fn parse_batch(json: &[u8]) -> Result<LogBatch<'_>, DecodeError> {
    // Validating UTF-8 once for the whole buffer is cheaper than string by
    // string; invalid UTF-8 is left to serde_json to report precisely.
    // The usual shape is read by hand (same result); serde_json reads
    // everything else and reports what is wrong.
    match utf8(json) {
        Ok(text) => match crate::decode::fastbatch::parse(text) {
            Some(batch) => Ok(batch),
            None => serde_json::from_str(text),
        },
        Err(_) => serde_json::from_slice(json),
    }
    .map_err(DecodeError::Payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    pub(crate) fn encode(doc: &str) -> String {
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(doc.as_bytes()).unwrap();
        base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap())
    }

    #[test]
    fn decodes_a_data_message() {
        let doc = r#"{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"/ironman/app","logStream":"s1","subscriptionFilters":["f"],"logEvents":[{"id":"1","timestamp":5,"message":"INFO {\"a\":1}"}]}"#;
        let event = format!(r#"{{"awslogs":{{"data":"{}"}}}}"#, encode(doc));
        let raw = RawLogsEvent::from_slice(event.as_bytes()).unwrap();
        let json = inflate(&raw.awslogs.data).unwrap();
        let batch = parse_batch(&json).unwrap();
        assert!(!batch.is_control_message());
        assert_eq!(batch.log_group, "/ironman/app");
        assert_eq!(batch.log_events.len(), 1);
        assert_eq!(batch.log_events[0].message, "INFO {\"a\":1}");
    }

    #[test]
    fn each_broken_layer_has_its_reason() {
        assert_eq!(
            RawLogsEvent::from_slice(b"{}").unwrap_err().reason(),
            "bad_envelope"
        );
        let err = awslogs_data(&serde_json::json!({"awslogs": {"data": 3}})).unwrap_err();
        assert_eq!(err.reason(), "bad_envelope");
        assert!(err.to_string().contains("not a string"), "{err}");
        assert_eq!(inflate("not base64!").unwrap_err().reason(), "bad_base64");
        let not_gzip = base64::engine::general_purpose::STANDARD.encode(b"plain text");
        assert_eq!(inflate(&not_gzip).unwrap_err().reason(), "bad_gzip");
        let json = inflate(&encode("[1,2]")).unwrap();
        assert_eq!(parse_batch(&json).unwrap_err().reason(), "bad_payload_json");
    }

    #[test]
    fn base64_with_or_without_padding() {
        let doc = r#"{"messageType":"DATA_MESSAGE","logEvents":[]}"#;
        let padded = encode(doc);
        let unpadded = padded.trim_end_matches('=');
        assert_ne!(padded, unpadded, "this sample needs padding");
        assert_eq!(inflate(&padded).unwrap(), inflate(unpadded).unwrap());
    }

    #[test]
    fn simd_base64_agrees_with_the_base64_crate() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let symbols = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ ";
        for _ in 0..20_000 {
            let len = (next() % if next() % 2 == 0 { 13 } else { 90 }) as usize;
            let text: String = (0..len)
                .map(|_| {
                    let r = next() as usize;
                    // Mostly valid symbols, sometimes padding or junk.
                    symbols[if r.is_multiple_of(97) {
                        r % symbols.len()
                    } else {
                        r % 64
                    }] as char
                })
                .collect();
            if let Ok(fast) = base64_simd::STANDARD.decode_to_vec(&text) {
                assert_eq!(Ok(fast), BASE64.decode(&text), "{text:?}");
            }
        }
        for _ in 0..200 {
            let bytes: Vec<u8> = (0..next() % 200).map(|_| next() as u8).collect();
            let text = base64::engine::general_purpose::STANDARD.encode(&bytes);
            assert_eq!(base64_simd::STANDARD.decode_to_vec(&text).unwrap(), bytes);
        }
    }

    #[test]
    fn a_recycled_buffer_gives_the_same_documents() {
        // Longer, then shorter, then longer again than the buffer handed
        // back: stale bytes never show, whatever the spare's length.
        let docs = [
            format!(
                r#"{{"messageType":"DATA_MESSAGE","logEvents":[],"pad":"{}"}}"#,
                "x".repeat(500)
            ),
            r#"{"messageType":"DATA_MESSAGE","logEvents":[]}"#.to_string(),
            format!(
                r#"{{"messageType":"DATA_MESSAGE","logEvents":[],"pad":"{}"}}"#,
                "y".repeat(900)
            ),
            "[1,2]".to_string(),
        ];
        for doc in docs.iter().chain(docs.iter().rev()) {
            let json = inflate(&encode(doc)).unwrap();
            assert_eq!(json, doc.as_bytes());
            recycle(json);
        }
        // A payload that fails to inflate leaves nothing behind either.
        let whole = base64::engine::general_purpose::STANDARD
            .decode(encode(&docs[0]))
            .unwrap();
        let cut = base64::engine::general_purpose::STANDARD.encode(&whole[..whole.len() - 6]);
        assert_eq!(inflate(&cut).unwrap_err().reason(), "bad_gzip");
        assert_eq!(inflate(&encode(&docs[1])).unwrap(), docs[1].as_bytes());
    }

    #[test]
    fn several_gzip_members_and_truncation() {
        let doc = r#"{"messageType":"DATA_MESSAGE","logEvents":[]}"#;
        let (a, b) = doc.split_at(20);
        let mut joined = Vec::new();
        for part in [a, b] {
            let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
            gz.write_all(part.as_bytes()).unwrap();
            joined.extend(gz.finish().unwrap());
        }
        let data = base64::engine::general_purpose::STANDARD.encode(&joined);
        assert_eq!(inflate(&data).unwrap(), doc.as_bytes());
        let whole = base64::engine::general_purpose::STANDARD
            .decode(encode(doc))
            .unwrap();
        let cut = base64::engine::general_purpose::STANDARD.encode(&whole[..whole.len() - 6]);
        assert_eq!(inflate(&cut).unwrap_err().reason(), "bad_gzip");
    }

    /// Found by the property test (`differential_tests.rs`): libdeflate
    /// inflated the first of two members whose sizes matched and ignored
    /// the second.
    #[test]
    fn every_member_of_a_stream_is_inflated() {
        let gzip = |part: &str| {
            let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
            gz.write_all(part.as_bytes()).unwrap();
            gz.finish().unwrap()
        };
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        // Two members of the same size, then of the same content.
        for (a, b) in [("{", "\""), ("ab", "ab"), ("{\"m\":", "\"x\"}")] {
            let joined = [gzip(a), gzip(b)].concat();
            assert!(inflate_single_member(&joined).is_none(), "{a}{b}");
            assert_eq!(
                inflate(&b64(&joined)).unwrap(),
                format!("{a}{b}").as_bytes()
            );
        }
        // A member, then junk ending with a copy of its trailer (which
        // libdeflate alone would take for its end): refused as the
        // streaming path refuses junk after a member.
        let member = gzip("{}");
        let trailer = member[member.len() - 8..].to_vec();
        for junk in [trailer.clone(), [&[0u8][..], &trailer].concat()] {
            let stream = [member.clone(), junk].concat();
            assert!(inflate_single_member(&stream).is_none());
            let data = b64(&stream);
            assert_eq!(inflate(&data).unwrap_err().reason(), "bad_gzip");
        }
        // A single member still takes the fast path.
        assert_eq!(inflate_single_member(&member).unwrap(), b"{}");
        assert_eq!(inflate(&b64(&member)).unwrap(), b"{}");
    }

    #[test]
    fn control_messages_are_recognised() {
        let doc = r#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1,"message":"CWL CONTROL MESSAGE: Checking health of destination"}]}"#;
        let json = inflate(&encode(doc)).unwrap();
        assert!(parse_batch(&json).unwrap().is_control_message());
    }
}
