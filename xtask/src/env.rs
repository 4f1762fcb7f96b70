//! Environments: `infra/environments/<name>.yaml`, loaded and checked before
//! anything talks to an API.
//!
//! An environment says where OpenSearch is and how to sign for it, which
//! index names the pipeline writes, the index settings and retention, and
//! (growing with each resource xtask manages) the AWS account the pipeline
//! lives in. Every value is checked on load: a wrong or missing one fails with
//! the file, the field path and what was expected.

use anyhow::Context as _;
use processor::config::Indices;
use processor::opensearch::{Auth, OpenSearch, OpenSearchError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The marker for values an operator must fill in before deploying
/// (staging and prod ship with it until their real accounts are known).
pub const PLACEHOLDER: &str = "REPLACE_ME";

/// The environment variable that points the test environment at another
/// OpenSearch (default: the `local` environment's endpoint).
pub const TEST_OPENSEARCH_URL_VAR: &str = "IRONMAN_OPENSEARCH_URL";

/// Points xtask at another folder of environment files.
pub const ENVIRONMENTS_DIR_VAR: &str = "IRONMAN_ENVIRONMENTS_DIR";

/// One deployment target, as written in `infra/environments/<name>.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// Must equal the file name without `.yaml`.
    pub name: String,
    pub opensearch: OpenSearchConfig,
    /// Index names; the Lambda gets the same values as environment variables.
    pub indices: Indices,
    pub index_settings: IndexSettings,
    pub retention: Retention,
    pub aws: AwsConfig,
    /// The application's log groups and the subscription filter on them.
    pub logs: LogsConfig,
    /// The processor function, its role, log group and failure queue.
    pub lambda: LambdaConfig,
    /// Tags on every AWS resource xtask creates (the `managed-by` tag is
    /// added to them and cannot be set here).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// OpenSearch Dashboards (saved objects); absent: deploy skips them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboards: Option<DashboardsConfig>,
    /// The alarm topic's subscribers and the CloudWatch alarms'
    /// thresholds; absent: the defaults, and a topic nobody subscribes to.
    #[serde(default)]
    pub alarms: AlarmsConfig,
    /// The file this environment was read from (for messages).
    #[serde(skip)]
    pub source: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenSearchConfig {
    /// The Amazon OpenSearch Service domain's name: the processor's IAM
    /// policy grants access to this domain's indices, and without an
    /// explicit `endpoint` the endpoint is looked up from it.
    pub domain: String,
    /// `https://…` (or plain `http://` on a loopback address only). Absent:
    /// found through the OpenSearch Service API (`DescribeDomain`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Whether the domain uses fine-grained access control; then deploy
    /// also manages a security role for the processor's indices and maps
    /// the Lambda's IAM role to it.
    #[serde(default)]
    pub fine_grained_access_control: bool,
    pub auth: AuthKind,
    /// The domain's AWS region; required with `auth: sigv4`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Whether the Index State Management plugin must be there (default
    /// `required`, as on Amazon OpenSearch Service).
    #[serde(default)]
    pub ism: IsmMode,
}

/// What deploy does about the retention (ISM) policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IsmMode {
    /// Deploy the policy; fail when the plugin is missing.
    #[default]
    Required,
    /// Deploy the policy when the plugin is installed; otherwise say so and
    /// leave retention to the operator (development clusters only).
    IfInstalled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthKind {
    /// No authentication: a loopback development cluster.
    None,
    /// AWS SigV4 (service `es`) with the credentials of the process environment.
    Sigv4,
}

/// Settings of every index the templates create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexSettings {
    pub number_of_shards: u32,
    pub number_of_replicas: u32,
    /// An OpenSearch time value such as `1s`, `30s` or `-1`.
    pub refresh_interval: String,
}

/// Lifetime of the daily request-event indices (the ISM policy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Days after index creation when it becomes read-only and is merged.
    pub warm_after_days: u32,
    /// Days after index creation when it is deleted.
    pub delete_after_days: u32,
}

/// The AWS side of the environment. Today only identifies the account and
/// region; the Lambda, its role, log groups and subscription filter join
/// here as xtask learns to manage them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsConfig {
    /// 12 digits.
    pub account_id: String,
    pub region: String,
    /// Overrides the AWS API endpoint (the local emulator); absent for AWS itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
}

/// The application's log groups, streamed to the processor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsConfig {
    /// Log groups the IronMan application writes its request logs to.
    pub log_groups: Vec<String>,
    pub subscription_filter: SubscriptionFilterConfig,
    /// Create the log groups when they are missing (the local emulator,
    /// where no application creates them). Elsewhere a missing log group is
    /// an error: the application owns it.
    #[serde(default)]
    pub create_log_groups: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionFilterConfig {
    pub name: String,
    /// A CloudWatch Logs filter pattern; `""` sends every event.
    #[serde(default)]
    pub pattern: String,
}

/// The processor function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LambdaConfig {
    /// Also names its role (`<name>-role`), its failure queue
    /// (`<name>-failures`) and its log group (`/aws/lambda/<name>`).
    pub function_name: String,
    /// 128 to 10240.
    pub memory_mb: u32,
    /// 1 to 900.
    pub timeout_seconds: u32,
    pub architecture: Architecture,
    /// Reserved concurrent executions; absent: the account's unreserved pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_concurrency: Option<u32>,
    /// Asynchronous invocation retries, 0 to 2; then the batch goes to the
    /// failure queue.
    pub retry_attempts: u32,
    /// Retention of the function's own log group, in days (a value
    /// CloudWatch Logs accepts: 1, 3, 5, 7, 14, 30, 60, 90, …).
    pub log_retention_days: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    #[serde(rename = "x86_64")]
    X86_64,
    Arm64,
}

impl Architecture {
    /// The name Lambda uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64",
            Architecture::Arm64 => "arm64",
        }
    }
}

/// Retention periods CloudWatch Logs accepts.
pub const LOG_RETENTION_DAYS: [u32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// The tag every resource xtask creates carries; destroy removes only
/// what carries it.
pub const MANAGED_BY_TAG: (&str, &str) = ("managed-by", "ironman-usage-xtask");

/// OpenSearch Dashboards of the environment. Requests are signed like
/// OpenSearch's (`opensearch.auth`, `opensearch.region`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardsConfig {
    /// `https://…/_dashboards` (or plain `http://` on a loopback address only).
    pub endpoint: String,
}

