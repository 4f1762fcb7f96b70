//! The IronMan usage-analytics processor.
//!
//! The pure core turns a CloudWatch Logs batch into request events and
//! session summaries (`envelope` → `record` → `noise`/`enrich` → `batch` →
//! `session`, serialised by `bulk`); `opensearch` and `sink` are the I/O
//! edge; `handler` wires both for the Lambda and for `cargo xtask replay`.

pub mod config;
pub use config::{Indices, PipelineConfig, Rules};
pub mod batch;
pub mod bulk;
pub mod counts;
#[cfg(any(test, feature = "differential"))]
pub mod differential;
pub mod docid;
pub mod enrich;
pub mod envelope;
mod fastbatch;
mod fastrecord;
pub mod handler;
mod keytable;
pub mod noise;
pub mod opensearch;
pub mod record;
pub mod session;
pub mod session_state;
pub mod sigv4;
pub mod sink;
pub mod timefmt;
