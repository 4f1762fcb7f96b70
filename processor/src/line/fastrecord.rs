//! A hand-written reader for the JSON object of a log line, the fast path of
//! `record::parse_object`; it also reads the line straight from the batch
//! document where the line is still escaped (`parse_escaped`).
//!
//! serde_json with the record's visitor costs about half of a line's work:
//! every key and value goes through its generic string and number readers
//! and visitor calls. This reader does the same job in one pass for the
//! usual lines. It accepts only a subset of what serde_json accepts and
//! gives the same `RawRecord` for it; anything else returns `None` and
//! serde_json reads the line (and decides whether it is valid at all):
//! negative numbers, floats and integers of 19 or more digits (they are
//! handed to serde_json one by one so they convert exactly as before), an
//! escaped key, a lone surrogate in a string that is kept, nesting deeper
//! than `MAX_DEPTH`, and every syntax error.

use crate::config::Rules;
use crate::jsonstr::{hex4, special_from};
use crate::line::{Lite, RawRecord};
use std::borrow::Cow;

/// Deeper values are left to serde_json (its own limit is 128).
const MAX_DEPTH: usize = 64;

/// Plain non-negative integers up to this many digits fit an `i64` and are
/// converted here; longer ones go to serde_json (u64, then f64).
const MAX_FAST_DIGITS: usize = 18;

/// Reads the object from `text`. With `ESC`, `text` is the content of a
/// JSON string literal that holds the line, still escaped (as the batch
/// document carries it): a quote of the line is `\"`, a backslash `\\`,
/// and `\n`, `\t`, `\r` are whitespace between tokens. Reading the line in
/// place saves unescaping every message into a new string first.
struct Reader<'a, const ESC: bool> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

/// The character of a `\u` escape whose four hex digits start at `at`, and
/// where it ends: a well-formed surrogate pair (its second half introduced
/// by `next`, `\u` or, escaped, `\\u`), or one non-surrogate unit.
fn unicode_escape(bytes: &[u8], at: usize, next: &[u8]) -> Option<(char, usize)> {
    let unit = hex4(bytes.get(at..)?)?;
    let at = at + 4;
    match unit {
        0xD800..=0xDBFF => {
            // Only a well-formed pair; serde_json judges anything else.
            if bytes.get(at..at + next.len())? != next {
                return None;
            }
            let low = hex4(bytes.get(at + next.len()..)?)?;
            if !(0xDC00..=0xDFFF).contains(&low) {
                return None;
            }
            let code = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
            Some((char::from_u32(code)?, at + next.len() + 4))
        }
        0xDC00..=0xDFFF => None,
        _ => Some((char::from_u32(unit)?, at)),
    }
}

fn simple_escape(escape: u8) -> Option<char> {
    Some(match escape {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        _ => return None,
    })
}

impl<'a, const ESC: bool> Reader<'a, ESC> {
    /// The bytes of a quote of the line.
    const QUOTE: usize = if ESC { 2 } else { 1 };

    /// JSON whitespace, as serde_json skips it.
    #[inline]
    fn ws(&mut self) {
        loop {
            match self.bytes.get(self.at) {
                Some(b' ') => self.at += 1,
                // Raw control characters cannot be part of escaped text.
                Some(b'\n' | b'\t' | b'\r') if !ESC => self.at += 1,
                Some(b'\\')
                    if ESC && matches!(self.bytes.get(self.at + 1), Some(b'n' | b't' | b'r')) =>
                {
                    self.at += 2
                }
                _ => return,
            }
        }
    }

