//! The compiled matchers of the noise rules, part of `Rules`: user-agent
//! substrings (`AgentMatcher`) and user globs (`UserPattern`). Applying them
//! to a record, in the documented order, is `rules::noise`.

use aho_corasick::AhoCorasick;
use memchr::memmem::Finder;

/// Substrings of a user agent, compared ASCII-case-insensitively: the agent
/// is lowercased (ASCII letters only) into a buffer and searched for the
/// lowercased substrings, which is the same test. A few substrings are
/// searched one by one with memchr's SIMD `memmem`, several times faster on
/// user agents than one case-insensitive aho-corasick automaton; many use
/// one automaton.
#[derive(Debug, Clone)]
pub enum AgentMatcher {
    /// A few substrings, none shorter than `MIN_SAMPLED`.
    Sampled(SampledPairs),
    Few(Vec<Finder<'static>>),
    Many(AhoCorasick),
}

/// Up to this many substrings are searched one by one.
const FEW_AGENTS: usize = 12;

/// Substrings at least this long are found by sampling pairs of bytes.
const MIN_SAMPLED: usize = 4;

/// A few substrings found by sampling: every `step`-th pair of bytes of the
/// agent, case-folded, is looked up among the pairs at offsets below `step`
/// of each substring, and only those hits are verified. With `step` = the
/// shortest substring's length − 1, every occurrence of a substring spans a
/// sampled pair at such an offset, so nothing is missed; on user agents this
/// looks at a sixth of the pairs instead of running one search per
/// substring (about four times fewer instructions).
#[derive(Debug, Clone)]
pub struct SampledPairs {
    step: usize,
    /// One bit per case-folded pair that some substring has at an offset
    /// below `step`.
    present: Vec<u64>,
    /// (pair, substring, offset), sorted by pair.
    pairs: Vec<(u16, usize, usize)>,
    /// Lowercased (ASCII letters only).
    needles: Vec<Vec<u8>>,
}

fn pair(a: u8, b: u8) -> u16 {
    u16::from_le_bytes([a.to_ascii_lowercase(), b.to_ascii_lowercase()])
}

impl SampledPairs {
    /// `needles` lowercased, none shorter than `MIN_SAMPLED`.
    fn new(needles: Vec<Vec<u8>>) -> Self {
        let step = needles.iter().map(Vec::len).min().unwrap_or(MIN_SAMPLED) - 1;
        let mut present = vec![0u64; 1 << 10];
        let mut pairs = Vec::new();
        for (index, needle) in needles.iter().enumerate() {
            for offset in 0..step {
                let (a, b) = (needle[offset], needle[offset + 1]);
                // Every case of the pair, so that samples are not folded.
                for a in [a, a.to_ascii_uppercase()] {
                    for b in [b, b.to_ascii_uppercase()] {
                        let p = usize::from(u16::from_le_bytes([a, b]));
                        present[p >> 6] |= 1 << (p & 63);
                    }
                }
                pairs.push((pair(a, b), index, offset));
            }
        }
        pairs.sort_unstable();
        SampledPairs {
            step,
            present,
            pairs,
            needles,
        }
    }

