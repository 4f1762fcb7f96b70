//! JSON string content at the byte level, shared by the readers and the
//! writers: finding the bytes a JSON string cannot hold as they are
//! (`"`, `\\`, control characters; SWAR and SSE2), the text of a string
//! literal's content left escaped, and writing a string literal.
//! A leaf module: it depends on no other module of the crate.

/// Bytes that end a run of plain string content: `"`, `\` and the control
/// characters that JSON forbids unescaped.
pub(crate) static SPECIAL: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The special bytes of a word of eight, as the high bit of each byte; the
/// lowest flag is exact (a false flag can only sit above a true one).
/// `"` and the control characters are one test: xor 0x02 maps `"` (0x22) to
/// 0x20 and 0x00-0x1f onto themselves, and no other byte below 0x21, so
/// they are the bytes that end below 0x21; `\\` is the other test.
#[inline]
pub(crate) fn special_bytes(word: u64) -> u64 {
    let low = word ^ (ONES * 0x02);
    let backslash = word ^ (ONES * u64::from(b'\\'));
    ((low.wrapping_sub(ONES * 0x21) & !low) | (backslash.wrapping_sub(ONES) & !backslash)) & HIGH
}

/// `special_bytes` for sixteen bytes at once, one bit per byte (SSE2, part
/// of every x86-64 CPU; `safe_arch` wraps its intrinsics safely).
#[cfg(target_arch = "x86_64")]
#[inline]
fn special_bytes_16(chunk: &[u8; 16]) -> u32 {
    use safe_arch::{
        bitor_m128i, bitxor_m128i, cmp_eq_mask_i8_m128i, load_unaligned_m128i, min_u8_m128i,
        move_mask_i8_m128i, set_splat_i8_m128i,
    };
    let v = load_unaligned_m128i(chunk);
    // As in `special_bytes`: `"` and the control characters are the bytes
    // that, xor 0x02, are at most 0x20 (unsigned).
    let flipped = bitxor_m128i(v, set_splat_i8_m128i(0x02));
    let quote_or_control =
        cmp_eq_mask_i8_m128i(min_u8_m128i(flipped, set_splat_i8_m128i(0x20)), flipped);
    let backslash = cmp_eq_mask_i8_m128i(v, set_splat_i8_m128i(b'\\' as i8));
    move_mask_i8_m128i(bitor_m128i(quote_or_control, backslash)) as u32
}

/// The position of the first byte at or after `at` that a JSON string cannot
/// hold as it is (`"`, `\\`, a control character), eight bytes at a time.
#[inline]
pub(crate) fn special_from(bytes: &[u8], mut at: usize) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    while let Some(chunk) = bytes.get(at..at + 16) {
        let found = special_bytes_16(chunk.try_into().expect("sixteen bytes"));
        if found != 0 {
            return Some(at + found.trailing_zeros() as usize);
        }
        at += 16;
    }
    while let Some(chunk) = bytes.get(at..at + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let found = special_bytes(word);
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    while !SPECIAL[*bytes.get(at)? as usize] {
        at += 1;
    }
    Some(at)
}

/// Whether `bytes` holds a byte that a JSON string cannot hold as it is.
/// Most values written are short: they are checked as two overlapping
/// words rather than through `special_from`'s byte-by-byte tail.
#[inline]
pub(crate) fn has_special(bytes: &[u8]) -> bool {
    let n = bytes.len();
    let word4 = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes"));
    let word8 = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"));
    // A flag is only ever set above a true one: any flag means a special byte.
    match n {
        0..=3 => bytes.iter().any(|&b| SPECIAL[b as usize]),
        4..=7 => special_bytes(u64::from(word4(0)) | u64::from(word4(n - 4)) << 32) != 0,
        8..=16 => special_bytes(word8(0)) | special_bytes(word8(n - 8)) != 0,
        _ => special_from(bytes, 0).is_some(),
    }
}

/// The text of a message left escaped (`Message::Escaped`): `raw` is the
/// content of a JSON string literal that `decode::fastbatch`'s
/// `Reader::message` validated.
pub(crate) fn unescape_content(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut at = 0;
    while let Some(special) = special_from(bytes, at) {
        // Cuts fall on ASCII bytes: the runs are whole characters.
        out.push_str(&raw[at..special]);
        let escape = bytes.get(special + 1).copied();
        at = special + 2;
        let c = match escape {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let unit = hex4(&bytes[at..]).unwrap_or(0xFFFD);
                at += 4;
                let code = if (0xD800..=0xDBFF).contains(&unit) {
                    let low = hex4(&bytes[at + 2..]).unwrap_or(0xFFFD);
                    at += 6;
                    0x10000 + ((unit - 0xD800) << 10) + (low.wrapping_sub(0xDC00) & 0x3FF)
                } else {
                    unit
                };
                char::from_u32(code).unwrap_or('\u{FFFD}')
            }
            // Not produced by `decode::fastbatch`'s `Reader::message`.
            _ => '\u{FFFD}',
        };
        out.push(c);
    }
    out.push_str(&raw[at.min(raw.len())..]);
    out
}

/// The value of the four hex digits that start `bytes` (either case).
pub(crate) fn hex4(bytes: &[u8]) -> Option<u32> {
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

/// Appends a JSON array of string literals.
#[inline]
pub(crate) fn write_str_array<'s>(out: &mut Vec<u8>, values: impl Iterator<Item = &'s str>) {
    out.push(b'[');
    for (i, value) in values.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, value);
    }
    out.push(b']');
}

/// Appends a JSON string literal. Most values need no escaping and are
/// copied as they are; that path is inlined (eight calls per event cost
/// more than the copies), the escaping one is not.
#[inline(always)]
pub(crate) fn write_str(out: &mut Vec<u8>, value: &str) {
    if !has_special(value.as_bytes()) {
        out.reserve(value.len() + 2);
        out.push(b'"');
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
    } else {
        write_escaped(out, value);
    }
}

#[inline(never)]
fn write_escaped(out: &mut Vec<u8>, value: &str) {
    serde_json::to_writer(&mut *out, value).expect("writing to a Vec cannot fail");
}
