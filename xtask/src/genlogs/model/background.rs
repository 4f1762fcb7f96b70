//! Lines outside any user session: deploy banners, probes, crawlers, service
//! accounts, metrics and junk, covering every drop rule and the filter order.

use super::draw::dim;
use super::event::{Body, Msg, Outcome, Prefix, Reason, Val};
use super::vocabulary::{BOTS, BROWSERS, HEALTH_PATHS, SERVICE_USERS, STATIC_PATHS, SUPPORT_USERS};
use super::{DAY_MS, Gen, HOUR_MS};
use crate::genlogs::render::push_json_object;

impl Gen<'_> {
    /// Lines not tied to a user session: probes, crawlers, service accounts,
    /// metrics, banners, junk; about a tenth of the session lines, spread
    /// over the days and streams.
    /// Long sessions (`--session-events`) get theirs while they are open.
    pub(super) fn background(&mut self) {
        let windows = self.background_windows();
        if windows.is_empty() {
            return;
        }
        let per_window =
            ((self.events.len() as f64 * 0.10) / windows.len() as f64).max(40.0) as usize;
        for (d, (start, len)) in windows.into_iter().enumerate() {
            // Deploys: every stream boots on the first day, one or two restart later.
            let boots: Vec<u16> = if d == 0 {
                (0..self.streams.len() as u16).collect()
            } else {
                (0..self.range(1, 3))
                    .map(|_| self.below(self.streams.len()) as u16)
                    .collect()
            };
            for stream in boots {
                let at = start + self.range(0, (2 * HOUR_MS).min(len));
                self.banner(stream, at);
            }
            for _ in 0..per_window {
                let at = start + self.range(0, len);
                let stream = self.below(self.streams.len()) as u16;
                self.background_line(stream, at);
            }
        }
    }

    /// (start, length) in epoch ms of the spans the background lines fill:
    /// each day, or for long sessions the time they are open.
    fn background_windows(&self) -> Vec<(i64, i64)> {
        if self.opts.session_events.is_some() {
            let first = self.events.iter().map(|e| e.ts_ms).min();
            let last = self.events.iter().map(|e| e.ts_ms).max();
            return match (first, last) {
                (Some(first), Some(last)) => vec![(first, (last - first).max(1))],
                _ => Vec::new(),
            };
        }
        (0..i64::from(self.opts.days))
            .map(|d| (self.day0_ms + d * DAY_MS, DAY_MS))
            .collect()
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
        let line = Line {
            stream,
            at,
            sid: self.uuid(),
            bot: self.pick(&BOTS),
            svc: self.pick(&SERVICE_USERS),
            browser: self.pick(&BROWSERS),
        };
        let case = self.choose(dim::BACKGROUND, &WEIGHTS);
        (LINES[case].1)(self, &line);
    }
}

