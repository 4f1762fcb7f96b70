//! The OpenSearch client (`client`: one endpoint, JSON over HTTP) and its
//! SigV4 request signing (`sigv4`, service `es`). Network I/O; shared by the
//! sink, the handler and xtask.

mod client;
mod sigv4;

pub use client::{Auth, OpenSearch, OpenSearchError, Response};
pub use sigv4::sign_es;
