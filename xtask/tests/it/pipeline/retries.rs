//! The sink's retries against the real OpenSearch, through a fault-injecting
//! HTTP/1.1 proxy on loopback: a refused bulk request (429), one refused item
//! inside a bulk answer, failed `_search`/`_mget` calls (500), an answer lost
//! after OpenSearch applied the request, and a cluster that never recovers
//! (503 until the deadline). Each case ends with every kept event stored
//! exactly once and summaries equal to what a clean run gives, or with a
//! failed invocation and nothing dead-lettered.
//!
//! Fails (never skips) without OpenSearch: `cargo xtask local up`.

use crate::support;

use processor::batch::stored_content;
use processor::batch::{process_batch, summarize};
use processor::config::Rules;
use processor::counts::Counts;
use processor::decode::{awslogs_data, inflate, parse_batch};
use processor::handler::{Handler, HandlerError};
use processor::opensearch::{Auth, OpenSearch};
use processor::sink::{Sink, SinkError};
use proxy::{Exchange, Fault, Proxy, Request};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use support::*;
use xtask::env::Environment;

/// A minimal HTTP/1.1 forwarder on the tests' server (`support::http`):
/// keep-alive on both sides, `Content-Length` or chunked bodies in,
/// `Content-Length` bodies out; every request recorded.
mod proxy {
    use crate::support::http::{self, Handler, Reply, Response, Server};
    use serde_json::Value;
    use std::io;
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpStream;

    /// A request as the proxy received it (body de-chunked).
    pub type Request = http::Request;

    impl http::Request {
        /// The bulk request that creates the request events.
        pub fn is_events_bulk(&self) -> bool {
            let first = self.body.split(|&b| b == b'\n').next().unwrap_or(&[]);
            let first = String::from_utf8_lossy(first);
            self.method == "POST"
                && self.path.split('?').next() == Some("/_bulk")
                && first.starts_with("{\"create\"")
                && first.contains("request-events-")
        }
        /// A follow-up bulk request: sealed buckets' tallies, or the
        /// tallies' reports to the states.
        pub fn is_follow_up_bulk(&self) -> bool {
            self.first_action_is("{\"update\"", "\"_id\":\"t2:")
                || self.first_action_is("{\"update\"", "\"_id\":\"s2:")
        }
        /// The bulk request that publishes the summaries.
        pub fn is_summaries_bulk(&self) -> bool {
            self.first_action_is("{\"index\"", "external_gte")
        }
        fn first_action_is(&self, start: &str, contains: &str) -> bool {
            let first = self.body.split(|&b| b == b'\n').next().unwrap_or(&[]);
            let first = String::from_utf8_lossy(first);
            self.method == "POST"
                && self.path.split('?').next() == Some("/_bulk")
                && first.starts_with(start)
                && first.contains(contains)
        }
    }

    /// One request and what the client got.
    #[derive(Debug, Clone)]
    pub struct Exchange {
        pub request: Request,
        /// `None` when the connection was closed instead of answering.
        pub status: Option<u16>,
        /// The answer was made up by the proxy (the request never reached
        /// OpenSearch).
        pub injected: bool,
    }

    impl Exchange {
        pub fn body_lines(&self) -> Vec<&str> {
            std::str::from_utf8(&self.request.body)
                .expect("a UTF-8 body")
                .lines()
                .collect()
        }
    }

    type Rewrite = Box<dyn FnOnce(u16, Vec<u8>) -> (u16, Vec<u8>) + Send>;

    pub enum Fault {
        Forward,
        /// Answer this without asking OpenSearch.
        Respond(u16, Value),
        /// Forward, then change OpenSearch's answer (status, body).
        Rewrite(Rewrite),
        /// Forward, wait for OpenSearch's answer, then close the client's
        /// connection without passing it on: the request took effect, the
        /// client cannot know.
        LoseAnswer,
    }

    type Policy = Box<dyn FnMut(&Request) -> Fault + Send>;

    struct Forwarder {
        upstream: String,
        policy: Mutex<Policy>,
        log: Arc<Mutex<Vec<Exchange>>>,
    }

