//! `cloudwatch_metric_alarm`: the pipeline's CloudWatch alarms,
//! `<function_name>-<what>`, each
//! publishing to the alarm topic when it fires and when it recovers:
//!
//! - `errors`, `throttles`: the function's Errors / Throttles (Sum) reach
//!   `alarms.errors_threshold` / `alarms.throttles_threshold` in a period;
//! - `duration`: its longest invocation (Maximum) reaches
//!   `alarms.duration_percent_of_timeout` of `lambda.timeout_seconds`;
//! - `failure-queue`: batches wait in `<function_name>-failures`;
//! - `dead-lettered`: the processor dead-lettered records (its EMF metric);
//! - `silence`: the processor read no log event for `alarms.silence_hours`
//!   (no data counts as silence).
//!
//! PutMetricAlarm replaces an alarm's whole configuration, so an update
//! sends the desired one; tags go through TagResource (PutMetricAlarm
//! ignores them on an existing alarm).

use super::{Context, is_managed, tag_changes};
use crate::aws::sdk_error;
use crate::engine::{Crud, Meta, Observed};
use crate::env::Environment;
use aws_sdk_cloudwatch::types::{AlarmType, ComparisonOperator, Dimension, Statistic, Tag};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

pub const KIND: &str = "cloudwatch_metric_alarm";

/// Where the processor's embedded-metric-format documents land (one per
/// invocation, dimension `FunctionName`, metrics named like its counters).
pub const PROCESSOR_NAMESPACE: &str = processor::counts::METRICS_NAMESPACE;

/// One alarm's definition, independent of the SDK.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmSpec {
    /// The suffix of the name: `<function_name>-<what>`.
    pub what: &'static str,
    pub description: String,
    pub namespace: &'static str,
    pub metric_name: &'static str,
    pub dimension: (&'static str, String),
    /// `Sum` or `Maximum`.
    pub statistic: &'static str,
    pub period_seconds: u32,
    pub evaluation_periods: u32,
    pub threshold: f64,
    /// `GreaterThanOrEqualToThreshold`, `GreaterThanThreshold` or `LessThanThreshold`.
    pub comparison: &'static str,
    /// `notBreaching` or `breaching`.
    pub treat_missing_data: &'static str,
}

/// The alarms of `env`, in a fixed order.
pub fn alarm_specs(env: &Environment) -> Vec<AlarmSpec> {
    let a = &env.alarms;
    let function = env.lambda.function_name.clone();
    let period = a.period_minutes * 60;
    let on_function =
        |what, description: String, metric, statistic, threshold, comparison| AlarmSpec {
            what,
            description,
            namespace: "AWS/Lambda",
            metric_name: metric,
            dimension: ("FunctionName", function.clone()),
            statistic,
            period_seconds: period,
            evaluation_periods: a.evaluation_periods,
            threshold,
            comparison,
            treat_missing_data: "notBreaching",
        };
    let duration_ms =
        f64::from(env.lambda.timeout_seconds) * 1000.0 * f64::from(a.duration_percent_of_timeout)
            / 100.0;
    vec![
        on_function(
            "errors",
            format!(
                "{function}: at least {} failed invocation(s) in {} minute(s) (alarms.errors_threshold)",
                a.errors_threshold, a.period_minutes
            ),
            "Errors",
            "Sum",
            f64::from(a.errors_threshold),
            "GreaterThanOrEqualToThreshold",
        ),
        on_function(
            "throttles",
            format!(
                "{function}: at least {} throttled invocation(s) in {} minute(s) (alarms.throttles_threshold)",
                a.throttles_threshold, a.period_minutes
            ),
            "Throttles",
            "Sum",
            f64::from(a.throttles_threshold),
            "GreaterThanOrEqualToThreshold",
        ),
        on_function(
            "duration",
            format!(
                "{function}: an invocation ran {}% of its {} s timeout (alarms.duration_percent_of_timeout)",
                a.duration_percent_of_timeout, env.lambda.timeout_seconds
            ),
            "Duration",
            "Maximum",
            duration_ms,
            "GreaterThanOrEqualToThreshold",
        ),
        AlarmSpec {
            what: "failure-queue",
            description: format!(
                "{}: batches whose invocations kept failing wait there (replay them)",
                env.failure_queue_name()
            ),
            namespace: "AWS/SQS",
            metric_name: "ApproximateNumberOfMessagesVisible",
            dimension: ("QueueName", env.failure_queue_name()),
            statistic: "Maximum",
            period_seconds: period,
            evaluation_periods: a.evaluation_periods,
            threshold: 0.0,
            comparison: "GreaterThanThreshold",
            treat_missing_data: "notBreaching",
        },
        AlarmSpec {
            what: "dead-lettered",
            description: format!(
                "{function}: records were dead-lettered (index {})",
                env.indices.dead_letters
            ),
            namespace: PROCESSOR_NAMESPACE,
            metric_name: "dead_lettered",
            dimension: ("FunctionName", function.clone()),
            statistic: "Sum",
            period_seconds: period,
            evaluation_periods: a.evaluation_periods,
            threshold: 0.0,
            comparison: "GreaterThanThreshold",
            treat_missing_data: "notBreaching",
        },
        AlarmSpec {
            what: "silence",
            description: format!(
                "{function}: no log event read for {} hour(s) (alarms.silence_hours)",
                a.silence_hours
            ),
            namespace: PROCESSOR_NAMESPACE,
            metric_name: "log_events",
            dimension: ("FunctionName", function.clone()),
            statistic: "Sum",
            period_seconds: a.silence_hours * 3600,
            evaluation_periods: 1,
            threshold: 1.0,
            comparison: "LessThanThreshold",
            treat_missing_data: "breaching",
        },
    ]
}

