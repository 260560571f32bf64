//! Diagnostics kept at write time: each event is classified when it is stored, merged or refused
//! by Meta, by the pure functions of [`classify`], into *marks* that every store adds up per
//! `(pixel, UTC day of receipt, code, event name, detail)` in a table of its own, in the
//! transaction that stores the event. The report (`reports/diagnostics.rs`) then reads only the
//! marks of its days ([`DiagnosticSource::marks`]): its time does not grow with history.
//!
//! ```text
//!   insert ──> Tally::stored(e)             copy codes of e, event codes of e (+1)
//!   merge  ──> Tally::merged(s, in, m)      pair codes, copy codes of `in`, event codes m − s
//!   repeat ──> Tally::repeat(s, in)         pair codes (a reused ID, copies that disagree)
//!   refused by Meta (mark_failed) ──> refusal_detail(message), one mark `meta_refused`
//!   refused at the door (a server event) ──> DiagnosticSource::record(door(..))
//! ```
//!
//! *Event codes* describe the stored event and change with a merge (its custom data, keys,
//! origin): a merge takes the stored event's marks off and adds the merged event's, so each
//! event counts once. *Copy codes* describe one copy as it came (its IP, time, test code);
//! *pair codes* two copies of one event ID. Codes starting with `_` are facts, not findings: the
//! counts the cross-event findings are computed from (Purchases per origin, per match key, orders
//! by fingerprint, events per day).
//!
//! A leaf like the rest of the ports: it imports the event ([`crate::event`]) and its siblings.

pub mod classify;
mod code;
mod currency;
mod source;
mod tally;

pub use classify::{door, refusal_detail};
pub use code::{counted, fact, totals, Code};
pub use source::DiagnosticSource;
pub use tally::{count_rows, Mark, MarkRow, Tally, NONE_FIRST, NONE_LAST};
