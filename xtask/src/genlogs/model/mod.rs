//! The plan: users, their sessions, and every log event the application
//! writes, each paired with what a correct processor makes of it (a request
//! event, or a drop reason). The lines themselves are described as data
//! (prefix, JSON members as written, trailer); `render` turns them into text.
//!
//! Every representation choice (how a timestamp, user or URL is written) is
//! made here together with the value the spec derives from it, so the
//! expectation never depends on parsing what was written. The first uses of
//! each choice cycle through all its variants (see [`Gen::choose`]), so every
//! rule of the spec appears in any corpus of a few sessions; after that the
//! variants follow realistic weights.

mod asset_types;
mod background;
mod draw;
mod dropped;
mod event;
mod schedule;
mod session_noise;
mod timestamp;
mod url;
mod users;
mod vocabulary;

pub(crate) use event::{Body, LogEvent, Outcome, Prefix, Reason, Val};

use super::expect::ExpectedEvent;
use super::{GenOptions, Progress};
use draw::dim;
use event::Msg;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use schedule::{BUCKET_DRAW, Feature, Plan};
use std::collections::BTreeSet;
use url::WrittenUrl;
use users::{User, capitalize};
use vocabulary::{BROWSERS, MODULE_APIS, MODULES, STATIC_PATHS, SUPPORT_USERS};

pub(crate) const LOG_GROUP: &str = "/ironman/app";
const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;
const MIN_MS: i64 = 60_000;

/// Log events per planned session, background lines included, as measured
/// by the `events_target_sizes_the_corpus` test (it names the new value when
/// the model changes); `GenOptions::target_events` divides by it.
pub(crate) const EVENTS_PER_SESSION: f64 = 85.0;

/// The whole plan.
pub(crate) struct Model {
    pub streams: Vec<String>,
    pub events: Vec<LogEvent>,
    #[cfg_attr(not(test), allow(dead_code))]
    pub sessions_planned: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Request,
    Beacon,
}

/// What a session's lines share.
struct Sess {
    sid: String,
    owner: String,
    home: u16,
    site: String,
    ua: &'static str,
    module_weights: [u32; 9],
}

struct Gen<'o> {
    opts: &'o GenOptions,
    rng: ChaCha8Rng,
    cover: [u32; dim::COUNT],
    streams: Vec<String>,
    users: Vec<User>,
    sites: Vec<String>,
    events: Vec<LogEvent>,
    day0_ms: i64,
    long_ua: String,
}

/// Builds the plan: users, sessions, their lines and the background lines.
pub(crate) fn build(opts: &GenOptions, progress: &mut dyn FnMut(Progress)) -> Model {
    let mut g = Gen::new(opts);
    g.make_users();
    let plans = g.plan_sessions();
    let total = plans.len() as u64;
    for (i, plan) in plans.iter().enumerate() {
        g.session(plan);
        if i % 500 == 0 {
            progress(Progress {
                stage: "planning sessions",
                done: i as u64,
                total,
            });
        }
    }
    progress(Progress {
        stage: "planning sessions",
        done: total,
        total,
    });
    g.background();
    Model {
        streams: g.streams,
        events: g.events,
        sessions_planned: total,
    }
}

impl<'o> Gen<'o> {
    fn new(opts: &'o GenOptions) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
        let n_streams = (3 + opts.users / 40).clamp(3, 12)
            + u32::from(opts.target_events.unwrap_or(0) > 200_000) * 4;
        let streams = (0..n_streams)
            .map(|_| {
                let (a, b): (u64, u64) = (rng.random(), rng.random());
                format!("ecs/web/{a:016x}{b:016x}")
            })
            .collect();
        let mut sites = BTreeSet::new();
        while sites.len() < 30 {
            sites.insert(format!("ST-{:04}", rng.random_range(1..10_000)));
        }
        let mut sites: Vec<String> = sites.into_iter().collect();
        sites.extend(
            [
                "Pilbara-West",
                "CL-Escondida-02",
                "mine_north",
                "PE-Antamina",
            ]
            .map(String::from),
        );
        let day0_ms = opts
            .start_date
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc()
            .timestamp_millis();
        let mut long_ua = String::from(BROWSERS[0]);
        let mut k = 0;
        while long_ua.len() < 20_000 {
            long_ua.push_str(&format!(" Ext{k}/1.{k} (plugin; build {k:04})"));
            k += 1;
        }
        Gen {
            opts,
            rng,
            cover: [0; dim::COUNT],
            streams,
            users: Vec::new(),
            sites,
            events: Vec::new(),
            day0_ms,
            long_ua,
        }
    }

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

