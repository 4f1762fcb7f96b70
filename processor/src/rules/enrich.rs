//! URL handling and enrichment: path/query split, form decoding, site token
//! and asset types. Pure functions over borrowed text.

use std::borrow::Cow;

/// Splits a URL into the part before `?` or `#` (the stored `path`) and the
/// query string, if any (the text between `?` and the next `#`).
pub fn split_url(url: &str) -> (&str, Option<&str>) {
    match memchr::memchr2(b'?', b'#', url.as_bytes()) {
        None => (url, None),
        Some(at) if url.as_bytes()[at] == b'#' => (&url[..at], None),
        Some(at) => {
            let rest = &url[at + 1..];
            let end = memchr::memchr(b'#', rest.as_bytes()).unwrap_or(rest.len());
            (&url[..at], Some(&rest[..end]))
        }
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes `application/x-www-form-urlencoded` text: `+` is a space, `%XX`
/// a byte. A `%` not followed by two hex digits is kept as it is; bytes that
/// do not form UTF-8 become U+FFFD. The usual text, with nothing to decode,
/// is handed back inline (see `lowercase` for why).
#[inline(always)]
pub fn form_decode(text: &str) -> Cow<'_, str> {
    if !text.bytes().any(|b| b == b'%' || b == b'+') {
        return Cow::Borrowed(text);
    }
    Cow::Owned(form_decode_escaped(text))
}

#[inline(never)]
fn form_decode_escaped(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 2 < bytes.len() => {
                match (hex_value(bytes[i + 1]), hex_value(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push(h * 16 + l);
                        i += 3;
                    }
                    _ => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// One pass over a query string: every `assetType`-like parameter's parts
/// go to `asset_types` (see `push_asset_types`), and the first non-empty
/// `siteToken`-like value is returned, decoded and trimmed.
pub fn scan_query<'q>(
    query: &'q str,
    site_parameter: &str,
    asset_parameter: &str,
    separator: &str,
    asset_types: &mut Vec<Cow<'q, str>>,
) -> Option<Cow<'q, str>> {
    let mut site = None;
    let bytes = query.as_bytes();
    let mut start = 0;
    while start <= bytes.len() {
        let end = memchr::memchr(b'&', &bytes[start..]).map_or(bytes.len(), |i| start + i);
        let pair = &query[start..end];
        start = end + 1;
        if pair.is_empty() {
            continue;
        }
        let (key, value) = match memchr::memchr(b'=', pair.as_bytes()) {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, ""),
        };
        let key = form_decode(key);
        if key == asset_parameter {
            push_asset_types(form_decode(value), separator, asset_types);
        } else if site.is_none() && key == site_parameter {
            let value = trim(form_decode(value));
            if !value.is_empty() {
                site = Some(value);
            }
        }
    }
    site
}

/// One pass over `bytes`, eight at a time: whether any byte is not ASCII,
/// and whether any is an ASCII byte in `lo..=hi` (meaningful only when all
/// are ASCII).
#[inline]
fn ascii_scan(bytes: &[u8], lo: u8, hi: u8) -> (bool, bool) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // For a byte below 0x80, `b + (0x80 - lo)` has its high bit set when
    // `b >= lo`, and `b + (0x7f - hi)` when `b > hi`; neither carries into
    // the next byte. Words with a non-ASCII byte give garbage here, but any
    // such byte is reported anyway.
    let (at_least, above) = (ONES * u64::from(0x80 - lo), ONES * u64::from(0x7f - hi));
    let (mut high, mut found) = (0u64, 0u64);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        high |= word;
        found |= word.wrapping_add(at_least) & !word.wrapping_add(above);
    }
    let mut word = 0u64;
    for (i, &b) in chunks.remainder().iter().enumerate() {
        word |= u64::from(b) << (8 * i);
    }
    high |= word;
    found |= word.wrapping_add(at_least) & !word.wrapping_add(above);
    (high & HIGH != 0, found & HIGH != 0)
}

// `lowercase`, `uppercase` and `trim` usually hand their text back as it
// is. Inlined, that costs nothing; as calls, each text went through memory
// in 8-byte stores and came back in a 16-byte load, a store-forwarding
// stall that took half of `trim`'s time. The rare work is out of line.