pub struct MetricAlarm {
    meta: Meta,
    ctx: Arc<Context>,
    spec: AlarmSpec,
    arn: String,
}

/// Tags as a sorted JSON object.
fn tags_object(tags: &[Tag]) -> Value {
    Value::Object(
        tags.iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_string(),
                    Value::String(t.value().unwrap_or_default().to_string()),
                )
            })
            .collect::<BTreeMap<_, _>>()
            .into_iter()
            .collect::<Map<_, _>>(),
    )
}

impl MetricAlarm {
    pub fn new(ctx: Arc<Context>, spec: AlarmSpec) -> Self {
        let name = ctx.env.alarm_name(spec.what);
        let arn = ctx.env.alarm_arn(&name);
        let topic = ctx.env.alarm_topic_arn();
        let desired = json!({
            "alarm_description": spec.description,
            "namespace": spec.namespace,
            "metric_name": spec.metric_name,
            "dimensions": {spec.dimension.0: spec.dimension.1},
            "statistic": spec.statistic,
            "period": spec.period_seconds,
            "evaluation_periods": spec.evaluation_periods,
            "threshold": spec.threshold,
            "comparison_operator": spec.comparison,
            "treat_missing_data": spec.treat_missing_data,
            "actions_enabled": true,
            "alarm_actions": [topic],
            "ok_actions": [topic],
            "insufficient_data_actions": [],
            "tags": super::tags_value(&ctx.env.resource_tags()),
        });
        MetricAlarm {
            meta: Meta::new(KIND, name, desired).arn(&arn),
            ctx,
            spec,
            arn,
        }
    }

    fn what(&self) -> String {
        format!("CloudWatch alarm `{}`", self.meta.name)
    }

    /// Sends the whole desired configuration (with tags, which only a
    /// creation takes).
    async fn put(&self) -> anyhow::Result<()> {
        let aws = &self.ctx.aws;
        let spec = &self.spec;
        let topic = self.ctx.env.alarm_topic_arn();
        let tags = self
            .ctx
            .env
            .resource_tags()
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        let request = aws
            .cloudwatch
            .put_metric_alarm()
            .alarm_name(&self.meta.name)
            .alarm_description(&spec.description)
            .namespace(spec.namespace)
            .metric_name(spec.metric_name)
            .dimensions(
                Dimension::builder()
                    .name(spec.dimension.0)
                    .value(&spec.dimension.1)
                    .build(),
            )
            .statistic(Statistic::from(spec.statistic))
            .period(spec.period_seconds as i32)
            .evaluation_periods(spec.evaluation_periods as i32)
            .threshold(spec.threshold)
            .comparison_operator(ComparisonOperator::from(spec.comparison))
            .treat_missing_data(spec.treat_missing_data)
            .actions_enabled(true)
            .alarm_actions(&topic)
            .ok_actions(&topic)
            .set_insufficient_data_actions(Some(Vec::new()))
            .set_tags(Some(tags))
            .send();
        aws.write(
            "cloudwatch:PutMetricAlarm",
            &self.meta.name,
            &self.what(),
            request,
        )
        .await?;
        Ok(())
    }
}

impl Crud for MetricAlarm {
    fn meta(&self) -> &Meta {
        &self.meta
    }

