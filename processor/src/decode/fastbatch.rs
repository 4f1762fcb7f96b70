//! A hand-written reader for the usual shape of a CloudWatch Logs document,
//! the fast path of `envelope::parse_batch`.
//!
//! It accepts only a subset of what `serde_json` accepts for `LogBatch`, and
//! gives the same batch for it; anything else (an unknown key whose value is
//! not a string or an array of strings, a duplicate key, a float timestamp,
//! an escaped key, a lone surrogate, any syntax error…) returns `None`, and
//! `serde_json` then reads the document and reports errors as before.
//! A message with escapes is only validated and left escaped
//! (`Message::Escaped`): the line is read from there in place, and copied
//! out (`unescape_content`) only when its text is needed. Other strings are
//! unescaped in one pass over their bytes: serde_json's string reader
//! restarts at every escape.

use crate::config::Rules;
use crate::decode::{LogBatch, LogEvent, Message};
use crate::jsonstr::{SPECIAL, hex4, special_bytes, special_from};
use crate::line::LineKind;
use crate::line::RawRecord;
use crate::line::fastrecord::read_in_document;
use std::borrow::Cow;

/// Where the escape at `at` (a backslash) of a string that is kept ends:
/// `None` for an unknown escape or a lone surrogate (serde_json refuses both
/// in a string it reads).
#[inline]
fn escape_end(bytes: &[u8], at: usize) -> Option<usize> {
    match *bytes.get(at + 1)? {
        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(at + 2),
        b'u' => match hex4(bytes.get(at + 2..)?)? {
            0xD800..=0xDBFF => {
                let rest = bytes.get(at + 6..at + 12)?;
                let low = hex4(&rest[2..])?;
                (rest[..2] == *b"\\u" && (0xDC00..=0xDFFF).contains(&low)).then_some(at + 12)
            }
            0xDC00..=0xDFFF => None,
            _ => Some(at + 6),
        },
        _ => None,
    }
}

struct Reader<'a, 'r> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    /// Unescaped bytes of the current string, reused from string to string.
    scratch: Vec<u8>,
    /// With rules, each message's line is read in place as the message is
    /// met (`fastrecord::read_in_document`), which also validates it, into
    /// `lines` (one per log event).
    rules: Option<&'r Rules>,
    lines: ReadLines<'a>,
    /// At most this many lines are read in place (see `MAX_READ_LINES`).
    max_lines: usize,
    /// Whether the current log event has a slot in `lines`.
    slot: bool,
}

/// A record takes ~400 bytes whatever the line's length, so reading lines in
/// place is capped per batch: 32,768 lines (~13 MB) covers a 1 MB payload of
/// short lines three times over; the lines beyond take the general path, so
/// a batch of very many tiny lines cannot take memory in proportion.
pub(crate) const MAX_READ_LINES: usize = 32_768;

/// Lines read in place, one per log event in order: what each is, and its
/// record when it was read.
#[derive(Debug, Default)]
pub(crate) struct ReadLines<'a> {
    pub(crate) kinds: Vec<LineKind>,
    pub(crate) records: Vec<RawRecord<'a>>,
}

