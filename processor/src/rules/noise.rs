//! The noise filter: health checks, static assets, bots, service accounts.

use crate::config::Rules;
use crate::config::matchers::AgentMatcher;
use crate::counts::Reason;

/// The user-agent verdicts of the last few agents seen (a batch repeats a
/// handful of agents, one per client, and comparing an agent with a
/// remembered one costs a fraction of matching it).
#[derive(Debug, Default)]
pub struct AgentMemo {
    entries: [(String, bool); AGENT_MEMO_SIZE],
    /// How many entries hold an agent (the first `len`).
    len: usize,
    /// The entry replaced next once all are used.
    next: usize,
}

const AGENT_MEMO_SIZE: usize = 4;

impl AgentMemo {
    /// `matcher.is_match(agent)`, remembered.
    fn is_match(&mut self, matcher: &AgentMatcher, agent: &str) -> bool {
        if let Some((_, verdict)) = self.entries[..self.len].iter().find(|(a, _)| a == agent) {
            return *verdict;
        }
        let verdict = matcher.is_match(agent);
        let slot = if self.len < AGENT_MEMO_SIZE {
            self.len += 1;
            self.len - 1
        } else {
            let slot = self.next;
            self.next = (self.next + 1) % AGENT_MEMO_SIZE;
            slot
        };
        let entry = &mut self.entries[slot];
        entry.0.clear();
        entry.0.push_str(agent);
        entry.1 = verdict;
        verdict
    }
}

/// The first noise rule a kept record matches, in the documented order
/// (method, path, user agent, user).
pub fn noise_reason(
    rules: &Rules,
    method: Option<&str>,
    path: &str,
    user_agent: Option<&str>,
    user: &str,
) -> Option<Reason> {
    noise_reason_memo(
        rules,
        method,
        path,
        user_agent,
        user,
        &mut AgentMemo::default(),
    )
}

/// `noise_reason`, with the user-agent verdicts remembered in `memo`.
pub fn noise_reason_memo(
    rules: &Rules,
    method: Option<&str>,
    path: &str,
    user_agent: Option<&str>,
    user: &str,
    memo: &mut AgentMemo,
) -> Option<Reason> {
    if let Some(method) = method
        && rules.noise_methods.iter().any(|m| m == method)
    {
        return Some(Reason::NoiseMethod);
    }
    if is_noise_path(rules, path) {
        return Some(Reason::NoisePath);
    }
    if let (Some(agent), Some(matcher)) = (user_agent, &rules.noise_user_agents)
        && memo.is_match(matcher, agent)
    {
        return Some(Reason::NoiseUserAgent);
    }
    if rules.noise_user_patterns.iter().any(|p| p.is_match(user)) {
        return Some(Reason::NoiseUser);
    }
    None
}

