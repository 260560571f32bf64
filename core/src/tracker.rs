//! The pixel's state machine: every `fbq(...)` call goes through [`Tracker::call_json`], which
//! decides what to send, what cookies to write and what to say on the console, through the
//! [`crate::host::Host`] port.
//!
//! This file only declares the parts and gives the tracker its public face. The work is split by
//! job: `state` (the [`Tracker`] and its state), `dispatch` (the `fbq` commands, `set` keys,
//! `init`, consent), `pipeline` (the track pipeline: events and beacons, PageView once per URL,
//! event IDs), `console` (what it says on the console). The `_fbp`/`_fbc` decisions are their
//! own noun, `identity`, which the pipeline calls.

mod console;
mod dispatch;
mod pipeline;
mod state;

pub use pipeline::{MAX_PAGE_VIEW_URLS, MAX_PARAM_CHARS};
pub use state::{Options, Tracker};
