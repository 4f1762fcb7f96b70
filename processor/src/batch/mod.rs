//! Stage 3, batch: a decoded batch to its kept request events (deduplicated,
//! counted by reason) and the session summaries folded from them. `process`
//! is the entry; `session` is the summary fold. Pure.

mod process;
mod session;

pub use process::{KeptEvent, ProcessedBatch, process_batch, process_read_batch, summarize};
pub use session::{EventView, SessionSummary, StrSet, compare_event_ids, stored_content};
