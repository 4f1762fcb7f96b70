//! Stage 4, output: what is sent to OpenSearch, as bytes and data, without
//! sending it. `bulk` writes the events' `_bulk` bodies; `docid` makes
//! document ids from the input's ids; `session_state` builds the session
//! tally and state items and parses OpenSearch's answers to them. Pure: the
//! sink (`sink/`) does the I/O.

mod bulk;
mod docid;
mod session_state;

pub use bulk::{BulkBody, DailyIndex, event_bodies, event_bodies_where, write_event_document};
pub use docid::{DIGEST_PREFIX, MAX_ID_BYTES, document_id};
pub use session_state::{
    FREEZE_SLACK, GetAnswer, LAYOUT_EPOCH, OPEN_BUCKETS, Phase, RESTORE_BITS, STATE_SCRIPT, Sealed,
    Source, State, StateView, TALLY_SCRIPT, TALLY_SPAN_MS, TallyChange, TallyReport, UpdateAnswer,
    fold_events, packed_key, state_id, tally_bucket, tally_id, write_state_add_item,
    write_state_change_item, write_state_fields_item, write_summary_item, write_tally_item,
};
