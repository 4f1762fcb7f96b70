//! Records that become request events. Each field's representation is
//! chosen together with the value the spec derives from it, so the expected
//! event never depends on parsing what was written.

use super::draw::dim;
use super::event::{Body, Msg, Outcome, Prefix, USUAL_PREFIX_WEIGHTS, Val};
use super::session::Sess;
use super::url::WrittenUrl;
use super::users::capitalize;
use super::vocabulary::MODULES;
use super::{Gen, LOG_GROUP};
use crate::genlogs::expect::ExpectedEvent;
use rand::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Request,
    Beacon,
}

impl Gen<'_> {
    /// A record that becomes a request event; returns its event index.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn kept(
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

    fn other_site(&mut self, not: &[&str]) -> String {
        loop {
            let s = self.random_site();
            if !not.contains(&s.as_str()) {
                return s;
            }
        }
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

    fn prefix(&mut self, level: &'static str) -> Prefix {
        let choice = self.choose(dim::PREFIX, &USUAL_PREFIX_WEIGHTS);
        Prefix::usual(choice, level)
    }

    fn trailer(&mut self) -> &'static str {
        ["", " ", "\n", " \t", "\r\n"][self.choose(dim::TRAILER, &[86, 5, 6, 2, 1])]
    }
}