    pub struct Proxy {
        pub url: String,
        log: Arc<Mutex<Vec<Exchange>>>,
        server: Server,
    }

    impl Proxy {
        /// Listens on 127.0.0.1:0 and forwards to `upstream` (`host:port`).
        pub async fn start(
            upstream: String,
            policy: impl FnMut(&Request) -> Fault + Send + 'static,
        ) -> Proxy {
            let log = Arc::new(Mutex::default());
            let server = Server::start(Forwarder {
                upstream,
                policy: Mutex::new(Box::new(policy)),
                log: log.clone(),
            })
            .await;
            Proxy {
                url: server.url.clone(),
                log,
                server,
            }
        }

        /// Every request so far, in the order they arrived.
        pub fn exchanges(&self) -> Vec<Exchange> {
            self.log.lock().unwrap().clone()
        }

        /// The proxy itself worked (a failing proxy would make any retry
        /// assertion meaningless).
        pub fn assert_healthy(&self) {
            self.server.assert_healthy();
        }
    }

    impl Handler for Forwarder {
        /// The connection to OpenSearch this client connection's requests
        /// go on.
        type Connection = Option<BufReader<TcpStream>>;

        async fn handle(
            &self,
            upstream: &mut Self::Connection,
            request: Request,
        ) -> io::Result<Reply> {
            let fault = (self.policy.lock().unwrap())(&request);
            let (answer, injected) = match fault {
                Fault::Respond(status, body) => (Response::json(status, &body), true),
                Fault::Forward => (forward(upstream, &self.upstream, &request).await?, false),
                Fault::Rewrite(rewrite) => {
                    let mut answer = forward(upstream, &self.upstream, &request).await?;
                    let (status, body) = rewrite(answer.status, std::mem::take(&mut answer.body));
                    answer.status = status;
                    answer.body = body;
                    (answer, false)
                }
                Fault::LoseAnswer => {
                    forward(upstream, &self.upstream, &request).await?;
                    self.log.lock().unwrap().push(Exchange {
                        request,
                        status: None,
                        injected: false,
                    });
                    return Ok(Reply::Close);
                }
            };
            self.log.lock().unwrap().push(Exchange {
                request,
                status: Some(answer.status),
                injected,
            });
            Ok(Reply::Respond(answer))
        }
    }

    fn bad(message: String) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, message)
    }

    /// What OpenSearch answered, and whether the upstream connection can
    /// be used again.
    async fn exchange(
        upstream: &mut BufReader<TcpStream>,
        request: &Request,
    ) -> io::Result<(Response, bool)> {
        let mut head = format!("{} {} HTTP/1.1\r\n", request.method, request.path);
        for (name, value) in &request.headers {
            if !["content-length", "transfer-encoding", "connection"]
                .iter()
                .any(|h| name.eq_ignore_ascii_case(h))
            {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        if !request.body.is_empty() || request.headers.get("content-length").is_some() {
            head.push_str(&format!("content-length: {}\r\n", request.body.len()));
        }
        head.push_str("\r\n");
        let stream = upstream.get_mut();
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(&request.body).await?;
        stream.flush().await?;

        let (start, headers) = http::read_head(upstream)
            .await?
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        let mut parts = start.splitn(3, ' ');
        let version = parts.next().unwrap_or("").to_string();
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(format!("a bad status line: {start:?}")))?;
        let reason = parts.next().unwrap_or("").to_string();
        let mut close = version != "HTTP/1.1" || headers.has_token("connection", "close");
        let body = if request.method == "HEAD" || status < 200 || status == 204 || status == 304 {
            Vec::new()
        } else {
            match http::read_body(upstream, &headers).await? {
                Some(body) => body,
                None => {
                    // Delimited by the end of the connection.
                    close = true;
                    let mut body = Vec::new();
                    upstream.read_to_end(&mut body).await?;
                    body
                }
            }
        };
        let answer = Response {
            status,
            reason: Some(reason),
            headers,
            body,
        };
        Ok((answer, close))
    }

    /// Forwards on the connection's upstream, opening one if needed; a
    /// reused connection that fails is replaced once (it may have been
    /// closed while idle).
    async fn forward(
        upstream: &mut Option<BufReader<TcpStream>>,
        address: &str,
        request: &Request,
    ) -> io::Result<Response> {
        loop {
            let reused = upstream.is_some();
            let connection = match upstream {
                Some(connection) => connection,
                None => upstream.insert(BufReader::new(TcpStream::connect(address).await?)),
            };
            match exchange(connection, request).await {
                Ok((answer, close)) => {
                    if close {
                        *upstream = None;
                    }
                    return Ok(answer);
                }
                Err(e) => {
                    *upstream = None;
                    if !reused {
                        return Err(e);
                    }
                }
            }
        }
    }
}

