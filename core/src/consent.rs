//! Consent state (SPEC §2 and ours).
//!
//! ```text
//!                 consent('revoke')                      consent('grant')
//!   ┌─────────┐ ──────────────────▶ ┌─────────┐ ───────────────────────────▶ ┌─────────┐
//!   │ Granted │                     │ Revoked │   replays every held call,    │ Granted │
//!   └─────────┘ ◀── ─ ─ ─ ─ ─ ─ ─ ─ └─────────┘   in order, with its original └─────────┘
//!        ▲   (start)                  │  ▲        time, page and event ID
//!        │                            │  │ consent('revoke')
//!        │ consent('grant')           ▼  │
//!        │                       ┌─────────┐   consent('limited') from Revoked also replays.
//!        └────────────────────── │ Limited │   Limited: events go out with no cookies read or
//!                                └─────────┘   written, no fbp/fbc, no ud[...], dl/rl without
//!                                              query or fragment, and LDU on.
//! ```
//!
//! While revoked, every call except `consent` is held (at most [`MAX_HELD`]); nothing is sent
//! and no cookie is read or written.

use crate::host::Page;

/// Calls held while consent is revoked; later ones are dropped with a warning.
pub const MAX_HELD: usize = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Consent {
    #[default]
    Granted,
    Revoked,
    Limited,
}

impl Consent {
    pub fn from_action(action: &str) -> Option<Consent> {
        match action {
            "grant" => Some(Consent::Granted),
            "revoke" => Some(Consent::Revoked),
            "limited" => Some(Consent::Limited),
            _ => None,
        }
    }
}

/// What a call captured when the page made it: replayed calls keep these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallContext {
    pub now: u64,
    pub page: Page,
    /// The generated event ID for a `track*` call (used when the page gives none).
    pub event_id: Option<String>,
}

/// A call held while consent is revoked: its arguments as the JSON text they came in.
#[derive(Clone, Debug, PartialEq)]
pub struct Held {
    pub json: String,
    pub ctx: CallContext,
}
