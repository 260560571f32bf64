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
mod currency;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use super::types::StoreError;

pub use classify::{door, refusal_detail};

/// The findings the report can give, each with a stable code (`as_str`), listed in the README.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    PurchaseNoEventId,
    EventIdReused,
    FbpMismatch,
    ClientIpInvalid,
    PurchaseValueInvalid,
    EventTimeSuspect,
    ServerCoverageLow,
    BrowserCaptureLow,
    TestEventCode,
    OrderTwice,
    MatchQualityLow,
    ContentIdsMissing,
    MetaRefused,
}

impl Code {
    pub const ALL: [Code; 13] = [
        Code::PurchaseNoEventId,
        Code::EventIdReused,
        Code::FbpMismatch,
        Code::ClientIpInvalid,
        Code::PurchaseValueInvalid,
        Code::EventTimeSuspect,
        Code::ServerCoverageLow,
        Code::BrowserCaptureLow,
        Code::TestEventCode,
        Code::OrderTwice,
        Code::MatchQualityLow,
        Code::ContentIdsMissing,
        Code::MetaRefused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Code::PurchaseNoEventId => "purchase_without_event_id",
            Code::EventIdReused => "event_id_reused",
            Code::FbpMismatch => "fbp_mismatch",
            Code::ClientIpInvalid => "client_ip_invalid",
            Code::PurchaseValueInvalid => "purchase_value_invalid",
            Code::EventTimeSuspect => "event_time_suspect",
            Code::ServerCoverageLow => "server_coverage_low",
            Code::BrowserCaptureLow => "browser_capture_low",
            Code::TestEventCode => "test_event_code_in_use",
            Code::OrderTwice => "order_reported_twice",
            Code::MatchQualityLow => "match_quality_low",
            Code::ContentIdsMissing => "content_ids_missing",
            Code::MetaRefused => "meta_refused",
        }
    }

    pub fn parse(s: &str) -> Option<Code> {
        Code::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// Facts: marks that are no finding, the counts the cross-event findings read.
pub mod fact {
    /// Every event, per day (detail empty): the denominator of Meta's refusals.
    pub const EVENTS: &str = "_events";
    /// Purchases by which copies they are made of (detail `browser`, `server`, `both`).
    pub const PURCHASES: &str = "_purchases";
    /// Purchases carrying each match key (detail: the key of `MATCH_KEYS`).
    pub const PURCHASE_KEYS: &str = "_purchase_keys";
    /// Purchases by order fingerprint and minute of receipt (detail `<minute>:<fingerprint>`).
    pub const ORDERS: &str = "_orders";
}

/// What one row of the table holds: the key and its sums.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MarkRow {
    pub pixel_id: String,
    /// UTC day of receipt (days since 1970-01-01).
    pub day: i64,
    /// A [`Code`]'s `as_str`, or a [`fact`].
    pub code: String,
    pub event_name: String,
    pub detail: String,
    /// May be negative within a tally (a merge takes a mark off); the stored sum is not.
    pub events: i64,
    /// Receipt times (Unix ms) of the first and last event counted ([`NONE_FIRST`] and
    /// [`NONE_LAST`] when a tally only takes events off).
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    /// One event ID among those counted (empty: none yet).
    pub example_event_id: String,
}

/// The first and last seen of a mark that only takes events off: neutral in `MIN` and `MAX`.
pub const NONE_FIRST: i64 = i64::MAX;
pub const NONE_LAST: i64 = i64::MIN;