/// `host:port` of the test OpenSearch, which the proxy forwards to.
fn upstream_address() -> String {
    let url = opensearch_url();
    let rest = url.strip_prefix("http://").unwrap_or_else(|| {
        panic!("IRONMAN_OPENSEARCH_URL={url}: the retry tests proxy plain http on loopback only")
    });
    let host_port = rest.split('/').next().unwrap_or("");
    let host = host_port
        .rsplit_once(':')
        .map_or(host_port, |(host, _)| host);
    assert!(
        host == "localhost"
            || host == "[::1]"
            || host
                .parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| ip.is_loopback()),
        "IRONMAN_OPENSEARCH_URL={url}: the retry tests stay on loopback"
    );
    if host_port.contains(':') && !host_port.ends_with(']') {
        host_port.to_string()
    } else {
        format!("{host_port}:80")
    }
}

/// A handler like `xtask::replay::handler_for`, talking through the proxy.
fn handler_via(proxy: &Proxy, env: &Environment) -> Handler {
    let client = OpenSearch::new(&proxy.url, Auth::None).expect("a loopback URL");
    Handler::new(Rules::builtin(), Sink::new(client, env.indices().clone()))
}

fn lambda_event(log_events: Value) -> Value {
    use base64::Engine;
    use std::io::Write;
    let doc = json!({"messageType": "DATA_MESSAGE", "owner": "1", "logGroup": "/ironman/app", "logStream": "s-1", "subscriptionFilters": ["f"], "logEvents": log_events});
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(doc.to_string().as_bytes()).unwrap();
    json!({"awslogs": {"data": base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap())}})
}

/// Two sessions over two days (so two daily indices), a noise line and an
/// unparsed line: six kept events.
fn two_sessions() -> Value {
    let lines = [
        (
            "e01",
            r#"2026-11-02T09:00:00.000Z	INFO	{"type":"request","sessionId":"rt-a","user":"Alice@Example.com","url":"/api/v2/sites/ST-0042/assets?assetType=pump,valve","method":"get","status":200,"responseTimeMs":12.5,"timestamp":"2026-11-02T09:00:00Z"}"#,
        ),
        (
            "e02",
            r#"INFO {"type":"page-beacon","sessionId":"rt-a","user":"alice@example.com","url":"/maps","module":"maps","timestamp":"2026-11-02T09:05:00Z"}"#,
        ),
        (
            "e03",
            r#"INFO {"type":"request","sessionId":"rt-a","user":"alice@example.com","url":"/api/v2/reports?siteToken=ST-0007","timestamp":"2026-11-02T23:59:59.999Z"}"#,
        ),
        (
            "e04",
            r#"INFO {"type":"request","sessionId":"rt-b","user":"bob","url":"/dashboard","method":"GET","timestamp":"2026-11-03T00:00:01Z"}"#,
        ),
        (
            "e05",
            r#"INFO {"type":"request","sessionId":"rt-b","user":"bob","url":"/health","timestamp":"2026-11-03T00:00:02Z"}"#,
        ),
        ("e06", "java.lang.RuntimeException: boom"),
        (
            "e07",
            r#"INFO {"type":"request","sessionId":"rt-b","user":"bob","url":"/api/v2/sites/ST-0042/alarms?assetType=Pump","timestamp":"2026-11-03T00:10:00Z"}"#,
        ),
        (
            "e08",
            r#"INFO {"type":"request","sessionId":"rt-a","user":"alice@example.com","url":"/dashboard","timestamp":"2026-11-03T08:00:00Z"}"#,
        ),
    ];
    let events: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(n, (id, message))| json!({"id": id, "timestamp": 1_793_000_000_000i64 + n as i64, "message": message}))
        .collect();
    lambda_event(Value::Array(events))
}

