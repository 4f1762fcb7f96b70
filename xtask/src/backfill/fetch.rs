//! Reading a log group page by page through `FilterLogEvents`: every
//! stream, one window at a time, at most `--rate` requests per second
//! across all windows in flight, throttling backed off and retried.

use super::plan::Window;
use anyhow::anyhow;
use aws_sdk_cloudwatchlogs::error::{ProvideErrorMetadata as _, SdkError};
use rand::Rng as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// FilterLogEvents' quota is 25 requests per second per account and
/// region in most regions, shared with everything else that calls it
/// there: the default leaves most of it to them.
pub const DEFAULT_RATE: f64 = 10.0;

/// One log event as `FilterLogEvents` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedEvent {
    pub stream: String,
    /// CloudWatch Logs' `eventId`: the `id` a subscription delivers.
    pub id: String,
    pub timestamp: i64,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub log_group: String,
    pub window: Window,
    /// A CloudWatch Logs filter pattern: the subscription filter's, so that
    /// a backfill reads what the subscription would have delivered.
    pub filter_pattern: String,
    pub next_token: Option<String>,
    /// Events per page (the API's default and maximum is 10,000).
    pub limit: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Page {
    pub events: Vec<FetchedEvent>,
    pub next_token: Option<String>,
}

#[derive(Debug)]
pub enum FetchError {
    /// Throttled, or the service briefly unavailable: worth a retry later.
    Retryable(anyhow::Error),
    Failed(anyhow::Error),
}

pub type PageFuture<'a> = Pin<Box<dyn Future<Output = Result<Page, FetchError>> + Send + 'a>>;

/// Where pages come from: CloudWatch Logs, or a test's script.
pub trait LogSource: Send + Sync {
    fn page<'a>(&'a self, request: &'a PageRequest) -> PageFuture<'a>;
}

pub struct CloudWatchLogs {
    client: aws_sdk_cloudwatchlogs::Client,
}

impl CloudWatchLogs {
    pub fn new(client: aws_sdk_cloudwatchlogs::Client) -> Self {
        CloudWatchLogs { client }
    }
}

impl LogSource for CloudWatchLogs {
    fn page<'a>(&'a self, request: &'a PageRequest) -> PageFuture<'a> {
        Box::pin(async move {
            let group = &request.log_group;
            let answer = self
                .client
                .filter_log_events()
                .log_group_name(group)
                .start_time(request.window.start_ms)
                // The API documents `endTime` as inclusive; asking up to the
                // window's end and dropping what lies there (below) is right
                // whether it is or not.
                .end_time(request.window.end_ms)
                .set_filter_pattern(Some(request.filter_pattern.clone()).filter(|p| !p.is_empty()))
                .set_next_token(request.next_token.clone())
                .set_limit(request.limit)
                .send()
                .await;
            let output = match answer {
                Ok(output) => output,
                Err(error) => {
                    let retryable =
                        is_retryable(error.code()) || matches!(error, SdkError::TimeoutError(_));
                    let error = crate::aws::sdk_error(
                        "logs:FilterLogEvents",
                        &format!("log group `{group}`"),
                        error,
                    );
                    return Err(if retryable {
                        FetchError::Retryable(error)
                    } else {
                        FetchError::Failed(error)
                    });
                }
            };
            let mut events = Vec::with_capacity(output.events().len());
            for event in output.events() {
                let (Some(stream), Some(id), Some(timestamp)) =
                    (event.log_stream_name(), event.event_id(), event.timestamp())
                else {
                    return Err(FetchError::Failed(anyhow!(
                        "logs:FilterLogEvents on log group `{group}` returned an event without a stream, id or timestamp: {event:?}"
                    )));
                };
                events.push(FetchedEvent {
                    stream: stream.to_string(),
                    id: id.to_string(),
                    timestamp,
                    message: event.message().unwrap_or_default().to_string(),
                });
            }
            Ok(Page {
                events: in_window(events, request.window),
                next_token: output.next_token().map(str::to_string),
            })
        })
    }
}

/// The events of `window` only: an event on its end belongs to the next
/// window, which reads it too.
fn in_window(mut events: Vec<FetchedEvent>, window: Window) -> Vec<FetchedEvent> {
    events.retain(|e| window.start_ms <= e.timestamp && e.timestamp < window.end_ms);
    events
}

