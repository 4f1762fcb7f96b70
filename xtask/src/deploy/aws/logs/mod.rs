//! CloudWatch Logs: log groups ([`log_group`]) and the subscription filter
//! on each application log group ([`subscription_filter`]).

pub mod log_group;
pub mod subscription_filter;

pub use log_group::LogGroup;
pub use subscription_filter::SubscriptionFilter;
