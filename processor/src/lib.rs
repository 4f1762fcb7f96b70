//! The IronMan usage-analytics processor, laid out by stage, top-down:
//!
//! - `handler`: one invocation (the Lambda's, or `cargo xtask replay`'s)
//!   wired from end to end;
//! - `sink` and `opensearch`: the I/O edge, storing a processed batch in
//!   OpenSearch (bulk requests, retries, dead letters, session state);
//! - `output`: the bulk bodies, document ids and session-state items the
//!   sink sends, built as bytes and data;
//! - `batch`: a decoded batch to its kept events and session summaries;
//! - `decode`: the CloudWatch Logs envelope (base64, gzip, JSON) to a batch;
//! - `line`: one log line to a request event or a skip reason;
//! - `rules`: noise filtering and enrichment, configured by `config`;
//! - `config`, `counts`, `timefmt`, `jsonstr`: the rules' configuration,
//!   the counters and skip reasons, UTC time, and JSON string bytes.
//!
//! Modules only use modules listed after them (`decode` reads lines in
//! place, so it uses `line`), and nothing outside `sink`, `opensearch` and
//! `handler` touches the network or the async runtime: `layering_tests`
//! checks both.

// The edge: I/O and the async runtime.
pub mod handler;

pub mod sink;

pub mod opensearch;

// The pure stages, top-down.
pub mod output;

pub mod batch;

pub mod decode;

pub mod line;

pub mod rules;

// Below the stages: configuration and utilities.
pub mod config;
pub use config::{Indices, PipelineConfig, Rules};

pub mod counts;
mod jsonstr;
pub mod timefmt;

/// The fast readers checked against the general path (property tests,
/// fuzz targets); above the stages it compares.
#[cfg(any(test, feature = "differential"))]
pub mod differential;

#[cfg(test)]
mod layering_tests;