impl<'a> Reader<'a, '_> {
    /// JSON whitespace, as serde_json skips it.
    #[inline]
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    #[inline]
    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.bytes.get(self.at).copied()
    }

    #[inline]
    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// A string literal (after whitespace): borrowed when it has no escape.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.eat(b'"')?;
        let start = self.at;
        self.at = special_from(self.bytes, start)?;
        match self.bytes[self.at] {
            b'"' => {
                self.at += 1;
                Some(Cow::Borrowed(&self.text[start..self.at - 1]))
            }
            b'\\' => self.unescape(start).map(Cow::Owned),
            // An unescaped control character.
            _ => None,
        }
    }

    /// The rest of a string from its first escape (at `self.at`): runs of
    /// plain bytes are copied eight at a time as they are scanned, then the
    /// bytes past the special one are dropped again.
    fn unescape(&mut self, start: usize) -> Option<String> {
        let bytes = self.bytes;
        let out = &mut self.scratch;
        out.clear();
        out.extend_from_slice(&bytes[start..self.at]);
        let mut at = self.at;
        loop {
            // `at` is on a special byte.
            match bytes[at] {
                b'"' => {
                    self.at = at + 1;
                    // Runs were cut at ASCII bytes of valid UTF-8 and escapes
                    // pushed whole characters: this never fails.
                    return String::from_utf8(out.clone()).ok();
                }
                b'\\' => {
                    let escape = *bytes.get(at + 1)?;
                    at += 2;
                    match escape {
                        b'"' => out.push(b'"'),
                        b'\\' => out.push(b'\\'),
                        b'/' => out.push(b'/'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let unit = hex4(&bytes[at..])?;
                            at += 4;
                            let code = match unit {
                                0xD800..=0xDBFF => {
                                    // Only a well-formed pair; serde_json
                                    // judges anything else.
                                    let rest = bytes.get(at..)?;
                                    if rest.len() < 6 || rest[0] != b'\\' || rest[1] != b'u' {
                                        return None;
                                    }
                                    let low = hex4(&rest[2..])?;
                                    if !(0xDC00..=0xDFFF).contains(&low) {
                                        return None;
                                    }
                                    at += 6;
                                    0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                                }
                                0xDC00..=0xDFFF => return None,
                                _ => unit,
                            };
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(
                                char::from_u32(code)?.encode_utf8(&mut buf).as_bytes(),
                            );
                        }
                        _ => return None,
                    }
                }
                // An unescaped control character.
                _ => return None,
            }
            // Copy up to the next special byte.
            loop {
                let Some(chunk) = bytes.get(at..at + 8) else {
                    loop {
                        let b = *bytes.get(at)?;
                        if SPECIAL[b as usize] {
                            break;
                        }
                        out.push(b);
                        at += 1;
                    }
                    break;
                };
                let chunk: [u8; 8] = chunk.try_into().expect("eight bytes");
                out.extend_from_slice(&chunk);
                let found = special_bytes(u64::from_le_bytes(chunk));
                if found != 0 {
                    let k = (found.trailing_zeros() / 8) as usize;
                    out.truncate(out.len() - 8 + k);
                    at += k;
                    break;
                }
                at += 8;
            }
        }
    }

    /// A message: borrowed when it has no escape, else validated as
    /// serde_json reads a string (known escapes, surrogates in pairs) and
    /// left escaped.
    fn message(&mut self) -> Option<Message<'a>> {
        self.eat(b'"')?;
        let start = self.at;
        let bytes = self.bytes;
        let mut at = special_from(bytes, start)?;
        let mut escaped = false;
        loop {
            match bytes[at] {
                b'"' => {
                    self.at = at + 1;
                    let content = &self.text[start..at];
                    return Some(if escaped {
                        Message::Escaped(content)
                    } else {
                        Message::Text(Cow::Borrowed(content))
                    });
                }
                b'\\' => {
                    escaped = true;
                    at = escape_end(bytes, at)?;
                }
                // An unescaped control character.
                _ => return None,
            }
            at = special_from(bytes, at)?;
        }
    }

    /// A key: a string without escapes, then `:`.
    fn key(&mut self) -> Option<&'a str> {
        match self.string()? {
            Cow::Borrowed(key) => {
                self.eat(b':')?;
                Some(key)
            }
            Cow::Owned(_) => None,
        }
    }

    /// `,` (true) or the closing byte (false) after a member or element.
    fn next(&mut self, close: u8) -> Option<bool> {
        match self.peek()? {
            b',' => {
                self.at += 1;
                Some(true)
            }
            b if b == close => {
                self.at += 1;
                Some(false)
            }
            _ => None,
        }
    }

    /// An integer that fits an `i64`, in JSON's syntax (no leading zeros).
    fn integer(&mut self) -> Option<i64> {
        self.skip_ws();
        let negative = self.bytes.get(self.at) == Some(&b'-');
        if negative {
            self.at += 1;
        }
        let first = *self.bytes.get(self.at)?;
        let mut value: i64 = match first {
            b'0' => 0,
            b'1'..=b'9' => i64::from(first - b'0'),
            _ => return None,
        };
        self.at += 1;
        if first != b'0' {
            while let Some(&b @ b'0'..=b'9') = self.bytes.get(self.at) {
                value = value.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
                self.at += 1;
            }
        }
        // A fraction, an exponent or a leading zero is serde_json's to judge,
        // and so is `-0`, which it reads as the float -0.0 (not an i64).
        if let Some(b'0'..=b'9' | b'.' | b'e' | b'E') = self.bytes.get(self.at) {
            return None;
        }
        if negative && value == 0 {
            return None;
        }
        Some(if negative { -value } else { value })
    }

    /// A value of a key `LogBatch` ignores: only a string or an array of
    /// strings (`subscriptionFilters`) is read here.
    fn skip_value(&mut self) -> Option<()> {
        if self.peek()? == b'[' {
            self.at += 1;
            if self.peek()? == b']' {
                self.at += 1;
                return Some(());
            }
            loop {
                self.string()?;
                if !self.next(b']')? {
                    return Some(());
                }
            }
        }
        self.string().map(drop)
    }

    /// A message; with rules, its line is read in place into the last of
    /// `lines` where it can be.
    fn message_and_line(&mut self) -> Option<Message<'a>> {
        if let Some(rules) = self.rules
            && self.slot
            && self.peek()? == b'"'
            && let (Some(kind), Some(record)) =
                (self.lines.kinds.last_mut(), self.lines.records.last_mut())
        {
            let start = self.at + 1;
            match read_in_document(self.text, start, rules, record) {
                Some((read, end)) => {
                    *kind = read;
                    self.at = end + 1;
                    let content = &self.text[start..end];
                    return Some(if memchr::memchr(b'\\', content.as_bytes()).is_some() {
                        Message::Escaped(content)
                    } else {
                        Message::Text(Cow::Borrowed(content))
                    });
                }
                None => *record = RawRecord::default(),
            }
        }
        self.message()
    }

    fn log_event(&mut self) -> Option<LogEvent<'a>> {
        self.eat(b'{')?;
        let (mut id, mut timestamp, mut message) = (None, None, None);
        if self.peek()? != b'}' {
            loop {
                match self.key()? {
                    "id" if id.is_none() => id = Some(self.string()?),
                    "timestamp" if timestamp.is_none() => timestamp = Some(self.integer()?),
                    "message" if message.is_none() => message = Some(self.message_and_line()?),
                    _ => return None,
                }
                if !self.next(b'}')? {
                    break;
                }
            }
        } else {
            self.at += 1;
        }
        Some(LogEvent {
            id: id?,
            timestamp: timestamp?,
            message: message?,
        })
    }

    fn log_events(&mut self) -> Option<Vec<LogEvent<'a>>> {
        self.eat(b'[')?;
        // Growing these by doubling copied them several times per batch
        // (the records are large); a log event takes a few hundred bytes of
        // the document, so this rarely needs to grow and never reserves
        // much more than the batch needs.
        let estimate = (self.bytes.len() - self.at) / 384 + 4;
        let mut events = Vec::with_capacity(estimate);
        if self.rules.is_some() {
            self.lines.kinds.reserve(estimate.min(self.max_lines));
            self.lines.records.reserve(estimate.min(self.max_lines));
        }
        if self.peek()? == b']' {
            self.at += 1;
            return Some(events);
        }
        loop {
            self.slot = self.rules.is_some() && self.lines.records.len() < self.max_lines;
            if self.slot {
                self.lines.kinds.push(LineKind::Unknown);
                // Built in place: a push builds the large record on the
                // stack and copies it (a call to memcpy per line).
                let n = self.lines.records.len();
                self.lines.records.resize_with(n + 1, RawRecord::default);
            }
            events.push(self.log_event()?);
            if !self.next(b']')? {
                return Some(events);
            }
        }
    }
}