/// The marks of one transaction, summed per key (a group commit of 200 PageViews of one pixel
/// is one `_events` upsert).
#[derive(Debug, Default)]
pub struct Tally {
    sums: BTreeMap<(String, i64, &'static str, String, String), Sum>,
}

#[derive(Clone, Debug)]
struct Sum {
    events: i64,
    first: i64,
    last: i64,
    example: String,
}

impl Tally {
    /// Count `delta` events (`-1`: take one off) of `code` for the event `(pixel, name, id)`
    /// received at `at_ms`.
    pub fn add(&mut self, code: &'static str, m: &Mark<'_>, detail: String, delta: i64) {
        let key = (
            m.pixel_id.to_owned(),
            m.at_ms.div_euclid(86_400_000),
            code,
            m.event_name.to_owned(),
            detail,
        );
        let sum = self.sums.entry(key).or_insert(Sum {
            events: 0,
            first: NONE_FIRST,
            last: NONE_LAST,
            example: String::new(),
        });
        sum.events += delta;
        if delta > 0 {
            sum.first = sum.first.min(m.at_ms);
            sum.last = sum.last.max(m.at_ms);
            if sum.example.is_empty() {
                sum.example = m.event_id.to_owned();
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.sums.is_empty()
    }

    /// The rows to add to the table, in key order (the order every transaction locks them in),
    /// without those that sum to nothing. Counts the findings added for `/metrics`.
    pub fn rows(self) -> Vec<MarkRow> {
        let rows = self.into_rows();
        count_rows(&rows);
        rows
    }

    /// [`Tally::rows`] uncounted (a store that learns later which were stored counts those).
    pub fn into_rows(self) -> Vec<MarkRow> {
        let mut out = Vec::with_capacity(self.sums.len());
        for ((pixel_id, day, code, event_name, detail), s) in self.sums {
            if s.events == 0 {
                continue;
            }
            out.push(MarkRow {
                pixel_id,
                day,
                code: code.to_owned(),
                event_name,
                detail,
                events: s.events,
                first_seen_ms: s.first,
                last_seen_ms: s.last,
                example_event_id: s.example,
            });
        }
        out
    }
}

/// Which event a mark is about.
#[derive(Clone, Copy, Debug)]
pub struct Mark<'a> {
    pub pixel_id: &'a str,
    pub event_name: &'a str,
    pub event_id: &'a str,
    /// Receipt time of the event (its first copy), Unix ms.
    pub at_ms: i64,
}

/// The read side, and the write of what never reaches the events table (a server event refused
/// at the door).
pub trait DiagnosticSource: Send + Sync {
    /// The rows of `pixel_id` for UTC days `from_day..=to_day`, and every
    /// `test_event_code_in_use` row up to `to_day` (how long a test code has been in use).
    fn marks(&self, pixel_id: &str, from_day: i64, to_day: i64)
        -> Result<Vec<MarkRow>, StoreError>;

    /// Add rows in a transaction of their own.
    fn record(&self, rows: Vec<MarkRow>) -> Result<(), StoreError>;
}

/// Findings counted since the process started, per code: `collector_diagnostics_total{code}`.
/// Process-wide, as the process is what Prometheus scrapes (each replica counts what it wrote).
static TOTALS: [AtomicU64; Code::ALL.len()] = [const { AtomicU64::new(0) }; Code::ALL.len()];

/// Count `n` findings of `code` (a store that writes a mark in SQL of its own calls it).
pub fn counted(code: Code, n: usize) {
    if let Some(t) = TOTALS.get(code as usize) {
        t.fetch_add(u64::try_from(n).unwrap_or(0), Ordering::Relaxed);
    }
}

/// Count the findings `rows` add.
pub fn count_rows(rows: &[MarkRow]) {
    for r in rows.iter().filter(|r| r.events > 0) {
        if let Some(c) = Code::parse(&r.code) {
            counted(c, usize::try_from(r.events).unwrap_or(0));
        }
    }
}

/// `(code, findings counted)` for every code, in [`Code::ALL`]'s order.
pub fn totals() -> Vec<(&'static str, u64)> {
    Code::ALL
        .iter()
        .zip(&TOTALS)
        .map(|(c, t)| (c.as_str(), t.load(Ordering::Relaxed)))
        .collect()
}
