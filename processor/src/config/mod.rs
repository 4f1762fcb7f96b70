//! The declarative pipeline rules (`infra/pipeline.yaml`) and their compiled,
//! ready-to-match form (with `keytable`, the record's keys, and `matchers`,
//! the noise rules' user-agent and user matchers); and the index names.
//! A leaf of the crate: the stages above use it, it uses none of them.

mod keytable;
pub mod matchers;

use keytable::KeyTable;
use matchers::{AgentMatcher, UserPattern};
use memchr::memmem::Finder;
use serde::Deserialize;
use std::path::Path;

/// The rules shipped with the processor; the Lambda uses these.
pub const DEFAULT_PIPELINE_YAML: &str = include_str!("../../../infra/pipeline.yaml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{origin}: {source}")]
    Yaml {
        origin: String,
        source: serde_yaml_ng::Error,
    },
    #[error("{origin}: field `{field}`: {message}")]
    Invalid {
        origin: String,
        field: &'static str,
        message: String,
    },
}

/// `infra/pipeline.yaml`, as written by an operator.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    pub fields: FieldNames,
    pub request_types: Vec<String>,
    pub module_types: Vec<String>,
    pub noise: NoiseConfig,
    pub enrichment: EnrichmentConfig,
}

/// JSON keys of the application's log object.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldNames {
    #[serde(rename = "type")]
    pub kind: String,
    pub timestamp: String,
    pub session_id: String,
    pub user: String,
    pub method: String,
    pub url: String,
    pub status: String,
    pub response_time: String,
    pub user_agent: String,
    pub module: String,
    pub site_token: String,
    pub asset_types: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoiseConfig {
    #[serde(default)]
    pub methods: Vec<String>,
    #[serde(default)]
    pub paths: Vec<String>,
    #[serde(default)]
    pub path_prefixes: Vec<String>,
    #[serde(default)]
    pub path_suffixes: Vec<String>,
    #[serde(default)]
    pub user_agents: Vec<String>,
    #[serde(default)]
    pub users: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrichmentConfig {
    pub site_token: SiteTokenConfig,
    pub asset_types: AssetTypesConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteTokenConfig {
    pub path_marker: String,
    pub query_parameter: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetTypesConfig {
    pub query_parameter: String,
    pub separator: String,
}

impl PipelineConfig {
    pub fn from_yaml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let config: PipelineConfig =
            serde_yaml_ng::from_str(text).map_err(|source| ConfigError::Yaml {
                origin: origin.to_string(),
                source,
            })?;
        config.validate(origin)?;
        Ok(config)
    }

    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_yaml(&text, &path.display().to_string())
    }

    pub fn builtin() -> Self {
        Self::from_yaml(DEFAULT_PIPELINE_YAML, "infra/pipeline.yaml (built in)")
            .expect("the built-in pipeline.yaml is checked by the tests")
    }

    fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |field: &'static str, message: &str| ConfigError::Invalid {
            origin: origin.to_string(),
            field,
            message: message.to_string(),
        };
        if self.request_types.iter().all(|t| t.trim().is_empty()) {
            return Err(invalid(
                "request_types",
                "expected at least one non-empty type",
            ));
        }
        if self.enrichment.asset_types.separator.is_empty() {
            return Err(invalid(
                "enrichment.asset_types.separator",
                "expected a non-empty string such as \",\"",
            ));
        }
        if self.enrichment.site_token.path_marker.is_empty() {
            return Err(invalid(
                "enrichment.site_token.path_marker",
                "expected a non-empty string such as \"/sites/\"",
            ));
        }
        let f = &self.fields;
        for (field, value) in [
            ("fields.type", &f.kind),
            ("fields.timestamp", &f.timestamp),
            ("fields.session_id", &f.session_id),
            ("fields.user", &f.user),
            ("fields.url", &f.url),
        ] {
            if value.is_empty() {
                return Err(invalid(field, "expected a JSON key, got an empty string"));
            }
        }
        Ok(())
    }
}