    #[inline]
    fn byte(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    /// Whether a string starts here.
    #[inline]
    fn at_quote(&self) -> bool {
        if ESC {
            self.bytes.get(self.at..self.at + 2) == Some(b"\\\"")
        } else {
            self.byte() == Some(b'"')
        }
    }

    /// `literal` at the current position.
    fn literal(&mut self, literal: &[u8]) -> Option<()> {
        let end = self.at + literal.len();
        (self.bytes.get(self.at..end)? == literal).then(|| self.at = end)
    }

    /// The escape at `at` (a backslash) inside a string of the line: the
    /// character it stands for (`None` for the string's closing quote, with
    /// `ESC` only) and where it ends. `None` for anything serde_json must
    /// judge (an unknown escape, a lone surrogate, with `ESC` a raw control
    /// character or a `\u` escape of the line's own text).
    #[inline]
    fn escape(&self, at: usize) -> Option<(Option<char>, usize)> {
        let bytes = self.bytes;
        let escape = *bytes.get(at + 1)?;
        if !ESC {
            return if escape == b'u' {
                let (c, end) = unicode_escape(bytes, at + 2, b"\\u")?;
                Some((Some(c), end))
            } else {
                Some((Some(simple_escape(escape)?), at + 2))
            };
        }
        match escape {
            b'"' => Some((None, at + 2)),
            b'/' => Some((Some('/'), at + 2)),
            // An escape of the line: `\\` then its escaped character.
            b'\\' => match *bytes.get(at + 2)? {
                b'\\' => match *bytes.get(at + 3)? {
                    c @ (b'"' | b'\\' | b'/') => Some((Some(c as char), at + 4)),
                    _ => None,
                },
                b'u' => {
                    let (c, end) = unicode_escape(bytes, at + 3, b"\\\\u")?;
                    Some((Some(c), end))
                }
                c => Some((Some(simple_escape(c).filter(|_| c != b'"')?), at + 3)),
            },
            _ => None,
        }
    }

    /// A string (at its opening quote): borrowed when it has no escape.
    /// Inlined for the reason given at `value`.
    #[inline(always)]
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let start = self.at + Self::QUOTE;
        let end = special_from(self.bytes, start)?;
        match self.bytes[end] {
            b'"' if !ESC => {
                self.at = end + 1;
                Some(Cow::Borrowed(&self.text[start..end]))
            }
            b'\\' if ESC && self.bytes.get(end + 1) == Some(&b'"') => {
                self.at = end + 2;
                Some(Cow::Borrowed(&self.text[start..end]))
            }
            b'\\' => self.unescape(start, end).map(Cow::Owned),
            // An unescaped control character (or, with `ESC`, a raw quote).
            _ => None,
        }
    }

    /// The rest of a string from its first escape at `at`. Every cut falls
    /// on an ASCII byte (a quote, a backslash, the end of an escape), so the
    /// runs in between are whole characters of `text`.
    #[inline(never)]
    fn unescape(&mut self, start: usize, mut at: usize) -> Option<String> {
        let bytes = self.bytes;
        let mut out = String::with_capacity(at - start + 16);
        out.push_str(&self.text[start..at]);
        loop {
            match bytes[at] {
                b'"' if !ESC => {
                    self.at = at + 1;
                    return Some(out);
                }
                b'\\' => match self.escape(at)? {
                    (Some(c), end) => {
                        out.push(c);
                        at = end;
                    }
                    (None, end) => {
                        self.at = end;
                        return Some(out);
                    }
                },
                _ => return None,
            }
            let next = special_from(bytes, at)?;
            out.push_str(&self.text[at..next]);
            at = next;
        }
    }

    /// A string that is not kept (at its opening quote): validated as
    /// serde_json ignores one (any `\uXXXX` of hex digits is accepted).
    fn skip_string(&mut self) -> Option<()> {
        let bytes = self.bytes;
        let mut at = self.at + Self::QUOTE;
        loop {
            at = special_from(bytes, at)?;
            match (bytes[at], *bytes.get(at + 1)?) {
                (b'"', _) if !ESC => {
                    self.at = at + 1;
                    return Some(());
                }
                (b'\\', b'u') if !ESC => {
                    hex4(bytes.get(at + 2..)?)?;
                    at += 6;
                }
                (b'\\', b'"') if ESC => {
                    self.at = at + 2;
                    return Some(());
                }
                (b'\\', b'\\') if ESC && bytes.get(at + 2) == Some(&b'u') => {
                    hex4(bytes.get(at + 3..)?)?;
                    at += 7;
                }
                (b'\\', _) => at = self.escape(at)?.1,
                _ => return None,
            }
        }
    }