fn is_noise_path(rules: &Rules, path: &str) -> bool {
    if rules.noise_paths.iter().any(|p| p == path)
        || rules
            .noise_path_prefixes
            .iter()
            .any(|p| path.starts_with(p.as_str()))
    {
        return true;
    }
    let bytes = path.as_bytes();
    if !rules.may_have_noise_suffix(bytes) {
        return false;
    }
    rules.noise_path_suffixes.iter().any(|suffix| {
        bytes.len() >= suffix.len()
            && bytes[bytes.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::matchers::{UserPattern, glob_match};
    use memchr::memmem::Finder;

    fn reason(method: Option<&str>, path: &str, ua: Option<&str>, user: &str) -> Option<Reason> {
        noise_reason(&Rules::builtin(), method, path, ua, user)
    }

    #[test]
    fn remembered_agent_verdicts_are_the_verdicts() {
        let rules = Rules::builtin();
        let mut memo = AgentMemo::default();
        let agents = [
            "Mozilla/5.0 (Macintosh) Safari/605.1.15",
            "ELB-HealthChecker/2.0",
            "kube-probe/1.29",
            "Mozilla/5.0 (compatible; Googlebot/2.1)",
            "curl/8.4.0",
            "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
            "",
            "ELB-HealthChecker/2.0 ",
            // Alike the first in length and ending, with another verdict:
            // the memo must compare whole agents.
            "Googlebot/5 (Macintosh) Safari/605.1.15",
            "bingbot",
            "curl",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..500 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let agent = agents[(seed % agents.len() as u64) as usize];
            let user = if seed.is_multiple_of(5) {
                "svc@ironman.internal"
            } else {
                "u"
            };
            assert_eq!(
                noise_reason_memo(&rules, None, "/a", Some(agent), user, &mut memo),
                noise_reason(&rules, None, "/a", Some(agent), user),
                "{agent:?}"
            );
        }
    }

    #[test]
    fn methods() {
        assert_eq!(
            reason(Some("OPTIONS"), "/a", None, "u"),
            Some(Reason::NoiseMethod)
        );
        assert_eq!(
            reason(Some("HEAD"), "/a", None, "u"),
            Some(Reason::NoiseMethod)
        );
        assert_eq!(reason(Some("GET"), "/a", None, "u"), None);
        assert_eq!(reason(None, "/a", None, "u"), None);
    }

    #[test]
    fn paths() {
        for p in [
            "/health",
            "/healthz",
            "/ping",
            "/metrics",
            "/favicon.ico",
            "/static/x",
            "/a/app.js",
            "/a/b.CSS",
            "/m.map",
            "/i.png",
            "/i.JPG",
            "/i.jpeg",
            "/i.gif",
            "/i.svg",
            "/f.woff",
            "/f.woff2",
            "/f.ttf",
            "/x.ico",
        ] {
            assert_eq!(reason(None, p, None, "u"), Some(Reason::NoisePath), "{p}");
        }
        for p in [
            "/health/x",
            "/api/health",
            "/static",
            "/a.json",
            "/jsx",
            "/Health",
            "/api/js",
        ] {
            assert_eq!(reason(None, p, None, "u"), None, "{p}");
        }
    }

    #[test]
    fn suffix_prefilter_agrees_with_comparing_every_suffix() {
        let rules = Rules::builtin();
        let naive = |path: &str| {
            rules.noise_path_suffixes.iter().any(|suffix| {
                path.len() >= suffix.len()
                    && path.as_bytes()[path.len() - suffix.len()..]
                        .eq_ignore_ascii_case(suffix.as_bytes())
            })
        };
        for stem in ["", "/", "/a", "/a.", "/x/y", "/é", "/static"] {
            for tail in [
                "", ".js", ".JS", ".Js", ".css", ".cSs", ".map", ".PNG", ".jpg", ".jpeg", ".JPEG",
                ".gif", ".svg", ".ico", ".ICO", ".woff", ".woff2", ".WOFF2", ".ttf", ".TTF", "js",
                ".js/", ".j", "s", "2", "f", "G", "ǵ", ".json", ".pngx", "\u{0}",
            ] {
                let path = format!("{stem}{tail}");
                let cheap = rules.may_have_noise_suffix(path.as_bytes()) && naive(&path);
                assert_eq!(cheap, naive(&path), "{path:?}");
                assert_eq!(
                    is_noise_path(&rules, &path),
                    naive(&path) || {
                        rules.noise_paths.contains(&path)
                            || rules
                                .noise_path_prefixes
                                .iter()
                                .any(|p| path.starts_with(p.as_str()))
                    },
                    "{path:?}"
                );
            }
        }
    }

    #[test]
    fn user_agents_case_insensitive() {
        for ua in [
            "ELB-HealthChecker/2.0",
            "kube-probe/1.29",
            "Mozilla/5.0 (compatible; googlebot/2.1)",
            "BINGBOT",
            "Pingdom.com_bot",
            "Mozilla/5.0+(compatible; UptimeRobot/2.0)",
        ] {
            assert_eq!(
                reason(None, "/a", Some(ua), "u"),
                Some(Reason::NoiseUserAgent),
                "{ua}"
            );
        }
        assert_eq!(reason(None, "/a", Some("Mozilla/5.0 Firefox"), "u"), None);
    }

    #[test]
    fn agent_matching_is_ascii_case_insensitive_for_few_and_many() {
        let few = AgentMatcher::new(&["Bot", "", "ÉLan", "x-Probe"]).unwrap();
        let many: Vec<String> = (0..20).map(|i| format!("Agent{i}")).collect();
        let mut many: Vec<&str> = many.iter().map(String::as_str).collect();
        many.extend(["Bot", "ÉLan", "x-Probe"]);
        let many = AgentMatcher::new(&many).unwrap();
        assert!(matches!(
            few,
            AgentMatcher::Few(_) | AgentMatcher::Sampled(_)
        ));
        assert!(matches!(many, AgentMatcher::Many(_)));
        let long = format!("{}BOT", "a".repeat(600));
        for (agent, expected) in [
            ("googleBOT/2.1", true),
            ("X-PROBE", true),
            ("Élan", true),
            ("ÉLAN", true),
            ("éLan", false),
            ("b o t", false),
            ("", false),
            (long.as_str(), true),
        ] {
            assert_eq!(few.is_match(agent), expected, "{agent}");
            assert_eq!(many.is_match(agent), expected, "{agent}");
        }
        assert!(AgentMatcher::new(&["", ""]).is_none());
    }

    #[test]
    fn sampled_pairs_agree_with_a_plain_search() {
        let sets: [&[&str]; 4] = [
            &[
                "ELB-HealthChecker",
                "kube-probe",
                "Googlebot",
                "bingbot",
                "Pingdom",
                "UptimeRobot",
            ],
            &["abcd", "bcde", "ÉLan"],
            &["aaaa", "aaaaaaab"],
            &["x-Probe", "Bot!"],
        ];
        let pieces = [
            "a",
            "b",
            "c",
            "d",
            "e",
            "A",
            "B",
            "-",
            " ",
            "é",
            "É",
            "bot",
            "BOT",
            "lan",
            "LAN",
            "probe",
            "x-",
            "googlebot",
            "GoogleBot",
            "uptimerobot",
            "elb-health",
            "checker",
            "king",
            "pingdo",
            "m",
            "aaa",
            "aaaaaaa",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
        ];
        let mut seed = 0x1234_5678_9abc_def1u64;
        for set in sets {
            let sampled = AgentMatcher::new(set).unwrap();
            assert!(matches!(sampled, AgentMatcher::Sampled(_)), "{set:?}");
            let finders = AgentMatcher::Few(
                set.iter()
                    .map(|s| Finder::new(&s.as_bytes().to_ascii_lowercase()).into_owned())
                    .collect(),
            );
            let (mut matched, mut missed) = (0, 0);
            for _ in 0..20_000 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let mut agent = String::new();
                for _ in 0..seed % 9 {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    agent.push_str(pieces[(seed % pieces.len() as u64) as usize]);
                }
                let expected = set.iter().any(|n| {
                    let (a, n) = (agent.as_bytes(), n.as_bytes());
                    a.len() >= n.len() && a.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
                });
                assert_eq!(sampled.is_match(&agent), expected, "{set:?} {agent:?}");
                assert_eq!(finders.is_match(&agent), expected, "{set:?} {agent:?}");
                if expected {
                    matched += 1;
                } else {
                    missed += 1;
                }
            }
            assert!(
                matched > 50 && missed > 1_000,
                "{set:?}: {matched} {missed}"
            );
        }
        assert!(matches!(
            AgentMatcher::new(&["abc", "defg"]),
            Some(AgentMatcher::Few(_))
        ));
    }

    #[test]
    fn service_accounts() {
        assert_eq!(
            reason(None, "/a", None, "etl@ironman.internal"),
            Some(Reason::NoiseUser)
        );
        assert_eq!(
            reason(None, "/a", None, "@ironman.internal"),
            Some(Reason::NoiseUser)
        );
        assert_eq!(reason(None, "/a", None, "etl@ironman.internal.com"), None);
        assert_eq!(reason(None, "/a", None, "alice@ironman.com"), None);
    }

    #[test]
    fn compiled_user_patterns_match_as_globs() {
        let texts = [
            "", "x", "a@x.y", "é@x.y", "a@x.yz", "abc", "xaxb", "aXXbYc", "xaé",
        ];
        for pattern in ["*", "*@x.y", "*a?", "a*b*c", "a?c", "é*", "**", "*.x", ""] {
            let compiled = UserPattern::new(pattern);
            for text in texts {
                assert_eq!(
                    compiled.is_match(text),
                    glob_match(pattern, text),
                    "{pattern} {text}"
                );
            }
        }
    }

    #[test]
    fn globs() {
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "aXXbYc"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("*@x.y", "é@x.y"));
        assert!(!glob_match("*@x.y", "a@x.yz"));
        assert!(glob_match("é*", "élodie"));
        assert!(!glob_match("a", "ab"));
        assert!(glob_match("a**", "a"));
        assert!(glob_match("*", "x"));
        assert!(glob_match("*.x", ".x"));
        assert!(!glob_match("*.x", "x"));
        assert!(!glob_match("*ab", "a"));
        assert!(glob_match("*a*b", "xaxb"));
        assert!(!glob_match("*a?", "a"));
        assert!(glob_match("*a?", "xaé"));
    }
}