/// One kind of background line: it draws what else it needs and pushes it.
type Case = fn(&mut Gen<'_>, &Line);

/// The background lines, each with its weight. The first draws cycle
/// through them in this order (`Gen::choose`), so the order, not only the
/// weights, shapes the corpus: keep it when adding one (at the end).
const LINES: [(u32, Case); 35] = [
    (12, health_check),
    (4, kube_probe),
    (4, metrics_scrape),
    (4, ping),
    (8, metric_record),
    (4, audit_record),
    (3, no_type),
    (2, type_missing),
    (2, type_unknown),
    (2, plain_text),
    (2, plain_text),
    (8, invalid_json),
    (3, json_not_object),
    (2, brace_in_prefix),
    (2, multi_line),
    (2, long_line),
    (2, blank_session),
    (1, session_key_case),
    (1, user_key_case),
    (1, empty_user),
    (2, no_url),
    (2, url_key_case),
    (1, head_health_check),
    (1, options_sync),
    (6, crawler),
    (4, crawler),
    (8, service_account),
    (2, static_path),
    (1, bot_service_user),
    (1, metric_type_first),
    (1, only_user_agent),
    (1, blank_user_no_url),
    (1, options_no_url),
    (1, headless_beacon),
    (2, server_error),
];

/// The weights of `LINES`, in its order, for `Gen::choose`.
const WEIGHTS: [u32; LINES.len()] = {
    let mut weights = [0; LINES.len()];
    let mut i = 0;
    while i < LINES.len() {
        weights[i] = LINES[i].0;
        i += 1;
    }
    weights
};

/// What every background line draws before its case is chosen: a session
/// id, a bot, a service user and a browser (used or not).
struct Line {
    stream: u16,
    at: i64,
    sid: String,
    bot: &'static str,
    svc: &'static str,
    browser: &'static str,
}

impl Line {
    /// A request-like record at this line's time, with status 200.
    #[allow(clippy::too_many_arguments)]
    fn request(
        &self,
        g: &mut Gen<'_>,
        typ: Option<&str>,
        sid: Option<&str>,
        user: Option<&str>,
        method: Option<&str>,
        url: Option<&str>,
        ua: Option<&str>,
    ) -> Vec<(&'static str, Val)> {
        g.raw_request(typ, self.at, sid, user, method, url, Some(200), ua)
    }

    fn drop_json(&self, g: &mut Gen<'_>, fields: Vec<(&'static str, Val)>, reason: Reason) {
        g.drop_json(self.stream, self.at, fields, reason);
    }

    fn drop_text(&self, g: &mut Gen<'_>, text: String, level: &'static str) {
        g.drop_text(self.stream, self.at, text, level);
    }
}

const REQ: Option<&str> = Some("request");

/// Load balancer health checks carry no session: no_session first.
fn health_check(g: &mut Gen<'_>, l: &Line) {
    let url = g.pick(&HEALTH_PATHS);
    let f = l.request(g, REQ, None, None, Some("GET"), Some(url), Some(l.bot));
    l.drop_json(g, f, Reason::NoSession);
}

/// kube-probe with a placeholder session but no user.
fn kube_probe(g: &mut Gen<'_>, l: &Line) {
    let f = l.request(
        g,
        REQ,
        Some("-"),
        None,
        Some("GET"),
        Some("/healthz"),
        Some("kube-probe/1.29"),
    );
    l.drop_json(g, f, Reason::NoUser);
}

/// Metrics scrape: session and user, noise path.
fn metrics_scrape(g: &mut Gen<'_>, l: &Line) {
    let f = l.request(
        g,
        REQ,
        Some("-"),
        Some("prometheus"),
        Some("GET"),
        Some("/metrics"),
        Some("Prometheus/2.53.1"),
    );
    l.drop_json(g, f, Reason::NoisePath);
}

/// Pings: session and user, noise path.
fn ping(g: &mut Gen<'_>, l: &Line) {
    let f = l.request(
        g,
        REQ,
        Some(&l.sid),
        Some("monitor"),
        Some("get"),
        Some("/ping?source=lb"),
        Some("curl/8.5.0"),
    );
    l.drop_json(g, f, Reason::NoisePath);
}

/// Metrics records.
fn metric_record(g: &mut Gen<'_>, l: &Line) {
    let f = vec![
        ("type", Val::Str("metric".into())),
        (
            "name",
            Val::Str(
                g.pick(&["db.pool.active", "http.inflight", "jvm.heap.used"])
                    .into(),
            ),
        ),
        ("value", Val::Int(g.range(0, 5000))),
        ("timestamp", Val::Int(l.at)),
    ];
    l.drop_json(g, f, Reason::NotRequest);
}

/// Audit records: complete request fields, wrong type.
fn audit_record(g: &mut Gen<'_>, l: &Line) {
    let user = SUPPORT_USERS[0];
    let mut f = l.request(
        g,
        Some("audit"),
        Some(&l.sid),
        Some(user),
        Some("POST"),
        Some("/api/v2/admin/users"),
        Some(l.browser),
    );
    f.push(("action", Val::Str("user.create".into())));
    l.drop_json(g, f, Reason::NotRequest);
}

