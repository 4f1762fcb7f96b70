//! One session's lines: its page views over the planned duration, the
//! requests of each page, and the noise a browser makes around them.

use super::Gen;
use super::event::Reason;
use super::kept::Kind;
use super::schedule::{BUCKET_DRAW, Feature, Plan};
use super::vocabulary::{MODULE_APIS, STATIC_PATHS, SUPPORT_USERS};

/// What a session's lines share.
pub(super) struct Sess {
    pub(super) sid: String,
    pub(super) owner: String,
    pub(super) home: u16,
    pub(super) site: String,
    pub(super) ua: &'static str,
    pub(super) module_weights: [u32; 9],
}

impl Gen<'_> {
    fn session_id(&mut self) -> String {
        if self.chance(0.9) {
            self.uuid()
        } else {
            // Another client's format: mixed case, kept as is.
            const ALNUM: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";
            let mut s = String::from("sess_");
            for _ in 0..20 {
                s.push(ALNUM[self.below(ALNUM.len())] as char);
            }
            s
        }
    }

    pub(super) fn session(&mut self, plan: &Plan) {
        let user = &self.users[plan.user];
        let owner = user.email.clone();
        let ua = user.ua;
        let module_weights = user.module_weights;
        let user_sites = user.sites.clone();
        let site = self
            .pick(&user_sites.iter().map(String::as_str).collect::<Vec<_>>())
            .to_string();
        let s = Sess {
            sid: self.session_id(),
            owner,
            home: self.below(self.streams.len()) as u16,
            site,
            ua,
            module_weights,
        };
        let t0 = plan.start_ms;

        if let Feature::Polling(events) = plan.feature {
            let s = Sess {
                home: super::ANY_STREAM,
                ..s
            };
            self.polling_session(&s, t0, events);
            return;
        }
        if plan.feature == Feature::Ghost {
            self.static_loads(&s, t0);
            let url = format!("/api/v2{}", MODULE_APIS[1][0]);
            self.preflight(&s, t0 + 900, &url);
            return;
        }
        if self.chance(0.15) {
            let at = t0 - self.range(3_000, 60_000);
            self.pre_login(&s, at);
        }
        if plan.feature == Feature::Normal(0) || self.chance(0.4) {
            let at = t0 - self.range(500, 3_000);
            self.static_loads(&s, at);
        }

        // Seconds from the first to the last page view.
        let duration_s = match plan.feature {
            Feature::Single => 0,
            Feature::CrossMidnight => self.range(1_200, 3_000),
            Feature::UserSwitch => self.range(305, 890),
            Feature::Normal(b) | Feature::Duplicate(b) | Feature::Late(b) => {
                let (lo, hi) = BUCKET_DRAW[b];
                self.range(lo, hi + 1)
            }
            Feature::Ghost | Feature::Polling(_) => unreachable!("handled above"),
        };
        let d_ms = duration_s * 1000;
        let n_pages = if plan.feature == Feature::Single {
            1
        } else {
            let gap = self.range(20, 90);
            (duration_s / gap + 1).clamp(2, 160) as usize
        };
        let mut times = Vec::with_capacity(n_pages);
        times.push(t0);
        if n_pages > 1 {
            let lo = t0 + (d_ms / 4).min(5_000);
            let mut middle: Vec<i64> = (0..n_pages - 2)
                .map(|_| self.range(lo, t0 + d_ms - 1_000))
                .collect();
            middle.sort_unstable();
            times.extend(middle);
            times.push(t0 + d_ms);
        }

        let mut module = self.weighted(&s.module_weights);
        for (p, &tp) in times.iter().enumerate() {
            if p > 0 && self.chance(0.4) {
                module = self.weighted(&s.module_weights);
            }
            let last = p + 1 == times.len();
            let window = if last {
                2_000
            } else {
                (times[p + 1] - tp - 200).min(15_000)
            };
            let first = p == 0;
            let switch = first && plan.feature == Feature::UserSwitch;
            let late = first && matches!(plan.feature, Feature::UserSwitch | Feature::Late(_));
            let user = if switch {
                Some(self.pick(&SUPPORT_USERS))
            } else {
                None
            };
            self.kept(&s, Kind::Beacon, tp, module, user, late, None, None);
            if plan.feature == Feature::Single || switch {
                continue;
            }
            let n_req = self.weighted(&[15, 25, 25, 18, 10, 7]);
            let mut t = tp;
            for r in 0..n_req {
                t += self.range(80, 1_500);
                if t - tp > window {
                    break;
                }
                let method =
                    ["GET", "POST", "PUT", "PATCH", "DELETE"][self.weighted(&[75, 12, 6, 3, 4])];
                if (method != "GET" && self.chance(0.5)) || self.chance(0.02) {
                    let url = format!("/api/v2{}", MODULE_APIS[module][0]);
                    let at = t - self.range(5, 40);
                    self.preflight(&s, at, &url);
                }
                let status = self.status(method);
                let idx = self.kept(
                    &s,
                    Kind::Request,
                    t,
                    module,
                    None,
                    false,
                    Some(method),
                    status,
                );
                let dup = matches!(plan.feature, Feature::Duplicate(_)) && first && r == 0;
                if dup || self.chance(0.002) {
                    let copy = self.events[idx].clone();
                    self.events.push(copy);
                }
                if status.is_some_and(|c| c >= 500) {
                    let stream = self.events[idx].stream;
                    let ts = self.events[idx].ts_ms;
                    self.stack_trace(stream, ts + 1);
                }
            }
            if self.chance(0.02) {
                let at = tp + self.range(1, 50);
                self.no_url(&s, at);
            }
            if self.chance(0.02) {
                let at = tp + self.range(1, 50);
                self.audit(&s, at);
            }
            if self.chance(0.01) {
                let at = tp + self.range(1, 50);
                self.head_check(&s, at);
            }
            if self.chance(0.01) {
                let path = self.pick(&STATIC_PATHS);
                let at = tp + self.range(1, 50);
                self.noise_request(&s, at, "GET", path, s.ua, Reason::NoisePath);
            }
        }
    }

    pub(super) fn status(&mut self, method: &str) -> Option<i64> {
        if self.chance(0.03) {
            return None;
        }
        let base = match method {
            "POST" => 201,
            "DELETE" => 204,
            _ => 200,
        };
        Some(match self.weighted(&[900, 30, 20, 10, 10, 15, 5, 10]) {
            1 if method == "GET" => 304,
            1 => base,
            2 => 404,
            3 => 403,
            4 => 400,
            5 => 500,
            6 => 503,
            7 => 409,
            _ => base,
        })
    }
}