    async fn read(&self) -> anyhow::Result<Option<Observed>> {
        let cw = &self.ctx.aws.cloudwatch;
        let found = cw
            .describe_alarms()
            .alarm_names(&self.meta.name)
            .alarm_types(AlarmType::MetricAlarm)
            .send()
            .await
            .map_err(|e| sdk_error("cloudwatch:DescribeAlarms", &self.what(), e))?;
        let Some(alarm) = found
            .metric_alarms()
            .iter()
            .find(|a| a.alarm_name() == Some(self.meta.name.as_str()))
        else {
            return Ok(None);
        };
        let tags = cw
            .list_tags_for_resource()
            .resource_arn(alarm.alarm_arn().unwrap_or(&self.arn))
            .send()
            .await
            .map_err(|e| sdk_error("cloudwatch:ListTagsForResource", &self.what(), e))?;
        let tags = tags_object(tags.tags());
        let dimensions: Map<String, Value> = alarm
            .dimensions()
            .iter()
            .map(|d| {
                (
                    d.name().unwrap_or_default().to_string(),
                    Value::String(d.value().unwrap_or_default().to_string()),
                )
            })
            .collect();
        Ok(Some(Observed {
            owned: is_managed(&tags),
            state: json!({
                "alarm_description": alarm.alarm_description(),
                "namespace": alarm.namespace(),
                "metric_name": alarm.metric_name(),
                "dimensions": dimensions,
                "statistic": alarm.statistic().map(Statistic::as_str),
                "period": alarm.period(),
                "evaluation_periods": alarm.evaluation_periods(),
                "threshold": alarm.threshold(),
                "comparison_operator": alarm.comparison_operator().map(ComparisonOperator::as_str),
                "treat_missing_data": alarm.treat_missing_data(),
                "actions_enabled": alarm.actions_enabled(),
                "alarm_actions": alarm.alarm_actions(),
                "ok_actions": alarm.ok_actions(),
                "insufficient_data_actions": alarm.insufficient_data_actions(),
                "tags": tags,
            }),
            version: Value::Null,
        }))
    }

    async fn create(&self) -> anyhow::Result<()> {
        self.put().await
    }

    async fn update(&self, observed: &Observed) -> anyhow::Result<()> {
        let without_tags = |v: &Value| {
            let mut v = v.clone();
            if let Some(o) = v.as_object_mut() {
                o.remove("tags");
            }
            v
        };
        if without_tags(&observed.state) != without_tags(&self.meta.desired) {
            self.put().await?;
        }
        let aws = &self.ctx.aws;
        let (set, remove) = tag_changes(&observed.state["tags"], &self.ctx.env.resource_tags());
        if !set.is_empty() {
            let request = aws
                .cloudwatch
                .tag_resource()
                .resource_arn(&self.arn)
                .set_tags(Some(
                    set.into_iter()
                        .map(|(k, v)| Tag::builder().key(k).value(v).build())
                        .collect(),
                ))
                .send();
            aws.write(
                "cloudwatch:TagResource",
                &self.meta.name,
                &self.what(),
                request,
            )
            .await?;
        }
        if !remove.is_empty() {
            let request = aws
                .cloudwatch
                .untag_resource()
                .resource_arn(&self.arn)
                .set_tag_keys(Some(remove))
                .send();
            aws.write(
                "cloudwatch:UntagResource",
                &self.meta.name,
                &self.what(),
                request,
            )
            .await?;
        }
        Ok(())
    }

    async fn delete(&self, _observed: &Observed) -> anyhow::Result<()> {
        let aws = &self.ctx.aws;
        let request = aws
            .cloudwatch
            .delete_alarms()
            .alarm_names(&self.meta.name)
            .send();
        aws.write(
            "cloudwatch:DeleteAlarms",
            &self.meta.name,
            &self.what(),
            request,
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alarms_follow_the_environment() {
        let mut env = Environment::load(&crate::project_root(), "local").unwrap();
        env.lambda.timeout_seconds = 120;
        env.alarms.duration_percent_of_timeout = 90;
        env.alarms.silence_hours = 6;
        let specs = alarm_specs(&env);
        let names: Vec<&str> = specs.iter().map(|s| s.what).collect();
        assert_eq!(
            names,
            [
                "errors",
                "throttles",
                "duration",
                "failure-queue",
                "dead-lettered",
                "silence"
            ]
        );
        let duration = &specs[2];
        assert_eq!(duration.threshold, 108_000.0);
        assert_eq!(duration.statistic, "Maximum");
        let queue = &specs[3];
        assert_eq!(
            queue.dimension,
            ("QueueName", "ironman-usage-processor-failures".to_string())
        );
        let silence = &specs[5];
        assert_eq!(silence.namespace, PROCESSOR_NAMESPACE);
        assert_eq!(silence.metric_name, "log_events");
        assert_eq!(silence.period_seconds, 6 * 3600);
        assert_eq!(silence.treat_missing_data, "breaching");
        assert_eq!(silence.comparison, "LessThanThreshold");
        assert_eq!(specs[4].metric_name, "dead_lettered");
        // The processor's own metrics are ones it publishes.
        for spec in specs.iter().filter(|s| s.namespace == PROCESSOR_NAMESPACE) {
            assert!(
                processor::counts::METRICS.contains(&spec.metric_name),
                "{} is not among the processor's EMF metrics",
                spec.metric_name
            );
            assert_eq!(spec.dimension.0, "FunctionName");
        }
        assert_eq!(env.alarm_name("errors"), "ironman-usage-processor-errors");
    }
}
