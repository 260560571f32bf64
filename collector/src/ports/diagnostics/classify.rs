//! The rules: what each event, each pair of copies and each refusal is marked with. Pure
//! functions of the events, no I/O; the stores call them on their write paths ([`Tally::stored`],
//! [`Tally::merged`], [`Tally::repeat`]) and the report reads the sums.
//!
//! Thresholds, each with why:
//! - [`LATE_SECS`] (6 days): an event received that old has under a day left before Meta's
//!   7-day limit (the relay expires it then); outbox retries of a few hours or days stay quiet.
//! - [`UNIT_FLOOR_SECS`] (2000-01-01): no pixel ran before; an `event_time` before it is a
//!   time in seconds where milliseconds were expected (a beacon's `ts`).
//! - [`MATCH_FLOOR`] (6 of 10): the figure, on the match-quality report's own scale.
//! - [`TWIN_SECS`] (60 s): two Purchases of one visitor, value and currency that close are one
//!   order sent twice (a reloaded thank-you page), not two orders.
//! - [`REUSE_SKEW_SECS`] (60 s): a retried beacon or server request repeats its event time; the
//!   same ID at another time (or from another browser) is an ID reused.

use pixel_core::matching::sha256_hex;
use serde_json::Value;

use super::super::derivation::MATCH_KEYS;
use super::code::{fact, Code};
use super::currency::is_iso4217;
use super::tally::{Mark, MarkRow, Tally};
use crate::event::{NewEvent, Origin};

pub const LATE_SECS: i64 = 6 * 86_400;
pub const UNIT_FLOOR_SECS: i64 = 946_684_800;
pub const MATCH_FLOOR: f64 = 6.0;
pub const TWIN_SECS: i64 = 60;
pub const REUSE_SKEW_SECS: i64 = 60;
/// Longest detail kept (Meta's message, a test code).
const MAX_DETAIL: usize = 200;

/// The events catalog ads read `content_ids` of.
const CATALOG_EVENTS: [&str; 3] = ["ViewContent", "AddToCart", "Purchase"];

fn mark(e: &NewEvent) -> Mark<'_> {
    Mark {
        pixel_id: &e.pixel_id,
        event_name: &e.event_name,
        event_id: &e.event_id,
        at_ms: e.received_at_ms,
    }
}

impl Tally {
    /// A new event stored.
    pub fn stored(&mut self, e: &NewEvent) {
        self.copy(e);
        self.event(e, 1);
    }

    /// `incoming` merged into `stored`, which became `merged`.
    pub fn merged(&mut self, stored: &NewEvent, incoming: &NewEvent, merged: &NewEvent) {
        self.repeat(stored, incoming);
        self.copy(incoming);
        self.event(stored, -1);
        self.event(merged, 1);
    }

    /// A copy of the stored event's key: a merge ([`Tally::merged`] calls it) or a repeat.
    pub fn repeat(&mut self, stored: &NewEvent, incoming: &NewEvent) {
        if let Some((code, detail)) = pair(stored, incoming) {
            self.add(code.as_str(), &mark(incoming), detail, 1);
        }
    }

    /// What one copy says of itself, as it came.
    fn copy(&mut self, e: &NewEvent) {
        let m = mark(e);
        if e.event_name == "Purchase" && e.event_id_derived {
            let origin = e.origin.copies().as_str();
            self.add(Code::PurchaseNoEventId.as_str(), &m, origin, 1);
        }
        if e.client_ip
            .as_deref()
            .is_some_and(|ip| ip.parse::<std::net::IpAddr>().is_err())
        {
            self.add(Code::ClientIpInvalid.as_str(), &m, "stored", 1);
        }
        if let Some(detail) = event_time(e) {
            self.add(Code::EventTimeSuspect.as_str(), &m, detail, 1);
        }
        if let Some(code) = e.server.as_ref().and_then(|s| s.test_event_code.as_deref()) {
            // Seen at the event's own time: how long a code is in use is the span of the events
            // sent with it (a store's outbox may send a day of them at once).
            let at = Mark {
                at_ms: e.event_time.saturating_mul(1000),
                ..m
            };
            self.add(Code::TestEventCode.as_str(), &at, &cut(code), 1);
        }
    }