/// No type at all, and nothing like a request.
fn no_type(g: &mut Gen<'_>, l: &Line) {
    let f = vec![
        ("level", Val::Str("info".into())),
        ("msg", Val::Str("cache refreshed".into())),
        ("entries", Val::Int(g.range(100, 5000))),
    ];
    l.drop_json(g, f, Reason::NotRequest);
}

/// A request without a type.
fn type_missing(g: &mut Gen<'_>, l: &Line) {
    let f = l.request(
        g,
        None,
        Some(&l.sid),
        Some("maria.garcia@acme-mining.com"),
        Some("GET"),
        Some("/api/v2/assets"),
        Some(l.browser),
    );
    l.drop_json(g, f, Reason::NotRequest);
}

/// A request whose type is almost, but not, one the processor keeps.
fn type_unknown(g: &mut Gen<'_>, l: &Line) {
    let t = g.pick(&[
        "",
        "requests",
        "page_beacon",
        "pagebeacon",
        "request-log",
        "Beacon",
    ]);
    let f = l.request(
        g,
        Some(t),
        Some(&l.sid),
        Some("olivia.brown@nordmetall.de"),
        Some("GET"),
        Some("/app/dashboard"),
        Some(l.browser),
    );
    l.drop_json(g, f, Reason::NotRequest);
}

/// Unparsed: plain text.
fn plain_text(g: &mut Gen<'_>, l: &Line) {
    let text = g.pick(&[
        "Connection pool stats: active=3 idle=17 waiting=0",
        "GC pause (G1 Evacuation Pause) 12ms",
        "Refreshing JWKS from https://login.example.com/.well-known/jwks.json",
        "Slow query (2300 ms): SELECT * FROM work_orders WHERE site_id = $1",
        "Scheduled job maintenance-plan-rollover finished in 4.2 s",
        "Request failed: upstream timed out; retrying [attempt 2/3]",
    ]);
    l.drop_text(g, text.to_string(), "INFO");
}