impl FieldNames {
    /// Each configured key with the field it names, in the order in which
    /// a key named twice keeps its first field.
    pub fn keys(&self) -> [(&str, Field); 12] {
        [
            (&self.kind, Field::Kind),
            (&self.timestamp, Field::Timestamp),
            (&self.session_id, Field::SessionId),
            (&self.user, Field::User),
            (&self.method, Field::Method),
            (&self.url, Field::Url),
            (&self.status, Field::Status),
            (&self.response_time, Field::ResponseTime),
            (&self.user_agent, Field::UserAgent),
            (&self.module, Field::Module),
            (&self.site_token, Field::SiteToken),
            (&self.asset_types, Field::AssetTypes),
        ]
    }
}

/// Which of the record's keys a JSON key is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Kind,
    Timestamp,
    SessionId,
    User,
    Method,
    Url,
    Status,
    ResponseTime,
    UserAgent,
    Module,
    SiteToken,
    AssetTypes,
}

/// The rules compiled for matching: built once at cold start, then shared.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The field each configured key names.
    keys: KeyTable,
    pub request_types: Vec<String>,
    pub module_types: Vec<String>,
    pub noise_methods: Vec<String>,
    pub noise_paths: Vec<String>,
    pub noise_path_prefixes: Vec<String>,
    /// Lowercased, compared against the path's ASCII-lowercased tail.
    pub noise_path_suffixes: Vec<String>,
    /// The last bytes of `noise_path_suffixes`: a path whose ASCII-lowercased
    /// last byte is not among them ends with none of them.
    noise_suffix_last: [bool; 256],
    pub noise_user_agents: Option<AgentMatcher>,
    /// Lowercased glob patterns.
    pub noise_users: Vec<String>,
    /// `noise_users`, compiled.
    pub noise_user_patterns: Vec<UserPattern>,
    pub site_path_marker: String,
    /// `site_path_marker`'s searcher, built once.
    pub site_path_finder: Finder<'static>,
    pub site_query_parameter: String,
    pub asset_query_parameter: String,
    pub asset_separator: String,
}

impl Rules {
    pub fn compile(config: &PipelineConfig) -> Self {
        let keys = KeyTable::new(config.fields.keys());
        let lower = |v: &[String]| -> Vec<String> {
            v.iter()
                .map(|s| s.trim().to_lowercase())
                .filter(|s| !s.is_empty())
                .collect()
        };
        let noise = &config.noise;
        let user_agents: Vec<&str> = noise
            .user_agents
            .iter()
            .map(|s| s.as_str())
            .filter(|s| !s.is_empty())
            .collect();
        let noise_path_suffixes = lower(&noise.path_suffixes);
        let mut noise_suffix_last = [false; 256];
        for suffix in &noise_path_suffixes {
            if let Some(&last) = suffix.as_bytes().last() {
                noise_suffix_last[usize::from(last.to_ascii_lowercase())] = true;
            }
        }
        Rules {
            keys,
            request_types: lower(&config.request_types),
            module_types: lower(&config.module_types),
            noise_methods: noise
                .methods
                .iter()
                .map(|m| m.trim().to_uppercase())
                .collect(),
            noise_paths: noise.paths.clone(),
            noise_path_prefixes: noise.path_prefixes.clone(),
            noise_path_suffixes,
            noise_suffix_last,
            noise_user_agents: AgentMatcher::new(&user_agents),
            noise_users: lower(&noise.users),
            noise_user_patterns: lower(&noise.users)
                .iter()
                .map(|p| UserPattern::new(p))
                .collect(),
            site_path_marker: config.enrichment.site_token.path_marker.clone(),
            site_path_finder: Finder::new(config.enrichment.site_token.path_marker.as_bytes())
                .into_owned(),
            site_query_parameter: config.enrichment.site_token.query_parameter.clone(),
            asset_query_parameter: config.enrichment.asset_types.query_parameter.clone(),
            asset_separator: config.enrichment.asset_types.separator.clone(),
        }
    }