    fn is_match(&self, agent: &[u8]) -> bool {
        let mut s = 0;
        while let Some(&[a, b]) = agent.get(s..s + 2) {
            let raw = usize::from(u16::from_le_bytes([a, b]));
            if self.present[raw >> 6] >> (raw & 63) & 1 != 0 {
                let p = pair(a, b);
                let from = self.pairs.partition_point(|e| e.0 < p);
                for &(_, index, offset) in self.pairs[from..].iter().take_while(|e| e.0 == p) {
                    let needle = &self.needles[index];
                    if let Some(start) = s.checked_sub(offset)
                        && let Some(window) = agent.get(start..start + needle.len())
                        && window.eq_ignore_ascii_case(needle)
                    {
                        return true;
                    }
                }
            }
            s += self.step;
        }
        false
    }
}

impl AgentMatcher {
    /// `None` when there is nothing to match (empty substrings are dropped).
    pub fn new(substrings: &[&str]) -> Option<Self> {
        let lowered: Vec<Vec<u8>> = substrings
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| s.as_bytes().to_ascii_lowercase())
            .collect();
        if lowered.is_empty() {
            None
        } else if lowered.len() <= FEW_AGENTS && lowered.iter().all(|s| s.len() >= MIN_SAMPLED) {
            Some(AgentMatcher::Sampled(SampledPairs::new(lowered)))
        } else if lowered.len() <= FEW_AGENTS {
            Some(AgentMatcher::Few(
                lowered
                    .iter()
                    .map(|s| Finder::new(s).into_owned())
                    .collect(),
            ))
        } else {
            Some(AgentMatcher::Many(
                AhoCorasick::new(&lowered).expect("plain substrings always compile"),
            ))
        }
    }

    pub fn is_match(&self, agent: &str) -> bool {
        if let AgentMatcher::Sampled(sampled) = self {
            return sampled.is_match(agent.as_bytes());
        }
        let mut buffer = [0u8; 512];
        let owned;
        let lowered: &[u8] = match buffer.get_mut(..agent.len()) {
            Some(b) => {
                b.copy_from_slice(agent.as_bytes());
                b.make_ascii_lowercase();
                b
            }
            None => {
                owned = agent.as_bytes().to_ascii_lowercase();
                &owned
            }
        };
        match self {
            AgentMatcher::Few(finders) => finders.iter().any(|f| f.find(lowered).is_some()),
            AgentMatcher::Many(automaton) => automaton.is_match(lowered),
            AgentMatcher::Sampled(_) => unreachable!("answered above"),
        }
    }
}

/// A user glob, compiled once: the usual `*@domain` is a suffix test.
#[derive(Debug, Clone)]
pub enum UserPattern {
    Suffix(String),
    Glob(String),
}

impl UserPattern {
    /// `pattern` is expected lowercased already.
    pub fn new(pattern: &str) -> Self {
        match pattern.strip_prefix('*') {
            Some(suffix) if !suffix.contains(['*', '?']) => UserPattern::Suffix(suffix.to_string()),
            _ => UserPattern::Glob(pattern.to_string()),
        }
    }

    /// The same answer as `glob_match` with the pattern.
    pub fn is_match(&self, text: &str) -> bool {
        match self {
            UserPattern::Suffix(suffix) => text.ends_with(suffix.as_str()),
            UserPattern::Glob(pattern) => glob_match(pattern, text),
        }
    }
}

/// Glob matching with `*` (any run, even empty) and `?` (one character).
/// Both sides are expected lowercased already.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    // The usual pattern, `*@domain`, is a suffix test.
    if let Some(suffix) = pattern.strip_prefix('*')
        && !suffix.contains(['*', '?'])
    {
        return text.ends_with(suffix);
    }
    // Byte-wise matching equals character-wise matching for UTF-8 unless a
    // `?` must match one (possibly multi-byte) character.
    if !pattern.contains('?') || (pattern.is_ascii() && text.is_ascii()) {
        glob(pattern.as_bytes(), text.as_bytes())
    } else {
        let p: Vec<char> = pattern.chars().collect();
        let t: Vec<char> = text.chars().collect();
        glob(&p, &t)
    }
}

/// Iterative matching with one backtrack point: linear for one `*`.
fn glob<T: PartialEq + Copy + From<u8>>(p: &[T], t: &[T]) -> bool {
    let (star, any) = (T::from(b'*'), T::from(b'?'));
    let (mut pi, mut ti) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] != star && (p[pi] == any || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == star {
            backtrack = Some((pi, ti));
            pi += 1;
        } else if let Some((s, matched)) = backtrack {
            pi = s + 1;
            ti = matched + 1;
            backtrack = Some((s, matched + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == star)
}
