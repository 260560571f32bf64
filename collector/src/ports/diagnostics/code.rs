//! The stable codes of the findings, the facts beside them, and the per-code counters of
//! `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

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
    /// Purchases by the match keys they carry (detail: the bits of `MATCH_KEYS`, bit `i` for
    /// key `i`, in decimal).
    pub const PURCHASE_KEYS: &str = "_purchase_keys";
    /// Purchases by order fingerprint and minute of receipt (detail `<minute>:<fingerprint>`).
    pub const ORDERS: &str = "_orders";
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

/// `(code, findings counted)` for every code, in [`Code::ALL`]'s order.
pub fn totals() -> Vec<(&'static str, u64)> {
    Code::ALL
        .iter()
        .zip(&TOTALS)
        .map(|(c, t)| (c.as_str(), t.load(Ordering::Relaxed)))
        .collect()
}
