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
mod draw;
mod event;
mod schedule;
mod timestamp;
mod url;
mod users;
mod vocabulary;

pub(crate) use event::{Body, LogEvent, Outcome, Prefix, Reason, Val};

use super::expect::ExpectedEvent;
use super::render::{push_datetime, push_json_object};
use super::{GenOptions, Progress};
use draw::dim;
use event::Msg;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use schedule::{BUCKET_DRAW, Feature, Plan};
use std::collections::BTreeSet;
use url::WrittenUrl;
use users::{User, capitalize};
use vocabulary::{
    BOTS, BROWSERS, HEALTH_PATHS, MODULE_APIS, MODULES, SERVICE_USERS, STATIC_PATHS, SUPPORT_USERS,
};

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

    /// A random prefix and trailer for a dropped line (no coverage cycling).
    fn plain_msg(&mut self, body: Body, level: &'static str) -> Msg {
        let prefix = match self.weighted(&[40, 20, 15, 25]) {
            0 => Prefix::IsoTab(level),
            1 => Prefix::Bracket(level),
            2 => Prefix::Level(level),
            _ => Prefix::Bare,
        };
        Msg {
            prefix,
            body,
            trailer: if self.chance(0.1) { "\n" } else { "" },
        }
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

    // ---------------------------------------------- dropped, in sessions --

    /// Fields of a request-like record; `None` leaves the key out.
    #[allow(clippy::too_many_arguments)]
    fn raw_request(
        &mut self,
        typ: Option<&str>,
        at: i64,
        sid: Option<&str>,
        user: Option<&str>,
        method: Option<&str>,
        url: Option<&str>,
        status: Option<i64>,
        ua: Option<&str>,
    ) -> Vec<(&'static str, Val)> {
        let mut f = Vec::with_capacity(10);
        if let Some(t) = typ {
            f.push(("type", Val::Str(t.into())));
        }
        let mut ts = String::with_capacity(24);
        push_datetime(&mut ts, at, 'T', 3, '.');
        ts.push('Z');
        f.push(("timestamp", Val::Str(ts)));
        if let Some(v) = sid {
            f.push(("sessionId", Val::Str(v.into())));
        }
        if let Some(v) = user {
            f.push(("user", Val::Str(v.into())));
        }
        if let Some(v) = method {
            f.push(("method", Val::Str(v.into())));
        }
        if let Some(v) = url {
            f.push(("url", Val::Str(v.into())));
        }
        if let Some(v) = status {
            f.push(("status", Val::Int(v)));
        }
        f.push(("responseTimeMs", Val::Int(self.range(0, 40))));
        if let Some(v) = ua {
            f.push(("userAgent", Val::Str(v.into())));
        }
        f
    }

    fn drop_json(
        &mut self,
        stream: u16,
        at: i64,
        fields: Vec<(&'static str, Val)>,
        reason: Reason,
    ) {
        let spaced = self.chance(0.15);
        let msg = self.plain_msg(Body::Json { fields, spaced }, "INFO");
        let ts = at + self.range(0, 61);
        self.push(stream, ts, false, msg, Outcome::Dropped(reason));
    }

    fn drop_text(&mut self, stream: u16, at: i64, text: String, level: &'static str) {
        let msg = self.plain_msg(Body::Text(text), level);
        self.push(stream, at, false, msg, Outcome::Dropped(Reason::Unparsed));
    }

    fn noise_request(
        &mut self,
        s: &Sess,
        at: i64,
        method: &str,
        url: &str,
        ua: &str,
        reason: Reason,
    ) {
        let stream = self.stream_for(s.home);
        let user = self.user_as_written(&s.owner, false);
        let f = self.raw_request(
            Some("request"),
            at,
            Some(s.sid.as_str()),
            Some(user.as_str()),
            Some(method),
            Some(url),
            Some(200),
            Some(ua),
        );
        self.drop_json(stream, at, f, reason);
    }

    /// Static files and icons the browser loads: noise paths.
    fn static_loads(&mut self, s: &Sess, at: i64) {
        let n = self.range(2, 6);
        for k in 0..n {
            let path = self.pick(&STATIC_PATHS);
            self.noise_request(s, at + k * 37, "GET", path, s.ua, Reason::NoisePath);
        }
    }

    fn preflight(&mut self, s: &Sess, at: i64, url: &str) {
        let m = self.pick(&["OPTIONS", "OPTIONS", "options", "Options"]);
        self.noise_request(s, at, m, url, s.ua, Reason::NoiseMethod);
    }

    fn head_check(&mut self, s: &Sess, at: i64) {
        let m = self.pick(&["HEAD", "head"]);
        self.noise_request(
            s,
            at,
            m,
            "/api/v2/work-orders?since=2026-11-01",
            s.ua,
            Reason::NoiseMethod,
        );
    }

    /// Before login: a session but no user yet.
    fn pre_login(&mut self, s: &Sess, at: i64) {
        let stream = self.stream_for(s.home);
        let user = self.pick(&[None, Some(""), Some("   ")]);
        let (m, url) = self.pick(&[
            ("GET", "/app/login"),
            ("POST", "/api/v2/auth/login"),
            ("GET", "/api/v2/auth/sso?provider=azure"),
        ]);
        let f = self.raw_request(
            Some("request"),
            at,
            Some(s.sid.as_str()),
            user,
            Some(m),
            Some(url),
            Some(200),
            Some(s.ua),
        );
        self.drop_json(stream, at, f, Reason::NoUser);
    }

    fn no_url(&mut self, s: &Sess, at: i64) {
        let stream = self.stream_for(s.home);
        let user = s.owner.clone();
        let mut f = self.raw_request(
            Some("page-beacon"),
            at,
            Some(s.sid.as_str()),
            Some(user.as_str()),
            None,
            None,
            None,
            Some(s.ua),
        );
        match self.below(3) {
            0 => {}
            1 => f.push(("URL", Val::Str("/app/dashboard".into()))),
            _ => f.push(("path", Val::Str("/app/assets".into()))),
        }
        f.push(("module", Val::Str("Dashboard".into())));
        self.drop_json(stream, at, f, Reason::NoUrl);
    }

    fn audit(&mut self, s: &Sess, at: i64) {
        let stream = self.stream_for(s.home);
        let user = s.owner.clone();
        let typ = self.pick(&["audit", "AUDIT", "audit-log"]);
        let mut f = self.raw_request(
            Some(typ),
            at,
            Some(s.sid.as_str()),
            Some(user.as_str()),
            Some("PUT"),
            Some("/api/v2/admin/roles/7"),
            Some(200),
            Some(s.ua),
        );
        f.push(("action", Val::Str("role.update".into())));
        self.drop_json(stream, at, f, Reason::NotRequest);
    }

    fn stack_trace(&mut self, stream: u16, at: i64) {
        let lines: &[&str] = if self.chance(0.5) {
            &[
                "java.lang.IllegalStateException: Work order 48213 is locked by another user",
                "\tat com.ironman.workorders.WorkOrderService.update(WorkOrderService.java:214)",
                "\tat com.ironman.api.WorkOrderController.put(WorkOrderController.java:88)",
                "\tat java.base/java.lang.Thread.run(Thread.java:1583)",
            ]
        } else {
            &[
                "TypeError: Cannot read properties of undefined (reading 'siteToken')",
                "    at normalise (/app/dist/routes/assets.js:42:17)",
                "    at Layer.handle [as handle_request] (/app/node_modules/express/lib/router/layer.js:95:5)",
            ]
        };
        for (k, line) in lines.iter().enumerate() {
            let msg = Msg {
                prefix: Prefix::Bare,
                body: Body::Text((*line).to_string()),
                trailer: "",
            };
            self.push(
                stream,
                at + k as i64,
                false,
                msg,
                Outcome::Dropped(Reason::Unparsed),
            );
        }
    }

    // ------------------------------------------------------ background --

    /// Lines not tied to a user session: probes, crawlers, service accounts,
    /// metrics, banners, junk; about a tenth of the session lines, spread
    /// over the days and streams.
    fn background(&mut self) {
        let days = i64::from(self.opts.days);
        if days == 0 {
            return;
        }
        let per_day = ((self.events.len() as f64 * 0.10) / days as f64).max(40.0) as usize;
        for d in 0..days {
            let day_start = self.day0_ms + d * DAY_MS;
            // Deploys: every stream boots on the first day, one or two restart later.
            let boots: Vec<u16> = if d == 0 {
                (0..self.streams.len() as u16).collect()
            } else {
                (0..self.range(1, 3))
                    .map(|_| self.below(self.streams.len()) as u16)
                    .collect()
            };
            for stream in boots {
                let at = day_start + self.range(0, 2 * HOUR_MS);
                self.banner(stream, at);
            }
            for _ in 0..per_day {
                let at = day_start + self.range(0, DAY_MS);
                let stream = self.below(self.streams.len()) as u16;
                self.background_line(stream, at);
            }
        }
    }

    fn banner(&mut self, stream: u16, at: i64) {
        let lines = [
            r"  ___                 __  __",
            r" |_ _|_ __ ___  _ __ |  \/  | __ _ _ __",
            r"  | || '__/ _ \| '_ \| |\/| |/ _` | '_ \",
            r"  | || | | (_) | | | | |  | | (_| | | | |",
            r" |___|_|  \___/|_| |_|_|  |_|\__,_|_| |_|",
        ];
        let mut t = at;
        for line in lines {
            let msg = Msg {
                prefix: Prefix::Bare,
                body: Body::Text(line.to_string()),
                trailer: "",
            };
            self.push(stream, t, false, msg, Outcome::Dropped(Reason::Unparsed));
            t += 1;
        }
        for text in [
            "IronMan API 4.12.3 (build 7f3e2a1) starting, profile=prod",
            "Loaded configuration {region=ap-southeast-2, pool=20, cache=redis}",
            "Listening on 0.0.0.0:8080",
        ] {
            self.drop_text(stream, t, text.to_string(), "INFO");
            t += 3;
        }
    }

    fn background_line(&mut self, stream: u16, at: i64) {
        let sid_owned = self.uuid();
        let sid: &str = &sid_owned;
        let bot = self.pick(&BOTS);
        let svc = self.pick(&SERVICE_USERS);
        let browser = self.pick(&BROWSERS);
        let kind = self.choose(
            dim::BACKGROUND,
            &[
                12, 4, 4, 4, 8, 4, 3, 2, 2, 2, 2, 8, 3, 2, 2, 2, 2, 1, 1, 1, 2, 2, 1, 1, 6, 4, 8,
                2, 1, 1, 1, 1, 1, 1, 2,
            ],
        );
        use Reason::*;
        let r =
            |g: &mut Gen,
             t: Option<&str>,
             s: Option<&str>,
             u: Option<&str>,
             m: Option<&str>,
             url: Option<&str>,
             ua: Option<&str>| { g.raw_request(t, at, s, u, m, url, Some(200), ua) };
        let req = Some("request");
        match kind {
            // Load balancer health checks carry no session: no_session first.
            0 => {
                let url = self.pick(&HEALTH_PATHS);
                let f = r(self, req, None, None, Some("GET"), Some(url), Some(bot));
                self.drop_json(stream, at, f, NoSession);
            }
            // kube-probe with a placeholder session but no user.
            1 => {
                let f = r(
                    self,
                    req,
                    Some("-"),
                    None,
                    Some("GET"),
                    Some("/healthz"),
                    Some("kube-probe/1.29"),
                );
                self.drop_json(stream, at, f, NoUser);
            }
            // Metrics scrape and pings: session and user, noise path.
            2 => {
                let f = r(
                    self,
                    req,
                    Some("-"),
                    Some("prometheus"),
                    Some("GET"),
                    Some("/metrics"),
                    Some("Prometheus/2.53.1"),
                );
                self.drop_json(stream, at, f, NoisePath);
            }
            3 => {
                let f = r(
                    self,
                    req,
                    Some(sid),
                    Some("monitor"),
                    Some("get"),
                    Some("/ping?source=lb"),
                    Some("curl/8.5.0"),
                );
                self.drop_json(stream, at, f, NoisePath);
            }
            // Metrics records.
            4 => {
                let f = vec![
                    ("type", Val::Str("metric".into())),
                    (
                        "name",
                        Val::Str(
                            self.pick(&["db.pool.active", "http.inflight", "jvm.heap.used"])
                                .into(),
                        ),
                    ),
                    ("value", Val::Int(self.range(0, 5000))),
                    ("timestamp", Val::Int(at)),
                ];
                self.drop_json(stream, at, f, NotRequest);
            }
            // Audit records: complete request fields, wrong type.
            5 => {
                let user = SUPPORT_USERS[0];
                let mut f = r(
                    self,
                    Some("audit"),
                    Some(sid),
                    Some(user),
                    Some("POST"),
                    Some("/api/v2/admin/users"),
                    Some(browser),
                );
                f.push(("action", Val::Str("user.create".into())));
                self.drop_json(stream, at, f, NotRequest);
            }
            // No type at all.
            6 => {
                let f = vec![
                    ("level", Val::Str("info".into())),
                    ("msg", Val::Str("cache refreshed".into())),
                    ("entries", Val::Int(self.range(100, 5000))),
                ];
                self.drop_json(stream, at, f, NotRequest);
            }
            7 => {
                let f = r(
                    self,
                    None,
                    Some(sid),
                    Some("maria.garcia@acme-mining.com"),
                    Some("GET"),
                    Some("/api/v2/assets"),
                    Some(browser),
                );
                self.drop_json(stream, at, f, NotRequest);
            }
            8 => {
                let t = self.pick(&[
                    "",
                    "requests",
                    "page_beacon",
                    "pagebeacon",
                    "request-log",
                    "Beacon",
                ]);
                let f = r(
                    self,
                    Some(t),
                    Some(sid),
                    Some("olivia.brown@nordmetall.de"),
                    Some("GET"),
                    Some("/app/dashboard"),
                    Some(browser),
                );
                self.drop_json(stream, at, f, NotRequest);
            }
            // Unparsed: plain text.
            9 | 10 => {
                let text = self.pick(&[
                    "Connection pool stats: active=3 idle=17 waiting=0",
                    "GC pause (G1 Evacuation Pause) 12ms",
                    "Refreshing JWKS from https://login.example.com/.well-known/jwks.json",
                    "Slow query (2300 ms): SELECT * FROM work_orders WHERE site_id = $1",
                    "Scheduled job maintenance-plan-rollover finished in 4.2 s",
                    "Request failed: upstream timed out; retrying [attempt 2/3]",
                ]);
                self.drop_text(stream, at, text.to_string(), "INFO");
            }
            // Unparsed: invalid JSON.
            11 => {
                let f = r(
                    self,
                    req,
                    Some(sid),
                    Some("liam.walker@acme-mining.com"),
                    Some("GET"),
                    Some("/api/v2/work-orders"),
                    Some(browser),
                );
                let mut json = String::new();
                push_json_object(&mut json, &f, false);
                let text = match self.below(6) {
                    0 => {
                        let cut = json.len() / 2;
                        let mut cut = cut;
                        while !json.is_char_boundary(cut) {
                            cut -= 1;
                        }
                        json[..cut].to_string()
                    }
                    1 => format!("{json} [truncated]"),
                    2 => json.replacen("\"responseTimeMs\":", "\"responseTimeMs\":NaN,\"x\":", 1),
                    3 => json.replace('"', "'"),
                    4 => format!("{{{json}}}"),
                    _ => format!("{},}}", &json[..json.len() - 1]),
                };
                self.drop_text(stream, at, text, "INFO");
            }
            // Unparsed: JSON that is not an object.
            12 => {
                let text = self.pick(&[
                    "[\"request\",\"GET\",\"/api/v2/assets\"]",
                    "\"request completed\"",
                    "42",
                    "null",
                    "[{\"type\":\"request\",\"sessionId\":\"x\",\"user\":\"y\",\"url\":\"/z\"}]",
                ]);
                self.drop_text(stream, at, text.to_string(), "INFO");
            }
            // Unparsed: a `{` in the prefix comes first.
            13 => {
                let user = "emma.jones@kiwi-rail.co.nz";
                let f = r(
                    self,
                    req,
                    Some(sid),
                    Some(user),
                    Some("GET"),
                    Some("/api/v2/parts"),
                    Some(browser),
                );
                let msg = Msg {
                    prefix: Prefix::BraceTag(self.below(16) as u8),
                    body: Body::Json {
                        fields: f,
                        spaced: false,
                    },
                    trailer: "",
                };
                self.push(stream, at, false, msg, Outcome::Dropped(Unparsed));
            }
            // Unparsed: a multi-line message without an object.
            14 => {
                let text = "Exception in thread \"scheduler-1\" java.lang.OutOfMemoryError: Java heap space\n\tat java.util.Arrays.copyOf(Arrays.java:3512)\n\tat java.lang.StringBuilder.append(StringBuilder.java:179)";
                self.drop_text(stream, at, text.to_string(), "ERROR");
            }
            // Unparsed: a very long line (rare: they are big).
            15 if self.cover[dim::BACKGROUND] as usize <= 16 || self.chance(0.05) => {
                let text = format!(
                    "Dumping request headers: {}",
                    "X-Debug-Header: abcdefghij; ".repeat(1_200)
                );
                self.drop_text(stream, at, text, "DEBUG");
            }
            // no_session variants.
            16 => {
                let v = self.pick(&[Some(""), Some("   "), None]);
                let f = r(
                    self,
                    req,
                    v,
                    Some("james.smith@acme-mining.com"),
                    Some("GET"),
                    Some("/api/v2/reports/kpi"),
                    Some(browser),
                );
                self.drop_json(stream, at, f, NoSession);
            }
            17 => {
                let mut f = r(
                    self,
                    req,
                    None,
                    Some("wei.zhang@pilbara-ore.com.au"),
                    Some("GET"),
                    Some("/api/v2/assets"),
                    Some(browser),
                );
                f.push(("SessionID", Val::Str(sid.to_string())));
                self.drop_json(stream, at, f, NoSession);
            }
            // no_user variants.
            18 => {
                let mut f = r(
                    self,
                    req,
                    Some(sid),
                    None,
                    Some("GET"),
                    Some("/api/v2/inspections"),
                    Some(browser),
                );
                f.push(("User", Val::Str("priya.patel@ferrovia.cl".into())));
                self.drop_json(stream, at, f, NoUser);
            }
            19 => {
                let f = r(
                    self,
                    Some("page-beacon"),
                    Some(sid),
                    Some(""),
                    None,
                    Some("/app/login"),
                    Some(browser),
                );
                self.drop_json(stream, at, f, NoUser);
            }
            // no_url variants.
            20 => {
                let f = r(
                    self,
                    req,
                    Some(sid),
                    Some("noah.ngata@kiwi-rail.co.nz"),
                    Some("GET"),
                    None,
                    Some(browser),
                );
                self.drop_json(stream, at, f, NoUrl);
            }
            21 => {
                let mut f = r(
                    self,
                    req,
                    Some(sid),
                    Some("sofia.rossi@nordmetall.de"),
                    Some("GET"),
                    None,
                    Some(browser),
                );
                f.push(("URL", Val::Str("/api/v2/parts".into())));
                self.drop_json(stream, at, f, NoUrl);
            }
            // Filter order: method before path, user agent and user.
            22 => {
                let f = r(
                    self,
                    req,
                    Some(sid),
                    Some("monitor"),
                    Some("HEAD"),
                    Some("/health"),
                    Some("ELB-HealthChecker/2.0"),
                );
                self.drop_json(stream, at, f, NoiseMethod);
            }
            23 => {
                let f = r(
                    self,
                    req,
                    Some(sid),
                    Some(svc),
                    Some("OPTIONS"),
                    Some("/api/v2/sync"),
                    Some(bot),
                );
                self.drop_json(stream, at, f, NoiseMethod);
            }
            // Crawlers and uptime monitors with a session and a user.
            24 | 25 => {
                let url = self.pick(&[
                    "/",
                    "/app/login",
                    "/robots.txt",
                    "/app/assets?page=2",
                    "/sitemap.xml",
                ]);
                let f = r(
                    self,
                    req,
                    Some(sid),
                    Some("anonymous"),
                    Some("GET"),
                    Some(url),
                    Some(bot),
                );
                self.drop_json(stream, at, f, NoiseUserAgent);
            }
            // Service accounts.
            26 => {
                let url = self.pick(&[
                    "/api/v2/sync/assets?since=2026-11-01T00:00:00Z",
                    "/api/v2/sites/ST-0001/work-orders?assetType=pump",
                    "/api/v2/reports/usage/export",
                ]);
                let f = r(
                    self,
                    req,
                    Some(sid),
                    Some(svc),
                    Some("GET"),
                    Some(url),
                    Some("ironman-sync/2.4 (+java 21)"),
                );
                self.drop_json(stream, at, f, NoiseUser);
            }
            // Path before user agent and user.
            27 => {
                let path = self.pick(&STATIC_PATHS);
                let f = r(
                    self,
                    req,
                    Some(sid),
                    Some("anonymous"),
                    Some("GET"),
                    Some(path),
                    Some(bot),
                );
                self.drop_json(stream, at, f, NoisePath);
            }
            // User agent before user.
            28 => {
                let f = r(
                    self,
                    req,
                    Some(sid),
                    Some(svc),
                    Some("GET"),
                    Some("/api/v2/assets"),
                    Some(bot),
                );
                self.drop_json(stream, at, f, NoiseUserAgent);
            }
            // Type before everything; session before user; user before url.
            29 => {
                let f = r(
                    self,
                    Some("metric"),
                    None,
                    None,
                    Some("OPTIONS"),
                    Some("/health"),
                    Some(bot),
                );
                self.drop_json(stream, at, f, NotRequest);
            }
            30 => {
                let f = r(self, req, None, None, None, None, Some(bot));
                self.drop_json(stream, at, f, NoSession);
            }
            31 => {
                let f = r(
                    self,
                    req,
                    Some(sid),
                    Some(" "),
                    Some("HEAD"),
                    None,
                    Some(bot),
                );
                self.drop_json(stream, at, f, NoUser);
            }
            32 => {
                let f = r(
                    self,
                    req,
                    Some(sid),
                    Some(svc),
                    Some("OPTIONS"),
                    None,
                    Some(bot),
                );
                self.drop_json(stream, at, f, NoUrl);
            }
            // Noise user with a page-beacon and a fancy module.
            33 => {
                let mut f = r(
                    self,
                    Some("page-beacon"),
                    Some(sid),
                    Some(svc),
                    None,
                    Some("/app/reports"),
                    Some("HeadlessChrome/130.0"),
                );
                f.push(("module", Val::Str("Reports".into())));
                self.drop_json(stream, at, f, NoiseUser);
            }
            // A 500 with a stack trace outside any session.
            _ => {
                let f = r(
                    self,
                    req,
                    None,
                    Some("anonymous"),
                    Some("POST"),
                    Some("/api/v2/webhooks/sap"),
                    Some("SAP-PI/7.5"),
                );
                self.drop_json(stream, at, f, NoSession);
                self.stack_trace(stream, at + 2);
            }
        }
    }
}