/// Pipeline health: the SNS topic `<function_name>-alarms`, who it mails,
/// and the CloudWatch alarms that publish to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmsConfig {
    /// Email addresses subscribed to the topic (each must confirm the
    /// subscription from the mail SNS sends).
    #[serde(default)]
    pub emails: Vec<String>,
    /// The period of the errors, throttles, duration, failure-queue and
    /// dead-letter alarms, in minutes (1 to 1440).
    #[serde(default = "AlarmsConfig::default_period_minutes")]
    pub period_minutes: u32,
    /// Consecutive periods over the threshold before those alarms fire.
    #[serde(default = "AlarmsConfig::one")]
    pub evaluation_periods: u32,
    /// Function errors (Sum) in a period that fire `<function_name>-errors`.
    #[serde(default = "AlarmsConfig::one")]
    pub errors_threshold: u32,
    /// Throttled invocations (Sum) in a period that fire `<function_name>-throttles`.
    #[serde(default = "AlarmsConfig::one")]
    pub throttles_threshold: u32,
    /// `<function_name>-duration` fires when the longest invocation of a
    /// period reaches this share of `lambda.timeout_seconds` (1 to 100).
    #[serde(default = "AlarmsConfig::default_duration_percent")]
    pub duration_percent_of_timeout: u32,
    /// `<function_name>-silence` fires when the processor read no log event
    /// for this many hours (1 to 24).
    #[serde(default = "AlarmsConfig::default_silence_hours")]
    pub silence_hours: u32,
}

impl AlarmsConfig {
    fn default_period_minutes() -> u32 {
        5
    }
    fn one() -> u32 {
        1
    }
    fn default_duration_percent() -> u32 {
        90
    }
    fn default_silence_hours() -> u32 {
        6
    }
}

impl Default for AlarmsConfig {
    fn default() -> Self {
        AlarmsConfig {
            emails: Vec::new(),
            period_minutes: Self::default_period_minutes(),
            evaluation_periods: Self::one(),
            errors_threshold: Self::one(),
            throttles_threshold: Self::one(),
            duration_percent_of_timeout: Self::default_duration_percent(),
            silence_hours: Self::default_silence_hours(),
        }
    }
}

/// A value that failed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Dotted path of the field in the YAML file (`opensearch.endpoint`).
    pub field: String,
    /// What is expected, and what was found.
    pub message: String,
}

impl Environment {
    /// The folder of environment files: `infra/environments/`, or
    /// [`ENVIRONMENTS_DIR_VAR`] when set (tests deploy copies of `local`
    /// under names of their own).
    pub fn directory(root: &Path) -> PathBuf {
        match std::env::var_os(ENVIRONMENTS_DIR_VAR) {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => root.join("infra").join("environments"),
        }
    }

    /// The file that defines environment `name`.
    pub fn path(root: &Path, name: &str) -> PathBuf {
        Self::directory(root).join(format!("{name}.yaml"))
    }

