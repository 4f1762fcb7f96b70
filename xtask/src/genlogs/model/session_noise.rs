//! Dropped lines inside a session: static files, preflights, HEAD checks,
//! the login before a user is known, records without a URL, audit records.

use super::Gen;
use super::event::{Reason, Val};
use super::session::Sess;
use super::vocabulary::STATIC_PATHS;

impl Gen<'_> {
    pub(super) fn noise_request(
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
    pub(super) fn static_loads(&mut self, s: &Sess, at: i64) {
        let n = self.range(2, 6);
        for k in 0..n {
            let path = self.pick(&STATIC_PATHS);
            self.noise_request(s, at + k * 37, "GET", path, s.ua, Reason::NoisePath);
        }
    }

    pub(super) fn preflight(&mut self, s: &Sess, at: i64, url: &str) {
        let m = self.pick(&["OPTIONS", "OPTIONS", "options", "Options"]);
        self.noise_request(s, at, m, url, s.ua, Reason::NoiseMethod);
    }

    pub(super) fn head_check(&mut self, s: &Sess, at: i64) {
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
    pub(super) fn pre_login(&mut self, s: &Sess, at: i64) {
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

    pub(super) fn no_url(&mut self, s: &Sess, at: i64) {
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

    pub(super) fn audit(&mut self, s: &Sess, at: i64) {
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
}
