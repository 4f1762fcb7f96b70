use super::*;
use crate::record::parse_object_slow;

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
        if self.next() % 4 == 0 {
            self.pick(&[" ", "\n", "\t", "\r", "  ", " \n "])
        } else {
            ""
        }
    }

    fn string(&mut self) -> String {
        let mut s = String::from("\"");
        for _ in 0..self.next() % 5 {
            let piece = if self.next() % 12 == 0 {
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
            2 if self.next() % 6 == 0 => self
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
            3 if self.next() % 6 == 0 => self.pick(&["nul", "tru", "fals"]).to_string(),
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
        if self.next() % 8 == 0 {
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