    /// Reads and checks `infra/environments/<name>.yaml`.
    pub fn load(root: &Path, name: &str) -> anyhow::Result<Environment> {
        let path = Self::path(root, name);
        let shown = display_path(root, &path);
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        {
            anyhow::bail!(
                "environment name `{name}`: expected lowercase letters, digits, `-` or `_` (the name of a file in infra/environments/)"
            );
        }
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let known = Self::available(root).unwrap_or_default().join(", ");
                anyhow::bail!("no environment `{name}`: {shown} does not exist (known: {known})");
            }
            Err(err) => return Err(err).with_context(|| format!("cannot read {shown}")),
        };
        Self::from_yaml(&text, &shown, name)
    }

    /// The names of the environments in `infra/environments/`, sorted.
    pub fn available(root: &Path) -> anyhow::Result<Vec<String>> {
        let dir = Self::directory(root);
        let mut names = Vec::new();
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?
        {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "yaml")
                && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
            {
                names.push(stem.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    /// Parses and checks an environment; `origin` names the file in messages
    /// and `expected_name` is the name the file must declare.
    pub fn from_yaml(text: &str, origin: &str, expected_name: &str) -> anyhow::Result<Environment> {
        let mut env: Environment = serde_yaml_ng::from_str(text)
            .map_err(|err| anyhow::anyhow!("{origin}: {}", describe_yaml_error(&err)))?;
        env.source = PathBuf::from(origin);
        if env.name != expected_name {
            anyhow::bail!(
                "{origin}: field `name`: expected `{expected_name}` (the file name), got `{}`",
                env.name
            );
        }
        if let Some(invalid) = env.validate().into_iter().next() {
            anyhow::bail!("{origin}: field `{}`: {}", invalid.field, invalid.message);
        }
        Ok(env)
    }

    /// A copy of `local` whose indices carry `prefix`, so that tests running
    /// in parallel share one OpenSearch without touching each other's
    /// indices, templates or policies. [`TEST_OPENSEARCH_URL_VAR`] overrides
    /// the endpoint.
    pub fn local_for_test(root: &Path, prefix: &str) -> anyhow::Result<Environment> {
        let mut env = Self::load(root, "local")?;
        env.indices = Indices {
            request_events_prefix: format!("{prefix}request-events-"),
            session_summaries: format!("{prefix}session-summaries"),
            dead_letters: format!("{prefix}usage-dead-letters"),
        };
        if let Ok(url) = std::env::var(TEST_OPENSEARCH_URL_VAR)
            && !url.is_empty()
        {
            env.opensearch.endpoint = Some(url);
        }
        // AWS names too, so tests share one moto_server.
        env.lambda.function_name = format!("{prefix}{}", env.lambda.function_name);
        env.logs.log_groups = env
            .logs
            .log_groups
            .iter()
            .map(|group| format!("/{}{}", prefix.trim_end_matches('-'), group))
            .collect();
        if let Some(invalid) = env.validate().into_iter().next() {
            anyhow::bail!(
                "test environment with prefix `{prefix}`: field `{}`: {}",
                invalid.field,
                invalid.message
            );
        }
        Ok(env)
    }

    pub fn indices(&self) -> &Indices {
        &self.indices
    }

    /// A copy whose index names all start with `prefix` (the benchmarks'
    /// own indices, beside the environment's data); fails when a name
    /// would not be a valid index name.
    pub fn with_index_prefix(&self, prefix: &str) -> anyhow::Result<Environment> {
        let mut env = self.clone();
        let i = &self.indices;
        env.indices = Indices {
            request_events_prefix: format!("{prefix}{}", i.request_events_prefix),
            session_summaries: format!("{prefix}{}", i.session_summaries),
            dead_letters: format!("{prefix}{}", i.dead_letters),
        };
        if let Some(invalid) = env
            .validate()
            .into_iter()
            .find(|invalid| invalid.field.starts_with("indices."))
        {
            anyhow::bail!(
                "`{}` with index prefix `{prefix}`: field `{}`: {}",
                self.name,
                invalid.field,
                invalid.message
            );
        }
        Ok(env)
    }

    /// A client for the environment's OpenSearch, signing with SigV4 when
    /// the environment says so (credentials from the process environment).
    pub fn opensearch_client(&self) -> anyhow::Result<OpenSearch> {
        self.ensure_filled_in("opensearch")?;
        let auth = match self.opensearch.auth {
            AuthKind::None => Auth::None,
            AuthKind::Sigv4 => {
                let region = self.opensearch.region.as_deref().ok_or_else(|| {
                    anyhow::anyhow!(
                        "{}: field `opensearch.region`: required with `auth: sigv4`",
                        self.source.display()
                    )
                })?;
                Auth::sigv4_from_env(region).with_context(|| {
                    format!(
                        "signing requests to the `{}` OpenSearch domain ({})",
                        self.name, self.opensearch.domain
                    )
                })?
            }
        };
        OpenSearch::new(self.opensearch_endpoint()?, auth)
            .with_context(|| format!("{}: field `opensearch.endpoint`", self.source.display()))
    }

    /// The OpenSearch endpoint: given in the file, or found by
    /// [`crate::aws::resolve_opensearch_endpoint`] before this is called.
    pub fn opensearch_endpoint(&self) -> anyhow::Result<&str> {
        self.opensearch.endpoint.as_deref().ok_or_else(|| {
            anyhow::anyhow!(
                "{}: the OpenSearch endpoint of domain `{}` is not known yet: set `opensearch.endpoint`, or let xtask look it up through the OpenSearch Service API first",
                self.source.display(),
                self.opensearch.domain
            )
        })
    }

    /// The processor's execution role.
    pub fn role_name(&self) -> String {
        format!("{}-role", self.lambda.function_name)
    }

    /// The queue that keeps batches whose invocations kept failing.
    pub fn failure_queue_name(&self) -> String {
        format!("{}-failures", self.lambda.function_name)
    }

    /// The function's own log group.
    pub fn lambda_log_group(&self) -> String {
        format!("/aws/lambda/{}", self.lambda.function_name)
    }

    /// `arn:aws:<service>:<region>:<account>:<resource>` in this environment.
    pub fn arn(&self, service: &str, resource: &str) -> String {
        let region = if service == "iam" {
            ""
        } else {
            &self.aws.region
        };
        format!(
            "arn:aws:{service}:{region}:{}:{resource}",
            self.aws.account_id
        )
    }

    pub fn role_arn(&self) -> String {
        self.arn("iam", &format!("role/{}", self.role_name()))
    }

    pub fn function_arn(&self) -> String {
        self.arn("lambda", &format!("function:{}", self.lambda.function_name))
    }

    pub fn failure_queue_arn(&self) -> String {
        self.arn("sqs", &self.failure_queue_name())
    }

    pub fn log_group_arn(&self, group: &str) -> String {
        self.arn("logs", &format!("log-group:{group}"))
    }

    /// The SNS topic the alarms publish to.
    pub fn alarm_topic_name(&self) -> String {
        format!("{}-alarms", self.lambda.function_name)
    }

    pub fn alarm_topic_arn(&self) -> String {
        self.arn("sns", &self.alarm_topic_name())
    }

    /// `<function_name>-<what>`.
    pub fn alarm_name(&self, what: &str) -> String {
        format!("{}-{what}", self.lambda.function_name)
    }

    pub fn alarm_arn(&self, name: &str) -> String {
        self.arn("cloudwatch", &format!("alarm:{name}"))
    }

    /// The domain's ARN, in the domain's own region.
    pub fn domain_arn(&self) -> String {
        let region = self
            .opensearch
            .region
            .as_deref()
            .unwrap_or(&self.aws.region);
        format!(
            "arn:aws:es:{region}:{}:domain/{}",
            self.aws.account_id, self.opensearch.domain
        )
    }

    /// The environment's tags plus the managed-by tag.
    pub fn resource_tags(&self) -> BTreeMap<String, String> {
        let mut tags = self.tags.clone();
        tags.insert(MANAGED_BY_TAG.0.into(), MANAGED_BY_TAG.1.into());
        tags.insert("environment".into(), self.name.clone());
        tags
    }

    /// Fields still holding the [`PLACEHOLDER`] marker, as dotted paths.
    pub fn placeholders(&self) -> Vec<String> {
        let value = serde_json::to_value(self).expect("an environment serializes");
        let mut found = Vec::new();
        collect_placeholders(&value, String::new(), &mut found);
        found
    }

    /// Fails, naming every field, when a field under `section` (`""` for
    /// all) is still a placeholder: such an environment cannot be deployed.
    pub fn ensure_filled_in(&self, section: &str) -> anyhow::Result<()> {
        let pending: Vec<String> = self
            .placeholders()
            .into_iter()
            .filter(|field| {
                section.is_empty() || field == section || field.starts_with(&format!("{section}."))
            })
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        anyhow::bail!(
            "{}: {} still {} the placeholder `{PLACEHOLDER}`: fill in the real value{} before deploying to `{}`",
            self.source.display(),
            pending
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", "),
            if pending.len() == 1 { "holds" } else { "hold" },
            if pending.len() == 1 { "" } else { "s" },
            self.name
        )
    }

    /// Every problem with the values, in file order. Placeholders are
    /// accepted here (see [`Environment::ensure_filled_in`]).
    pub fn validate(&self) -> Vec<Invalid> {
        let mut p = Problems::default();
        opensearch_problems(&self.opensearch, &mut p);
        indices_problems(&self.indices, &mut p);
        index_settings_problems(&self.index_settings, &mut p);
        retention_problems(&self.retention, &mut p);
        aws_problems(&self.aws, &mut p);
        logs_problems(&self.logs, &mut p);
        lambda_problems(&self.lambda, &mut p);
        tags_problems(&self.tags, &mut p);
        dashboards_problems(self.dashboards.as_ref(), &mut p);
        alarms_problems(&self.alarms, &mut p);
        p.0
    }
}

/// The problems found so far, in file order.
#[derive(Default)]
struct Problems(Vec<Invalid>);

impl Problems {
    fn bad(&mut self, field: &str, message: String) {
        self.0.push(Invalid {
            field: field.to_string(),
            message,
        });
    }
}

/// `opensearch`: the domain, its endpoint and how requests are signed.
fn opensearch_problems(os: &OpenSearchConfig, p: &mut Problems) {
    if !is_placeholder(&os.domain) && !is_domain_name(&os.domain) {
        p.bad(
            "opensearch.domain",
            format!(
                "expected an OpenSearch Service domain name (3 to 28 characters: lowercase letters, digits and `-`, starting with a letter), got `{}`",
                os.domain
            ),
        );
    }
    if let Some(endpoint) = &os.endpoint
        && !is_placeholder(endpoint)
        && let Err(message) = check_endpoint(endpoint)
    {
        p.bad("opensearch.endpoint", message);
    }
    match (&os.auth, &os.region) {
        (AuthKind::Sigv4, None) => p.bad(
            "opensearch.region",
            "required with `auth: sigv4`: the domain's AWS region, such as `eu-west-1`".into(),
        ),
        (_, Some(region)) if !is_placeholder(region) && !is_region(region) => p.bad(
            "opensearch.region",
            format!("expected an AWS region such as `eu-west-1`, got `{region}`"),
        ),
        _ => {}
    }
}

/// `indices`: valid names that do not overlap.
fn indices_problems(indices: &Indices, p: &mut Problems) {
    for (field, name) in [
        (
            "indices.request_events_prefix",
            &indices.request_events_prefix,
        ),
        ("indices.session_summaries", &indices.session_summaries),
        ("indices.dead_letters", &indices.dead_letters),
    ] {
        if let Err(message) = check_index_name(name) {
            p.bad(field, message);
        }
    }
    let prefix = &indices.request_events_prefix;
    for (field, name) in [
        ("indices.session_summaries", &indices.session_summaries),
        ("indices.dead_letters", &indices.dead_letters),
    ] {
        if !prefix.is_empty() && name.starts_with(prefix.as_str()) {
            p.bad(
                field,
                format!(
                    "`{name}` starts with indices.request_events_prefix `{prefix}`, so the daily request-event template and retention policy would apply to it; choose a name outside `{prefix}*`"
                ),
            );
        }
    }
    if indices.session_summaries == indices.dead_letters {
        p.bad(
            "indices.dead_letters",
            format!(
                "must differ from indices.session_summaries (both are `{}`)",
                indices.dead_letters
            ),
        );
    }
}

/// `index_settings`.
fn index_settings_problems(settings: &IndexSettings, p: &mut Problems) {
    if settings.number_of_shards == 0 {
        p.bad(
            "index_settings.number_of_shards",
            "expected at least 1, got 0".into(),
        );
    }
    if settings.number_of_shards > 1024 {
        p.bad(
            "index_settings.number_of_shards",
            format!("expected at most 1024, got {}", settings.number_of_shards),
        );
    }
    if !is_time_value(&settings.refresh_interval) {
        p.bad(
            "index_settings.refresh_interval",
            format!(
                "expected an OpenSearch time value such as `1s`, `500ms`, `1m` or `-1`, got `{}`",
                settings.refresh_interval
            ),
        );
    }
}

/// `retention`: the ISM policy's ages.
fn retention_problems(retention: &Retention, p: &mut Problems) {
    if retention.warm_after_days == 0 {
        p.bad(
            "retention.warm_after_days",
            "expected at least 1 day, got 0".into(),
        );
    }
    if retention.delete_after_days <= retention.warm_after_days {
        p.bad(
            "retention.delete_after_days",
            format!(
                "expected more than retention.warm_after_days ({}), got {}",
                retention.warm_after_days, retention.delete_after_days
            ),
        );
    }
}

/// `aws`: the account, region and API endpoint.
fn aws_problems(aws: &AwsConfig, p: &mut Problems) {
    let is_account_id = |id: &str| id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit());
    if !is_placeholder(&aws.account_id) && !is_account_id(&aws.account_id) {
        p.bad(
            "aws.account_id",
            format!(
                "expected 12 digits (quoted, so YAML keeps leading zeros), got `{}`",
                aws.account_id
            ),
        );
    }
    if !is_placeholder(&aws.region) && !is_region(&aws.region) {
        p.bad(
            "aws.region",
            format!(
                "expected an AWS region such as `eu-west-1`, got `{}`",
                aws.region
            ),
        );
    }
    if let Some(url) = &aws.endpoint_url
        && let Err(message) = check_endpoint(url)
    {
        p.bad("aws.endpoint_url", message);
    }
}

