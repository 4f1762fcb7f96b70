//! The users: their addresses, working hours, habits and browsers, and how
//! a record spells their address.

use super::Gen;
use super::draw::dim;
use super::vocabulary::{BROWSERS, DOMAINS, FIRST_NAMES, LAST_NAMES, MODULE_WEIGHTS};
use rand::Rng;
use std::collections::BTreeSet;

pub(super) struct User {
    pub(super) email: String,
    pub(super) tz_min: i32,
    pub(super) module_weights: [u32; 9],
    pub(super) sites: Vec<String>,
    pub(super) activity: f64,
    pub(super) ua: &'static str,
}

impl Gen<'_> {
    pub(super) fn make_users(&mut self) {
        let mut seen = BTreeSet::new();
        for i in 0..self.opts.users as usize {
            let (domain, tz) = self.pick(&DOMAINS);
            let mut email = if i % 23 == 11 {
                // A Windows domain account.
                let first = self.pick(&["jsmith", "mkowalski", "tnguyen", "apatel"]);
                format!("acme\\{first}")
            } else if i % 29 == 17 {
                format!("{}@zhongtie.cn", self.pick(&["张伟", "王芳", "李娜"]))
            } else {
                let first = self.pick(&FIRST_NAMES);
                let last = self.pick(&LAST_NAMES);
                format!("{first}.{last}@{domain}")
            };
            let base = email.clone();
            let mut n = 2;
            while !seen.insert(email.clone()) {
                email = match base.split_once('@') {
                    Some((local, dom)) => format!("{local}{n}@{dom}"),
                    None => format!("{base}{n}"),
                };
                n += 1;
            }
            debug_assert_eq!(email, email.trim().to_lowercase());
            let mut module_weights = MODULE_WEIGHTS;
            for w in module_weights.iter_mut() {
                *w = (*w * self.range(2, 30) as u32) / 10;
            }
            let fav = self.below(9);
            module_weights[fav] = module_weights[fav] * 4 + 20;
            let n_sites = self.range(1, 4) as usize;
            let sites = (0..n_sites).map(|_| self.random_site()).collect();
            let activity = 0.3 + self.rng.random::<f64>() * 1.5;
            let ua = self.pick(&BROWSERS);
            let tz_min = tz
                + if self.chance(0.1) {
                    60 * self.range(-3, 4) as i32
                } else {
                    0
                };
            self.users.push(User {
                email,
                tz_min,
                module_weights,
                sites,
                activity,
                ua,
            });
        }
    }

    /// The user as written; `cycle` for kept records (coverage), not for noise.
    pub(super) fn user_as_written(&mut self, canon: &str, cycle: bool) -> String {
        const W: [u32; 6] = [60, 15, 5, 8, 7, 5];
        let style = if cycle {
            self.choose(dim::USER, &W)
        } else {
            self.weighted(&W)
        };
        match style {
            0 => canon.to_string(),
            1 => capitalize(canon),
            2 => canon.to_ascii_uppercase(),
            3 => format!(" {canon}"),
            4 => format!("{canon}  "),
            _ => format!("\t{} ", capitalize(canon)),
        }
    }
}

/// ASCII letters after a start, `.`, `-`, `@`, `\` or space uppercased.
pub(super) fn capitalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut up = true;
    for c in s.chars() {
        out.push(if up { c.to_ascii_uppercase() } else { c });
        up = matches!(c, '.' | '-' | '@' | '\\' | ' ');
    }
    out
}