    /// A key (at its opening quote) without escapes, then `:`.
    #[inline]
    fn key(&mut self) -> Option<&'a str> {
        let start = self.at + Self::QUOTE;
        let end = special_from(self.bytes, start)?;
        let closed = if ESC {
            self.bytes.get(end..end + 2) == Some(b"\\\"")
        } else {
            self.bytes[end] == b'"'
        };
        if !closed {
            return None;
        }
        self.at = end + Self::QUOTE;
        // Usually `:` at once: whitespace is looked for only otherwise.
        if self.byte() != Some(b':') {
            self.ws();
            if self.byte()? != b':' {
                return None;
            }
        }
        self.at += 1;
        self.ws();
        Some(&self.text[start..end])
    }

    /// The end of a number in JSON's grammar starting at the current
    /// position, and whether it is a plain non-negative integer.
    fn number_end(&self) -> Option<(usize, bool)> {
        let bytes = self.bytes;
        let mut at = self.at;
        let negative = bytes[at] == b'-';
        if negative {
            at += 1;
        }
        match bytes.get(at)? {
            b'0' => at += 1,
            b'1'..=b'9' => {
                at += 1;
                while let Some(b'0'..=b'9') = bytes.get(at) {
                    at += 1;
                }
            }
            _ => return None,
        }
        let mut plain = !negative;
        if bytes.get(at) == Some(&b'.') {
            plain = false;
            at += 1;
            let digits = at;
            while let Some(b'0'..=b'9') = bytes.get(at) {
                at += 1;
            }
            if at == digits {
                return None;
            }
        }
        if let Some(b'e' | b'E') = bytes.get(at) {
            plain = false;
            at += 1;
            if let Some(b'+' | b'-') = bytes.get(at) {
                at += 1;
            }
            let digits = at;
            while let Some(b'0'..=b'9') = bytes.get(at) {
                at += 1;
            }
            if at == digits {
                return None;
            }
        }
        // `01`: serde_json refuses a leading zero followed by a digit.
        if let Some(b'0'..=b'9') = bytes.get(at) {
            return None;
        }
        Some((at, plain))
    }

    /// A number that is kept: plain integers here, the rest by serde_json
    /// from the number's own text, so that it converts exactly as before.
    /// Inlined for the reason given at `value`.
    #[inline(always)]
    fn number(&mut self) -> Option<Lite<'a>> {
        let (end, plain) = self.number_end()?;
        let digits = &self.bytes[self.at..end];
        let value = if plain && digits.len() <= MAX_FAST_DIGITS {
            let mut value = 0i64;
            for &d in digits {
                value = value * 10 + i64::from(d - b'0');
            }
            Lite::Int(value)
        } else {
            serde_json::from_str(&self.text[self.at..end]).ok()?
        };
        self.at = end;
        Some(value)
    }

    /// A value that is kept (after whitespace), read as `Lite` reads it:
    /// array elements are values too (their numbers are converted, their
    /// strings unescaped), objects are only validated.
    // Inlined into `members`, so that the value is built in the record's
    // slot: returned from a call, the 32-byte value was stored in parts and
    // reloaded whole, a store-forwarding stall on every key.
    #[inline(always)]
    fn value(&mut self, depth: usize) -> Option<Lite<'a>> {
        if self.at_quote() {
            return self.string().map(Lite::Str);
        }
        match self.byte()? {
            b'-' | b'0'..=b'9' => self.number(),
            b'[' => self.array(depth),
            b'{' => self.kept_object(depth),
            _ => self.skip(depth).map(|()| Lite::Other),
        }
    }

    /// An object that is a kept value or an element of one, validated as
    /// the record's visitor reads it: serde_json reads its keys as strings
    /// (a lone surrogate in one is an error) and ignores its values (where
    /// any `\uXXXX` of hex digits is accepted).
    #[inline(never)]
    fn kept_object(&mut self, depth: usize) -> Option<Lite<'a>> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.at += 1;
        self.ws();
        if self.byte()? == b'}' {
            self.at += 1;
            return Some(Lite::Other);
        }
        loop {
            if !self.at_quote() {
                return None;
            }
            self.string()?;
            self.ws();
            if self.byte()? != b':' {
                return None;
            }
            self.at += 1;
            self.ws();
            self.skip(depth + 1)?;
            if !self.next(b'}')? {
                return Some(Lite::Other);
            }
        }
    }

    /// An array that is kept: its strings (see `value`).
    #[inline(never)]
    fn array(&mut self, depth: usize) -> Option<Lite<'a>> {
        if depth >= MAX_DEPTH {
            return None;
        }
        self.at += 1;
        self.ws();
        let mut strings = Vec::new();
        if self.byte()? == b']' {
            self.at += 1;
            return Some(Lite::Strs(strings));
        }
        loop {
            if let Lite::Str(s) = self.value(depth + 1)? {
                strings.push(s);
            }
            if !self.next(b']')? {
                return Some(Lite::Strs(strings));
            }
        }
    }

    /// After a member or an element: `,` (true, then whitespace) or the
    /// closing byte (false).
    #[inline]
    fn next(&mut self, close: u8) -> Option<bool> {
        let mut b = self.byte()?;
        // Usually the `,` or the closing byte at once.
        if b != b',' && b != close {
            self.ws();
            b = self.byte()?;
        }
        self.at += 1;
        if b == b',' {
            self.ws();
            Some(true)
        } else if b == close {
            Some(false)
        } else {
            None
        }
    }

    /// A value that is not kept (after whitespace), validated as serde_json
    /// ignores one.
    fn skip(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        if self.at_quote() {
            return self.skip_string();
        }
        match self.byte()? {
            b'-' | b'0'..=b'9' => {
                self.at = self.number_end()?.0;
                Some(())
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'[' => {
                self.at += 1;
                self.ws();
                if self.byte()? == b']' {
                    self.at += 1;
                    return Some(());
                }
                loop {
                    self.skip(depth + 1)?;
                    if !self.next(b']')? {
                        return Some(());
                    }
                }
            }
            b'{' => {
                self.at += 1;
                self.ws();
                if self.byte()? == b'}' {
                    self.at += 1;
                    return Some(());
                }
                loop {
                    if !self.at_quote() {
                        return None;
                    }
                    self.skip_string()?;
                    self.ws();
                    if self.byte()? != b':' {
                        return None;
                    }
                    self.at += 1;
                    self.ws();
                    self.skip(depth + 1)?;
                    if !self.next(b'}')? {
                        return Some(());
                    }
                }
            }
            _ => None,
        }
    }

    /// The object at the current position (its `{`) and nothing but
    /// whitespace after it.
    fn object(mut self, rules: &Rules) -> Option<RawRecord<'a>> {
        let mut record = RawRecord::default();
        self.members(rules, &mut record)?;
        (self.at == self.bytes.len()).then_some(record)
    }

    /// The object at the current position (its `{`) and whitespace after
    /// it, into `record` (which then holds a part of it if this fails).
    fn members(&mut self, rules: &Rules, record: &mut RawRecord<'a>) -> Option<()> {
        self.at += 1;
        self.ws();
        if self.byte()? == b'}' {
            self.at += 1;
        } else {
            loop {
                if !self.at_quote() {
                    return None;
                }
                let key = self.key()?;
                match rules.field_of(key) {
                    // The last occurrence of a key wins, as with serde_json.
                    Some(field) => record.values[field as usize] = Some(self.value(0)?),
                    None => self.skip(0)?,
                }
                if !self.next(b'}')? {
                    break;
                }
            }
        }
        self.ws();
        Some(())
    }
}