/// `logs`: the log groups and their subscription filter.
fn logs_problems(logs: &LogsConfig, p: &mut Problems) {
    if logs.log_groups.is_empty() {
        p.bad(
            "logs.log_groups",
            "expected at least one log group (the IronMan application's request logs)".into(),
        );
    }
    for (i, group) in logs.log_groups.iter().enumerate() {
        if !is_placeholder(group) && !is_log_group_name(group) {
            p.bad(
                &format!("logs.log_groups[{i}]"),
                format!("expected a log group name (1 to 512 of `a-zA-Z0-9_-/.#`), got `{group}`"),
            );
        }
        if logs.log_groups[..i].contains(group) {
            p.bad(
                &format!("logs.log_groups[{i}]"),
                format!("`{group}` is listed twice"),
            );
        }
    }
    let filter = &logs.subscription_filter;
    if filter.name.is_empty() || filter.name.len() > 512 || filter.name.contains([':', '*']) {
        p.bad(
            "logs.subscription_filter.name",
            format!(
                "expected 1 to 512 characters without `:` or `*`, got `{}`",
                filter.name
            ),
        );
    }
    if filter.pattern.len() > 1024 {
        p.bad(
            "logs.subscription_filter.pattern",
            format!(
                "expected at most 1024 characters, got {}",
                filter.pattern.len()
            ),
        );
    }
}