    pub fn builtin() -> Self {
        Self::compile(&PipelineConfig::builtin())
    }

    /// Whether `path` may end with one of `noise_path_suffixes` (compared
    /// ASCII-case-insensitively): false when its last byte rules them out.
    #[inline]
    pub fn may_have_noise_suffix(&self, path: &[u8]) -> bool {
        path.last()
            .is_some_and(|&b| self.noise_suffix_last[usize::from(b.to_ascii_lowercase())])
    }

    /// Which field a JSON key is (runs for every key of every line).
    #[inline(always)]
    pub fn field_of(&self, key: &str) -> Option<Field> {
        self.keys.find(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_rules_parse_and_name_the_spec_keys() {
        let rules = Rules::builtin();
        assert_eq!(rules.field_of("sessionId"), Some(Field::SessionId));
        assert_eq!(rules.field_of("responseTimeMs"), Some(Field::ResponseTime));
        assert_eq!(rules.field_of("sessionid"), None);
        assert_eq!(rules.request_types, vec!["request", "page-beacon"]);
        assert_eq!(rules.noise_users, vec!["*@ironman.internal"]);
    }

    #[test]
    fn keys_are_found_as_a_search_in_order_finds_them() {
        let mut config = PipelineConfig::builtin();
        // Two fields on one key: the first in order wins.
        config.fields.module = "url".into();
        config.fields.site_token = String::new();
        let rules = Rules::compile(&config);
        let in_order = |key: &str| {
            config
                .fields
                .keys()
                .into_iter()
                .find(|(name, _)| !name.is_empty() && *name == key)
                .map(|(_, field)| field)
        };
        for key in [
            "type",
            "timestamp",
            "sessionId",
            "user",
            "method",
            "url",
            "status",
            "responseTimeMs",
            "userAgent",
            "module",
            "siteToken",
            "assetTypes",
            "",
            "u",
            "ur",
            "urll",
            "level",
            "requestId",
            "ip",
            "sessionid",
            "Type",
            "typE",
            "assetTypesX",
        ] {
            assert_eq!(rules.field_of(key), in_order(key), "{key:?}");
        }
        assert_eq!(rules.field_of("url"), Some(Field::Url));
        assert_eq!(rules.field_of("module"), None);
        assert_eq!(Rules::builtin().field_of("module"), Some(Field::Module));
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_field() {
        let text = DEFAULT_PIPELINE_YAML.replace("request_types:", "request_typez:");
        let err = PipelineConfig::from_yaml(&text, "p.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("p.yaml:"), "{err}");
        assert!(err.contains("request_typez"), "{err}");

        let text = DEFAULT_PIPELINE_YAML.replace("separator: \",\"", "separator: \"\"");
        let err = PipelineConfig::from_yaml(&text, "p.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("enrichment.asset_types.separator"), "{err}");
    }
}

/// Where documents go. Environments set these (`infra/environments/*.yaml`),
/// the Lambda reads them from its environment variables.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Indices {
    /// Daily request-event indices are this prefix plus `YYYY.MM.DD`.
    pub request_events_prefix: String,
    pub session_summaries: String,
    pub dead_letters: String,
}

impl Default for Indices {
    fn default() -> Self {
        Indices {
            request_events_prefix: "request-events-".into(),
            session_summaries: "session-summaries".into(),
            dead_letters: "usage-dead-letters".into(),
        }
    }
}

impl Indices {
    /// The pattern that matches every daily request-event index.
    pub fn request_events_pattern(&self) -> String {
        format!("{}*", self.request_events_prefix)
    }

    /// The processor's own bookkeeping of sessions (their tallies and
    /// states, `session_state`): the summaries' index name and `-state`.
    pub fn session_state(&self) -> String {
        format!("{}-state", self.session_summaries)
    }
}
