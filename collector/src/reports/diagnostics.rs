//! `/api/reports/diagnostics`: the mistakes that cost a store money, each with how many events
//! and which names it touched, when it was first and last seen, one example event ID and the fix
//! in one line. Read from the marks kept at write time (`ports::diagnostics`): one indexed read
//! of the range's rows (a few dozen a day, one more per Purchase), whatever the history.
//!
//! The per-event findings are the sums of their marks; the cross-event ones are decided here
//! from the facts beside them:
//! - `server_coverage_low`: under [`COVERAGE_FLOOR`] of browser Purchases have a server copy
//!   (Meta's own goal), once the pixel sends server Purchases at all and has at least
//!   [`MIN_PURCHASES`] browser ones;
//! - `browser_capture_low`: under [`CAPTURE_FLOOR`] of server Purchases have a browser copy: ad
//!   blockers and refused consent cost a store 10–30 % of its browser events, so under half
//!   means the pixel does not fire on some checkout path, not that it is blocked;
//! - `test_event_code_in_use`: a test code seen over more than a day (two days before the range
//!   are looked at for its start);
//! - `order_reported_twice`: two Purchases of one fingerprint (value, currency, visitor) within
//!   a minute;
//! - `match_quality_low`: the range's Purchases score under 6 of 10 on the match-quality
//!   report's scale; the finding names the key that would raise it most;
//! - `meta_refused`: one finding per message of Meta's, with its share of the events received on
//!   the days it refused some.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::figures::round;
use super::params::{format_day, DayRange};
use crate::ports::derivation::MATCH_KEYS;
use crate::ports::diagnostics::{classify::MATCH_FLOOR, fact, Code, DiagnosticSource, MarkRow};
use crate::ports::StoreError;

pub const COVERAGE_FLOOR: f64 = 0.75;
pub const CAPTURE_FLOOR: f64 = 0.5;
pub const MIN_PURCHASES: i64 = 5;
const DAY_MS: i64 = 86_400_000;

/// One finding being summed.
#[derive(Default)]
struct Acc {
    events: i64,
    names: BTreeSet<String>,
    first: Option<i64>,
    last: Option<i64>,
    example: String,
    details: BTreeMap<String, i64>,
}

impl Acc {
    fn add(&mut self, r: &MarkRow) {
        if r.events <= 0 {
            return;
        }
        self.events += r.events;
        self.seen(r);
        for d in r.detail.split(',').filter(|d| !d.is_empty()) {
            *self.details.entry(d.to_owned()).or_insert(0) += r.events;
        }
    }

    /// The row's names, times and example, not its count.
    fn seen(&mut self, r: &MarkRow) {
        if !r.event_name.is_empty() {
            self.names.insert(r.event_name.clone());
        }
        self.first = Some(
            self.first
                .map_or(r.first_seen_ms, |f| f.min(r.first_seen_ms)),
        );
        self.last = Some(self.last.map_or(r.last_seen_ms, |l| l.max(r.last_seen_ms)));
        if self.example.is_empty() {
            self.example.clone_from(&r.example_event_id);
        }
    }

    fn finding(&self, code: Code, title: String) -> Value {
        json!({
            "code": code.as_str(),
            "title": title,
            "events": self.events,
            "event_names": self.names,
            "first_seen": self.first.map(iso),
            "last_seen": self.last.map(iso),
            "example_event_id": Some(&self.example).filter(|e| !e.is_empty()),
            "fix": fix(code),
        })
    }

    /// `what (detail: n, detail: n)`.
    fn titled(&self, what: &str) -> String {
        if self.details.is_empty() {
            return what.to_owned();
        }
        let parts: Vec<String> = self
            .details
            .iter()
            .map(|(d, n)| format!("{}: {n}", d.replace('_', " ")))
            .collect();
        format!("{what} ({})", parts.join(", "))
    }
}

/// Unix ms as ISO 8601 UTC, to the second.
pub fn iso(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (day, s) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        format_day(day),
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// The one-line fix of each finding.
pub fn fix(code: Code) -> &'static str {
    match code {
        Code::PurchaseNoEventId => "Pass the order's ID as the Purchase's event ID (fbq('track', 'Purchase', {...}, {eventID: 'order-1234'})) and send the same event_id from the server.",
        Code::EventIdReused => "Make the event ID per event (the order number, or a new random ID per page view), never a constant in a template or a script a page cache keeps.",
        Code::FbpMismatch => "Read the buyer's _fbp and _fbc cookies at checkout, keep them with the order, and send them as user_data.fbp and user_data.fbc in the server event.",
        Code::ClientIpInvalid => "Send client_ip_address as the visitor's bare IP address (203.0.113.7 or 2001:db8::1): no port, no list, not your server's own address.",
        Code::PurchaseValueInvalid => "Send value as a non-negative number (59.9, not \"59,90\") and currency as a 3-letter ISO 4217 code (EUR, USD) on every Purchase.",
        Code::EventTimeSuspect => "Send event_time as Unix time in seconds of the moment the visitor acted (beacons: ts in milliseconds), and send each event within minutes, not days.",
        Code::ServerCoverageLow => "Send every paid order from your server (the order-paid hook), with the event ID the thank-you page gave the browser's Purchase.",
        Code::BrowserCaptureLow => "Fire the Purchase pixel on the confirmation page of every checkout path (including the return page of off-site payments), with the order's event ID.",
        Code::TestEventCode => "Remove test_event_code from your server integration: it is for checking events in Test Events, not for live traffic.",
        Code::OrderTwice => "Send each order once, with the order number as its event ID, and do not fire Purchase again when the thank-you page is reloaded.",
        Code::MatchQualityLow => "Send the buyer's details with the Purchase (advanced matching in the pixel, hashed user_data from the server), starting with the key named.",
        Code::ContentIdsMissing => "Add content_ids (your catalog's product IDs) or contents to ViewContent, AddToCart and Purchase, as your catalog feed names the products.",
        Code::MetaRefused => "Fix the field Meta's message names in what you send; events Meta refuses are not counted in Events Manager or for your ads.",
    }
}