/// Lowercases, borrowing when there is nothing to change. ASCII text is
/// lowercased in place of a copy (the same result as `to_lowercase`).
#[inline(always)]
pub fn lowercase(text: Cow<'_, str>) -> Cow<'_, str> {
    to_case::<false>(text)
}

/// Uppercases, borrowing when there is nothing to change; ASCII text as in
/// `lowercase`.
#[inline(always)]
pub fn uppercase(text: Cow<'_, str>) -> Cow<'_, str> {
    to_case::<true>(text)
}

/// `lowercase` (`UPPER` false) or `uppercase` (`UPPER` true).
#[inline(always)]
fn to_case<const UPPER: bool>(text: Cow<'_, str>) -> Cow<'_, str> {
    let (first, last) = if UPPER { (b'a', b'z') } else { (b'A', b'Z') };
    let (non_ascii, other_case) = ascii_scan(text.as_bytes(), first, last);
    if non_ascii || other_case {
        case_changed::<UPPER>(text, non_ascii)
    } else {
        text
    }
}

#[inline(never)]
fn case_changed<const UPPER: bool>(text: Cow<'_, str>, non_ascii: bool) -> Cow<'_, str> {
    if non_ascii {
        // Usually text in the target case already (`núñez`): borrowed when
        // every character maps to itself, which is then what `to_lowercase`
        // or `to_uppercase` gives (their one context rule, final sigma, is
        // for `Σ`, which does not lowercase to itself).
        let unchanged = text.chars().all(|c| match (c.is_ascii(), UPPER) {
            // ASCII characters map to themselves unless in the other case.
            (true, true) => !c.is_ascii_lowercase(),
            (true, false) => !c.is_ascii_uppercase(),
            (false, true) => maps_to_itself(c.to_uppercase(), c),
            (false, false) => maps_to_itself(c.to_lowercase(), c),
        });
        if unchanged {
            return text;
        }
        Cow::Owned(if UPPER {
            text.to_uppercase()
        } else {
            text.to_lowercase()
        })
    } else {
        let mut owned = text.into_owned();
        if UPPER {
            owned.make_ascii_uppercase();
        } else {
            owned.make_ascii_lowercase();
        }
        Cow::Owned(owned)
    }
}

/// Whether a character's case mapping is the character alone.
#[inline]
fn maps_to_itself(mut mapped: impl Iterator<Item = char>, c: char) -> bool {
    mapped.next() == Some(c) && mapped.next().is_none()
}

/// Whether `str::trim` would leave `text` as it is, decided from its end
/// bytes when they are printable ASCII (never whitespace; `trim` looks at
/// Unicode whitespace, so anything else asks it).
#[inline]
fn trimmed_already(text: &str) -> bool {
    let printable = |b: &u8| (0x21..0x7f).contains(b);
    let bytes = text.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) if printable(first) && printable(last) => true,
        _ => text.trim().len() == text.len(),
    }
}

/// Trims, borrowing when it can.
#[inline(always)]
pub fn trim(text: Cow<'_, str>) -> Cow<'_, str> {
    let printable = |b: Option<&u8>| b.is_some_and(|b| (0x21..0x7f).contains(b));
    let bytes = text.as_bytes();
    if printable(bytes.first()) && printable(bytes.last()) {
        return text;
    }
    trim_slow(text)
}

#[inline(never)]
fn trim_slow(text: Cow<'_, str>) -> Cow<'_, str> {
    if trimmed_already(&text) {
        return text;
    }
    match text {
        Cow::Borrowed(s) => Cow::Borrowed(s.trim()),
        Cow::Owned(s) => {
            let t = s.trim();
            if t.len() == s.len() {
                Cow::Owned(s)
            } else {
                Cow::Owned(t.to_string())
            }
        }
    }
}

/// The path segment right after `marker` (`/api/sites/ST-1/x` with
/// `/sites/` gives `ST-1`), trimmed; `None` if absent or empty.
pub fn segment_after<'p>(path: &'p str, marker: &str) -> Option<&'p str> {
    segment_after_found(path, &memchr::memmem::Finder::new(marker))
}

/// `segment_after` with the marker's searcher built once (`Rules`).
pub fn segment_after_found<'p>(
    path: &'p str,
    marker: &memchr::memmem::Finder<'_>,
) -> Option<&'p str> {
    let at = marker.find(path.as_bytes())?;
    // The marker is a whole string, so its end is a character boundary.
    let rest = &path[at + marker.needle().len()..];
    let end = memchr::memchr(b'/', rest.as_bytes()).unwrap_or(rest.len());
    let segment = rest[..end].trim();
    (!segment.is_empty()).then_some(segment)
}

/// Adds the parts of one asset-type value: split on `separator`, each part
/// trimmed and lowercased, empties dropped, each value once.
pub fn push_asset_types<'a>(value: Cow<'a, str>, separator: &str, into: &mut Vec<Cow<'a, str>>) {
    let mut push = |part: Cow<'a, str>| {
        if !part.is_empty() && !into.contains(&part) {
            into.push(part);
        }
    };
    match value {
        Cow::Borrowed(s) => {
            split(s, separator).for_each(|p| push(lowercase(trim(Cow::Borrowed(p)))))
        }
        // Each part is normalised from a borrowed slice, then owned once.
        Cow::Owned(s) => split(&s, separator)
            .for_each(|p| push(Cow::Owned(lowercase(trim(Cow::Borrowed(p))).into_owned()))),
    }
}