/// Error codes that mean "later", not "never".
fn is_retryable(code: Option<&str>) -> bool {
    matches!(
        code,
        Some(
            "ThrottlingException"
                | "Throttling"
                | "TooManyRequestsException"
                | "RequestLimitExceeded"
                | "ServiceUnavailableException"
        )
    )
}

/// Evenly spaced requests, at most `rate` per second, whichever task sends
/// them.
pub struct RateLimiter {
    interval: Duration,
    next: Mutex<Instant>,
}

impl RateLimiter {
    pub fn per_second(rate: f64) -> Self {
        RateLimiter {
            interval: Duration::from_secs_f64(1.0 / rate),
            next: Mutex::new(Instant::now()),
        }
    }

    pub async fn wait(&self) {
        let at = {
            let mut next = self.next.lock().expect("the limiter is never poisoned");
            reserve(&mut next, Instant::now(), self.interval)
        };
        tokio::time::sleep_until(at.into()).await;
    }
}

/// The slot a request gets (now, or the next free one) and the one after.
fn reserve(next: &mut Instant, now: Instant, interval: Duration) -> Instant {
    let at = (*next).max(now);
    *next = at + interval;
    at
}

/// Exponential backoff with jitter, so that windows throttled together do
/// not all come back together.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
    /// Tries in all, the first included.
    pub attempts: u32,
}

impl Default for Backoff {
    /// Three to six minutes of retrying in all before giving up.
    fn default() -> Self {
        Backoff {
            first: Duration::from_secs(1),
            max: Duration::from_secs(60),
            attempts: 12,
        }
    }
}

impl Backoff {
    /// The pause after failed try `attempt` (0 for the first), `jitter` in
    /// `[0, 1)`: between half and all of `first * 2^attempt`, at most `max`.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let full = self
            .first
            .saturating_mul(2u32.saturating_pow(attempt.min(30)))
            .min(self.max);
        full.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }
}

/// A source behind the rate limit and the retries.
pub struct Pager {
    source: std::sync::Arc<dyn LogSource>,
    limiter: RateLimiter,
    backoff: Backoff,
    requests: AtomicU64,
    retried: AtomicU64,
}

impl Pager {
    pub fn new(source: std::sync::Arc<dyn LogSource>, rate: f64, backoff: Backoff) -> Self {
        Pager {
            source,
            limiter: RateLimiter::per_second(rate),
            backoff,
            requests: AtomicU64::new(0),
            retried: AtomicU64::new(0),
        }
    }

    /// Requests sent, retries included.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Requests throttled (or refused as unavailable) and tried again.
    pub fn retried(&self) -> u64 {
        self.retried.load(Ordering::Relaxed)
    }