fn title(code: Code, acc: &Acc) -> String {
    let what = match code {
        Code::PurchaseNoEventId => "Purchases without an event ID from the page: the browser and server copies can never pair",
        Code::EventIdReused => "One event ID reused by different events: all but the first are dropped as duplicates",
        Code::FbpMismatch => "Browser and server copies of one event disagree on fbp, or the server copy lacks fbp or fbc",
        Code::ClientIpInvalid => "client_ip_address is not a bare IP address",
        Code::PurchaseValueInvalid => "Purchases with a missing, non-numeric or negative value, or a currency that is missing or not ISO 4217",
        Code::EventTimeSuspect => "event_time in the wrong unit, in the future, or close to Meta's 7-day limit",
        Code::ContentIdsMissing => "content_ids missing on catalog events (ViewContent, AddToCart, Purchase)",
        _ => "",
    };
    acc.titled(what)
}

/// `/api/reports/diagnostics`.
pub fn diagnostics(
    src: &dyn DiagnosticSource,
    pixel: &str,
    range: DayRange,
) -> Result<Value, StoreError> {
    let rows = src.marks(pixel, range.from_day, range.to_day)?;
    let mut per_code: BTreeMap<Code, Acc> = BTreeMap::new();
    let mut test_since: Option<i64> = None;
    let mut purchases: BTreeMap<String, Acc> = BTreeMap::new();
    let mut keys = [0i64; MATCH_KEYS.len()];
    let mut orders: BTreeMap<String, Vec<(i64, &MarkRow)>> = BTreeMap::new();
    let mut refused: BTreeMap<String, (Acc, BTreeSet<i64>)> = BTreeMap::new();
    let mut per_day: BTreeMap<i64, i64> = BTreeMap::new();
    for r in &rows {
        if r.code == Code::TestEventCode.as_str() && r.events > 0 {
            test_since = Some(test_since.map_or(r.first_seen_ms, |t| t.min(r.first_seen_ms)));
        }
        if r.day < range.from_day {
            continue;
        }
        match r.code.as_str() {
            fact::EVENTS => *per_day.entry(r.day).or_insert(0) += r.events,
            fact::PURCHASES => purchases.entry(r.detail.clone()).or_default().add(r),
            fact::PURCHASE_KEYS => {
                let bits: u32 = r.detail.parse().unwrap_or(0);
                for (i, n) in keys.iter_mut().enumerate() {
                    if bits & (1 << i) != 0 {
                        *n += r.events;
                    }
                }
            }
            fact::ORDERS => {
                if let Some((minute, fp)) = r.detail.split_once(':') {
                    let minute = minute.parse().unwrap_or(0);
                    orders.entry(fp.to_owned()).or_default().push((minute, r));
                }
            }
            code => match Code::parse(code) {
                Some(Code::MetaRefused) => {
                    let (acc, days) = refused.entry(r.detail.clone()).or_default();
                    let detail = MarkRow {
                        detail: String::new(),
                        ..r.clone()
                    };
                    acc.add(&detail);
                    days.insert(r.day);
                }
                Some(c) => per_code.entry(c).or_default().add(r),
                None => {}
            },
        }
    }
    let mut findings: Vec<Value> = Vec::new();
    for (code, acc) in &per_code {
        if acc.events <= 0 {
            continue;
        }
        match code {
            Code::TestEventCode => {
                let since = test_since.unwrap_or(i64::MAX);
                if acc.last.is_some_and(|l| l - since > DAY_MS) {
                    let codes: Vec<&str> = acc.details.keys().map(String::as_str).collect();
                    let days = acc.last.map_or(0, |l| (l - since) / DAY_MS);
                    let title = format!(
                        "test_event_code {} in use for over {days} day{}: these events only show in Test Events",
                        codes.join(", "),
                        if days == 1 { "" } else { "s" }
                    );
                    let mut f = acc.finding(*code, title);
                    if let Some(first) = f.get_mut("first_seen") {
                        *first = json!(iso(since));
                    }
                    findings.push(f);
                }
            }
            Code::MatchQualityLow => {
                if let Some(f) = match_quality(acc, &purchases, &keys) {
                    findings.push(f);
                }
            }
            c => findings.push(acc.finding(*c, title(*c, acc))),
        }
    }
    findings.extend(coverage(&purchases));
    if let Some(f) = twice(&orders) {
        findings.push(f);
    }
    for (message, (acc, days)) in &refused {
        let total: i64 = days.iter().filter_map(|d| per_day.get(d)).sum();
        let share = if total > 0 {
            round(acc.events as f64 * 100.0 / total as f64, 1)
        } else {
            0.0
        };
        let title = format!(
            "Meta refused {} event{} ({share}% of those days' events): {message}",
            acc.events,
            if acc.events == 1 { "" } else { "s" }
        );
        findings.push(acc.finding(Code::MetaRefused, title));
    }
    findings.sort_by(|a, b| {
        let n = |v: &Value| v["events"].as_i64().unwrap_or(0);
        n(b).cmp(&n(a))
            .then_with(|| a["code"].as_str().cmp(&b["code"].as_str()))
            .then_with(|| a["title"].as_str().cmp(&b["title"].as_str()))
    });
    Ok(json!({ "findings": findings }))
}