/// `lambda`: the processor function.
fn lambda_problems(lambda: &LambdaConfig, p: &mut Problems) {
    // The role name (`<name>-role`) is limited to 64 characters.
    if !is_function_name(&lambda.function_name) || lambda.function_name.len() > 59 {
        p.bad(
            "lambda.function_name",
            format!(
                "expected 1 to 59 of `a-zA-Z0-9-_` (the role `<name>-role` must fit IAM's 64), got `{}`",
                lambda.function_name
            ),
        );
    }
    if !(128..=10240).contains(&lambda.memory_mb) {
        p.bad(
            "lambda.memory_mb",
            format!("expected 128 to 10240 (MB), got {}", lambda.memory_mb),
        );
    }
    if !(1..=900).contains(&lambda.timeout_seconds) {
        p.bad(
            "lambda.timeout_seconds",
            format!("expected 1 to 900, got {}", lambda.timeout_seconds),
        );
    }
    if lambda.retry_attempts > 2 {
        p.bad(
            "lambda.retry_attempts",
            format!(
                "expected 0, 1 or 2 (Lambda's asynchronous retries), got {}",
                lambda.retry_attempts
            ),
        );
    }
    if lambda.reserved_concurrency == Some(0) {
        p.bad(
            "lambda.reserved_concurrency",
            "0 would stop every invocation: expected at least 1, or leave it out for the unreserved pool".into(),
        );
    }
    if !LOG_RETENTION_DAYS.contains(&lambda.log_retention_days) {
        p.bad(
            "lambda.log_retention_days",
            format!(
                "expected one of {}, got {}",
                LOG_RETENTION_DAYS
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                lambda.log_retention_days
            ),
        );
    }
}

/// `tags`: none of xtask's own, and within AWS's limits.
fn tags_problems(tags: &BTreeMap<String, String>, p: &mut Problems) {
    for (key, value) in tags {
        if key == MANAGED_BY_TAG.0 || key == "environment" {
            p.bad(
                &format!("tags.{key}"),
                "is set by xtask itself (it marks what xtask owns)".into(),
            );
        } else if key.is_empty() || key.len() > 128 || key.starts_with("aws:") {
            p.bad(
                &format!("tags.{key}"),
                "expected a tag key of 1 to 128 characters, not starting with `aws:`".into(),
            );
        } else if value.len() > 256 {
            p.bad(
                &format!("tags.{key}"),
                format!("expected at most 256 characters, got {}", value.len()),
            );
        }
    }
}

/// `dashboards`, when present: its endpoint.
fn dashboards_problems(dashboards: Option<&DashboardsConfig>, p: &mut Problems) {
    if let Some(dashboards) = dashboards
        && !is_placeholder(&dashboards.endpoint)
        && let Err(message) = check_endpoint(&dashboards.endpoint)
    {
        p.bad("dashboards.endpoint", message);
    }
}

/// `alarms`: the subscribers and thresholds.
fn alarms_problems(alarms: &AlarmsConfig, p: &mut Problems) {
    for (i, email) in alarms.emails.iter().enumerate() {
        if !is_placeholder(email) && !is_email(email) {
            p.bad(
                &format!("alarms.emails[{i}]"),
                format!("expected an email address such as `oncall@example.com`, got `{email}`"),
            );
        }
        if alarms.emails[..i].contains(email) {
            p.bad(
                &format!("alarms.emails[{i}]"),
                format!("`{email}` is listed twice"),
            );
        }
    }
    if !(1..=1440).contains(&alarms.period_minutes) {
        p.bad(
            "alarms.period_minutes",
            format!(
                "expected 1 to 1440 (minutes), got {}",
                alarms.period_minutes
            ),
        );
    }
    if alarms.evaluation_periods == 0 {
        p.bad(
            "alarms.evaluation_periods",
            "expected at least 1, got 0".into(),
        );
    } else if alarms
        .period_minutes
        .saturating_mul(alarms.evaluation_periods)
        > 1440
    {
        p.bad(
            "alarms.evaluation_periods",
            format!(
                "alarms.period_minutes × alarms.evaluation_periods must not exceed one day (1440 minutes, CloudWatch's limit), got {} × {}",
                alarms.period_minutes, alarms.evaluation_periods
            ),
        );
    }
    for (field, value) in [
        ("alarms.errors_threshold", alarms.errors_threshold),
        ("alarms.throttles_threshold", alarms.throttles_threshold),
    ] {
        if value == 0 {
            p.bad(
                field,
                "expected at least 1 (0 would keep the alarm firing), got 0".into(),
            );
        }
    }
    if !(1..=100).contains(&alarms.duration_percent_of_timeout) {
        p.bad(
            "alarms.duration_percent_of_timeout",
            format!(
                "expected 1 to 100 (percent of lambda.timeout_seconds), got {}",
                alarms.duration_percent_of_timeout
            ),
        );
    }
    if !(1..=24).contains(&alarms.silence_hours) {
        p.bad(
            "alarms.silence_hours",
            format!("expected 1 to 24 (hours), got {}", alarms.silence_hours),
        );
    }
}

/// `path` relative to `root` when it is inside it (for messages).
pub fn display_path(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// serde_yaml_ng says `opensearch.auth: unknown variant ...`; say which
/// part is the field.
fn describe_yaml_error(err: &serde_yaml_ng::Error) -> String {
    let text = err.to_string();
    // Messages with a location read "<path>: <message> at line L column C".
    match text.split_once(": ") {
        Some((path, rest)) if !path.contains(' ') && err.location().is_some() && path != "." => {
            format!("field `{path}`: {rest}")
        }
        _ => text,
    }
}

fn is_placeholder(value: &str) -> bool {
    value.contains(PLACEHOLDER)
}

fn collect_placeholders(value: &serde_json::Value, path: String, found: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) if is_placeholder(s) => found.push(path),
        serde_json::Value::Object(map) => {
            for (key, child) in map {
                let child_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                collect_placeholders(child, child_path, found);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                collect_placeholders(child, format!("{path}[{i}]"), found);
            }
        }
        _ => {}
    }
}

/// The same rule the OpenSearch client enforces: https, or plain http on a
/// loopback address only.
fn check_endpoint(url: &str) -> Result<(), String> {
    match OpenSearch::new(url, Auth::None) {
        Ok(_) => Ok(()),
        Err(OpenSearchError::InsecureEndpoint(_)) => Err(format!(
            "`{url}` uses plain http on a non-loopback host: expected an https:// URL (plain http only for 127.0.0.1, ::1 or localhost)"
        )),
        Err(_) => Err(format!(
            "expected an http(s) URL such as `https://search-name.eu-west-1.es.amazonaws.com`, got `{url}`"
        )),
    }
}

/// OpenSearch index names: lowercase, no `\ / * ? " < > | , #` or spaces,
/// not starting with `_ - +`, at most 255 bytes.
fn check_index_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("expected a non-empty index name".into());
    }
    if name != name.to_lowercase() {
        return Err(format!(
            "`{name}`: OpenSearch index names must be lowercase"
        ));
    }
    if let Some(c) = name.chars().find(|c| {
        matches!(
            c,
            '\\' | '/' | '*' | '?' | '"' | '<' | '>' | '|' | ',' | '#' | ':' | ' '
        ) || c.is_whitespace()
    }) {
        return Err(format!(
            "`{name}`: `{c}` is not allowed in OpenSearch index names"
        ));
    }
    if name.starts_with(['_', '-', '+', '.']) {
        return Err(format!(
            "`{name}`: OpenSearch index names cannot start with `_`, `-`, `+` or `.`"
        ));
    }
    // The daily suffix `YYYY.MM.DD` and template/policy suffixes add up to 20 bytes.
    if name.len() > 200 {
        return Err(format!(
            "`{name}`: expected at most 200 bytes, got {}",
            name.len()
        ));
    }
    Ok(())
}

