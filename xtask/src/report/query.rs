//! The report's reads from OpenSearch: composite aggregations over the
//! session summaries in the period, paged to the end (exact counts, never
//! cardinality estimates). Every query derives from `dashboards/metrics.yaml`.

use super::model::{Tally, seconds_to_ms};
use super::period::Period;
use crate::metrics::{Metrics, RANKED_KEYS};
use anyhow::{Context as _, bail};
use processor::opensearch::OpenSearch;
use serde_json::{Value, json};

/// Buckets per page of a composite aggregation.
const PAGE: usize = 1000;

/// The sessions whose day field lies in the period's UTC range.
pub fn period_filter(metrics: &Metrics, period: &Period) -> Value {
    let (from, to) = period.utc_range_ms();
    json!({"range": {metrics.day_field.clone(): {"gte": from, "lt": to, "format": "epoch_millis"}}})
}

/// A composite source: the calendar day of the day field in the zone.
pub fn day_source(metrics: &Metrics, period: &Period) -> Value {
    json!({"day": {"date_histogram": {
        "field": metrics.day_field,
        "calendar_interval": "1d",
        "time_zone": period.tz_name(),
        "format": "yyyy-MM-dd"
    }}})
}

/// The composite sources of each query of the report, by name.
pub fn queries(metrics: &Metrics, period: &Period) -> Vec<(&'static str, Vec<Value>)> {
    let mut queries = vec![
        (
            "day_users",
            vec![
                day_source(metrics, period),
                json!({"value": {"terms": {"field": metrics.distinct().field, "missing_bucket": true}}}),
            ],
        ),
        (
            "day_durations",
            vec![
                day_source(metrics, period),
                json!({"value": {"terms": {"field": metrics.duration().field}}}),
            ],
        ),
    ];
    for key in RANKED_KEYS {
        queries.push((
            key,
            vec![json!({"value": {"terms": {"field": metrics.ranked(key).field}}})],
        ));
    }
    queries
}

/// Every bucket of a composite aggregation, `(key, doc_count)`, following
/// `after_key` until a page comes back empty.
pub async fn composite_all(
    client: &OpenSearch,
    index: &str,
    filter: &Value,
    sources: &[Value],
) -> anyhow::Result<Vec<(Value, u64)>> {
    let mut all = Vec::new();
    let mut after: Option<Value> = None;
    loop {
        let mut composite = json!({"size": PAGE, "sources": sources});
        if let Some(key) = after.take() {
            composite["after"] = key;
        }
        let body = json!({
            "size": 0,
            "track_total_hits": false,
            "query": filter,
            "aggs": {"c": {"composite": composite}}
        });
        let path = format!("/{index}/_search");
        let answer = client
            .json(http::Method::POST, &path, Some(&body))
            .await
            .with_context(|| format!("composite aggregation on {index}"))?;
        complete(&answer, &path)?;
        let agg = &answer["aggregations"]["c"];
        let Some(buckets) = agg["buckets"].as_array() else {
            bail!("POST {path}: no aggregations.c.buckets in the answer: {answer}");
        };
        for bucket in buckets {
            let count = bucket["doc_count"].as_u64().ok_or_else(|| {
                anyhow::anyhow!("POST {path}: a bucket without doc_count: {bucket}")
            })?;
            all.push((bucket["key"].clone(), count));
        }
        match agg.get("after_key") {
            Some(key) if !buckets.is_empty() => after = Some(key.clone()),
            _ => break,
        }
    }
    Ok(all)
}

/// Fails on a partial answer (a shard failed or the search timed out):
/// its counts would be silently low.
fn complete(answer: &Value, path: &str) -> anyhow::Result<()> {
    let failed = answer["_shards"]["failed"].as_u64().unwrap_or(0);
    if failed > 0 || answer["timed_out"] == Value::Bool(true) {
        bail!(
            "POST {path}: a partial answer ({failed} shard(s) failed, timed_out={}), so its counts would not be exact: {}",
            answer["timed_out"],
            answer["_shards"]
        );
    }
    Ok(())
}