/// The Purchases' average score from the key counts; a finding when under the floor.
fn match_quality(
    low: &Acc,
    purchases: &BTreeMap<String, Acc>,
    keys: &[i64; MATCH_KEYS.len()],
) -> Option<Value> {
    let total: i64 = purchases.values().map(|a| a.events).sum();
    if total <= 0 {
        return None;
    }
    let mut score = 0.0;
    let mut best: Option<(&str, f64)> = None;
    for ((key, weight), n) in MATCH_KEYS.iter().zip(keys) {
        let share = (*n as f64 / total as f64).clamp(0.0, 1.0);
        score += weight * share;
        let gain = weight * (1.0 - share);
        if gain > 1e-9 && best.is_none_or(|(_, g)| gain > g + 1e-9) {
            best = Some((key, gain));
        }
    }
    if score >= MATCH_FLOOR - 1e-9 {
        return None;
    }
    let add = best.map_or(String::new(), |(k, g)| {
        format!("; adding {k} would raise it most (+{})", round(g, 1))
    });
    let title = format!(
        "Purchase match quality {} of 10, under 6{add}",
        round(score, 1)
    );
    Some(low.finding(Code::MatchQualityLow, title))
}

/// Server coverage of browser Purchases, browser capture of server Purchases.
fn coverage(purchases: &BTreeMap<String, Acc>) -> Vec<Value> {
    let n = |d: &str| purchases.get(d).map_or(0, |a| a.events);
    let (browser, server, both) = (n("browser"), n("server"), n("both"));
    let mut out = Vec::new();
    let (with_browser, with_server) = (browser + both, server + both);
    if with_server > 0 && with_browser >= MIN_PURCHASES {
        let share = both as f64 / with_browser as f64;
        if share < COVERAGE_FLOOR {
            if let Some(acc) = purchases.get("browser") {
                let title = format!(
                    "Server events cover {}% of browser Purchases, under Meta's 75% goal",
                    round(share * 100.0, 1)
                );
                out.push(acc.finding(Code::ServerCoverageLow, title));
            }
        }
    }
    if with_server >= MIN_PURCHASES {
        let share = both as f64 / with_server as f64;
        if share < CAPTURE_FLOOR {
            if let Some(acc) = purchases.get("server") {
                let title = format!(
                    "The browser pixel saw {}% of the Purchases your server sent, under 50%",
                    round(share * 100.0, 1)
                );
                out.push(acc.finding(Code::BrowserCaptureLow, title));
            }
        }
    }
    out
}

/// Purchases of one fingerprint within a minute: every one after the first is an order again.
fn twice(orders: &BTreeMap<String, Vec<(i64, &MarkRow)>>) -> Option<Value> {
    let mut acc = Acc::default();
    let mut orders_twice = 0;
    for rows in orders.values() {
        let mut rows: Vec<&(i64, &MarkRow)> = rows.iter().filter(|(_, r)| r.events > 0).collect();
        rows.sort_by_key(|(m, _)| *m);
        let mut extra = 0;
        for (i, (minute, r)) in rows.iter().enumerate() {
            extra += r.events - 1;
            if let Some((prev_minute, prev)) = i.checked_sub(1).and_then(|p| rows.get(p)) {
                if minute - prev_minute == 1 && r.first_seen_ms - prev.last_seen_ms <= 60_000 {
                    extra += 1;
                }
            }
        }
        if extra > 0 {
            orders_twice += 1;
            for (_, r) in &rows {
                acc.seen(r);
            }
            acc.events += extra;
        }
    }
    (acc.events > 0).then(|| {
        let title = format!(
            "{} order{} reported as more than one Purchase (same value, currency and visitor within a minute, another event ID)",
            orders_twice,
            if orders_twice == 1 { "" } else { "s" }
        );
        acc.finding(Code::OrderTwice, title)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_iso_utc() {
        assert_eq!(iso(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso(1_796_680_799_999), "2026-12-07T21:59:59Z");
    }
}