    /// What the event is as stored, counted `delta` times.
    fn event(&mut self, e: &NewEvent, delta: i64) {
        let m = mark(e);
        let day = Mark {
            event_name: "",
            ..m
        };
        self.add(fact::EVENTS, &day, "", delta);
        if CATALOG_EVENTS.contains(&e.event_name.as_str()) && !has_content_ids(e) {
            self.add(Code::ContentIdsMissing.as_str(), &m, "", delta);
        }
        if e.event_name != "Purchase" {
            return;
        }
        self.add(fact::PURCHASES, &m, e.origin.copies().as_str(), delta);
        let keys = carried(e);
        // One mark per combination of keys (a store sends a few), not one per key.
        let bits = keys
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, has)| acc | (u32::from(*has) << i));
        self.add(fact::PURCHASE_KEYS, &m, &bits.to_string(), delta);
        let (score, best) = score(&keys);
        if score < MATCH_FLOOR - 1e-9 {
            self.add(Code::MatchQualityLow.as_str(), &m, best, delta);
        }
        if let Some(problems) = purchase_problems(e) {
            self.add(Code::PurchaseValueInvalid.as_str(), &m, &problems, delta);
        }
        if let Some(fp) = order_fingerprint(e) {
            let minute = e.received_at_ms.div_euclid(60_000);
            self.add(fact::ORDERS, &m, &format!("{minute}:{fp}"), delta);
        }
    }
}

/// What two copies of one key say together: the same ID from another browser or another time
/// (`event_id_reused`), or a browser and a server copy that disagree on the browser
/// (`fbp_mismatch`, detail `fbp_differs`, `server_without_fbp`, `server_without_fbc`).
pub fn pair(stored: &NewEvent, incoming: &NewEvent) -> Option<(Code, &'static str)> {
    if stored.event_id_derived || incoming.event_id_derived {
        // Derived from the content: a repeat is the very same event.
        return None;
    }
    let (s, i) = (stored.origin.copies(), incoming.origin.copies());
    if s == i {
        let moved = (stored.event_time - incoming.event_time).abs() > REUSE_SKEW_SECS;
        return (stored.fbp != incoming.fbp || moved).then_some((Code::EventIdReused, ""));
    }
    let both = Origin::BROWSER.with(Origin::SERVER);
    if s == both || i == both {
        return None;
    }
    let (server, browser) = if incoming.origin.verified() {
        (incoming, stored)
    } else {
        (stored, incoming)
    };
    let detail = match (&server.fbp, &browser.fbp) {
        (Some(a), Some(b)) if a != b => "fbp_differs",
        (None, Some(_)) => "server_without_fbp",
        _ if server.fbc.is_none() && browser.fbc.is_some() => "server_without_fbc",
        _ => return None,
    };
    Some((Code::FbpMismatch, detail))
}

/// `unit` (seconds where milliseconds were due), `late` (near the 7-day limit on arrival).
fn event_time(e: &NewEvent) -> Option<&'static str> {
    if e.event_time < UNIT_FLOOR_SECS {
        return Some("unit");
    }
    let age = e.received_at_ms.div_euclid(1000) - e.event_time;
    (age > LATE_SECS).then_some("late")
}

fn has_content_ids(e: &NewEvent) -> bool {
    let filled = |v: Option<&Value>| match v {
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::String(s)) => !s.trim().is_empty() && s.trim() != "[]",
        Some(Value::Number(_)) => true,
        _ => false,
    };
    filled(e.custom_data.get("content_ids")) || filled(e.custom_data.get("contents"))
}

/// Which of [`MATCH_KEYS`] the event carries, the way the match-quality report reads them.
pub fn carried(e: &NewEvent) -> [bool; MATCH_KEYS.len()] {
    let ud = |k: &str| e.user_data.iter().any(|(key, _)| key == k);
    std::array::from_fn(|i| match MATCH_KEYS.get(i).map(|k| k.0) {
        Some("fbc") => e.fbc.is_some(),
        Some("fbp") => e.fbp.is_some(),
        Some("ip_ua") => e.client_ip.is_some() && e.user_agent.is_some(),
        Some(key) => ud(key),
        None => false,
    })
}

