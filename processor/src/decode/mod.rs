//! Stage 1, decode: the CloudWatch Logs Lambda envelope (base64, gzip, the
//! JSON document of log events) to a `LogBatch` whose strings borrow from
//! the inflated payload. `envelope` is the general path and the entry;
//! `fastbatch` is its hand-written fast reader, which can also read each
//! event's line (`crate::line`) in place as it meets it.

mod envelope;
// `pub(crate)` only for `crate::differential`, which checks it against the
// general path; the rest of the crate goes through `envelope`.
pub(crate) mod fastbatch;

#[cfg(any(test, feature = "differential"))]
pub(crate) use envelope::BASE64;
pub use envelope::{
    DecodeError, LogBatch, LogEvent, MAX_INFLATED_BYTES, Message, RawAwsLogs, RawLogsEvent,
    ReadLines, awslogs_data, inflate, parse_batch, parse_batch_reading, recycle,
};