/// What a single clean delivery stores, computed by the pure processor.
struct Expected {
    kept_ids: BTreeSet<String>,
    /// Session id → (event count, content without `last_updated`).
    summaries: BTreeMap<String, (u64, Value)>,
}

fn expected(event: &Value) -> Expected {
    let json = inflate(awslogs_data(event).unwrap()).unwrap();
    let batch = parse_batch(&json).unwrap();
    let processed = process_batch(&batch, &Rules::builtin());
    let kept_ids: BTreeSet<String> = processed.events.iter().map(|e| e.id.to_string()).collect();
    let summaries = summarize(&processed.events)
        .into_iter()
        .map(|(id, s)| (id.to_string(), (s.event_count, s.content())))
        .collect::<BTreeMap<_, _>>();
    // The fixture, pinned: what the sessions must come to.
    assert_eq!(kept_ids.len(), 6);
    for (session, user, events) in [("rt-a", "alice@example.com", 4), ("rt-b", "bob", 2)] {
        let (count, content) = &summaries[session];
        assert_eq!((*count, &content["user"]), (events, &json!(user)));
    }
    Expected {
        kept_ids,
        summaries,
    }
}

/// Every kept event stored once (version 1: created, never overwritten),
/// the summaries a clean run gives, no dead letter.
async fn assert_stored(client: &OpenSearch, env: &Environment, want: &Expected) {
    let i = env.indices();
    let events = all_documents(client, &i.request_events_pattern()).await;
    assert_eq!(
        events.keys().cloned().collect::<BTreeSet<_>>(),
        want.kept_ids,
        "one request event per kept log event"
    );
    for (id, (_, version, _)) in &events {
        assert_eq!(*version, 1, "request event {id} was written more than once");
    }
    let summaries = all_documents(client, &i.session_summaries).await;
    assert_eq!(
        summaries.keys().collect::<Vec<_>>(),
        want.summaries.keys().collect::<Vec<_>>(),
        "the set of sessions"
    );
    for (id, (_, content)) in &want.summaries {
        let (_, _, source) = &summaries[id];
        assert_eq!(
            stored_content(source).as_ref(),
            Some(content),
            "session {id}"
        );
    }
    assert_eq!(
        count(client, &i.dead_letters).await,
        0,
        "nothing dead-lettered"
    );
}

fn assert_clean_counts(counts: &Counts, want: &Expected) {
    assert_eq!(counts.kept, want.kept_ids.len() as u64, "{counts:?}");
    assert_eq!(
        counts.events_created + counts.events_existing,
        counts.kept,
        "every kept event has exactly one outcome: {counts:?}"
    );
    assert_eq!(counts.sessions_touched, want.summaries.len() as u64);
    assert_eq!(
        counts.sessions_written,
        want.summaries.len() as u64,
        "{counts:?}"
    );
    assert_eq!(counts.dead_lettered, 0, "{counts:?}");
}

/// One invocation, bounded: a sink that does not stop at its deadline
/// fails the test instead of hanging it.
async fn invoke(
    handler: &Handler,
    event: &Value,
    deadline: Instant,
) -> Result<Counts, HandlerError> {
    let limit = deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(5);
    tokio::time::timeout(limit, handler.handle(event, deadline))
        .await
        .unwrap_or_else(|_| {
            panic!("Handler::handle still running {limit:?} later, well past its deadline")
        })
}

fn ample_deadline() -> Instant {
    Instant::now() + Duration::from_secs(20)
}

fn rejected_json(status: u16) -> Value {
    let kind = if status == 429 {
        "es_rejected_execution_exception"
    } else {
        "injected_failure"
    };
    json!({
        "error": {
            "root_cause": [{"type": kind, "reason": "injected by the test proxy"}],
            "type": kind,
            "reason": "injected by the test proxy",
        },
        "status": status,
    })
}

/// The `create` actions among a bulk body's lines.
fn creates(lines: &[&str]) -> usize {
    lines
        .iter()
        .filter(|line| line.starts_with("{\"create\""))
        .count()
}

