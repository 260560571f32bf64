//! `/api/reports/relay`: what reached the collector and what became of it on its way to Meta.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::figures::ratio;
use super::params::DayRange;
use super::scan::scan_range;
use crate::ports::{Columns, RelayStatus, ReportSource, StoreError};

/// `/api/reports/relay`: received, duplicates, each relay status, Meta's messages grouped and
/// the share of Purchases with the page's own event ID.
pub fn relay(src: &dyn ReportSource, pixel: &str, range: DayRange) -> Result<Value, StoreError> {
    let mut by_status: HashMap<RelayStatus, u64> = HashMap::new();
    let mut errors: HashMap<String, u64> = HashMap::new();
    let (mut stored, mut purchases, mut purchases_with_id) = (0u64, 0u64, 0u64);
    let cols = Columns {
        relay: true,
        ..Columns::default()
    };
    scan_range(src, pixel, range, cols, &mut |row| {
        stored += 1;
        if let Some(s) = row.relay_status {
            *by_status.entry(s).or_insert(0) += 1;
            if s == RelayStatus::Failed {
                let msg = row.relay_error.unwrap_or("(no message)");
                match errors.get_mut(msg) {
                    Some(n) => *n += 1,
                    None => {
                        errors.insert(msg.to_owned(), 1);
                    }
                }
            }
        }
        if row.event_name == "Purchase" {
            purchases += 1;
            purchases_with_id += u64::from(!row.event_id_derived);
        }
    })?;
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
    }))
}
