//! `/api/reports/relay`: what reached the collector and what became of it on its way to Meta,
//! from the rollups' day cells (relay status, Meta's message, origin, own event ID).

use std::collections::HashMap;

use serde_json::{json, Value};

use super::figures::ratio;
use super::params::DayRange;
use crate::event::Origin;
use crate::ports::derivation::origin;
use crate::ports::rollup::keys_row;
use crate::ports::{RelayStatus, ReportSource, StoreError};

/// `/api/reports/relay`: received, duplicates, each relay status, Meta's messages grouped and
/// the share of Purchases with the page's own event ID.
pub fn relay(src: &dyn ReportSource, pixel: &str, range: DayRange) -> Result<Value, StoreError> {
    if !src.keeps_rollups() {
        return super::scanned::relay::relay(src, pixel, range);
    }
    let mut by_status: HashMap<RelayStatus, u64> = HashMap::new();
    let mut errors: HashMap<String, u64> = HashMap::new();
    let (mut stored, mut purchases, mut purchases_with_id) = (0u64, 0u64, 0u64);
    // By `event::Origin`'s copy bits: 1 browser, 2 server, 3 both.
    let mut provenance: HashMap<u8, u64> = HashMap::new();
    let mut purchase_copies: HashMap<u8, u64> = HashMap::new();
    let mut late = 0u64;
    let r = src.rollup(pixel, range.from_day, range.to_day)?;
    for (k, n) in &r.days {
        let n = u64::try_from(*n).unwrap_or(0);
        if n == 0 {
            continue;
        }
        stored += n;
        let s = k.relay_status();
        *by_status.entry(s).or_insert(0) += n;
        if s == RelayStatus::Failed {
            let msg = k.error.as_deref().unwrap_or("(no message)");
            *errors.entry(msg.to_owned()).or_insert(0) += n;
        }
        let from = origin(&keys_row(k.keys));
        let copies = from.copies().0;
        *provenance.entry(copies).or_insert(0) += n;
        if from.has(Origin::LATE) {
            late += n;
        }
        if k.name == "Purchase" {
            purchases += n;
            if !k.id_derived {
                purchases_with_id += n;
            }
            *purchase_copies.entry(copies).or_insert(0) += n;
        }
    }
    let duplicates = src.duplicates(pixel, range.from_day, range.to_day)?;
    let mut errors: Vec<(String, u64)> = errors.into_iter().collect();
    errors.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let status = |s| by_status.get(&s).copied().unwrap_or(0);
    Ok(json!({
        "received": stored + duplicates,
        "duplicates": duplicates,
        "stored": stored,
        "relayed": status(RelayStatus::Sent),
        "pending": status(RelayStatus::Pending),
        "failed": status(RelayStatus::Failed),
        "expired": status(RelayStatus::Expired),
        "not_relayed": status(RelayStatus::NotRelayed),
        "errors": errors.iter().map(|(m, n)| json!({"message": m, "count": n})).collect::<Vec<_>>(),
        "purchases": purchases,
        "purchases_with_event_id": purchases_with_id,
        "purchase_event_id_share": ratio(purchases_with_id, purchases),
        "provenance": {
            "browser": copies(&provenance, 1),
            "server": copies(&provenance, 2),
            "both": copies(&provenance, 3),
            "late": late,
        },
        "capture": capture(&purchase_copies),
    }))
}

fn copies(by: &HashMap<u8, u64>, bits: u8) -> u64 {
    by.get(&bits).copied().unwrap_or(0)
}

/// The browser capture rate: of the verified (server) Purchases, the share that also came from a
/// browser. What content blockers, closed tabs and payment redirects cost the store's pixel.
fn capture(purchases: &HashMap<u8, u64>) -> Value {
    let (server_only, both) = (copies(purchases, 2), copies(purchases, 3));
    json!({
        "verified_purchases": server_only + both,
        "both": both,
        "server_only": server_only,
        "browser_only": copies(purchases, 1),
        "browser_capture_rate": ratio(both, server_only + both),
    })
}