/// The record's known keys from `json` (which starts with `{`), if the line
/// is in the subset read here; `None` leaves it to serde_json.
pub(crate) fn parse<'a>(json: &'a str, rules: &Rules) -> Option<RawRecord<'a>> {
    Reader::<false> {
        text: json,
        bytes: json.as_bytes(),
        at: 0,
    }
    .object(rules)
}

/// What the fast reader makes of a line still escaped as JSON string content.
// Returned once per line and matched at once: boxing the record would cost
// an allocation per line.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Escaped<'a> {
    Record(RawRecord<'a>),
    /// The line has no `{`: it is `unparsed`.
    NoObject,
    /// Left to the general path (unescape, then `record::parse_object`).
    Unknown,
}

/// What a line read in place from the batch document turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineKind {
    /// Not read in place: left to the general path.
    Unknown,
    /// The line has no `{`: it is `unparsed`.
    NoObject,
    /// The line's record was read.
    Record,
}

/// Reads a message's line straight from the batch document: `start` is the
/// position right after the message's opening quote. Gives what the line
/// is (its record in `record`) and the position of the message's closing
/// quote when the whole message is in the subset read here; every byte up
/// to that quote is then known to be valid JSON string content (known
/// escapes only: the reader takes no `\u` escape of the document and no raw
/// control character). `None` leaves the message to `fastbatch` and the
/// line to the general path; `record` may then hold a part of the line.
/// The record is filled in place: it is large, and moving it per line cost
/// more than reading it.
pub(crate) fn read_in_document<'a>(
    doc: &'a str,
    start: usize,
    rules: &Rules,
    record: &mut RawRecord<'a>,
) -> Option<(LineKind, usize)> {
    let bytes = doc.as_bytes();
    // The prefix, up to the line's first `{` (no escape stands for one but
    // a `\u` escape, which is left to the general path), validated from
    // special byte to special byte.
    let brace = memchr::memchr(b'{', &bytes[start..]).map(|i| start + i);
    let mut at = start;
    loop {
        let special = special_from(bytes, at)?;
        if let Some(brace) = brace.filter(|&b| b < special) {
            at = brace;
            break;
        }
        match bytes[special] {
            b'"' => return Some((LineKind::NoObject, special)),
            b'\\' => match *bytes.get(special + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => at = special + 2,
                _ => return None,
            },
            // A raw control character.
            _ => return None,
        }
    }
    let mut reader = Reader::<true> {
        text: doc,
        bytes,
        at,
    };
    reader.members(rules, record)?;
    (reader.byte()? == b'"').then_some((LineKind::Record, reader.at))
}

/// The record's known keys from `raw`, the still-escaped content of a valid
/// JSON string literal holding the line (as `fastbatch` leaves a message).
pub(crate) fn parse_escaped<'a>(raw: &'a str, rules: &Rules) -> Escaped<'a> {
    // The line's first `{` is the first raw one: an escape never stands for
    // `{` unless it is a `\u` escape, which is left to the general path.
    let bytes = raw.as_bytes();
    let mut at = 0;
    loop {
        match memchr::memchr2(b'{', b'\\', &bytes[at..]) {
            None => return Escaped::NoObject,
            Some(i) if bytes[at + i] == b'{' => {
                at += i;
                break;
            }
            Some(i) => {
                at += i;
                if bytes.get(at + 1) == Some(&b'u') {
                    return Escaped::Unknown;
                }
                at += 2;
                if at >= bytes.len() {
                    return Escaped::NoObject;
                }
            }
        }
    }
    let reader = Reader::<true> {
        text: raw,
        bytes,
        at,
    };
    reader
        .object(rules)
        .map_or(Escaped::Unknown, Escaped::Record)
}

#[cfg(test)]
#[path = "fastrecord_tests.rs"]
mod tests;
