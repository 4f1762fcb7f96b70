//! One Lambda invocation: decode, process, write, count. The Lambda's
//! `bootstrap` and `cargo xtask replay` both call [`Handler::handle`].

use crate::batch::process_read_batch;
use crate::config::{Indices, PipelineConfig, Rules};
use crate::counts::Counts;
use crate::decode::{DecodeError, awslogs_data, inflate, parse_batch_reading, recycle};
use crate::opensearch::{Auth, OpenSearch, OpenSearchError};
use crate::sink::{DeadLetter, Sink, SinkError};
use sha2::{Digest, Sha256};
use std::time::Instant;

/// Why an invocation failed (so that Lambda retries it).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct HandlerError(#[from] pub SinkError);

pub struct Handler {
    rules: Rules,
    sink: Sink,
}

impl Handler {
    pub fn new(rules: Rules, sink: Sink) -> Self {
        Handler { rules, sink }
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    pub fn sink(&self) -> &Sink {
        &self.sink
    }

    /// Processes one Lambda event (`{"awslogs":{"data":…}}`). An event that
    /// cannot be decoded is dead-lettered, not failed: retrying it could
    /// never succeed.
    pub async fn handle(
        &self,
        event: &serde_json::Value,
        deadline: Instant,
    ) -> Result<Counts, HandlerError> {
        let mut counts = Counts {
            batches: 1,
            ..Counts::default()
        };
        let data = match awslogs_data(event) {
            Ok(data) => data,
            Err(error) => {
                let raw = event.to_string();
                self.dead_letter_envelope(&raw, &error, deadline, &mut counts)
                    .await?;
                return Ok(counts);
            }
        };
        let json = match inflate(data) {
            Ok(json) => json,
            Err(error) => {
                self.dead_letter_envelope(data, &error, deadline, &mut counts)
                    .await?;
                return Ok(counts);
            }
        };
        let (batch, lines) = match parse_batch_reading(&json, &self.rules) {
            Ok(read) => read,
            Err(error) => {
                self.dead_letter_envelope(data, &error, deadline, &mut counts)
                    .await?;
                return Ok(counts);
            }
        };
        let processed = process_read_batch(&batch, lines, &self.rules);
        counts = processed.counts.clone();
        if batch.is_control_message() {
            return Ok(counts);
        }
        self.sink.write(&processed, deadline, &mut counts).await?;
        drop(processed);
        drop(batch);
        recycle(json);
        Ok(counts)
    }

    async fn dead_letter_envelope(
        &self,
        raw: &str,
        error: &DecodeError,
        deadline: Instant,
        counts: &mut Counts,
    ) -> Result<(), SinkError> {
        let id = format!("envelope:{}", hex::encode(Sha256::digest(raw.as_bytes())));
        let letter = DeadLetter {
            id,
            reason: error.reason().to_string(),
            error: error.to_string(),
            raw: raw.to_string(),
            log_group: None,
            log_stream: None,
            log_event_id: None,
            log_event_timestamp: None,
            target_index: None,
        };
        self.sink.dead_letter(vec![letter], deadline, counts).await
    }
}

/// The Lambda's settings, read from its environment at cold start.
#[derive(Debug, Clone)]
pub struct LambdaSettings {
    pub endpoint: String,
    pub auth: Auth,
    pub indices: Indices,
    pub pipeline: PipelineConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {name}: {message}")]
    Invalid { name: &'static str, message: String },
    #[error(transparent)]
    OpenSearch(#[from] OpenSearchError),
    #[error("environment variable PIPELINE_CONFIG_YAML: {0}")]
    Pipeline(#[from] crate::config::ConfigError),
}

impl LambdaSettings {
    /// `OPENSEARCH_ENDPOINT` (required); `OPENSEARCH_AUTH` = `sigv4`
    /// (default for https) or `none`; `AWS_REGION`; the index names
    /// `REQUEST_EVENTS_PREFIX`, `SESSION_SUMMARIES_INDEX`,
    /// `DEAD_LETTERS_INDEX`; `PIPELINE_CONFIG_YAML` to override the built-in
    /// `infra/pipeline.yaml`.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let endpoint =
            var("OPENSEARCH_ENDPOINT").ok_or(SettingsError::Missing("OPENSEARCH_ENDPOINT"))?;
        let default_auth = if endpoint.starts_with("https://") {
            "sigv4"
        } else {
            "none"
        };
        let auth = match var("OPENSEARCH_AUTH").as_deref().unwrap_or(default_auth) {
            "none" => Auth::None,
            "sigv4" => {
                let region = var("AWS_REGION")
                    .or_else(|| var("AWS_DEFAULT_REGION"))
                    .ok_or(SettingsError::Missing("AWS_REGION"))?;
                Auth::sigv4_from_env(&region)?
            }
            other => {
                return Err(SettingsError::Invalid {
                    name: "OPENSEARCH_AUTH",
                    message: format!("expected `sigv4` or `none`, got `{other}`"),
                });
            }
        };
        let defaults = Indices::default();
        let indices = Indices {
            request_events_prefix: var("REQUEST_EVENTS_PREFIX")
                .unwrap_or(defaults.request_events_prefix),
            session_summaries: var("SESSION_SUMMARIES_INDEX").unwrap_or(defaults.session_summaries),
            dead_letters: var("DEAD_LETTERS_INDEX").unwrap_or(defaults.dead_letters),
        };
        let pipeline = match var("PIPELINE_CONFIG_YAML") {
            Some(yaml) => PipelineConfig::from_yaml(&yaml, "PIPELINE_CONFIG_YAML")?,
            None => PipelineConfig::builtin(),
        };
        Ok(LambdaSettings {
            endpoint,
            auth,
            indices,
            pipeline,
        })
    }

    pub fn handler(&self) -> Result<Handler, SettingsError> {
        let client = OpenSearch::new(&self.endpoint, self.auth.clone())?;
        Ok(Handler::new(
            Rules::compile(&self.pipeline),
            Sink::new(client, self.indices.clone()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<LambdaSettings, SettingsError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        LambdaSettings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn settings_from_environment() {
        let s = settings(&[
            ("OPENSEARCH_ENDPOINT", "http://127.0.0.1:9200"),
            ("SESSION_SUMMARIES_INDEX", "x-sessions"),
        ])
        .unwrap();
        assert!(matches!(s.auth, Auth::None));
        assert_eq!(s.indices.session_summaries, "x-sessions");
        assert_eq!(s.indices.request_events_prefix, "request-events-");
        assert!(s.handler().is_ok());

        let err = settings(&[]).unwrap_err().to_string();
        assert!(err.contains("OPENSEARCH_ENDPOINT"), "{err}");
        let err = settings(&[
            ("OPENSEARCH_ENDPOINT", "https://x"),
            ("AWS_REGION", "eu-west-1"),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("AWS_ACCESS_KEY_ID"), "{err}");
        let err = settings(&[
            ("OPENSEARCH_ENDPOINT", "http://x"),
            ("OPENSEARCH_AUTH", "basic"),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("OPENSEARCH_AUTH"), "{err}");
        let err = settings(&[("OPENSEARCH_ENDPOINT", "http://10.0.0.1:9200")])
            .unwrap()
            .handler()
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("plain http"), "{err}");
        let err = settings(&[
            ("OPENSEARCH_ENDPOINT", "http://127.0.0.1"),
            ("PIPELINE_CONFIG_YAML", "fields: 3"),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("PIPELINE_CONFIG_YAML"), "{err}");
    }
}
