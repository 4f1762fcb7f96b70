//! Lambda: the processor function ([`function`]), its asynchronous-invoke
//! settings ([`event_invoke_config`]) and, per application log group, the
//! permission for CloudWatch Logs to invoke it ([`permission`]).

pub mod event_invoke_config;
pub mod function;
pub mod permission;

pub use event_invoke_config::EventInvokeConfig;
pub use function::Function;
pub use permission::{LogsPermission, permitted_log_groups, statement_id};

use aws_sdk_lambda::error::SdkError;

/// Lambda refuses a change while the function is still updating.
fn is_update_in_progress<E: aws_sdk_lambda::error::ProvideErrorMetadata, R>(
    err: &SdkError<E, R>,
) -> bool {
    err.as_service_error()
        .is_some_and(|e| e.code() == Some("ResourceConflictException"))
}