/// `text.split(separator)`; a one-byte (ASCII) separator is searched as a
/// `char`, with memchr, rather than with the substring searcher that a
/// `&str` pattern sets up at every call.
fn split<'t>(text: &'t str, separator: &str) -> impl Iterator<Item = &'t str> {
    let single = match separator.as_bytes() {
        [b] if b.is_ascii() => Some(*b as char),
        _ => None,
    };
    let (by_char, by_str) = match single {
        Some(c) => (Some(text.split(c)), None),
        None => (None, Some(text.split(separator))),
    };
    by_char
        .into_iter()
        .flatten()
        .chain(by_str.into_iter().flatten())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_split() {
        assert_eq!(split_url("/a/b?x=1#f"), ("/a/b", Some("x=1")));
        assert_eq!(split_url("/a/b#f?x=1"), ("/a/b", None));
        assert_eq!(split_url("/a/b"), ("/a/b", None));
        assert_eq!(split_url("/a?"), ("/a", Some("")));
        assert_eq!(split_url("?x=1"), ("", Some("x=1")));
    }

    #[test]
    fn form_decoding() {
        assert_eq!(form_decode("a+b%20c"), "a b c");
        assert_eq!(form_decode("pump%2Cvalve"), "pump,valve");
        assert_eq!(form_decode("100%"), "100%");
        assert_eq!(form_decode("%zz%4"), "%zz%4");
        assert_eq!(form_decode("%C3%A9t%C3%A9"), "été");
        assert_eq!(form_decode("%FF"), "\u{FFFD}");
        assert!(matches!(form_decode("plain"), Cow::Borrowed("plain")));
    }

    #[test]
    fn one_pass_over_the_query() {
        let mut assets = Vec::new();
        // Encoded names count too (`asset%54ype`); a bare name has an empty value.
        let q = "siteToken=&assetType=Pump&siteToken=+ST-1+&assetType=valve%2Ctank&siteToken=ST-2&&x&asset%54ype=Meter&assetType";
        let site = scan_query(q, "siteToken", "assetType", ",", &mut assets);
        assert_eq!(site.as_deref(), Some("ST-1"));
        assert_eq!(assets, vec!["pump", "valve", "tank", "meter"]);
        let mut assets = Vec::new();
        assert_eq!(
            scan_query("", "siteToken", "assetType", ",", &mut assets),
            None
        );
        assert!(assets.is_empty());
    }

    /// The query read pair by pair with `str::split` and `split_once`.
    fn scan_query_by_splitting<'q>(
        query: &'q str,
        asset_types: &mut Vec<Cow<'q, str>>,
    ) -> Option<Cow<'q, str>> {
        let mut site = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = form_decode(key);
            if key == "assetType" {
                push_asset_types(form_decode(value), ",", asset_types);
            } else if site.is_none() && key == "siteToken" {
                let value = trim(form_decode(value));
                if !value.is_empty() {
                    site = Some(value);
                }
            }
        }
        site
    }

    #[test]
    fn the_query_pass_agrees_with_splitting_on_random_queries() {
        let tokens = [
            "&",
            "=",
            "siteToken",
            "assetType",
            "a",
            "%41",
            "+",
            "é",
            "ST-1",
            ",",
            " ",
        ];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            let mut query = String::new();
            for _ in 0..(state % 12) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                query.push_str(tokens[(state >> 32) as usize % tokens.len()]);
            }
            let (mut got, mut expected) = (Vec::new(), Vec::new());
            assert_eq!(
                scan_query(&query, "siteToken", "assetType", ",", &mut got),
                scan_query_by_splitting(&query, &mut expected),
                "{query:?}"
            );
            assert_eq!(got, expected, "{query:?}");
        }
    }

    #[test]
    fn split_by_byte_or_string() {
        for (text, separator) in [
            ("a,b,,c", ","),
            ("", ","),
            (",", ","),
            ("a;;b;;", ";;"),
            ("é,ü", ","),
            ("aébéc", "é"),
        ] {
            let expected: Vec<&str> = text.split(separator).collect();
            assert_eq!(
                split(text, separator).collect::<Vec<_>>(),
                expected,
                "{text}"
            );
        }
    }

    #[test]
    fn asset_type_normalisation() {
        let mut out = Vec::new();
        push_asset_types(Cow::Borrowed(" Pump , ,VALVE"), ",", &mut out);
        push_asset_types(Cow::Borrowed("pump"), ",", &mut out);
        push_asset_types(Cow::Owned("Élan ".into()), ",", &mut out);
        assert_eq!(out, vec!["pump", "valve", "élan"]);
    }

    #[test]
    fn case_and_trim_helpers() {
        for text in [
            "",
            "a",
            "Abc",
            "ABC",
            "abc",
            " x ",
            "\tx",
            "x\u{a0}",
            "\u{a0}",
            "é",
            "É x",
            "İ",
            "ß",
            "a\u{1}",
            "\u{1}",
            "~",
            "!x!",
            "mia.núñez2@x.au",
            "MIA.NÚÑEZ",
            "Σ",
            "ΑΣ",
            "ΑΣ Β",
            "σς",
            "ǅ",
            "ǆ",
            "Ǆ",
            "ﬃ",
            "ŉ",
            "ı",
            "i\u{307}",
            "ß x",
            "ẞ",
            "Ω",
            "\u{2126}",
            "\u{212a}",
            "é\u{301}",
            "日本",
            "ＡＢ",
            "ａｂ",
            "🦀",
        ] {
            assert_eq!(
                lowercase(Cow::Borrowed(text)),
                text.to_lowercase(),
                "{text:?}"
            );
            assert_eq!(
                uppercase(Cow::Borrowed(text)),
                text.to_uppercase(),
                "{text:?}"
            );
            assert_eq!(trim(Cow::Borrowed(text)), text.trim(), "{text:?}");
            assert_eq!(trim(Cow::Owned(text.to_string())), text.trim(), "{text:?}");
        }
        assert!(matches!(lowercase(Cow::Borrowed("abc")), Cow::Borrowed(_)));
        assert!(matches!(uppercase(Cow::Borrowed("ABC")), Cow::Borrowed(_)));
        assert!(matches!(
            lowercase(Cow::Borrowed("mia.núñez2@x.au")),
            Cow::Borrowed(_)
        ));
        assert!(matches!(
            uppercase(Cow::Borrowed("NÚÑEZ")),
            Cow::Borrowed(_)
        ));
        assert!(matches!(lowercase(Cow::Borrowed("Núñez")), Cow::Owned(_)));
        assert!(matches!(trim(Cow::Borrowed("abc")), Cow::Borrowed("abc")));
    }

    #[test]
    fn case_helpers_agree_with_std_on_every_character() {
        for c in (0..0x11_0000).filter_map(char::from_u32) {
            for text in [
                c.to_string(),
                format!("a{c}"),
                format!("{c}Σ"),
                format!("Α{c}Σ"),
            ] {
                assert_eq!(
                    lowercase(Cow::Borrowed(&text)),
                    text.to_lowercase(),
                    "{text:?}"
                );
                assert_eq!(
                    uppercase(Cow::Borrowed(&text)),
                    text.to_uppercase(),
                    "{text:?}"
                );
            }
        }
    }

    #[test]
    fn ascii_scan_agrees_with_byte_tests() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..5000 {
            let len = (seed % 30) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    [
                        0, b'@', b'A', b'M', b'Z', b'[', b'`', b'a', b'z', b'{', 0x7f, 0x80, 0xc3,
                        0xff,
                    ][(seed % 14) as usize]
                })
                .collect();
            let ascii = bytes.is_ascii();
            let (non_ascii, upper) = ascii_scan(&bytes, b'A', b'Z');
            assert_eq!(non_ascii, !ascii, "{bytes:?}");
            if ascii {
                assert_eq!(upper, bytes.iter().any(u8::is_ascii_uppercase), "{bytes:?}");
                let (_, lower) = ascii_scan(&bytes, b'a', b'z');
                assert_eq!(lower, bytes.iter().any(u8::is_ascii_lowercase), "{bytes:?}");
            }
        }
    }

    #[test]
    fn site_segment() {
        assert_eq!(
            segment_after("/api/v2/sites/ST-0042/assets", "/sites/"),
            Some("ST-0042")
        );
        assert_eq!(segment_after("/sites/ST-1", "/sites/"), Some("ST-1"));
        assert_eq!(segment_after("/sites/", "/sites/"), None);
        assert_eq!(segment_after("/sites//x", "/sites/"), None);
        assert_eq!(segment_after("/mysites/x", "/sites/"), None);
        // Trimmed as `str::trim` trims, Unicode whitespace included.
        assert_eq!(segment_after("/sites/ ST-1\t/x", "/sites/"), Some("ST-1"));
        assert_eq!(
            segment_after("/sites/\u{a0}ST-1\u{3000}", "/sites/"),
            Some("ST-1")
        );
        assert_eq!(segment_after("/sites/ \u{a0} /x", "/sites/"), None);
        assert_eq!(segment_after("/sites/été/x", "/sites/"), Some("été"));
    }
}