/// The batch, if the document has the usual shape; `None` otherwise.
pub fn parse(text: &str) -> Option<LogBatch<'_>> {
    parse_reading(text, None).map(|(batch, _)| batch)
}

/// `parse`, and with `rules` each message's line read in place where it
/// can be (`None` for a line left to the general path; no lines without
/// rules).
pub(crate) fn parse_reading<'a>(
    text: &'a str,
    rules: Option<&Rules>,
) -> Option<(LogBatch<'a>, ReadLines<'a>)> {
    parse_reading_at_most(text, rules, MAX_READ_LINES)
}

/// `parse_reading` with the lines read in place capped at `max_lines`.
pub(crate) fn parse_reading_at_most<'a>(
    text: &'a str,
    rules: Option<&Rules>,
    max_lines: usize,
) -> Option<(LogBatch<'a>, ReadLines<'a>)> {
    let mut r = Reader {
        text,
        bytes: text.as_bytes(),
        at: 0,
        scratch: Vec::new(),
        rules,
        lines: ReadLines::default(),
        max_lines,
        slot: false,
    };
    r.eat(b'{')?;
    let (mut message_type, mut owner, mut log_group, mut log_stream, mut log_events) =
        (None, None, None, None, None);
    if r.peek()? != b'}' {
        loop {
            match r.key()? {
                "messageType" if message_type.is_none() => message_type = Some(r.string()?),
                "owner" if owner.is_none() => owner = Some(r.string()?),
                "logGroup" if log_group.is_none() => log_group = Some(r.string()?),
                "logStream" if log_stream.is_none() => log_stream = Some(r.string()?),
                "logEvents" if log_events.is_none() => log_events = Some(r.log_events()?),
                "messageType" | "owner" | "logGroup" | "logStream" | "logEvents" => return None,
                _ => r.skip_value()?,
            }
            if !r.next(b'}')? {
                break;
            }
        }
    } else {
        r.at += 1;
    }
    r.skip_ws();
    if r.at != r.bytes.len() {
        return None;
    }
    let log_events = log_events.unwrap_or_default();
    let batch = LogBatch {
        message_type: message_type?,
        owner: owner.unwrap_or_default(),
        log_group: log_group.unwrap_or_default(),
        log_stream: log_stream.unwrap_or_default(),
        log_events,
    };
    Some((batch, r.lines))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jsonstr::has_special;

    #[test]
    fn special_bytes_are_found_at_every_length_and_position() {
        // Every byte value, alone among plain bytes, at every position of
        // slices long and short enough to take each path (16 at a time,
        // 8 at a time, byte by byte; overlapping words).
        for len in 0..48 {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = b;
                    let first = bytes.iter().position(|&b| SPECIAL[b as usize]);
                    assert_eq!(special_from(&bytes, 0), first, "{b:#x} at {at} of {len}");
                    assert_eq!(
                        has_special(&bytes),
                        first.is_some(),
                        "{b:#x} at {at} of {len}"
                    );
                }
            }
            assert_eq!(special_from(&vec![0xC3; len], 0), None);
            assert!(!has_special(&vec![b'~'; len]));
        }
        // The first of two is found, from any start.
        let mut bytes = vec![b'x'; 40];
        bytes[21] = b'\\';
        bytes[33] = b'"';
        assert_eq!(special_from(&bytes, 0), Some(21));
        assert_eq!(special_from(&bytes, 22), Some(33));
        assert_eq!(special_from(&bytes, 34), None);
    }

    /// The fast path gives serde_json's batch, or leaves the document to it.
    fn check(doc: &str) -> bool {
        let slow: Result<LogBatch, _> = serde_json::from_str(doc);
        match (parse(doc), slow) {
            (Some(fast), Ok(slow)) => {
                assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "{doc}");
                true
            }
            (Some(fast), Err(e)) => panic!("{doc}: fast path accepted {fast:?}, serde_json: {e}"),
            (None, _) => false,
        }
    }

    fn events(inner: &str) -> String {
        format!(
            r#"{{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"/g","logStream":"s","subscriptionFilters":["f"],"logEvents":[{inner}]}}"#
        )
    }

    #[test]
    fn usual_documents_take_the_fast_path() {
        for doc in [
            events(r#"{"id":"1","timestamp":5,"message":"INFO {\"a\":1}"}"#),
            events(r#"{"id":"1","timestamp":-5,"message":"x"},{"message":"y","timestamp":0,"id":"2"}"#),
            events(""),
            r#" { "messageType" : "CONTROL_MESSAGE" , "logEvents" : [ ] } "#.to_string(),
            r#"{"messageType":"D","subscriptionFilters":[],"x":"y","logEvents":[]}"#.to_string(),
            r#"{"messageType":"D"}"#.to_string(),
            events(r#"{"id":"1","timestamp":9223372036854775807,"message":"\"\\\/\b\f\n\r\t\u00e9\u0000\uD83D\uDE00 é ✓"}"#),
            events(r#"{"id":"\u0031","timestamp":-9223372036854775807,"message":""}"#),
            "{\"messageType\":\"D\",\n\t\"logEvents\":[{\"id\":\"1\",\r\"timestamp\":1,\"message\":\"a\\\"\"}]}\n".to_string(),
        ] {
            assert!(check(&doc), "not on the fast path: {doc}");
        }
        let doc = events(r#"{"id":"1","timestamp":5,"message":"a\"b"}"#);
        let batch = parse(&doc).unwrap();
        assert!(matches!(batch.log_events[0].id, Cow::Borrowed("1")));
        assert_eq!(batch.log_events[0].message, "a\"b");
    }

    #[test]
    fn anything_else_is_left_to_serde_json() {
        for doc in [
            events(r#"{"id":"1","timestamp":5.0,"message":"x"}"#),
            events(r#"{"id":"1","timestamp":1e3,"message":"x"}"#),
            events(r#"{"id":"1","timestamp":01,"message":"x"}"#),
            events(r#"{"id":"1","timestamp":9223372036854775808,"message":"x"}"#),
            events(r#"{"id":"1","timestamp":"5","message":"x"}"#),
            events(r#"{"id":"1","timestamp":5}"#),
            events(r#"{"id":"1","id":"2","timestamp":5,"message":"x"}"#),
            events(r#"{"id":"1","timestamp":5,"message":"x","extra":1}"#),
            events(r#"{"id":"1","timestamp":5,"message":"\uD800"}"#),
            events(r#"{"id":"1","timestamp":5,"message":"\uDC00"}"#),
            events(r#"{"id":"1","timestamp":5,"message":"\uD800\u0041"}"#),
            events(r#"{"id":"1","timestamp":5,"message":"\x"}"#),
            events(r#"{"id":"1","timestamp":5,"message":"\u12G4"}"#),
            events("{\"id\":\"1\",\"timestamp\":5,\"message\":\"tab\there\"}"),
            events(r#"{"id":"1","timestamp":5,"message":"x"},"#),
            events(r#"{"id":"1","timestamp":5,"message":"x"}"#) + "x",
            events(r#"{"id":"1","timestamp":5,"message":null}"#),
            r#"{"messageType":"D","messageType":"E"}"#.to_string(),
            r#"{"messageType":"D","other":{"a":1}}"#.to_string(),
            r#"{"messageType":"D","other":3}"#.to_string(),
            r#"{"messageTyp\u0065":"D"}"#.to_string(),
            r#"{"owner":"1"}"#.to_string(),
            r#"{"messageType":"D",}"#.to_string(),
            r#"{"messageType":"D""#.to_string(),
            r#"{"messageType":"D\"#.to_string(),
            r#"{"messageType":"D\u00"}"#.to_string(),
            "[1,2]".to_string(),
            String::new(),
        ] {
            assert!(!check(&doc), "fast path taken: {doc}");
        }
    }

    /// Found by the property test (`differential_tests.rs`): serde_json
    /// reads `-0` as the float -0.0 and refuses it as a timestamp (the
    /// payload is `bad_payload_json`); the fast reader took it as 0.
    #[test]
    fn a_timestamp_of_minus_zero_is_refused_as_serde_json_refuses_it() {
        for timestamp in ["-0", "-0 ", "-0\n"] {
            let doc = events(&format!(
                r#"{{"id":"1","timestamp":{timestamp},"message":"x"}}"#
            ));
            assert!(!check(&doc), "fast path taken: {doc}");
            assert!(serde_json::from_str::<LogBatch>(&doc).is_err());
        }
        assert!(check(&events(r#"{"id":"1","timestamp":0,"message":"x"}"#)));
        assert!(check(&events(r#"{"id":"1","timestamp":-1,"message":"x"}"#)));
    }

    #[test]
    fn word_scan_finds_the_first_special_byte() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            let len = (seed % 40) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    [
                        b'a', b'"', b'\\', 0x1f, 0x20, 0x21, 0x7f, 0x80, 0xff, 0x00, b'5',
                    ][(seed % 11) as usize]
                })
                .collect();
            for start in 0..=len {
                let expected = (start..len).find(|&i| SPECIAL[bytes[i] as usize]);
                assert_eq!(
                    special_from(&bytes, start),
                    expected,
                    "{bytes:?} from {start}"
                );
            }
        }
    }

    #[test]
    fn every_byte_value_is_judged_as_the_table_says() {
        for b in 0..=255u8 {
            for filler in [b'a', b' ', b'!', b'#', 0x7f, 0x80, 0xff] {
                for position in 0..12 {
                    let mut bytes = vec![filler; 12];
                    bytes[position] = b;
                    let expected = (0..12).find(|&i| SPECIAL[bytes[i] as usize]);
                    assert_eq!(special_from(&bytes, 0), expected, "{b:#x} at {position}");
                }
            }
        }
    }

    #[test]
    fn every_prefix_of_a_document_agrees_with_serde_json() {
        let doc = events(
            r#"{"id":"1","timestamp":-12,"message":"INFO {\"a\":\"b\\u00e9\"} \uD83D\uDE00"},{"id":"2","timestamp":0,"message":""}"#,
        );
        for end in 0..=doc.len() {
            if let Some(prefix) = doc.get(..end) {
                check(prefix);
            }
        }
    }
}
