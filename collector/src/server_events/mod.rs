//! Server events: the store's server sends events the way it sends them to Meta's Conversions
//! API (`POST /{version}/{pixel}/events`), and the collector reads them the way Meta does.
//!
//! In scope: the request's parameters in each encoding Meta's SDKs use (`body.rs`), the pixel's
//! credentials (`credentials.rs`), Meta's rules for each event and the [`NewEvent`]s they become
//! (`parse.rs`, `user_data.rs`), and the answers in Meta's shape with their status codes
//! (`answer.rs`). Out of scope: I/O, and the HTTP layer's multipart parser, which [`decode`] is
//! handed. The handler (`http/server_events.rs`) reads the body, calls these, stores the events
//! in one transaction and answers; the fuzz target calls its `read_params` and
//! [`parse_events`].
//!
//! ```text
//!  body, query ──decode──> Params ──credentials──> ok ──parse_events──> Vec<NewEvent> ──> ingest
//!                   │                    │                   │               (all or none)
//!                   └──────── ApiError (Meta's error object, status) <───────┘
//! ```
//!
//! [`NewEvent`]: crate::event::NewEvent

mod answer;
mod body;
mod credentials;
mod parse;
mod user_data;

pub use answer::{fbtrace_id, received, ApiError, Kind, SUBCODE_PARAM, SUBCODE_TOO_OLD};
pub use body::{
    check_content_type, decode, too_large, FieldsError, Multipart, Params, MAX_BODY, MAX_PARAMS,
    MAX_QUERY,
};
pub use credentials::{accepts_server_events, offered, Check};
pub use parse::{
    parse_events, Context, Parsed, ACTION_SOURCES, MAX_AGE_SECS, MAX_EVENTS, MAX_SKEW_SECS,
};
pub use user_data::{HASHED_ONLY, PASSED};

/// Whether a path segment is a Graph API version as Meta writes it: `v<major>.<minor>`
/// (`v24.0`).
pub fn is_version(segment: &str) -> bool {
    segment
        .strip_prefix('v')
        .and_then(|r| r.split_once('.'))
        .is_some_and(|(major, minor)| {
            (1..=3).contains(&major.len())
                && (1..=3).contains(&minor.len())
                && major
                    .bytes()
                    .chain(minor.bytes())
                    .all(|b| b.is_ascii_digit())
        })
}

#[cfg(test)]
mod tests;
