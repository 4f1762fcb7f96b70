//! The Lambda entry point: read settings once, then serve invocations.
//! Each invocation logs one JSON summary line with its counts.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use processor::handler::LambdaSettings;
use serde_json::{Value, json};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// mimalloc rather than glibc's malloc: the per-line strings and the session
/// sets allocate and free small blocks all the time (the benchmark,
/// `examples/bench.rs`, declares the same allocator).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Time kept back from the deadline to report and log.
const SAFETY_MARGIN: Duration = Duration::from_millis(1500);

/// Used when the runtime gives no usable deadline (emulators such as
/// `cargo lambda watch` may send none): Lambda's maximum timeout.
const FALLBACK_BUDGET: Duration = Duration::from_secs(900);

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn deadline_of(deadline_epoch_ms: u64) -> Instant {
    let now_ms = now_ms() as u64;
    if deadline_epoch_ms <= now_ms {
        return Instant::now() + FALLBACK_BUDGET;
    }
    let remaining = Duration::from_millis(deadline_epoch_ms - now_ms);
    Instant::now() + remaining.saturating_sub(SAFETY_MARGIN)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let settings = LambdaSettings::from_env()?;
    let handler = settings.handler()?;
    let handler = &handler;
    let function_name = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default();
    let function_name = function_name.as_str();
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = deadline_of(event.context.deadline);
        let request_id = event.context.request_id.clone();
        match handler.handle(&event.payload, deadline).await {
            Ok(counts) => {
                // One line: the summary for people, and the same counters
                // as Embedded Metric Format for CloudWatch (the alarms).
                let mut line = counts.metrics_document(function_name, now_ms());
                line["level"] = "INFO".into();
                line["message"] = "invocation summary".into();
                line["request_id"] = request_id.into();
                line["counts"] = json!(counts);
                println!("{line}");
                Ok::<Value, Error>(json!({"counts": counts}))
            }
            Err(error) => {
                println!(
                    "{}",
                    json!({"level": "ERROR", "message": "invocation failed; Lambda will retry", "request_id": request_id, "error": error.to_string()})
                );
                Err(error.into())
            }
        }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_keeps_a_margin_and_survives_a_missing_one() {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let left = deadline_of(now_ms + 10_000).saturating_duration_since(Instant::now());
        assert!(
            left > Duration::from_millis(8_000) && left <= Duration::from_millis(8_500),
            "{left:?}"
        );
        for missing in [0, now_ms - 5] {
            let left = deadline_of(missing).saturating_duration_since(Instant::now());
            assert!(left > Duration::from_secs(890), "{missing}: {left:?}");
        }
    }
}
