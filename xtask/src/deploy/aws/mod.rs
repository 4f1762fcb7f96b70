//! The AWS resources of the pipeline, in apply order: the failure queue,
//! the processor's role and its inline policy, the function's log group,
//! the function, its asynchronous-invoke settings, and per application log
//! group the invoke permission and the subscription filter; then the alarm
//! topic and the CloudWatch alarms that publish to it.
//!
//! One file per resource, grouped by service: `sqs.rs`, `iam/` (`role.rs`,
//! `role_policy.rs`, and `policies.rs` for the documents), `logs/`
//! (`log_group.rs`, `subscription_filter.rs`), `lambda/` (`function.rs`,
//! `event_invoke_config.rs`, `permission.rs`), `sns.rs`, `cloudwatch.rs`.
//! This module has what they share: the [`Context`] they read, the code
//! package, tags and retries, and [`resources`], their list in apply order.
//!
//! Each reads its state through the SDK into the same normalised JSON its
//! desired state is declared in, so that the engine ([`crate::engine`])
//! plans and applies them like the OpenSearch resources.

pub mod cloudwatch;
pub mod iam;
pub mod lambda;
pub mod logs;
pub mod sns;
pub mod sqs;

use crate::aws::AwsClients;
use crate::engine::Resource;
use crate::env::{Environment, MANAGED_BY_TAG};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The processor's deployment package.
#[derive(Debug, Clone)]
pub struct LambdaCode {
    pub zip: Arc<Vec<u8>>,
    /// Base64 SHA-256 of the zip, as Lambda reports `CodeSha256`.
    pub code_sha256: String,
    /// Where it came from, for messages.
    pub origin: String,
}

impl LambdaCode {
    pub fn from_zip(zip: Vec<u8>, origin: impl Into<String>) -> Self {
        use base64::Engine as _;
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(&zip);
        LambdaCode {
            code_sha256: base64::engine::general_purpose::STANDARD.encode(digest),
            zip: Arc::new(zip),
            origin: origin.into(),
        }
    }
}

/// What every AWS resource reads: the clients, the environment and the code.
pub struct Context {
    pub aws: AwsClients,
    pub env: Environment,
    pub code: LambdaCode,
}

/// The AWS resources of `ctx.env`, in apply order.
pub fn resources(ctx: &Arc<Context>) -> Vec<Box<dyn Resource>> {
    let env = &ctx.env;
    let mut out: Vec<Box<dyn Resource>> = vec![
        Box::new(sqs::FailureQueue::new(ctx.clone())),
        Box::new(iam::Role::new(ctx.clone())),
        Box::new(iam::RolePolicy::new(ctx.clone())),
        Box::new(logs::LogGroup::new(
            ctx.clone(),
            env.lambda_log_group(),
            Some(env.lambda.log_retention_days),
        )),
    ];
    if env.logs.create_log_groups {
        for group in &env.logs.log_groups {
            out.push(Box::new(logs::LogGroup::new(
                ctx.clone(),
                group.clone(),
                None,
            )));
        }
    }
    out.push(Box::new(lambda::Function::new(ctx.clone())));
    out.push(Box::new(lambda::EventInvokeConfig::new(ctx.clone())));
    for group in &env.logs.log_groups {
        out.push(Box::new(lambda::LogsPermission::new(
            ctx.clone(),
            group.clone(),
        )));
        out.push(Box::new(logs::SubscriptionFilter::new(
            ctx.clone(),
            group.clone(),
        )));
    }
    // Pipeline health last: the topic before the alarms that publish to it
    // (destroy deletes the alarms first).
    out.push(Box::new(sns::AlarmTopic::new(ctx.clone())));
    for spec in cloudwatch::alarm_specs(env) {
        out.push(Box::new(cloudwatch::MetricAlarm::new(ctx.clone(), spec)));
    }
    out
}

/// What xtask made for log groups the environment no longer lists: their
/// subscription filters and invoke permissions, to be deleted.
pub async fn orphans(ctx: &Arc<Context>) -> anyhow::Result<Vec<Box<dyn Resource>>> {
    let mut out: Vec<Box<dyn Resource>> = Vec::new();
    for group in lambda::permitted_log_groups(ctx).await? {
        if !ctx.env.logs.log_groups.contains(&group) {
            out.push(Box::new(logs::SubscriptionFilter::orphan(
                ctx.clone(),
                group.clone(),
            )));
            out.push(Box::new(lambda::LogsPermission::orphan(ctx.clone(), group)));
        }
    }
    Ok(out)
}

/// Tags as a JSON object, sorted.
pub fn tags_value<'a>(tags: impl IntoIterator<Item = (&'a String, &'a String)>) -> Value {
    Value::Object(
        tags.into_iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect::<BTreeMap<_, _>>()
            .into_iter()
            .collect::<Map<_, _>>(),
    )
}

/// Whether read tags carry the managed-by tag.
pub fn is_managed(tags: &Value) -> bool {
    tags[MANAGED_BY_TAG.0] == MANAGED_BY_TAG.1
}

/// The tag changes that turn `actual` into `desired`: (to set, to remove).
pub fn tag_changes(
    actual: &Value,
    desired: &BTreeMap<String, String>,
) -> (HashMap<String, String>, Vec<String>) {
    let actual: BTreeMap<String, String> = actual
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let set = desired
        .iter()
        .filter(|(k, v)| actual.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let remove = actual
        .keys()
        .filter(|k| !desired.contains_key(*k))
        .cloned()
        .collect();
    (set, remove)
}

/// Retries `call` while `transient` says the error is one of AWS's
/// eventual-consistency answers (a role Lambda cannot assume yet, a
/// function still updating), for up to `patience`, telling the operator.
pub async fn retry_transient<T, E, F, Fut>(
    what: &str,
    patience: Duration,
    transient: impl Fn(&E) -> bool,
    mut call: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let started = Instant::now();
    let mut delay = Duration::from_millis(500);
    let mut told = false;
    loop {
        match call().await {
            Err(err) if transient(&err) && started.elapsed() < patience => {
                if !told {
                    eprintln!("  … {what}: not ready yet, retrying for up to {patience:?}");
                    told = true;
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
}
