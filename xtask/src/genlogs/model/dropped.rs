//! The building blocks of lines the processor drops: request-like records
//! with chosen keys left out, plain text, and stack traces.

use super::Gen;
use super::event::{Body, Msg, Outcome, Prefix, Reason, USUAL_PREFIX_WEIGHTS, Val};
use crate::genlogs::render::push_datetime;

impl Gen<'_> {
    /// A random prefix and trailer for a dropped line (no coverage cycling).
    fn plain_msg(&mut self, body: Body, level: &'static str) -> Msg {
        let prefix = Prefix::usual(self.weighted(&USUAL_PREFIX_WEIGHTS), level);
        Msg {
            prefix,
            body,
            trailer: if self.chance(0.1) { "\n" } else { "" },
        }
    }

    /// Fields of a request-like record; `None` leaves the key out.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn raw_request(
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

    pub(super) fn drop_json(
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

    pub(super) fn drop_text(&mut self, stream: u16, at: i64, text: String, level: &'static str) {
        let msg = self.plain_msg(Body::Text(text), level);
        self.push(stream, at, false, msg, Outcome::Dropped(Reason::Unparsed));
    }

    pub(super) fn stack_trace(&mut self, stream: u16, at: i64) {
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
}