fn is_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

fn is_domain_name(name: &str) -> bool {
    (3..=28).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn is_log_group_name(name: &str) -> bool {
    (1..=512).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'/' | b'.' | b'#'))
}

/// `local@domain.tld`: one `@`, no spaces, a dot in the domain.
fn is_email(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && email.len() <= 254
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}

fn is_function_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn is_time_value(value: &str) -> bool {
    if value == "-1" {
        return true;
    }
    let digits = value.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0
        && matches!(
            &value[digits..],
            "nanos" | "micros" | "ms" | "s" | "m" | "h" | "d"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        crate::project_root()
    }

    fn local_text() -> String {
        std::fs::read_to_string(Environment::path(&root(), "local")).unwrap()
    }

    fn load_err(text: &str) -> String {
        Environment::from_yaml(text, "infra/environments/local.yaml", "local")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn shipped_environments_load() {
        for name in ["local", "staging", "prod"] {
            let env = Environment::load(&root(), name).unwrap_or_else(|e| panic!("{e:#}"));
            assert_eq!(env.name, name);
        }
        let local = Environment::load(&root(), "local").unwrap();
        assert_eq!(
            local.opensearch.endpoint.as_deref(),
            Some("http://127.0.0.1:9200")
        );
        assert_eq!(local.opensearch.auth, AuthKind::None);
        assert_eq!(local.indices(), &Indices::default());
        assert_eq!(local.index_settings.number_of_shards, 1);
        assert_eq!(local.index_settings.number_of_replicas, 0);
        assert_eq!(
            local.aws.endpoint_url.as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert!(
            local.placeholders().is_empty(),
            "{:?}",
            local.placeholders()
        );
        assert!(local.opensearch_client().is_ok());

        for name in ["staging", "prod"] {
            let env = Environment::load(&root(), name).unwrap();
            assert_eq!(env.opensearch.auth, AuthKind::Sigv4);
            // Looked up from the domain at deploy time.
            assert_eq!(env.opensearch.endpoint, None);
            assert!(env.opensearch.fine_grained_access_control);
            assert_eq!(env.index_settings.number_of_replicas, 1);
        }
    }

    #[test]
    fn placeholders_block_deploys_and_name_each_field() {
        let prod = Environment::load(&root(), "prod").unwrap();
        let pending = prod.placeholders();
        assert_eq!(pending, vec!["aws.account_id".to_string()]);
        let err = prod.ensure_filled_in("").unwrap_err().to_string();
        assert!(err.contains("prod.yaml"), "{err}");
        assert!(err.contains("`aws.account_id`"), "{err}");
        assert!(err.contains(PLACEHOLDER), "{err}");
        // Without an endpoint and before the look-up, the client says why.
        let err = prod.opensearch_client().unwrap_err().to_string();
        assert!(err.contains("ironman-usage-prod"), "{err}");
    }

    #[test]
    fn unknown_environment_lists_the_known_ones() {
        let err = Environment::load(&root(), "qa").unwrap_err().to_string();
        assert!(err.contains("infra/environments/qa.yaml"), "{err}");
        assert!(err.contains("local, prod, staging"), "{err}");
        let err = Environment::load(&root(), "../x").unwrap_err().to_string();
        assert!(err.contains("expected lowercase letters"), "{err}");
    }

    #[test]
    fn missing_and_unknown_fields_name_file_and_field() {
        let text = local_text().replace("  domain: ironman-usage-local\n", "");
        let err = load_err(&text);
        assert!(err.starts_with("infra/environments/local.yaml: "), "{err}");
        assert!(err.contains("opensearch"), "{err}");
        assert!(err.contains("missing field `domain`"), "{err}");

        let text = local_text().replace("  memory_mb: 256\n", "");
        let err = load_err(&text);
        assert!(err.contains("lambda"), "{err}");
        assert!(err.contains("missing field `memory_mb`"), "{err}");

        let text = local_text().replace("number_of_shards:", "number_of_shard:");
        let err = load_err(&text);
        assert!(err.contains("field `index_settings`"), "{err}");
        assert!(err.contains("unknown field `number_of_shard`"), "{err}");
        assert!(err.contains("line "), "{err}");

        let text = local_text().replace("auth: none", "auth: basic");
        let err = load_err(&text);
        assert!(err.contains("field `opensearch.auth`"), "{err}");
        assert!(err.contains("unknown variant `basic`"), "{err}");

        let text = local_text().replace("number_of_replicas: 0", "number_of_replicas: -1");
        let err = load_err(&text);
        assert!(
            err.contains("field `index_settings.number_of_replicas`"),
            "{err}"
        );

        let text =
            local_text().replace("session_summaries: session-summaries", "session_summary: x");
        let err = load_err(&text);
        assert!(err.contains("field `indices`"), "{err}");
        assert!(err.contains("session_summary"), "{err}");
    }

    #[test]
    fn bad_values_name_field_and_expectation() {
        let cases = [
            (
                "endpoint: http://127.0.0.1:9200",
                "endpoint: http://search.example.com",
                "opensearch.endpoint",
                "https://",
            ),
            (
                "endpoint: http://127.0.0.1:9200",
                "endpoint: search:9200",
                "opensearch.endpoint",
                "http(s) URL",
            ),
            (
                "auth: none",
                "auth: sigv4",
                "opensearch.region",
                "required with `auth: sigv4`",
            ),
            (
                "request_events_prefix: request-events-",
                "request_events_prefix: Request-Events-",
                "indices.request_events_prefix",
                "lowercase",
            ),
            (
                "request_events_prefix: request-events-",
                "request_events_prefix: \"\"",
                "indices.request_events_prefix",
                "non-empty",
            ),
            (
                "dead_letters: usage-dead-letters",
                "dead_letters: \"usage dead\"",
                "indices.dead_letters",
                "not allowed",
            ),
            (
                "session_summaries: session-summaries",
                "session_summaries: request-events-sessions",
                "indices.session_summaries",
                "starts with indices.request_events_prefix",
            ),
            (
                "number_of_shards: 1",
                "number_of_shards: 0",
                "index_settings.number_of_shards",
                "at least 1",
            ),
            (
                "refresh_interval: 1s",
                "refresh_interval: soon",
                "index_settings.refresh_interval",
                "time value",
            ),
            (
                "delete_after_days: 30",
                "delete_after_days: 7",
                "retention.delete_after_days",
                "more than retention.warm_after_days",
            ),
            (
                "account_id: \"123456789012\"",
                "account_id: \"1234\"",
                "aws.account_id",
                "12 digits",
            ),
            (
                "region: us-east-1",
                "region: mars",
                "aws.region",
                "AWS region",
            ),
            ("name: local", "name: staging", "name", "expected `local`"),
            (
                "domain: ironman-usage-local",
                "domain: Ironman_Usage",
                "opensearch.domain",
                "domain name",
            ),
            (
                "    - /ironman/app/requests",
                "    - \"/ironman app\"",
                "logs.log_groups[0]",
                "log group name",
            ),
            (
                "function_name: ironman-usage-processor",
                "function_name: ironman.usage",
                "lambda.function_name",
                "a-zA-Z0-9-_",
            ),
            (
                "memory_mb: 256",
                "memory_mb: 64",
                "lambda.memory_mb",
                "128 to 10240",
            ),
            (
                "timeout_seconds: 120",
                "timeout_seconds: 901",
                "lambda.timeout_seconds",
                "1 to 900",
            ),
            (
                "retry_attempts: 2",
                "retry_attempts: 3",
                "lambda.retry_attempts",
                "0, 1 or 2",
            ),
            (
                "log_retention_days: 7",
                "log_retention_days: 8",
                "lambda.log_retention_days",
                "one of 1, 3, 5, 7",
            ),
            (
                "architecture: x86_64",
                "architecture: sparc",
                "lambda.architecture",
                "unknown variant",
            ),
            (
                "  owner: platform-team",
                "  managed-by: me",
                "tags.managed-by",
                "set by xtask",
            ),
            (
                "    - oncall@example.com",
                "    - oncall.example.com",
                "alarms.emails[0]",
                "email address",
            ),
            (
                "  period_minutes: 5",
                "  period_minutes: 0",
                "alarms.period_minutes",
                "1 to 1440",
            ),
            (
                "  evaluation_periods: 1",
                "  evaluation_periods: 300",
                "alarms.evaluation_periods",
                "one day",
            ),
            (
                "  errors_threshold: 1",
                "  errors_threshold: 0",
                "alarms.errors_threshold",
                "at least 1",
            ),
            (
                "  duration_percent_of_timeout: 90",
                "  duration_percent_of_timeout: 120",
                "alarms.duration_percent_of_timeout",
                "1 to 100",
            ),
            (
                "  silence_hours: 6",
                "  silence_hours: 48",
                "alarms.silence_hours",
                "1 to 24",
            ),
        ];
        let text = local_text();
        for (from, to, field, expected) in cases {
            assert!(
                text.contains(from),
                "local.yaml no longer contains `{from}`"
            );
            let err = load_err(&text.replacen(from, to, 1));
            assert!(err.starts_with("infra/environments/local.yaml: "), "{err}");
            assert!(err.contains(&format!("field `{field}`")), "{to}: {err}");
            assert!(err.contains(expected), "{to}: {err}");
        }
    }

    /// Each section's check on its own, with the exact fields and messages
    /// it reports, including problems no case of
    /// `bad_values_name_field_and_expectation` produces.
    #[test]
    fn each_section_reports_its_own_fields() {
        fn problems(check: impl FnOnce(&mut Problems)) -> Vec<(String, String)> {
            let mut p = Problems::default();
            check(&mut p);
            p.0.into_iter().map(|i| (i.field, i.message)).collect()
        }
        fn one(field: &str, message: &str) -> Vec<(String, String)> {
            vec![(field.to_string(), message.to_string())]
        }
        let local = Environment::load(&root(), "local").unwrap();
        assert_eq!(local.validate(), []);

        let mut os = local.opensearch.clone();
        os.region = Some("mars".into());
        assert_eq!(
            problems(|p| opensearch_problems(&os, p)),
            one(
                "opensearch.region",
                "expected an AWS region such as `eu-west-1`, got `mars`"
            )
        );

        let mut indices = local.indices().clone();
        indices.dead_letters = indices.session_summaries.clone();
        assert_eq!(
            problems(|p| indices_problems(&indices, p)),
            one(
                "indices.dead_letters",
                "must differ from indices.session_summaries (both are `session-summaries`)"
            )
        );

        let mut settings = local.index_settings.clone();
        settings.number_of_shards = 2000;
        assert_eq!(
            problems(|p| index_settings_problems(&settings, p)),
            one(
                "index_settings.number_of_shards",
                "expected at most 1024, got 2000"
            )
        );

        let mut retention = local.retention.clone();
        retention.warm_after_days = 0;
        assert_eq!(
            problems(|p| retention_problems(&retention, p)),
            one(
                "retention.warm_after_days",
                "expected at least 1 day, got 0"
            )
        );

        let mut aws = local.aws.clone();
        aws.endpoint_url = Some("moto:5000".into());
        assert_eq!(
            problems(|p| aws_problems(&aws, p)),
            one(
                "aws.endpoint_url",
                "expected an http(s) URL such as `https://search-name.eu-west-1.es.amazonaws.com`, got `moto:5000`"
            )
        );

        let mut logs = local.logs.clone();
        logs.log_groups.push(logs.log_groups[0].clone());
        logs.subscription_filter.name = "a:b".into();
        logs.subscription_filter.pattern = "x".repeat(1025);
        assert_eq!(
            problems(|p| logs_problems(&logs, p)),
            [
                one(
                    "logs.log_groups[1]",
                    "`/ironman/app/requests` is listed twice"
                ),
                one(
                    "logs.subscription_filter.name",
                    "expected 1 to 512 characters without `:` or `*`, got `a:b`"
                ),
                one(
                    "logs.subscription_filter.pattern",
                    "expected at most 1024 characters, got 1025"
                ),
            ]
            .concat()
        );
        logs.log_groups.clear();
        assert_eq!(
            problems(|p| logs_problems(&logs, p))[0],
            one(
                "logs.log_groups",
                "expected at least one log group (the IronMan application's request logs)"
            )[0]
        );

        let mut lambda = local.lambda.clone();
        lambda.reserved_concurrency = Some(0);
        assert_eq!(
            problems(|p| lambda_problems(&lambda, p)),
            one(
                "lambda.reserved_concurrency",
                "0 would stop every invocation: expected at least 1, or leave it out for the unreserved pool"
            )
        );

        let mut tags = local.tags.clone();
        tags.insert("aws:x".into(), "y".into());
        tags.insert("environment".into(), "prod".into());
        tags.insert("long".into(), "v".repeat(257));
        assert_eq!(
            problems(|p| tags_problems(&tags, p)),
            [
                one(
                    "tags.aws:x",
                    "expected a tag key of 1 to 128 characters, not starting with `aws:`"
                ),
                one(
                    "tags.environment",
                    "is set by xtask itself (it marks what xtask owns)"
                ),
                one("tags.long", "expected at most 256 characters, got 257"),
            ]
            .concat()
        );

        assert_eq!(problems(|p| dashboards_problems(None, p)), []);
        let dashboards = DashboardsConfig {
            endpoint: "dashboards".into(),
        };
        assert_eq!(
            problems(|p| dashboards_problems(Some(&dashboards), p)),
            one(
                "dashboards.endpoint",
                "expected an http(s) URL such as `https://search-name.eu-west-1.es.amazonaws.com`, got `dashboards`"
            )
        );

        let mut alarms = local.alarms.clone();
        alarms.evaluation_periods = 0;
        alarms.throttles_threshold = 0;
        assert_eq!(
            problems(|p| alarms_problems(&alarms, p)),
            [
                one("alarms.evaluation_periods", "expected at least 1, got 0"),
                one(
                    "alarms.throttles_threshold",
                    "expected at least 1 (0 would keep the alarm firing), got 0"
                ),
            ]
            .concat()
        );
    }

    #[test]
    fn test_environments_prefix_every_index() {
        let env = Environment::local_for_test(&root(), "t42-").unwrap();
        assert_eq!(env.indices().request_events_prefix, "t42-request-events-");
        assert_eq!(env.indices().session_summaries, "t42-session-summaries");
        assert_eq!(env.indices().dead_letters, "t42-usage-dead-letters");
        let err = Environment::local_for_test(&root(), "T42-")
            .unwrap_err()
            .to_string();
        assert!(err.contains("lowercase"), "{err}");

        let bench = env.with_index_prefix("bench-1-").unwrap();
        assert_eq!(
            bench.indices().request_events_prefix,
            "bench-1-t42-request-events-"
        );
        assert_eq!(
            bench.indices().session_summaries,
            "bench-1-t42-session-summaries"
        );
        assert_eq!(
            bench.indices().dead_letters,
            "bench-1-t42-usage-dead-letters"
        );
        let err = env.with_index_prefix("Bench-").unwrap_err().to_string();
        assert!(
            err.contains("indices.") && err.contains("lowercase"),
            "{err}"
        );
    }

    #[test]
    fn time_values_and_regions() {
        for ok in ["1s", "30s", "500ms", "1m", "-1", "2h"] {
            assert!(is_time_value(ok), "{ok}");
        }
        for bad in ["", "s", "1", "1 s", "1sec", "-2"] {
            assert!(!is_time_value(bad), "{bad}");
        }
        assert!(is_region("eu-west-1") && is_region("us-gov-west-1"));
        assert!(!is_region("eu-west") && !is_region("EU-WEST-1"));
    }

    #[test]
    fn the_alarms_section_defaults_and_names_each_field() {
        let local = Environment::load(&root(), "local").unwrap();
        assert_eq!(local.alarms.emails, ["oncall@example.com"]);
        assert_eq!(local.alarm_topic_name(), "ironman-usage-processor-alarms");
        assert_eq!(
            local.alarm_topic_arn(),
            "arn:aws:sns:us-east-1:123456789012:ironman-usage-processor-alarms"
        );
        // Without the section, or with only the addresses: the defaults.
        let start = local_text().find("\nalarms:\n").unwrap();
        let end = local_text()[start..].find("silence_hours: 6\n").unwrap() + start + 17;
        let without = format!("{}{}", &local_text()[..start], &local_text()[end..]);
        let env =
            Environment::from_yaml(&without, "infra/environments/local.yaml", "local").unwrap();
        assert_eq!(env.alarms, AlarmsConfig::default());
        let only_emails = format!("{without}\nalarms:\n  emails: [a@example.com]\n");
        let env =
            Environment::from_yaml(&only_emails, "infra/environments/local.yaml", "local").unwrap();
        assert_eq!(env.alarms.period_minutes, 5);
        assert_eq!(env.alarms.duration_percent_of_timeout, 90);
        assert_eq!(env.alarms.silence_hours, 6);
        let twice = format!("{without}\nalarms:\n  emails: [a@example.com, a@example.com]\n");
        let err = load_err(&twice);
        assert!(err.contains("field `alarms.emails[1]`"), "{err}");
        assert!(err.contains("listed twice"), "{err}");
        let unknown = format!("{without}\nalarms:\n  email: a@example.com\n");
        let err = load_err(&unknown);
        assert!(err.contains("alarms"), "{err}");
        assert!(err.contains("unknown field `email`"), "{err}");
    }

    #[test]
    fn the_dashboards_section_is_optional_and_checked() {
        let local = Environment::load(&root(), "local").unwrap();
        assert_eq!(local.dashboards, None);
        let text = format!(
            "{}\ndashboards:\n  endpoint: http://127.0.0.1:5601\n",
            local_text()
        );
        let env = Environment::from_yaml(&text, "infra/environments/local.yaml", "local").unwrap();
        assert_eq!(env.dashboards.unwrap().endpoint, "http://127.0.0.1:5601");
        let bad = text.replace("http://127.0.0.1:5601", "http://dashboards.example.com");
        let err = load_err(&bad);
        assert!(err.contains("field `dashboards.endpoint`"), "{err}");
        assert!(err.contains("https://"), "{err}");
        let err = load_err(&format!("{}\ndashboards:\n  url: x\n", local_text()));
        assert!(err.contains("dashboards"), "{err}");
        assert!(err.contains("unknown field `url`"), "{err}");
        let placeholder = text.replace(
            "http://127.0.0.1:5601",
            "https://search-x-REPLACE_ME.eu-west-1.es.amazonaws.com/_dashboards",
        );
        let env =
            Environment::from_yaml(&placeholder, "infra/environments/local.yaml", "local").unwrap();
        assert!(
            env.placeholders()
                .contains(&"dashboards.endpoint".to_string())
        );
        assert!(env.ensure_filled_in("dashboards").is_err());
    }
}
