//! What the plan is made of: each log event as the application wrote it
//! (prefix, JSON members as written, trailer), paired with its outcome.

use crate::genlogs::expect::ExpectedEvent;

/// Why the processor drops a log event (spec sections 2-4), in filter order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Reason {
    Unparsed,
    NotRequest,
    NoSession,
    NoUser,
    NoUrl,
    NoiseMethod,
    NoisePath,
    NoiseUserAgent,
    NoiseUser,
}

impl Reason {
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) const ALL: [Reason; 9] = [
        Reason::Unparsed,
        Reason::NotRequest,
        Reason::NoSession,
        Reason::NoUser,
        Reason::NoUrl,
        Reason::NoiseMethod,
        Reason::NoisePath,
        Reason::NoiseUserAgent,
        Reason::NoiseUser,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Reason::Unparsed => "unparsed",
            Reason::NotRequest => "not_request",
            Reason::NoSession => "no_session",
            Reason::NoUser => "no_user",
            Reason::NoUrl => "no_url",
            Reason::NoiseMethod => "noise_method",
            Reason::NoisePath => "noise_path",
            Reason::NoiseUserAgent => "noise_user_agent",
            Reason::NoiseUser => "noise_user",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    Kept(Box<ExpectedEvent>),
    Dropped(Reason),
}

/// One CloudWatch log event as the application wrote it.
#[derive(Debug, Clone)]
pub(crate) struct LogEvent {
    pub stream: u16,
    /// The log event's own timestamp (epoch ms).
    pub ts_ms: i64,
    /// Its batch is delivered hours late (after later parts of its session).
    pub late: bool,
    pub msg: Msg,
    pub outcome: Outcome,
}

#[derive(Debug, Clone)]
pub(crate) struct Msg {
    pub prefix: Prefix,
    pub body: Body,
    /// Trailing whitespace after the body.
    pub trailer: &'static str,
}

/// The four prefix styles of spec section 2, plus one whose `{` makes the
/// line unparsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prefix {
    /// `2026-11-02T14:03:11.482Z\tINFO\t`
    IsoTab(&'static str),
    /// `[2026-11-02 14:03:11,482] INFO `
    Bracket(&'static str),
    /// `INFO `
    Level(&'static str),
    /// nothing
    Bare,
    /// `[worker-{07}] INFO ` (the object would start at this `{`)
    BraceTag(u8),
}

/// How often kept and dropped lines alike take each of the usual prefixes,
/// in the order of `Prefix::usual`.
pub(super) const USUAL_PREFIX_WEIGHTS: [u32; 4] = [40, 20, 15, 25];

impl Prefix {
    /// The `choice`-th usual prefix (an index drawn with
    /// `USUAL_PREFIX_WEIGHTS`).
    pub(super) fn usual(choice: usize, level: &'static str) -> Prefix {
        match choice {
            0 => Prefix::IsoTab(level),
            1 => Prefix::Bracket(level),
            2 => Prefix::Level(level),
            _ => Prefix::Bare,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Body {
    /// Written as is.
    Text(String),
    /// A JSON object with these members, in order.
    Json {
        fields: Vec<(&'static str, Val)>,
        spaced: bool,
    },
}

/// A JSON member value as written.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    Str(String),
    /// A string known at compile time (saves an allocation per line).
    Static(&'static str),
    /// Raw JSON text: a number literal, `null`, `true`, `{}`.
    Lit(String),
    Int(i64),
    Strs(Vec<String>),
}
