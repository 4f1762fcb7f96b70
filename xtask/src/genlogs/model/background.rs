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