/// Unparsed: invalid JSON.
fn invalid_json(g: &mut Gen<'_>, l: &Line) {
    let f = l.request(
        g,
        REQ,
        Some(&l.sid),
        Some("liam.walker@acme-mining.com"),
        Some("GET"),
        Some("/api/v2/work-orders"),
        Some(l.browser),
    );
    let mut json = String::new();
    push_json_object(&mut json, &f, false);
    let text = match g.below(6) {
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
    l.drop_text(g, text, "INFO");
}

/// Unparsed: JSON that is not an object.
fn json_not_object(g: &mut Gen<'_>, l: &Line) {
    let text = g.pick(&[
        "[\"request\",\"GET\",\"/api/v2/assets\"]",
        "\"request completed\"",
        "42",
        "null",
        "[{\"type\":\"request\",\"sessionId\":\"x\",\"user\":\"y\",\"url\":\"/z\"}]",
    ]);
    l.drop_text(g, text.to_string(), "INFO");
}

/// Unparsed: a `{` in the prefix comes first.
fn brace_in_prefix(g: &mut Gen<'_>, l: &Line) {
    let user = "emma.jones@kiwi-rail.co.nz";
    let f = l.request(
        g,
        REQ,
        Some(&l.sid),
        Some(user),
        Some("GET"),
        Some("/api/v2/parts"),
        Some(l.browser),
    );
    let msg = Msg {
        prefix: Prefix::BraceTag(g.below(16) as u8),
        body: Body::Json {
            fields: f,
            spaced: false,
        },
        trailer: "",
    };
    g.push(
        l.stream,
        l.at,
        false,
        msg,
        Outcome::Dropped(Reason::Unparsed),
    );
}

/// Unparsed: a multi-line message without an object.
fn multi_line(g: &mut Gen<'_>, l: &Line) {
    let text = "Exception in thread \"scheduler-1\" java.lang.OutOfMemoryError: Java heap space\n\tat java.util.Arrays.copyOf(Arrays.java:3512)\n\tat java.lang.StringBuilder.append(StringBuilder.java:179)";
    l.drop_text(g, text.to_string(), "ERROR");
}

/// Unparsed: a very long line. Rare, as they are big: once while the cases
/// are cycled through, then one draw in twenty; the others are a 500.
fn long_line(g: &mut Gen<'_>, l: &Line) {
    if g.cover[dim::BACKGROUND] as usize <= 16 || g.chance(0.05) {
        let text = format!(
            "Dumping request headers: {}",
            "X-Debug-Header: abcdefghij; ".repeat(1_200)
        );
        l.drop_text(g, text, "DEBUG");
    } else {
        server_error(g, l);
    }
}

/// no_session: an empty, blank or missing session id.
fn blank_session(g: &mut Gen<'_>, l: &Line) {
    let v = g.pick(&[Some(""), Some("   "), None]);
    let f = l.request(
        g,
        REQ,
        v,
        Some("james.smith@acme-mining.com"),
        Some("GET"),
        Some("/api/v2/reports/kpi"),
        Some(l.browser),
    );
    l.drop_json(g, f, Reason::NoSession);
}

/// no_session: the session id under a key of the wrong case.
fn session_key_case(g: &mut Gen<'_>, l: &Line) {
    let mut f = l.request(
        g,
        REQ,
        None,
        Some("wei.zhang@pilbara-ore.com.au"),
        Some("GET"),
        Some("/api/v2/assets"),
        Some(l.browser),
    );
    f.push(("SessionID", Val::Str(l.sid.clone())));
    l.drop_json(g, f, Reason::NoSession);
}

/// no_user: the user under a key of the wrong case.
fn user_key_case(g: &mut Gen<'_>, l: &Line) {
    let mut f = l.request(
        g,
        REQ,
        Some(&l.sid),
        None,
        Some("GET"),
        Some("/api/v2/inspections"),
        Some(l.browser),
    );
    f.push(("User", Val::Str("priya.patel@ferrovia.cl".into())));
    l.drop_json(g, f, Reason::NoUser);
}

/// no_user: an empty user on a page beacon.
fn empty_user(g: &mut Gen<'_>, l: &Line) {
    let f = l.request(
        g,
        Some("page-beacon"),
        Some(&l.sid),
        Some(""),
        None,
        Some("/app/login"),
        Some(l.browser),
    );
    l.drop_json(g, f, Reason::NoUser);
}

/// no_url: no url at all.
fn no_url(g: &mut Gen<'_>, l: &Line) {
    let f = l.request(
        g,
        REQ,
        Some(&l.sid),
        Some("noah.ngata@kiwi-rail.co.nz"),
        Some("GET"),
        None,
        Some(l.browser),
    );
    l.drop_json(g, f, Reason::NoUrl);
}

/// no_url: the url under a key of the wrong case.
fn url_key_case(g: &mut Gen<'_>, l: &Line) {
    let mut f = l.request(
        g,
        REQ,
        Some(&l.sid),
        Some("sofia.rossi@nordmetall.de"),
        Some("GET"),
        None,
        Some(l.browser),
    );
    f.push(("URL", Val::Str("/api/v2/parts".into())));
    l.drop_json(g, f, Reason::NoUrl);
}

/// Filter order: method before path, user agent and user.
fn head_health_check(g: &mut Gen<'_>, l: &Line) {
    let f = l.request(
        g,
        REQ,
        Some(&l.sid),
        Some("monitor"),
        Some("HEAD"),
        Some("/health"),
        Some("ELB-HealthChecker/2.0"),
    );
    l.drop_json(g, f, Reason::NoiseMethod);
}

/// Filter order: method before user agent and user.
fn options_sync(g: &mut Gen<'_>, l: &Line) {
    let f = l.request(
        g,
        REQ,
        Some(&l.sid),
        Some(l.svc),
        Some("OPTIONS"),
        Some("/api/v2/sync"),
        Some(l.bot),
    );
    l.drop_json(g, f, Reason::NoiseMethod);
}

/// Crawlers and uptime monitors with a session and a user.
fn crawler(g: &mut Gen<'_>, l: &Line) {
    let url = g.pick(&[
        "/",
        "/app/login",
        "/robots.txt",
        "/app/assets?page=2",
        "/sitemap.xml",
    ]);
    let f = l.request(
        g,
        REQ,
        Some(&l.sid),
        Some("anonymous"),
        Some("GET"),
        Some(url),
        Some(l.bot),
    );
    l.drop_json(g, f, Reason::NoiseUserAgent);
}

/// Service accounts.
fn service_account(g: &mut Gen<'_>, l: &Line) {
    let url = g.pick(&[
        "/api/v2/sync/assets?since=2026-11-01T00:00:00Z",
        "/api/v2/sites/ST-0001/work-orders?assetType=pump",
        "/api/v2/reports/usage/export",
    ]);
    let f = l.request(
        g,
        REQ,
        Some(&l.sid),
        Some(l.svc),
        Some("GET"),
        Some(url),
        Some("ironman-sync/2.4 (+java 21)"),
    );
    l.drop_json(g, f, Reason::NoiseUser);
}

/// Filter order: path before user agent and user.
fn static_path(g: &mut Gen<'_>, l: &Line) {
    let path = g.pick(&STATIC_PATHS);
    let f = l.request(
        g,
        REQ,
        Some(&l.sid),
        Some("anonymous"),
        Some("GET"),
        Some(path),
        Some(l.bot),
    );
    l.drop_json(g, f, Reason::NoisePath);
}

/// Filter order: user agent before user.
fn bot_service_user(g: &mut Gen<'_>, l: &Line) {
    let f = l.request(
        g,
        REQ,
        Some(&l.sid),
        Some(l.svc),
        Some("GET"),
        Some("/api/v2/assets"),
        Some(l.bot),
    );
    l.drop_json(g, f, Reason::NoiseUserAgent);
}

/// Filter order: type before everything.
fn metric_type_first(g: &mut Gen<'_>, l: &Line) {
    let f = l.request(
        g,
        Some("metric"),
        None,
        None,
        Some("OPTIONS"),
        Some("/health"),
        Some(l.bot),
    );
    l.drop_json(g, f, Reason::NotRequest);
}

/// Filter order: session before user.
fn only_user_agent(g: &mut Gen<'_>, l: &Line) {
    let f = l.request(g, REQ, None, None, None, None, Some(l.bot));
    l.drop_json(g, f, Reason::NoSession);
}

/// Filter order: user before url (and method).
fn blank_user_no_url(g: &mut Gen<'_>, l: &Line) {
    let f = l.request(
        g,
        REQ,
        Some(&l.sid),
        Some(" "),
        Some("HEAD"),
        None,
        Some(l.bot),
    );
    l.drop_json(g, f, Reason::NoUser);
}

/// Filter order: url before method, user agent and user.
fn options_no_url(g: &mut Gen<'_>, l: &Line) {
    let f = l.request(
        g,
        REQ,
        Some(&l.sid),
        Some(l.svc),
        Some("OPTIONS"),
        None,
        Some(l.bot),
    );
    l.drop_json(g, f, Reason::NoUrl);
}

/// Noise user with a page-beacon and a fancy module.
fn headless_beacon(g: &mut Gen<'_>, l: &Line) {
    let mut f = l.request(
        g,
        Some("page-beacon"),
        Some(&l.sid),
        Some(l.svc),
        None,
        Some("/app/reports"),
        Some("HeadlessChrome/130.0"),
    );
    f.push(("module", Val::Str("Reports".into())));
    l.drop_json(g, f, Reason::NoiseUser);
}

/// A 500 with a stack trace outside any session.
fn server_error(g: &mut Gen<'_>, l: &Line) {
    let f = l.request(
        g,
        REQ,
        None,
        Some("anonymous"),
        Some("POST"),
        Some("/api/v2/webhooks/sap"),
        Some("SAP-PI/7.5"),
    );
    l.drop_json(g, f, Reason::NoSession);
    g.stack_trace(l.stream, l.at + 2);
}
