use super::*;
use crate::line::parse_object_slow;

/// The fast reader gives serde_json's record, or leaves the line to it.
/// Returns whether the fast path took the line.
fn check(json: &str) -> bool {
    let rules = Rules::builtin();
    let slow = parse_object_slow(json, &rules);
    match parse(json, &rules) {
        Some(fast) => {
            let slow = slow.unwrap_or_else(|| {
                panic!("{json:?}: fast path accepted {fast:?}, serde_json refused it")
            });
            // Debug output tells floats apart bit for bit (and -0.0 from 0.0).
            assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "{json:?}");
            true
        }
        None => false,
    }
}

const BASE: &str = r#""type":"request","sessionId":"s1","user":"alice@x.com","url":"/api/assets""#;

#[test]
fn usual_lines_take_the_fast_path() {
    for json in [
        format!("{{{BASE}}}"),
        format!("{{{BASE}}}  \t\n"),
        "{}".to_string(),
        " {}"[1..].to_string(),
        "{ }".to_string(),
        r#"{ "type" : "page-beacon" , "timestamp": "2026-11-02T00:17:01.437Z", "sessionId" :"a", "user":"\tOliver@X.com ", "url":"/app?assetType=Pump", "module":"Work Orders", "assetTypes":["", "haul truck", 3, null, ["x"], {"a":1}], "viewport":"2560x1440"}"#.to_string(),
        format!(r#"{{{BASE},"status":200,"responseTimeMs":23}}"#),
        format!(r#"{{{BASE},"status":"200","responseTimeMs":139.343}}"#),
        format!(r#"{{{BASE},"responseTimeMs":-2.5,"timestamp":-1}}"#),
        format!(r#"{{{BASE},"responseTimeMs":-0,"status":0}}"#),
        format!(r#"{{{BASE},"responseTimeMs":1e3,"status":1E+2,"timestamp":0.5e-1}}"#),
        format!(
            r#"{{{BASE},"timestamp":9223372036854775807,"status":18446744073709551616,"responseTimeMs":123456789012345678}}"#
        ),
        format!(r#"{{{BASE},"timestamp":1793578348595,"ignored":1e400}}"#),
        format!(
            r#"{{{BASE},"user":"\"q\" \\ \/ \b\f\n\r\t \u00e9 \uD83D\uDE00 é ✓","method":"\u0047ET"}}"#
        ),
        format!(
            r#"{{{BASE},"extra":{{"nested":[1,{{"a":[true,false,null,"\uD800"]}}],"b":{{}}}},"e":[]}}"#
        ),
        format!(r#"{{{BASE},"user":"a","user":"b","url":1,"url":"/b"}}"#),
        format!(r#"{{{BASE},"sessionId":12345,"type":["request"],"user":{{"a":1}}}}"#),
        format!(r#"{{{BASE},"userAgent":"{}"}}"#, "x".repeat(100_000)),
    ] {
        assert!(check(&json), "not on the fast path: {json}");
    }
    let json = format!(r#"{{{BASE},"user":"a\"b"}}"#);
    let record = parse(&json, &Rules::builtin()).unwrap();
    assert_eq!(
        record.values[crate::config::Field::SessionId as usize],
        Some(Lite::Str(Cow::Borrowed("s1")))
    );
    assert!(matches!(
        &record.values[crate::config::Field::User as usize],
        Some(Lite::Str(Cow::Owned(u))) if u == "a\"b"
    ));
}

#[test]
fn anything_else_is_left_to_serde_json() {
    let deep = format!("{{\"x\":{}{}}}", "[".repeat(100), "]".repeat(100));
    for json in [
        format!("{{{BASE}}} trailing"),
        format!("{{{BASE}}}{{}}"),
        format!("{{{{{BASE}}}}}"),
        format!("{{{BASE},}}"),
        format!("{{{BASE}"),
        format!("{{{BASE},\"status\":01}}"),
        format!("{{{BASE},\"status\":1.}}"),
        format!("{{{BASE},\"status\":.5}}"),
        format!("{{{BASE},\"status\":+1}}"),
        format!("{{{BASE},\"status\":1e}}"),
        format!("{{{BASE},\"status\":1e400}}"),
        format!("{{{BASE},\"status\":tru}}"),
        format!("{{{BASE},\"x\":nul}}"),
        format!("{{{BASE},\"user\":\"\\uD800\"}}"),
        format!("{{{BASE},\"user\":\"\\uDC00\"}}"),
        format!("{{{BASE},\"user\":\"\\uD800\\u0041\"}}"),
        format!("{{{BASE},\"assetTypes\":[\"\\uD800\"]}}"),
        format!("{{{BASE},\"assetTypes\":[1e400]}}"),
        format!("{{{BASE},\"user\":\"\\x\"}}"),
        format!("{{{BASE},\"user\":\"\\u12G4\"}}"),
        format!("{{{BASE},\"x\":\"\\u12G4\"}}"),
        format!("{{{BASE},\"user\":\"tab\there\"}}"),
        format!("{{{BASE},\"x\":\"nl\nhere\"}}"),
        format!("{{{BASE},\"t\\u0079pe\":\"request\"}}"),
        format!("{{{BASE},\"x\":[1,]}}"),
        format!("{{{BASE},\"x\":{{\"a\":1,}}}}"),
        format!("{{{BASE},\"x\":{{1:1}}}}"),
        format!("{{{BASE} \"x\":1}}"),
        format!("{{{BASE},\"x\"1}}"),
        deep,
        "{".to_string(),
        "{\"".to_string(),
        "{\"a\"".to_string(),
        "{\"a\":".to_string(),
        "{\"a\":\"".to_string(),
    ] {
        assert!(!check(&json), "fast path taken: {json}");
    }
}

/// Found by the property test (`differential_tests.rs`): in an object
/// that is a kept value (or inside a kept array), serde_json reads the keys
/// as strings, so a lone surrogate in one makes the line invalid; the fast
/// reader validated them as ignored strings. Deeper keys are ignored.
#[test]
fn keys_of_an_object_in_a_kept_value_are_read_as_strings() {
    for (value, valid) in [
        (r#"{"\uD83D":1}"#, false),
        (r#"{"a":1,"\uDC00x":[]}"#, false),
        (r#"["x",{"\uD800\u0041":null}]"#, false),
        (r#"{"\uD83D\uDE00":1}"#, true),
        (r#"{"a":{"\uD83D":1}}"#, true),
        (r#"{"a":["\uD83D"]}"#, true),
    ] {
        for key in ["user", "type", "assetTypes", "status"] {
            let json = format!(r#"{{{BASE},"{key}":{value}}}"#);
            assert_eq!(
                parse_object_slow(&json, &Rules::builtin()).is_some(),
                valid,
                "{json}"
            );
            assert_eq!(check(&json), valid, "{json}");
            let escaped = serde_json::to_string(&json).unwrap();
            check_escaped(&json, &escaped[1..escaped.len() - 1]);
        }
        // Under a key that is not kept, the whole value is ignored.
        assert!(check(&format!(r#"{{{BASE},"other":{value}}}"#)));
    }
}

#[test]
fn every_prefix_agrees_with_serde_json() {
    let json = r#"{ "type" : "page-beacon", "ts":-1.5e-3,"sessionId":12,"user":"\u00e9\uD83D\uDE00 \"x\"","url":"/a?b=c","assetTypes":["A",[1,{"k":"v"}],null],"status":"200" } "#;
    for end in 0..=json.len() {
        if let Some(prefix) = json.get(..end) {
            check(prefix);
        }
    }
}

/// A small deterministic generator of JSON-ish text: mostly valid lines of
/// the usual shape, with every odd form the contract allows or forbids.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'s>(&mut self, items: &[&'s str]) -> &'s str {
        items[(self.next() % items.len() as u64) as usize]
    }

    fn ws(&mut self) -> &'static str {
        if self.next().is_multiple_of(4) {
            self.pick(&[" ", "\n", "\t", "\r", "  ", " \n "])
        } else {
            ""
        }
    }

    fn string(&mut self) -> String {
        let mut s = String::from("\"");
        for _ in 0..self.next() % 5 {
            let piece = if self.next().is_multiple_of(12) {
                // What serde_json refuses in a kept string (some of it is
                // fine in an ignored one).
                self.pick(&[
                    "\\uD800",
                    "\\uDC00",
                    "\\uD800\\u0041",
                    "\\x",
                    "\\u12G4",
                    "\\u00",
                    "\t",
                    "\u{1}",
                ])
            } else {
                self.pick(&[
                    "plain",
                    "Mixed Case",
                    " padded ",
                    "é✓王",
                    "\\\"",
                    "\\\\",
                    "\\/",
                    "\\b\\f\\n\\r\\t",
                    "\\u00e9",
                    "\\u0041",
                    "\\u0000",
                    "\\uD83D\\uDE00",
                    "\\uDBFF\\uDFFF",
                    "/api/v2/sites/ST-1/x?assetType=Pump%2Cvalve&siteToken=+ST-2",
                    "2026-11-02T14:03:11.482Z",
                    "request",
                    "page-beacon",
                    "x@ironman.internal",
                    "kube-probe/1.2",
                    "\u{7f}",
                    "{",
                    "}",
                    "[",
                    ":",
                    ",",
                ])
            };
            s.push_str(piece);
        }
        s.push('"');
        s
    }

    fn value(&mut self, depth: u32) -> String {
        match self.next() % if depth > 3 { 4 } else { 7 } {
            0 | 1 => self.string(),
            2 if self.next().is_multiple_of(6) => self
                .pick(&[
                    "01", "1.", "1e400", "-1e400", ".5", "+1", "1.5e", "--1", "-",
                ])
                .to_string(),
            2 => self
                .pick(&[
                    "0",
                    "-0",
                    "12",
                    "-12",
                    "1.5",
                    "-2.5",
                    "12.5",
                    "0.4999999999999999",
                    "1e3",
                    "1E+3",
                    "1e-3",
                    "9223372036854775807",
                    "9223372036854775808",
                    "-9223372036854775808",
                    "-9223372036854775809",
                    "18446744073709551615",
                    "18446744073709551616",
                    "123456789012345678",
                    "1234567890123456789",
                    "1793628191482",
                    "0.1e1",
                    "200",
                ])
                .to_string(),
            3 if self.next().is_multiple_of(6) => self.pick(&["nul", "tru", "fals"]).to_string(),
            3 => self.pick(&["true", "false", "null"]).to_string(),
            4 | 5 => {
                let mut s = String::from("[");
                s.push_str(self.ws());
                for i in 0..self.next() % 4 {
                    if i > 0 {
                        s.push(',');
                        s.push_str(self.ws());
                    }
                    s.push_str(&self.value(depth + 1));
                    s.push_str(self.ws());
                }
                s.push(']');
                s
            }
            _ => self.object(depth + 1),
        }
    }

    fn object(&mut self, depth: u32) -> String {
        const KEYS: &[&str] = &[
            "\"type\"",
            "\"timestamp\"",
            "\"sessionId\"",
            "\"user\"",
            "\"method\"",
            "\"url\"",
            "\"status\"",
            "\"responseTimeMs\"",
            "\"userAgent\"",
            "\"module\"",
            "\"siteToken\"",
            "\"assetTypes\"",
            "\"level\"",
            "\"URL\"",
            "\"\"",
            "\"é\"",
            "\"t\\u0079pe\"",
            "\"us\\\"er\"",
        ];
        let mut s = String::from("{");
        s.push_str(self.ws());
        for i in 0..self.next() % 8 {
            if i > 0 {
                s.push(',');
                s.push_str(self.ws());
            }
            s.push_str(self.pick(KEYS));
            s.push_str(self.ws());
            s.push(':');
            s.push_str(self.ws());
            s.push_str(&self.value(depth));
            s.push_str(self.ws());
        }
        s.push('}');
        s
    }

    /// A line: an object, sometimes followed by whitespace or junk, and
    /// sometimes with one character dropped, doubled or replaced.
    fn line(&mut self) -> String {
        let mut s = self.object(0);
        s.push_str(self.pick(&["", "", "", "", "", " ", "\n", " \t", "x", "{}", ","]));
        if self.next().is_multiple_of(8) {
            let chars: Vec<char> = s.chars().collect();
            let at = (self.next() % chars.len() as u64) as usize;
            let junk = [
                '{', '}', '[', ']', ',', ':', '"', '\\', ' ', 'a', '1', '-', 'é',
            ];
            let c = junk[(self.next() % junk.len() as u64) as usize];
            let mut out: String = chars[..at].iter().collect();
            match self.next() % 3 {
                0 => {}
                1 => {
                    out.push(chars[at]);
                    out.push(chars[at]);
                }
                _ => out.push(c),
            }
            out.extend(&chars[at + 1..]);
            s = out;
        }
        s
    }
}

#[test]
fn differential_against_serde_json() {
    let mut generator = Gen(0x9e37_79b9_7f4a_7c15);
    let (mut fast, mut valid) = (0, 0);
    for _ in 0..40_000 {
        let line = generator.line();
        let Some(start) = line.find('{') else {
            continue;
        };
        let json = &line[start..];
        if check(json) {
            fast += 1;
        }
        if parse_object_slow(json, &Rules::builtin()).is_some() {
            valid += 1;
        }
    }
    // The generator must exercise both paths, and the fast path must take
    // most of what serde_json accepts.
    assert!(valid > 8_000, "only {valid} valid lines");
    assert!(fast * 10 > valid * 7, "fast path took {fast} of {valid}");
}

/// `line` as the content of a JSON string literal, the way a batch document
/// may carry it: the required escapes, plus (at random) `\/`, `\u` escapes
/// of any character (pairs beyond the BMP) and short escapes of controls.
fn escape_as_content(line: &str, generator: &mut Gen) -> String {
    let mut out = String::new();
    for c in line.chars() {
        let roll = generator.next() % 256;
        match c {
            '"' if roll != 0 => out.push_str("\\\""),
            '\\' if roll != 0 => out.push_str("\\\\"),
            '\n' if roll != 0 => out.push_str("\\n"),
            '\t' if roll != 0 => out.push_str("\\t"),
            '\r' if roll != 0 => out.push_str("\\r"),
            '\u{8}' if roll != 0 => out.push_str("\\b"),
            '\u{c}' if roll != 0 => out.push_str("\\f"),
            '/' if roll == 1 => out.push_str("\\/"),
            c if roll == 0 || (c as u32) < 0x20 => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// Reading a line in place from its escaped form gives what unescaping it
/// and reading the text gives, field for field, skip reason for skip reason.
fn check_escaped(line: &str, escaped: &str) -> bool {
    let rules = Rules::builtin();
    assert_eq!(crate::jsonstr::unescape_content(escaped), line);
    let in_place = crate::line::parse_escaped_record(escaped, 7, &rules);
    let from_text = crate::line::parse_record(line, 7, &rules);
    assert_eq!(in_place, from_text, "{escaped:?}");
    match parse_escaped(escaped, &rules) {
        Escaped::Record(fast) => {
            let start = line.find('{').expect("a record has a `{`");
            let slow = parse_object_slow(&line[start..], &rules)
                .unwrap_or_else(|| panic!("{escaped:?}: read in place, refused by serde_json"));
            assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "{escaped:?}");
            true
        }
        Escaped::NoObject => {
            assert!(!line.contains('{'), "{escaped:?}");
            false
        }
        Escaped::Unknown => false,
    }
}

#[test]
fn escaped_lines_read_in_place() {
    let mut generator = Gen(7);
    for (line, expect_fast) in [
        (format!("INFO {{{BASE}}}"), true),
        (
            format!("2026-11-02T14:03:11.482Z\tINFO\t{{{BASE}}}\n"),
            true,
        ),
        (
            format!("[x] \\ \" {{{BASE},\"user\":\"a\\\"b\\\\c\\/d\\u00e9\\uD83D\\uDE00\\t\"}}"),
            true,
        ),
        (
            format!("{{{BASE},\"x\":[\"\\uD800\",{{\"k\":\"\\\\\"}}]}}"),
            true,
        ),
        ("no object here \\ \"".to_string(), false),
        (String::new(), false),
        (format!("{{{BASE}}} trailing"), false),
        (format!("{{{BASE},\"user\":\"\\uD800\"}}"), false),
        (format!("{{{BASE},\"user\":\"tab\there\"}}"), false),
    ] {
        let escaped = serde_json::to_string(&line).unwrap();
        let escaped = &escaped[1..escaped.len() - 1];
        assert_eq!(check_escaped(&line, escaped), expect_fast, "{escaped}");
        // The same line with other escapes of the same characters.
        for _ in 0..20 {
            check_escaped(&line, &escape_as_content(&line, &mut generator));
        }
    }
    // `\u007b` stands for the line's first `{`: the general path reads it.
    let line = format!("INFO {{{BASE}}}");
    let escaped = serde_json::to_string(&line)
        .unwrap()
        .replacen('{', "\\u007b", 1);
    assert!(!check_escaped(&line, &escaped[1..escaped.len() - 1]));
}

#[test]
fn differential_escaped_against_unescaped() {
    let mut generator = Gen(0x2545_f491_4f6c_dd1d);
    let (mut fast, mut plain_fast) = (0, 0);
    for _ in 0..20_000 {
        let mut line = generator.line();
        if generator.next().is_multiple_of(3) {
            let prefix = generator.pick(&[
                "INFO ",
                "2026-11-02T14:03:11.482Z\tINFO\t",
                "[w-{1}] ",
                "x\\y \"z\" ",
            ]);
            line.insert_str(0, prefix);
        }
        let escaped = escape_as_content(&line, &mut generator);
        // What the batch reader accepts as a message, it leaves as it is.
        let doc = format!(
            r#"{{"messageType":"DATA_MESSAGE","logEvents":[{{"id":"1","timestamp":1,"message":"{escaped}"}}]}}"#
        );
        let batch = crate::decode::fastbatch::parse(&doc).expect("a valid document");
        assert_eq!(batch.log_events[0].message.text(), line);
        if line
            .find('{')
            .is_some_and(|start| parse(&line[start..], &Rules::builtin()).is_some())
        {
            plain_fast += 1;
        }
        if check_escaped(&line, &escaped) {
            fast += 1;
        }
    }
    // Most lines the fast reader takes as text, it takes escaped too (not
    // those with a `\u` escape of the document in a string of the line).
    assert!(
        fast * 10 > plain_fast * 7,
        "read in place: {fast}, as text: {plain_fast}"
    );
}

/// A batch document read with its lines in place gives the batch, the
/// events and the counts of reading it with serde_json and every line one
/// by one; whatever makes the document invalid JSON is refused by both.
#[test]
fn differential_lines_read_in_the_document() {
    use crate::batch::{process_batch, process_read_batch};
    use crate::decode::{LogBatch, ReadLines};
    let rules = Rules::builtin();
    let mut generator = Gen(0x5851_f42d_4c95_7f2d);
    let (mut read, mut documents) = (0, 0);
    for _ in 0..4_000 {
        let mut entries = Vec::new();
        for i in 0..generator.next() % 4 {
            let mut line = generator.line();
            if generator.next().is_multiple_of(3) {
                line.insert_str(0, generator.pick(&["INFO ", "a\tb ", "no object"]));
            }
            let mut escaped = escape_as_content(&line, &mut generator);
            // Sometimes break the document's own string.
            if generator.next().is_multiple_of(10) {
                let at = (generator.next() % (escaped.len() as u64 + 1)) as usize;
                if escaped.is_char_boundary(at) {
                    let junk =
                        generator.pick(&["\t", "\u{1}", "\\x", "\\uD800", "\\", "\"", "\\u00"]);
                    escaped.insert_str(at, junk);
                }
            }
            entries.push(format!(
                r#"{{"id":"{i}","timestamp":{i},"message":"{escaped}"}}"#
            ));
        }
        let doc = format!(
            r#"{{"messageType":"DATA_MESSAGE","logGroup":"g","logStream":"s","logEvents":[{}]}}"#,
            entries.join(",")
        );
        let serde: Result<LogBatch, _> = serde_json::from_str(&doc);
        let plain = crate::decode::fastbatch::parse(&doc);
        let reading = crate::decode::fastbatch::parse_reading(&doc, Some(&rules));
        assert_eq!(reading.is_some(), plain.is_some(), "{doc}");
        let Some((batch, lines)) = reading else {
            continue;
        };
        let serde = serde.unwrap_or_else(|e| panic!("{doc}: read, but serde_json: {e}"));
        assert_eq!(format!("{batch:?}"), format!("{serde:?}"), "{doc}");
        documents += 1;
        read += lines
            .kinds
            .iter()
            .filter(|k| **k != LineKind::Unknown)
            .count();
        let fast = process_read_batch(&batch, ReadLines(lines), &rules);
        let slow = process_batch(&serde, &rules);
        assert_eq!(fast.counts, slow.counts, "{doc}");
        assert_eq!(fast.events.len(), slow.events.len(), "{doc}");
        for (a, b) in fast.events.iter().zip(&slow.events) {
            assert_eq!((a.id, &a.event), (b.id, &b.event), "{doc}");
            assert_eq!(a.message.text(), b.message.text(), "{doc}");
        }
    }
    assert!(documents > 2_000, "{documents} documents read");
    assert!(read > 700, "{read} lines read in place");
}

/// Past the cap, lines are left to the general path: the same batch,
/// events and counts.
#[test]
fn lines_read_in_place_are_capped_per_batch() {
    use crate::batch::{process_batch, process_read_batch};
    use crate::decode::ReadLines;
    let rules = Rules::builtin();
    let entries: Vec<String> = (0..10)
        .map(|i| {
            format!(
                r#"{{"id":"{i}","timestamp":{i},"message":"INFO {{\"type\":\"request\",\"sessionId\":\"s{i}\",\"user\":\"u\",\"url\":\"/a\"}}"}}"#
            )
        })
        .collect();
    let doc = format!(
        r#"{{"messageType":"DATA_MESSAGE","logGroup":"g","logStream":"s","logEvents":[{}]}}"#,
        entries.join(",")
    );
    let (batch, lines) =
        crate::decode::fastbatch::parse_reading_at_most(&doc, Some(&rules), 3).unwrap();
    assert_eq!(lines.kinds, vec![LineKind::Record; 3]);
    let read = process_read_batch(&batch, ReadLines(lines), &rules);
    let plain = process_batch(&batch, &rules);
    assert_eq!(read.counts, plain.counts);
    assert_eq!(read.counts.kept, 10);
    for (a, b) in read.events.iter().zip(&plain.events) {
        assert_eq!((a.id, &a.event), (b.id, &b.event));
    }
}