    pub async fn page(&self, request: &PageRequest) -> anyhow::Result<Page> {
        let mut attempt = 0;
        loop {
            self.limiter.wait().await;
            self.requests.fetch_add(1, Ordering::Relaxed);
            match self.source.page(request).await {
                Ok(page) => return Ok(page),
                Err(FetchError::Retryable(error)) => {
                    attempt += 1;
                    if attempt >= self.backoff.attempts {
                        return Err(error.context(format!(
                            "still throttled or unavailable after {attempt} tries; lower --rate or try later"
                        )));
                    }
                    self.retried.fetch_add(1, Ordering::Relaxed);
                    let jitter = rand::rng().random::<f64>();
                    tokio::time::sleep(self.backoff.delay(attempt - 1, jitter)).await;
                }
                Err(FetchError::Failed(error)) => return Err(error),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn event(id: &str, timestamp: i64) -> FetchedEvent {
        FetchedEvent {
            stream: "s".into(),
            id: id.into(),
            timestamp,
            message: String::new(),
        }
    }

    #[test]
    fn only_the_window_s_own_events_are_kept() {
        let window = Window {
            start_ms: 1_000,
            end_ms: 2_000,
        };
        let kept = in_window(
            vec![
                event("a", 999),
                event("b", 1_000),
                event("c", 1_999),
                event("d", 2_000),
            ],
            window,
        );
        let ids: Vec<&str> = kept.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["b", "c"]);
    }

    #[test]
    fn throttling_and_unavailability_are_retried_other_errors_are_not() {
        assert!(is_retryable(Some("ThrottlingException")));
        assert!(is_retryable(Some("ServiceUnavailableException")));
        assert!(!is_retryable(Some("ResourceNotFoundException")));
        assert!(!is_retryable(Some("AccessDeniedException")));
        assert!(!is_retryable(None));
    }

    #[test]
    fn requests_are_spaced_by_the_rate_even_after_a_pause() {
        let t0 = Instant::now();
        let tenth = Duration::from_millis(100);
        let mut next = t0;
        assert_eq!(reserve(&mut next, t0, tenth), t0);
        assert_eq!(reserve(&mut next, t0, tenth), t0 + tenth);
        assert_eq!(reserve(&mut next, t0, tenth), t0 + 2 * tenth);
        // After a quiet second no burst is owed: the next slot is now.
        let later = t0 + Duration::from_secs(1);
        assert_eq!(reserve(&mut next, later, tenth), later);
        assert_eq!(reserve(&mut next, later, tenth), later + tenth);
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_its_maximum() {
        let b = Backoff::default();
        assert_eq!(b.delay(0, 0.0), Duration::from_millis(500));
        assert_eq!(b.delay(0, 1.0), Duration::from_secs(1));
        assert_eq!(b.delay(3, 1.0), Duration::from_secs(8));
        assert_eq!(b.delay(6, 1.0), Duration::from_secs(60));
        assert_eq!(b.delay(40, 0.0), Duration::from_secs(30));
        let total: Duration = (0..b.attempts - 1).map(|a| b.delay(a, 1.0)).sum();
        assert!(
            Duration::from_secs(300) < total && total < Duration::from_secs(600),
            "{total:?}"
        );
    }

    /// Throttles the first `throttles` requests, then answers.
    struct Throttling {
        throttles: u64,
        calls: AtomicU64,
    }

    impl LogSource for Throttling {
        fn page<'a>(&'a self, request: &'a PageRequest) -> PageFuture<'a> {
            Box::pin(async move {
                let n = self.calls.fetch_add(1, Ordering::SeqCst);
                if n < self.throttles {
                    Err(FetchError::Retryable(anyhow!(
                        "ThrottlingException on {}",
                        request.log_group
                    )))
                } else {
                    Ok(Page {
                        events: vec![event("1", request.window.start_ms)],
                        next_token: None,
                    })
                }
            })
        }
    }

    fn request() -> PageRequest {
        PageRequest {
            log_group: "/ironman/app".into(),
            window: Window {
                start_ms: 0,
                end_ms: 10,
            },
            filter_pattern: String::new(),
            next_token: None,
            limit: None,
        }
    }

    const FAST: Backoff = Backoff {
        first: Duration::from_millis(1),
        max: Duration::from_millis(4),
        attempts: 4,
    };

    #[tokio::test]
    async fn a_throttled_request_is_retried_until_it_passes() {
        let source = Arc::new(Throttling {
            throttles: 3,
            calls: AtomicU64::new(0),
        });
        let pager = Pager::new(source, 1000.0, FAST);
        let page = pager.page(&request()).await.unwrap();
        assert_eq!(page.events.len(), 1);
        assert_eq!((pager.requests(), pager.retried()), (4, 3));
    }

    #[tokio::test]
    async fn lasting_throttling_fails_naming_the_log_group_and_what_to_do() {
        let source = Arc::new(Throttling {
            throttles: u64::MAX,
            calls: AtomicU64::new(0),
        });
        let pager = Pager::new(source, 1000.0, FAST);
        let err = format!("{:#}", pager.page(&request()).await.unwrap_err());
        assert!(err.contains("after 4 tries"), "{err}");
        assert!(err.contains("--rate"), "{err}");
        assert!(err.contains("/ironman/app"), "{err}");
        assert_eq!(pager.requests(), 4);
    }

    #[tokio::test]
    async fn the_rate_limit_holds_across_tasks() {
        let source = Arc::new(Throttling {
            throttles: 0,
            calls: AtomicU64::new(0),
        });
        let pager = Arc::new(Pager::new(source, 50.0, FAST));
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..4 {
            let pager = pager.clone();
            tasks.spawn(async move {
                for _ in 0..3 {
                    pager.page(&request()).await.unwrap();
                }
            });
        }
        tasks.join_all().await;
        // 12 requests at 50 per second: the last leaves 11 intervals in.
        assert!(
            started.elapsed() >= Duration::from_millis(11 * 20 - 5),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(pager.requests(), 12);
    }
}