    fn random_site(&mut self) -> String {
        let i = self.below(self.sites.len());
        self.sites[i].clone()
    }

    fn stream_for(&mut self, home: u16) -> u16 {
        if self.chance(0.7) {
            home
        } else {
            self.below(self.streams.len()) as u16
        }
    }

    fn push(&mut self, stream: u16, ts_ms: i64, late: bool, msg: Msg, outcome: Outcome) -> usize {
        self.events.push(LogEvent {
            stream,
            ts_ms,
            late,
            msg,
            outcome,
        });
        self.events.len() - 1
    }

    fn session(&mut self, plan: &Plan) {
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
            Feature::Ghost => unreachable!("handled above"),
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

    fn status(&mut self, method: &str) -> Option<i64> {
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

    fn prefix(&mut self, level: &'static str) -> Prefix {
        match self.choose(dim::PREFIX, &[40, 20, 15, 25]) {
            0 => Prefix::IsoTab(level),
            1 => Prefix::Bracket(level),
            2 => Prefix::Level(level),
            _ => Prefix::Bare,
        }
    }

    fn trailer(&mut self) -> &'static str {
        ["", " ", "\n", " \t", "\r\n"][self.choose(dim::TRAILER, &[86, 5, 6, 2, 1])]
    }

    fn other_site(&mut self, not: &[&str]) -> String {
        loop {
            let s = self.random_site();
            if !not.contains(&s.as_str()) {
                return s;
            }
        }
    }

    /// A record that becomes a request event; returns its event index.
    #[allow(clippy::too_many_arguments)]
    fn kept(
        &mut self,
        s: &Sess,
        kind: Kind,
        at: i64,
        module: usize,
        user: Option<&str>,
        late: bool,
        method: Option<&'static str>,
        status: Option<i64>,
    ) -> usize {
        let stream = self.stream_for(s.home);
        let req = kind == Kind::Request;
        let mut f: Vec<(&'static str, Val)> = Vec::with_capacity(16);

        let typ = if req {
            [
                "request",
                "Request",
                "REQUEST",
                " request",
                "request ",
                "\trequest",
            ][self.choose(dim::TYPE_REQUEST, &[80, 6, 4, 3, 4, 3])]
        } else {
            [
                "page-beacon",
                "Page-Beacon",
                "PAGE-BEACON",
                " page-beacon ",
                "Page-beacon",
            ][self.choose(dim::TYPE_BEACON, &[80, 7, 5, 4, 4])]
        };
        f.push(("type", Val::Static(typ)));
        let (ts_val, log_ts, ts) = self.timestamp(at);
        if let Some(v) = ts_val {
            f.push(("timestamp", v));
        }
        if self.chance(0.5) {
            f.push((
                "level",
                Val::Static(if status.is_some_and(|c| c >= 500) {
                    "error"
                } else {
                    "info"
                }),
            ));
        }
        if req && self.chance(0.7) {
            f.push((
                "requestId",
                Val::Str(format!("{:016x}", self.rng.random::<u64>())),
            ));
        }
        let sid = match self.choose(dim::SESSION_WS, &[88, 4, 4, 4]) {
            0 => s.sid.clone(),
            1 => format!(" {}", s.sid),
            2 => format!("{} ", s.sid),
            _ => format!("\t{}  ", s.sid),
        };
        f.push(("sessionId", Val::Str(sid)));
        let canon_user = user.unwrap_or(&s.owner).to_string();
        let user_raw = self.user_as_written(&canon_user, true);
        f.push(("user", Val::Str(user_raw)));

        let exp_method = if req {
            let m = method.unwrap_or("GET");
            match self.choose(dim::METHOD, &[80, 10, 6, 4]) {
                0 => {
                    f.push(("method", Val::Static(m)));
                    Some(m.to_string())
                }
                1 => {
                    f.push(("method", Val::Str(m.to_ascii_lowercase())));
                    Some(m.to_string())
                }
                2 => {
                    f.push(("method", Val::Str(capitalize(&m.to_ascii_lowercase()))));
                    Some(m.to_string())
                }
                _ => None,
            }
        } else {
            match self.choose(dim::BEACON_METHOD, &[85, 8, 7]) {
                1 => {
                    f.push(("method", Val::Str("POST".into())));
                    Some("POST".to_string())
                }
                2 => {
                    f.push(("method", Val::Str("get".into())));
                    Some("GET".to_string())
                }
                _ => None,
            }
        };

        // Site token: the record's key, else the /sites/ path segment, else
        // the siteToken query parameter.
        let site_mode = self.choose(dim::SITE, &[30, 20, 30, 12, 3, 3, 1, 1, 1]);
        let site = s.site.clone();
        let (key_tok, path_tok, query_tok, return_tok) = match site_mode {
            0 => (None, None, None, None),
            1 => (Some(site), None, None, None),
            2 => (None, Some(site), None, None),
            3 => (None, None, Some(site), None),
            4 => (
                Some(site.clone()),
                Some(self.other_site(&[&site])),
                None,
                None,
            ),
            5 => (
                None,
                Some(site.clone()),
                Some(self.other_site(&[&site])),
                None,
            ),
            6 => (
                Some(site.clone()),
                None,
                Some(self.other_site(&[&site])),
                None,
            ),
            7 => {
                let a = self.other_site(&[&site]);
                let b = self.other_site(&[&site, &a]);
                (Some(site), Some(a), Some(b), None)
            }
            // `/sites/` only inside a query value: no token.
            _ => (None, None, None, Some(site)),
        };
        let exp_site = key_tok
            .clone()
            .or_else(|| path_tok.clone())
            .or_else(|| query_tok.clone());

        let WrittenUrl {
            path,
            url,
            query_asset_types: mut exp_assets,
            asset_array: array,
        } = self.url(req, module, path_tok, query_tok, return_tok);
        f.push(("url", Val::Str(url)));

        if let Some(code) = status {
            if self.choose(dim::STATUS, &[82, 18]) == 0 {
                f.push(("status", Val::Int(code)));
            } else {
                f.push(("status", Val::Str(code.to_string())));
            }
        } else if !req && self.chance(0.1) {
            // A beacon reporting the page's HTTP status.
            f.push(("status", Val::Int(200)));
        }
        let exp_status = f
            .iter()
            .find(|(k, _)| *k == "status")
            .map(|_| status.unwrap_or(200));

        let exp_rt = if req {
            match self.choose(dim::RT, &[45, 50, 5]) {
                0 => {
                    let v = self.response_ms();
                    f.push(("responseTimeMs", Val::Int(v)));
                    Some(v)
                }
                1 => {
                    let (lit, v) = self.fractional_ms();
                    f.push(("responseTimeMs", Val::Lit(lit)));
                    Some(v)
                }
                _ => None,
            }
        } else {
            match self.choose(dim::BEACON_RT, &[75, 15, 10]) {
                1 => {
                    let v = self.response_ms() * 4;
                    f.push(("responseTimeMs", Val::Int(v)));
                    Some(v)
                }
                2 => {
                    let (lit, v) = self.fractional_ms();
                    f.push(("responseTimeMs", Val::Lit(lit)));
                    Some(v)
                }
                _ => None,
            }
        };

        let ua = if self.choose(dim::LONG_UA, &[20_000, 1]) == 1 {
            Val::Str(self.long_ua.clone())
        } else {
            Val::Static(s.ua)
        };
        f.push(("userAgent", ua));
        if self.chance(0.5) {
            f.push((
                "ip",
                Val::Str(format!(
                    "10.{}.{}.{}",
                    self.below(8),
                    self.below(256),
                    1 + self.below(254)
                )),
            ));
        }

        let name = MODULES[module];
        let exp_module = if req {
            // `module` on a request record never counts.
            if self.choose(dim::REQUEST_MODULE, &[94, 6]) == 1 {
                f.push(("module", Val::Static(name)));
            }
            None
        } else {
            match self.choose(dim::BEACON_MODULE, &[85, 6, 3, 2, 4]) {
                0 => {
                    f.push(("module", Val::Static(name)));
                    Some(name.to_string())
                }
                1 => {
                    let padded = ["  ", "\t", " "][self.below(3)];
                    let v = if self.chance(0.5) {
                        format!("{padded}{name}")
                    } else {
                        format!("{name}{padded}")
                    };
                    f.push(("module", Val::Str(v)));
                    Some(name.to_string())
                }
                2 => {
                    f.push(("module", Val::Str(String::new())));
                    None
                }
                3 => {
                    f.push(("module", Val::Str("   ".into())));
                    None
                }
                _ => None,
            }
        };
        if !req && self.chance(0.3) {
            f.push((
                "viewport",
                Val::Str(
                    self.pick(&["1920x1080", "1366x768", "2560x1440", "820x1180"])
                        .into(),
                ),
            ));
        }

        if let Some(t) = key_tok {
            let v = match self.choose(dim::SITE_KEY_WS, &[88, 6, 6]) {
                0 => t,
                1 => format!(" {t}"),
                _ => format!("{t}  "),
            };
            f.push(("siteToken", Val::Str(v)));
        }
        if let Some((raw, norm)) = array {
            f.push(("assetTypes", Val::Strs(raw)));
            exp_assets.extend(norm);
        }

        if self.chance(0.08) {
            // Keys in another order: order never matters.
            for i in (1..f.len()).rev() {
                let j = self.below(i + 1);
                f.swap(i, j);
            }
        }
        let level = match status {
            Some(c) if c >= 500 => "ERROR",
            Some(c) if c >= 400 => "WARN",
            _ => "INFO",
        };
        let msg = Msg {
            prefix: self.prefix(level),
            body: Body::Json {
                fields: f,
                spaced: self.chance(0.15),
            },
            trailer: self.trailer(),
        };
        let ev = ExpectedEvent {
            timestamp_ms: ts,
            session_id: s.sid.clone(),
            user: canon_user,
            path,
            method: exp_method,
            status_code: exp_status,
            response_time: exp_rt,
            module: exp_module,
            site_token: exp_site,
            asset_types: exp_assets,
            log_group: LOG_GROUP.to_string(),
            log_stream: self.streams[stream as usize].clone(),
        };
        self.push(stream, log_ts, late, msg, Outcome::Kept(Box::new(ev)))
    }

    fn response_ms(&mut self) -> i64 {
        let u: f64 = self.rng.random();
        (3.0 * (u * 7.5).exp()) as i64
    }

    /// A response time with a fraction that is never exactly .5: (literal,
    /// rounded value).
    fn fractional_ms(&mut self) -> (String, i64) {
        let whole = if self.chance(0.05) {
            0
        } else {
            self.response_ms()
        };
        let digits = self.range(1, 4) as u32;
        let scale = 10_i64.pow(digits);
        let mut frac = self.range(0, scale);
        if frac * 2 == scale {
            frac += 1;
        }
        let up = i64::from(frac * 2 > scale);
        (
            format!("{whole}.{frac:0w$}", w = digits as usize),
            whole + up,
        )
    }
}