/// Fails clearly when the session index does not exist (nothing was
/// replayed into the environment yet, or its name is wrong).
pub async fn require_index(client: &OpenSearch, index: &str) -> anyhow::Result<()> {
    let response = client
        .send(http::Method::HEAD, &format!("/{index}"), None)
        .await
        .with_context(|| format!("checking that index {index} exists"))?;
    match response.status {
        200 => Ok(()),
        404 => bail!(
            "index `{index}` does not exist at {}: nothing has been replayed into this environment yet (or indices.session_summaries is not the index the processor writes)",
            client.endpoint()
        ),
        status => bail!(
            "HEAD /{index}: OpenSearch answered {status}: {}",
            response.text()
        ),
    }
}

fn key_str(key: &Value, name: &str) -> anyhow::Result<String> {
    key[name]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("composite key `{name}` is not a string: {key}"))
}

/// Reads the exact tallies of the period.
pub async fn tally(
    client: &OpenSearch,
    index: &str,
    metrics: &Metrics,
    period: &Period,
) -> anyhow::Result<Tally> {
    require_index(client, index).await?;
    let filter = period_filter(metrics, period);
    let mut tally = Tally::default();
    for (name, sources) in queries(metrics, period) {
        let buckets = composite_all(client, index, &filter, &sources)
            .await
            .with_context(|| format!("the report's `{name}` query"))?;
        for (key, count) in buckets {
            match name {
                "day_users" => {
                    let user = key["value"].as_str().map(str::to_string);
                    tally.day_users.insert((key_str(&key, "day")?, user), count);
                }
                "day_durations" => {
                    let seconds = key["value"]
                        .as_f64()
                        .ok_or_else(|| anyhow::anyhow!("a duration that is not a number: {key}"))?;
                    *tally
                        .day_durations
                        .entry((key_str(&key, "day")?, seconds_to_ms(seconds)))
                        .or_default() += count;
                }
                ranked => {
                    tally
                        .ranked
                        .entry(ranked.to_string())
                        .or_default()
                        .insert(key_str(&key, "value")?, count);
                }
            }
        }
    }
    // The sum of integer event counts, exact below 2^53 in OpenSearch's double.
    let body = json!({
        "size": 0,
        "query": filter,
        "aggs": {"events": {"sum": {"field": metrics.events_field}}}
    });
    let answer = client
        .json(
            http::Method::POST,
            &format!("/{index}/_search"),
            Some(&body),
        )
        .await
        .with_context(|| format!("summing {} on {index}", metrics.events_field))?;
    complete(&answer, &format!("/{index}/_search"))?;
    let events = answer["aggregations"]["events"]["value"]
        .as_f64()
        .ok_or_else(|| anyhow::anyhow!("no aggregations.events.value in {answer}"))?;
    tally.events = events.round() as u64;
    Ok(tally)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_derive_from_the_declarations_and_the_zone() {
        let mut metrics = Metrics::load(&crate::project_root()).unwrap();
        let period = Period::new(
            "2026-10-31".parse().unwrap(),
            "2026-11-01".parse().unwrap(),
            "America/Chicago",
        )
        .unwrap();
        let q = queries(&metrics, &period);
        let names: Vec<&str> = q.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "day_users",
                "day_durations",
                "modules",
                "sites",
                "asset_types"
            ]
        );
        assert_eq!(
            q[0].1[0]["day"]["date_histogram"]["time_zone"],
            "America/Chicago"
        );
        assert_eq!(q[0].1[1]["value"]["terms"]["field"], "user");
        assert_eq!(q[3].1[0]["value"]["terms"]["field"], "siteTokens");
        let f = period_filter(&metrics, &period);
        assert_eq!(f["range"]["start_time"]["gte"], period.utc_range_ms().0);

        // A renamed field in the declaration changes the query.
        metrics
            .metrics
            .iter_mut()
            .find(|m| m.field == "siteTokens")
            .unwrap()
            .field = "sites".into();
        assert_eq!(
            queries(&metrics, &period)[3].1[0]["value"]["terms"]["field"],
            "sites"
        );
    }
}
