//! Asset types in a query string and in the record's `assetTypes` array,
//! written in every way the spec normalises (case, spaces, separators,
//! percent-encoding, blanks).

use super::Gen;
use super::draw::dim;
use super::vocabulary::{ASSET_TYPES, MULTI_WORD_TYPES, NON_ASCII_RAW, NON_ASCII_TYPE};

impl Gen<'_> {
    /// Asset types in the query and/or the record's array: (query items with
    /// their normalised parts; the array as written and normalised).
    #[allow(clippy::type_complexity)]
    pub(super) fn assets(
        &mut self,
    ) -> (
        Vec<(String, Vec<String>)>,
        Option<(Vec<String>, Vec<String>)>,
    ) {
        let variant = self.choose(dim::ASSETS, &[40, 12, 8, 5, 4, 4, 3, 3, 2, 3, 2, 1]);
        let mut q = Vec::new();
        let param = |v: String| format!("assetType={v}");
        let one = |n: &str| vec![n.to_string()];
        match variant {
            1 => {
                let a = self.sample_types(1)[0];
                q.push((param(enc(a, "%20")), one(a)));
            }
            2 => {
                let k = self.range(2, 4) as usize;
                for a in self.sample_types(k) {
                    let cased = self.case_variant(a);
                    let space = self.pick(&["%20", "+"]);
                    q.push((param(enc(&cased, space)), one(a)));
                }
            }
            3 => {
                let a = self.pick(&MULTI_WORD_TYPES);
                q.push((param(enc(&title(a), "%20")), one(a)));
            }
            4 => {
                let a = self.pick(&MULTI_WORD_TYPES);
                let cased = if self.chance(0.5) {
                    a.to_ascii_uppercase()
                } else {
                    a.to_string()
                };
                q.push((param(enc(&cased, "+")), one(a)));
            }
            5 => {
                let k = self.range(2, 4) as usize;
                let xs = self.sample_types(k);
                let sep = self.pick(&[",", ",%20", ",+"]);
                let v: Vec<String> = xs.iter().map(|a| enc(a, "%20")).collect();
                q.push((
                    param(v.join(sep)),
                    xs.iter().map(|a| a.to_string()).collect(),
                ));
            }
            6 => {
                let xs = self.sample_types(2);
                let sep = self.pick(&["%2C", "%2c", "%2C%20"]);
                let v: Vec<String> = xs.iter().map(|a| enc(&self.case_variant(a), "+")).collect();
                q.push((
                    param(v.join(sep)),
                    xs.iter().map(|a| a.to_string()).collect(),
                ));
            }
            7 => {
                let a = self.sample_types(1)[0];
                let raw = match self.below(3) {
                    0 => format!("+{}+", enc(&title(a), "+")),
                    1 => format!("%20{}%20", enc(&a.to_ascii_uppercase(), "%20")),
                    _ => format!("++{}", enc(&title(a), "%20")),
                };
                q.push((param(raw), one(a)));
            }
            8 => {
                let xs = self.sample_types(2);
                q.push((
                    param(format!("{},,{},", enc(xs[0], "+"), enc(xs[1], "+"))),
                    xs.iter().map(|a| a.to_string()).collect(),
                ));
                q.push((param(self.pick(&["", "+", "%20,"]).to_string()), Vec::new()));
            }
            9 => {
                let k = self.range(1, 4) as usize;
                let xs = self.sample_types(k);
                let mut raw: Vec<String> = xs.iter().map(|a| self.array_variant(a)).collect();
                let blank = self.pick(&["", "  "]).to_string();
                let at = self.below(raw.len() + 1);
                raw.insert(at, blank);
                return (q, Some((raw, xs.iter().map(|a| a.to_string()).collect())));
            }
            10 => {
                let xs = self.sample_types(2);
                q.push((param(enc(xs[0], "%20")), one(xs[0])));
                let raw = vec![self.array_variant(xs[1])];
                return (q, Some((raw, one(xs[1]))));
            }
            11 => {
                q.push((
                    param(self.pick(&NON_ASCII_RAW).to_string()),
                    one(NON_ASCII_TYPE),
                ));
            }
            _ => {}
        }
        (q, None)
    }

    fn sample_types(&mut self, k: usize) -> Vec<&'static str> {
        let mut idx: Vec<usize> = (0..ASSET_TYPES.len()).collect();
        for i in 0..k {
            let j = i + self.below(idx.len() - i);
            idx.swap(i, j);
        }
        idx[..k].iter().map(|&i| ASSET_TYPES[i]).collect()
    }

    fn case_variant(&mut self, a: &str) -> String {
        match self.below(3) {
            0 => a.to_string(),
            1 => title(a),
            _ => a.to_ascii_uppercase(),
        }
    }

    fn array_variant(&mut self, a: &str) -> String {
        match self.below(4) {
            0 => a.to_string(),
            1 => title(a),
            2 => format!(" {a} "),
            _ => a.to_ascii_uppercase(),
        }
    }
}

/// Each word's first ASCII letter uppercased.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut up = true;
    for c in s.chars() {
        out.push(if up { c.to_ascii_uppercase() } else { c });
        up = c == ' ';
    }
    out
}

/// Percent-encodes a query value; a space becomes `space` (`%20` or `+`).
fn enc(s: &str, space: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        match b {
            b' ' => out.push_str(space),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 15) as usize] as char);
            }
        }
    }
    out
}
