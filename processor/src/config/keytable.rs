//! Which of the record's fields a JSON key names: looked up for every key
//! of every line, so it is a small open-addressing table whose entries hold
//! the names as two machine words. A key of up to 16 bytes is found with
//! two word compares instead of a call to memcmp on a name behind a pointer.

use crate::config::Field;

/// Slots: a power of two, more than twice the twelve keys.
const SLOTS: usize = 32;

/// Names up to this long are equal exactly when their lengths and words are.
const WORD_COMPARED: usize = 16;

#[derive(Debug, Clone, Copy)]
struct Slot {
    /// 0 for an empty slot (an empty name never matches, so is never stored).
    len: usize,
    words: (u64, u64),
    field: Field,
    /// Into `KeyTable::long_names`, for names longer than `WORD_COMPARED`.
    long: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct KeyTable {
    slots: [Slot; SLOTS],
    long_names: Vec<String>,
}

/// A name's bytes as two words: its first and last eight bytes (which
/// overlap below 16), or for a shorter name its bytes packed into the first
/// word. Together with the length they determine a name of up to 16 bytes.
#[inline(always)]
fn words(key: &[u8]) -> (u64, u64) {
    let n = key.len();
    let word8 = |at: usize| u64::from_le_bytes(key[at..at + 8].try_into().expect("eight bytes"));
    let word4 = |at: usize| u32::from_le_bytes(key[at..at + 4].try_into().expect("four bytes"));
    match n {
        8.. => (word8(0), word8(n - 8)),
        4..=7 => (u64::from(word4(0)) | u64::from(word4(n - 4)) << 32, 0),
        _ => {
            let mut word = 0u64;
            for (i, &b) in key.iter().enumerate() {
                word |= u64::from(b) << (8 * i);
            }
            (word, 0)
        }
    }
}

#[inline(always)]
fn first_slot(len: usize, (a, b): (u64, u64)) -> usize {
    let mixed = (a ^ b.rotate_left(29) ^ len as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (mixed >> (64 - SLOTS.trailing_zeros())) as usize
}

impl KeyTable {
    /// The names with their fields, in order: a repeated name keeps its
    /// first field, as a search in order would; empty names are left out.
    pub(crate) fn new<'n>(names: impl IntoIterator<Item = (&'n str, Field)>) -> Self {
        let empty = Slot {
            len: 0,
            words: (0, 0),
            field: Field::Kind,
            long: 0,
        };
        let mut table = KeyTable {
            slots: [empty; SLOTS],
            long_names: Vec::new(),
        };
        for (name, field) in names {
            if name.is_empty() || table.find(name).is_some() {
                continue;
            }
            let key = name.as_bytes();
            let words = words(key);
            let mut slot = first_slot(key.len(), words);
            while table.slots[slot].len != 0 {
                slot = (slot + 1) & (SLOTS - 1);
            }
            let long = if key.len() > WORD_COMPARED {
                table.long_names.push(name.to_string());
                table.long_names.len() - 1
            } else {
                0
            };
            assert!(
                table.slots.iter().filter(|s| s.len != 0).count() < SLOTS / 2,
                "the key table holds the record's twelve fields"
            );
            table.slots[slot] = Slot {
                len: key.len(),
                words,
                field,
                long,
            };
        }
        table
    }

    /// Inlined: a call per key cost more than the lookup itself.
    #[inline(always)]
    pub(crate) fn find(&self, key: &str) -> Option<Field> {
        let key = key.as_bytes();
        let words = words(key);
        let mut slot = first_slot(key.len(), words);
        loop {
            let entry = &self.slots[slot];
            if entry.len == 0 {
                return None;
            }
            if entry.len == key.len()
                && entry.words == words
                && (key.len() <= WORD_COMPARED || self.long_names[entry.long].as_bytes() == key)
            {
                return Some(entry.field);
            }
            slot = (slot + 1) & (SLOTS - 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: [Field; 12] = [
        Field::Kind,
        Field::Timestamp,
        Field::SessionId,
        Field::User,
        Field::Method,
        Field::Url,
        Field::Status,
        Field::ResponseTime,
        Field::UserAgent,
        Field::Module,
        Field::SiteToken,
        Field::AssetTypes,
    ];

    /// What a search in order over the names gives.
    fn in_order(names: &[String], key: &str) -> Option<Field> {
        names
            .iter()
            .zip(FIELDS)
            .find(|(name, _)| !name.is_empty() && name.as_str() == key)
            .map(|(_, field)| field)
    }

    /// Every name, and every name with one byte changed, cut or added, at
    /// every length from 0 to 40 (both sides of each word boundary).
    #[test]
    fn finds_what_a_search_in_order_finds() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..300 {
            let names: Vec<String> = (0..12)
                .map(|i| {
                    let len = (next() % 41) as usize;
                    // Names that differ in one byte only, and repeats.
                    let base = (b'a' + (round % 3) as u8) as char;
                    let mut name: String = std::iter::repeat_n(base, len).collect();
                    if len > 0 && i % 3 != 0 {
                        let at = (next() as usize) % len;
                        name.replace_range(at..at + 1, &((b'a' + i as u8) as char).to_string());
                    }
                    name
                })
                .collect();
            let table = KeyTable::new(names.iter().map(String::as_str).zip(FIELDS));
            let mut keys: Vec<String> = vec![String::new()];
            for name in &names {
                keys.push(name.clone());
                keys.push(format!("{name}x"));
                keys.push(format!("x{name}"));
                if !name.is_empty() {
                    keys.push(name[1..].to_string());
                    keys.push(name[..name.len() - 1].to_string());
                    for at in [0, name.len() / 2, name.len() - 1] {
                        let mut changed = name.clone().into_bytes();
                        changed[at] ^= 1;
                        keys.push(String::from_utf8(changed).unwrap());
                    }
                }
            }
            for key in &keys {
                assert_eq!(table.find(key), in_order(&names, key), "{names:?} {key:?}");
            }
        }
    }
}
