//! Stage 2, line: one log line (the JSON object the application logged) to
//! one `RequestEvent`, or the `Reason` it is skipped. `record` is the entry
//! and the general path (serde_json); `fastrecord` is its hand-written fast
//! reader, which also reads a line still escaped inside the batch document.

mod record;
// `pub(crate)` for `crate::decode`'s fast reader, which reads lines in place,
// and for `crate::differential`, which checks it against the general path.
pub(crate) mod fastrecord;

pub(crate) use fastrecord::LineKind;
#[cfg(any(test, feature = "differential"))]
pub(crate) use record::parse_object_slow;
pub(crate) use record::{Lite, RawRecord, from_raw, parse_escaped_record_memo, parse_record_memo};
pub use record::{RequestEvent, parse_escaped_record, parse_record};