fn only(exchanges: &[Exchange], which: impl Fn(&Request) -> bool) -> Vec<&Exchange> {
    exchanges.iter().filter(|x| which(&x.request)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_bulk_request_is_sent_again_and_stores_everything_once() {
    let env = test_environment("retry-429").await;
    let client = env.opensearch_client().unwrap();
    let mut refused = false;
    let proxy = Proxy::start(upstream_address(), move |r| {
        if r.is_events_bulk() && !refused {
            refused = true;
            Fault::Respond(429, rejected_json(429))
        } else {
            Fault::Forward
        }
    })
    .await;
    let handler = handler_via(&proxy, &env);
    let event = two_sessions();
    let want = expected(&event);

    let counts = invoke(&handler, &event, ample_deadline())
        .await
        .expect("handled");
    assert_clean_counts(&counts, &want);
    assert_eq!(counts.events_created, 6, "{counts:?}");
    assert_eq!(counts.events_existing, 0, "the 429 stored nothing");
    assert!(counts.retries >= 1, "{counts:?}");

    let exchanges = proxy.exchanges();
    let bulks = only(&exchanges, Request::is_events_bulk);
    assert_eq!(bulks.len(), 2, "{bulks:#?}");
    assert_eq!((bulks[0].status, bulks[0].injected), (Some(429), true));
    assert_eq!(bulks[1].status, Some(200));
    assert_eq!(
        bulks[0].request.body, bulks[1].request.body,
        "a whole-request failure resends the whole body"
    );
    assert_eq!(creates(&bulks[1].body_lines()), 6, "six create items");
    proxy.assert_healthy();

    assert_stored(&client, &env, &want).await;
    cleanup(&client, &env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_refused_inside_a_bulk_answer_is_the_only_one_sent_again() {
    let env = test_environment("retry-item").await;
    let client = env.opensearch_client().unwrap();
    let mut rewritten = false;
    let proxy = Proxy::start(upstream_address(), move |r| {
        if r.is_events_bulk() && !rewritten {
            rewritten = true;
            // OpenSearch stores every item; the client hears that the
            // first one was refused.
            Fault::Rewrite(Box::new(|status, body| {
                let mut answer: Value = serde_json::from_slice(&body).expect("a JSON bulk answer");
                answer["errors"] = json!(true);
                if let Some(item) = answer["items"][0]
                    .as_object_mut()
                    .and_then(|item| item.values_mut().next())
                    .and_then(Value::as_object_mut)
                {
                    item.retain(|k, _| k == "_index" || k == "_id");
                    item.insert("status".into(), json!(429));
                    item.insert(
                        "error".into(),
                        json!({"type": "es_rejected_execution_exception", "reason": "injected by the test proxy"}),
                    );
                }
                (status, serde_json::to_vec(&answer).expect("JSON"))
            }))
        } else {
            Fault::Forward
        }
    })
    .await;
    let handler = handler_via(&proxy, &env);
    let event = two_sessions();
    let want = expected(&event);

    let counts = invoke(&handler, &event, ample_deadline())
        .await
        .expect("handled");
    assert_clean_counts(&counts, &want);
    assert_eq!(
        (counts.events_created, counts.events_existing),
        (5, 1),
        "the resent item was already stored: a 409 {counts:?}"
    );
    assert!(counts.retries >= 1, "{counts:?}");

    let exchanges = proxy.exchanges();
    let bulks = only(&exchanges, Request::is_events_bulk);
    assert_eq!(bulks.len(), 2, "{bulks:#?}");
    let first = bulks[0].body_lines();
    let second = bulks[1].body_lines();
    assert_eq!(creates(&first), 6, "six create items, and their tallies");
    assert_eq!(
        second,
        first[..2].to_vec(),
        "only the refused item is sent again, byte for byte"
    );
    let action: Value = serde_json::from_str(second[0]).unwrap();
    assert_eq!(action["create"]["_id"], "e01");
    // The normal path neither refreshes nor scrolls.
    assert!(
        exchanges
            .iter()
            .all(|x| !x.request.path.contains("refresh") && !x.request.path.contains("scroll")),
        "{:#?}",
        exchanges
            .iter()
            .map(|x| &x.request.path)
            .collect::<Vec<_>>()
    );
    proxy.assert_healthy();

    assert_stored(&client, &env, &want).await;
    cleanup(&client, &env).await;
}

/// The first follow-up round (the tallies of buckets the states would not
/// take inline: `rt-a` spans a day) applied but its answer lost, and the
/// summaries refused as a whole: both are sent again; the scripts, being
/// merges, count each event once, and the summaries are the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_up_and_summary_writes_sent_twice_count_each_event_once() {
    let env = test_environment("retry-state").await;
    let client = env.opensearch_client().unwrap();
    let (mut tallies_lost, mut summaries_failed) = (false, false);
    let proxy = Proxy::start(upstream_address(), move |r| {
        if r.is_follow_up_bulk() && !tallies_lost {
            tallies_lost = true;
            Fault::LoseAnswer
        } else if r.is_summaries_bulk() && !summaries_failed {
            summaries_failed = true;
            Fault::Respond(500, rejected_json(500))
        } else {
            Fault::Forward
        }
    })
    .await;
    let handler = handler_via(&proxy, &env);
    let event = two_sessions();
    let want = expected(&event);

    let counts = invoke(&handler, &event, ample_deadline())
        .await
        .expect("handled");
    assert_clean_counts(&counts, &want);
    assert_eq!((counts.events_created, counts.events_existing), (6, 0));
    assert_eq!(
        counts.late_events, 3,
        "rt-a's events of the first day, a day before its last: {counts:?}"
    );
    assert!(counts.retries >= 2, "{counts:?}");

    let exchanges = proxy.exchanges();
    let follow_ups = only(&exchanges, Request::is_follow_up_bulk);
    let summaries = only(&exchanges, Request::is_summaries_bulk);
    // The tallies' round twice (the lost answer, then the one heard),
    // then the states' round.
    assert_eq!(follow_ups.len(), 3, "{follow_ups:#?}");
    assert_eq!(follow_ups[0].status, None, "the first answer was lost");
    assert_eq!(follow_ups[0].request.body, follow_ups[1].request.body);
    assert_eq!(follow_ups[1].status, Some(200));
    assert_eq!(summaries.len(), 2, "{summaries:#?}");
    assert_eq!(summaries[0].status, Some(500));
    assert_eq!(summaries[1].status, Some(200));
    assert_eq!(summaries[0].request.body, summaries[1].request.body);
    proxy.assert_healthy();

    assert_stored(&client, &env, &want).await;
    cleanup(&client, &env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_answer_lost_after_opensearch_applied_it_is_retried_into_conflicts() {
    let env = test_environment("retry-lost").await;
    let client = env.opensearch_client().unwrap();
    let mut lost = false;
    let proxy = Proxy::start(upstream_address(), move |r| {
        if r.is_events_bulk() && !lost {
            lost = true;
            Fault::LoseAnswer
        } else {
            Fault::Forward
        }
    })
    .await;
    let handler = handler_via(&proxy, &env);
    let event = two_sessions();
    let want = expected(&event);

    let counts = invoke(&handler, &event, ample_deadline())
        .await
        .expect("handled");
    // The lost attempt also applied the states' updates that rode with
    // the events: the retry finds rt-b's state up to date (rt-a's late
    // events still change it, through their tallies' reports).
    assert_eq!(counts.kept, want.kept_ids.len() as u64, "{counts:?}");
    assert_eq!(
        (counts.sessions_written, counts.sessions_unchanged),
        (1, 1),
        "{counts:?}"
    );
    assert_eq!(counts.dead_lettered, 0, "{counts:?}");
    assert_eq!(
        (counts.events_created, counts.events_existing),
        (0, 6),
        "the first attempt stored everything; the retry sees 409s: {counts:?}"
    );
    assert!(counts.retries >= 1, "{counts:?}");

    let exchanges = proxy.exchanges();
    let bulks = only(&exchanges, Request::is_events_bulk);
    assert_eq!(bulks.len(), 2, "{bulks:#?}");
    assert_eq!(bulks[0].status, None, "the first answer was lost");
    assert_eq!(bulks[0].request.body, bulks[1].request.body);
    proxy.assert_healthy();

    assert_stored(&client, &env, &want).await;
    cleanup(&client, &env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_failing_until_the_deadline_fails_the_invocation_and_dead_letters_nothing() {
    let env = test_environment("retry-503").await;
    let client = env.opensearch_client().unwrap();
    let proxy = Proxy::start(upstream_address(), |_| {
        Fault::Respond(503, rejected_json(503))
    })
    .await;
    let handler = handler_via(&proxy, &env);
    let event = two_sessions();

    let started = Instant::now();
    let deadline = started + Duration::from_millis(2500);
    let err = invoke(&handler, &event, deadline)
        .await
        .expect_err("the invocation fails, so that Lambda retries it");
    let finished = Instant::now();
    assert!(
        finished <= deadline + Duration::from_secs(1),
        "gave up {:?} after the deadline",
        finished.saturating_duration_since(deadline)
    );

    let message = err.to_string();
    assert!(message.contains("/_bulk"), "names the call: {message}");
    assert!(
        message.contains("still failing when the time ran out"),
        "says it gave up: {message}"
    );
    assert!(message.contains("HTTP 503"), "says why: {message}");
    let SinkError::GaveUp {
        call,
        attempts,
        last,
    } = &err.0
    else {
        panic!("expected GaveUp, got {:?}", err.0);
    };
    assert!(call.starts_with("POST /_bulk?"), "{call}");
    assert!(last.contains("503"), "{last}");

    let exchanges = proxy.exchanges();
    assert!(
        exchanges.iter().all(|x| x.request.is_events_bulk()),
        "only the events' bulk was tried (nothing counted, no dead letter): {:#?}",
        exchanges
            .iter()
            .map(|x| &x.request.path)
            .collect::<Vec<_>>()
    );
    assert!(
        exchanges.len() >= 2,
        "the first backoff (at most 200 ms) fits in 2.5 s: {} attempts",
        exchanges.len()
    );
    assert_eq!(
        *attempts as usize,
        exchanges.len(),
        "the error counts the attempts the proxy saw"
    );
    assert!(
        exchanges
            .iter()
            .all(|x| x.request.body == exchanges[0].request.body),
        "every attempt resends the whole body"
    );
    proxy.assert_healthy();

    let i = env.indices();
    assert_eq!(
        count(&client, &i.dead_letters).await,
        0,
        "nothing dead-lettered"
    );
    assert_eq!(count(&client, &i.request_events_pattern()).await, 0);
    assert_eq!(count(&client, &i.session_summaries).await, 0);

    // Lambda's retry, once the cluster is back, stores everything.
    let handler = Handler::new(
        Rules::builtin(),
        Sink::new(client.clone(), env.indices().clone()),
    );
    let counts = invoke(&handler, &event, ample_deadline())
        .await
        .expect("handled");
    let want = expected(&event);
    assert_clean_counts(&counts, &want);
    assert_stored(&client, &env, &want).await;
    cleanup(&client, &env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_accepts_and_never_answers_fails_the_invocation_at_its_deadline() {
    let env = test_environment("retry-silent").await;
    // Accepts every connection, reads what comes, and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = held.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            keep.lock().unwrap().push(stream);
        }
    });
    let client = OpenSearch::new(&url, Auth::None).unwrap();
    let handler = Handler::new(Rules::builtin(), Sink::new(client, env.indices().clone()));

    let deadline = Instant::now() + Duration::from_millis(2500);
    let err = invoke(&handler, &two_sessions(), deadline)
        .await
        .expect_err("a silent server fails the invocation, so that Lambda retries it");
    let finished = Instant::now();
    assert!(
        finished <= deadline + Duration::from_secs(1),
        "gave up {:?} after the deadline",
        finished.saturating_duration_since(deadline)
    );
    let message = err.to_string();
    assert!(message.contains("/_bulk"), "names the call: {message}");
    assert!(
        !held.lock().unwrap().is_empty(),
        "the server saw no connection"
    );
    support::cleanup(&support::require_opensearch().await, &env).await;
}
