//! A hand-written reader for the JSON object of a log line, the fast path of
//! `record::parse_object`.
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
use crate::fastbatch::special_from;
use crate::record::{Lite, RawRecord};
use std::borrow::Cow;

/// Deeper values are left to serde_json (its own limit is 128).
const MAX_DEPTH: usize = 64;

/// Plain non-negative integers up to this many digits fit an `i64` and are
/// converted here; longer ones go to serde_json (u64, then f64).
const MAX_FAST_DIGITS: usize = 18;

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

fn hex4(bytes: &[u8]) -> Option<u32> {
    let mut value = 0u32;
    for &b in bytes.get(..4)? {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => return None,
        };
        value = value * 16 + u32::from(digit);
    }
    Some(value)
}

impl<'a> Reader<'a> {
    /// JSON whitespace, as serde_json skips it.
    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    #[inline]
    fn byte(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    /// `literal` at the current position.
    fn literal(&mut self, literal: &[u8]) -> Option<()> {
        let end = self.at + literal.len();
        (self.bytes.get(self.at..end)? == literal).then(|| self.at = end)
    }

    /// A string (at its opening quote): borrowed when it has no escape.
    #[inline]
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let start = self.at + 1;
        let end = special_from(self.bytes, start)?;
        match self.bytes[end] {
            b'"' => {
                self.at = end + 1;
                Some(Cow::Borrowed(&self.text[start..end]))
            }
            b'\\' => self.unescape(start, end).map(Cow::Owned),
            // An unescaped control character.
            _ => None,
        }
    }

    /// The rest of a string from its first escape at `at`. Every cut falls
    /// on an ASCII byte (a quote, a backslash, the end of an escape), so the
    /// runs in between are whole characters of `text`.
    fn unescape(&mut self, start: usize, mut at: usize) -> Option<String> {
        let bytes = self.bytes;
        let mut out = String::with_capacity(at - start + 16);
        out.push_str(&self.text[start..at]);
        loop {
            match bytes[at] {
                b'"' => {
                    self.at = at + 1;
                    return Some(out);
                }
                b'\\' => {
                    let escape = *bytes.get(at + 1)?;
                    at += 2;
                    let c = match escape {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let unit = hex4(bytes.get(at..)?)?;
                            at += 4;
                            let code = match unit {
                                0xD800..=0xDBFF => {
                                    // Only a well-formed pair; serde_json
                                    // judges anything else.
                                    let rest = bytes.get(at..at + 6)?;
                                    if rest[0] != b'\\' || rest[1] != b'u' {
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
                            char::from_u32(code)?
                        }
                        _ => return None,
                    };
                    out.push(c);
                }
                // An unescaped control character.
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
        let mut at = self.at + 1;
        loop {
            at = special_from(self.bytes, at)?;
            match self.bytes[at] {
                b'"' => {
                    self.at = at + 1;
                    return Some(());
                }
                b'\\' => match *self.bytes.get(at + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => at += 2,
                    b'u' => {
                        hex4(self.bytes.get(at + 2..)?)?;
                        at += 6;
                    }
                    _ => return None,
                },
                _ => return None,
            }
        }
    }

    /// A key (at its opening quote) without escapes, then `:`.
    #[inline]
    fn key(&mut self) -> Option<&'a str> {
        let start = self.at + 1;
        let end = special_from(self.bytes, start)?;
        if self.bytes[end] != b'"' {
            return None;
        }
        self.at = end + 1;
        self.ws();
        if self.byte()? != b':' {
            return None;
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
    fn value(&mut self, depth: usize) -> Option<Lite<'a>> {
        match self.byte()? {
            b'"' => self.string().map(Lite::Str),
            b'-' | b'0'..=b'9' => self.number(),
            b'[' => {
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
            _ => self.skip(depth).map(|()| Lite::Other),
        }
    }

    /// After a member or an element: `,` (true, then whitespace) or the
    /// closing byte (false).
    #[inline]
    fn next(&mut self, close: u8) -> Option<bool> {
        self.ws();
        let b = self.byte()?;
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
        match self.byte()? {
            b'"' => self.skip_string(),
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
                    if self.byte()? != b'"' {
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
}

/// The record's known keys from `json` (which starts with `{`), if the line
/// is in the subset read here; `None` leaves it to serde_json.
pub(crate) fn parse<'a>(json: &'a str, rules: &Rules) -> Option<RawRecord<'a>> {
    let mut r = Reader {
        text: json,
        bytes: json.as_bytes(),
        at: 1,
    };
    let mut record = RawRecord::default();
    r.ws();
    if r.byte()? == b'}' {
        r.at += 1;
    } else {
        loop {
            if r.byte()? != b'"' {
                return None;
            }
            let key = r.key()?;
            match rules.field_of(key) {
                // The last occurrence of a key wins, as with serde_json.
                Some(field) => record.values[field as usize] = Some(r.value(0)?),
                None => r.skip(0)?,
            }
            if !r.next(b'}')? {
                break;
            }
        }
    }
    r.ws();
    (r.at == r.bytes.len()).then_some(record)
}

#[cfg(test)]
#[path = "fastrecord_tests.rs"]
mod tests;
