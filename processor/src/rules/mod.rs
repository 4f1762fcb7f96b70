//! The rules applied to a parsed line (configured in `crate::config`):
//! `noise` decides whether a request is noise (health checks, static
//! assets, bots, service accounts); `enrich` splits and decodes URLs and
//! derives the site token and asset types. Pure functions.

mod enrich;
mod noise;

pub use enrich::{
    form_decode, lowercase, push_asset_types, scan_query, segment_after, segment_after_found,
    split_url, trim, uppercase,
};
pub use noise::{AgentMemo, noise_reason, noise_reason_memo};