/// The score of one event (0 to 10) and the missing key that would raise it most.
pub fn score(keys: &[bool; MATCH_KEYS.len()]) -> (f64, &'static str) {
    let mut score = 0.0;
    let mut best: (&'static str, f64) = ("", 0.0);
    for ((key, weight), has) in MATCH_KEYS.iter().zip(keys) {
        if *has {
            score += weight;
        } else if *weight > best.1 {
            best = (key, *weight);
        }
    }
    (score, best.0)
}

/// What is wrong with a Purchase's value and currency, comma-separated, `None` when nothing:
/// `value_missing`, `value_not_number`, `value_negative`, `currency_missing`,
/// `currency_not_iso4217`.
pub fn purchase_problems(e: &NewEvent) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    match e.custom_data.get("value") {
        None | Some(Value::Null) => out.push("value_missing"),
        Some(Value::Number(n)) => {
            if n.as_f64().is_some_and(|v| v < 0.0) {
                out.push("value_negative");
            }
        }
        Some(_) => out.push("value_not_number"),
    }
    match e.custom_data.get("currency") {
        Some(Value::String(c)) if c.trim().is_empty() => out.push("currency_missing"),
        Some(Value::String(c)) if is_iso4217(c.trim()) => {}
        None | Some(Value::Null) => out.push("currency_missing"),
        Some(_) => out.push("currency_not_iso4217"),
    }
    (!out.is_empty()).then(|| out.join(","))
}

/// Who bought what for how much, hashed: value (in cents), currency and visitor (`fbp`, else
/// the hashed external ID or e-mail). `None` for a Purchase without value or visitor.
pub fn order_fingerprint(e: &NewEvent) -> Option<String> {
    let value = e.custom_data.get("value").and_then(Value::as_f64)?;
    let currency = match e.custom_data.get("currency") {
        Some(Value::String(c)) => c.trim().to_ascii_uppercase(),
        _ => String::new(),
    };
    let ud = |k: &str| {
        e.user_data
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let visitor = match (&e.fbp, ud("external_id"), ud("em")) {
        (Some(fbp), _, _) => format!("p:{fbp}"),
        (None, Some(x), _) => format!("x:{x}"),
        (None, None, Some(em)) => format!("e:{em}"),
        _ => return None,
    };
    let cents = (value * 100.0).round();
    let hash = sha256_hex(&format!("{cents}\n{currency}\n{visitor}"));
    Some(hash.get(..16).unwrap_or(&hash).to_owned())
}

/// Meta's message for a refused event, as the detail that groups refusals.
pub fn refusal_detail(message: &str) -> String {
    cut(message.trim())
}

fn cut(s: &str) -> String {
    match s.char_indices().nth(MAX_DETAIL) {
        Some((at, _)) => s.get(..at).unwrap_or(s).to_owned(),
        None => s.to_owned(),
    }
}

/// A server-events request refused at the door for a rule a diagnostic watches (an IP that is
/// none, an `event_time` in milliseconds, in the future or too old): its row, to
/// [`record`](super::DiagnosticSource::record). Its events were not stored, so it names no
/// event; `None` for other refusals (a malformed request is its sender's 400 to read).
pub fn door(pixel_id: &str, received_at_ms: i64, message: &str) -> Option<MarkRow> {
    let (code, detail) = if message.contains("client_ip_address") {
        (Code::ClientIpInvalid, "refused")
    } else if message.contains("event_time") && message.contains("milliseconds") {
        (Code::EventTimeSuspect, "refused_milliseconds")
    } else if message.contains("event_time") && message.contains("future") {
        (Code::EventTimeSuspect, "refused_future")
    } else if message.contains("event_time") && message.contains("7 days") {
        (Code::EventTimeSuspect, "refused_too_old")
    } else {
        return None;
    };
    let mut t = Tally::default();
    let m = Mark {
        pixel_id,
        event_name: "",
        event_id: "",
        at_ms: received_at_ms,
    };
    t.add(code.as_str(), &m, detail, 1);
    t.rows().into_iter().next()
}

#[cfg(test)]
mod tests;
