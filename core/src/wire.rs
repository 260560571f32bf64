//! The `/tr` wire format (SPEC §4): a [`Beacon`] encoded into Meta's exact query string (the
//! pixel's side), and a query string or form body decoded back into one (the collector's side).
//!
//! Parameter order on the wire: `id, ev, dl, rl, if, ts, cd[...], sw, sh, ud[...], v, r, a, ec,
//! fbp, fbc, it, dpo, dpoco, dpost, eid, tm, rqm`. Optional parameters appear only when set.
//!
//! One noun per file: `beacon` (the [`Beacon`] and its [`Dpo`]), `encode`, `decode`. The files
//! are private and this is their one public face (`wire::Beacon`, `wire::query_pairs`, ...). The
//! percent codec and integer text they build on are modules of their own (`percent`, `decimal`);
//! where a beacon goes and how is `delivery`.

mod beacon;
mod decode;
mod encode;

pub use beacon::{Beacon, Dpo};
pub use decode::{parse_query, query_pairs, DecodeError, Pair};
