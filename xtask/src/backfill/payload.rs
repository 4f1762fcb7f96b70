//! A page of `FilterLogEvents` as the Lambda events a subscription would
//! have delivered: one `DATA_MESSAGE` per log stream (a subscription batch
//! never mixes streams), gzip and base64 in `{"awslogs":{"data":…}}`, so
//! that the handler decodes them exactly as it decodes the real thing.

use super::fetch::FetchedEvent;
use base64::Engine as _;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};
use std::collections::HashMap;

/// What every delivery of one log group carries besides its events.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The account id (CloudWatch Logs' `owner`).
    pub owner: String,
    pub log_group: String,
    pub subscription_filter: String,
}

/// The events grouped per stream, streams in order of first appearance,
/// each stream's events in page order.
pub fn per_stream(events: &[FetchedEvent]) -> Vec<(&str, Vec<&FetchedEvent>)> {
    let mut groups: Vec<(&str, Vec<&FetchedEvent>)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for event in events {
        let slot = *index.entry(event.stream.as_str()).or_insert_with(|| {
            groups.push((event.stream.as_str(), Vec::new()));
            groups.len() - 1
        });
        groups[slot].1.push(event);
    }
    groups
}

/// The inflated `DATA_MESSAGE` document of one stream's events.
pub fn data_message(origin: &Origin, stream: &str, events: &[&FetchedEvent]) -> Value {
    let log_events: Vec<Value> = events
        .iter()
        .map(|e| json!({"id": e.id, "timestamp": e.timestamp, "message": e.message}))
        .collect();
    json!({
        "messageType": "DATA_MESSAGE",
        "owner": origin.owner,
        "logGroup": origin.log_group,
        "logStream": stream,
        "subscriptionFilters": [origin.subscription_filter],
        "logEvents": log_events,
    })
}

/// `{"awslogs":{"data": base64(gzip(document))}}`.
pub fn lambda_event(document: &Value) -> Value {
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    serde_json::to_writer(&mut gz, document).expect("writing JSON to memory");
    let compressed = gz.finish().expect("compressing in memory");
    let data = base64::engine::general_purpose::STANDARD.encode(compressed);
    json!({"awslogs": {"data": data}})
}

/// A page as Lambda events, one per stream.
pub fn lambda_events(origin: &Origin, events: &[FetchedEvent]) -> Vec<Value> {
    per_stream(events)
        .into_iter()
        .map(|(stream, events)| lambda_event(&data_message(origin, stream, &events)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(stream: &str, id: &str, timestamp: i64, message: &str) -> FetchedEvent {
        FetchedEvent {
            stream: stream.into(),
            id: id.into(),
            timestamp,
            message: message.into(),
        }
    }

    fn origin() -> Origin {
        Origin {
            owner: "123456789012".into(),
            log_group: "/ironman/app/requests".into(),
            subscription_filter: "ironman-usage-analytics".into(),
        }
    }

    #[test]
    fn an_interleaved_page_becomes_one_delivery_per_stream_in_order() {
        let page = [
            event("b", "1", 10, "b1"),
            event("a", "2", 11, "a1"),
            event("b", "3", 12, "b2"),
            event("c", "4", 13, "c1"),
            event("a", "5", 14, "a2"),
        ];
        let groups: Vec<(&str, Vec<&str>)> = per_stream(&page)
            .into_iter()
            .map(|(s, events)| (s, events.iter().map(|e| e.id.as_str()).collect()))
            .collect();
        assert_eq!(
            groups,
            [
                ("b", vec!["1", "3"]),
                ("a", vec!["2", "5"]),
                ("c", vec!["4"])
            ]
        );
        assert!(per_stream(&[]).is_empty());
    }

    #[test]
    fn the_handler_s_decoder_reads_back_what_a_subscription_sends() {
        let message =
            "2026-12-01T10:00:00.000Z\tINFO\t{\"type\":\"request\",\"note\":\"tab\\there, é, 🦀\"}";
        let page = [
            event(
                "web-1",
                "38512345678901234567890123456789012345678901234567890123",
                1_796_119_200_000,
                message,
            ),
            event("web-2", "2", 1_796_119_200_001, "plain"),
        ];
        let events = lambda_events(&origin(), &page);
        assert_eq!(events.len(), 2);
        let data = processor::decode::awslogs_data(&events[0]).unwrap();
        let inflated = processor::decode::inflate(data).unwrap();
        let document: Value = serde_json::from_slice(&inflated).unwrap();
        assert_eq!(
            document,
            json!({
                "messageType": "DATA_MESSAGE",
                "owner": "123456789012",
                "logGroup": "/ironman/app/requests",
                "logStream": "web-1",
                "subscriptionFilters": ["ironman-usage-analytics"],
                "logEvents": [{
                    "id": "38512345678901234567890123456789012345678901234567890123",
                    "timestamp": 1_796_119_200_000_i64,
                    "message": message,
                }],
            })
        );
        // The processor's own batch reader accepts it.
        let rules =
            processor::config::Rules::compile(&processor::config::PipelineConfig::builtin());
        let (batch, _) = processor::decode::parse_batch_reading(&inflated, &rules).unwrap();
        assert_eq!(batch.log_stream, "web-1");
        assert_eq!(batch.log_events.len(), 1);
        assert_eq!(batch.log_events[0].message, message);
    }
}
