//! `/api/reports/funnel` from a scan of the events.

use serde_json::{json, Value};

use super::super::figures::ratio;
use super::super::params::DayRange;
use super::super::scan::scan_range;
use super::super::visitors::{per_visitor, Visitors};
use crate::ports::{Columns, ReportSource, StoreError};

use crate::ports::rollup::FUNNEL;

/// `/api/reports/funnel`.
pub(in crate::reports) fn funnel(
    src: &dyn ReportSource,
    pixel: &str,
    range: DayRange,
) -> Result<Value, StoreError> {
    let mut events = [0u64; FUNNEL.len()];
    // Per visitor: bit `i` set when they did step `i`.
    let mut did: Vec<u8> = Vec::new();
    let mut visitors = Visitors::default();
    let mut all_events = 0u64;
    let cols = Columns {
        user_data: true,
        ..Columns::default()
    };
    scan_range(src, pixel, range, cols, &mut |row| {
        let who = per_visitor(&mut did, visitors.id(row));
        all_events += 1;
        if let Some(i) = FUNNEL.iter().position(|s| *s == row.event_name) {
            if let Some(n) = events.get_mut(i) {
                *n += 1;
                *who |= 1 << i;
            }
        }
    })?;
    let mut steps = Vec::with_capacity(FUNNEL.len());
    let mut previous: Option<u64> = None;
    for (i, (name, n)) in FUNNEL.iter().zip(events).enumerate() {
        let v = did.iter().filter(|d| *d & (1 << i) != 0).count() as u64;
        steps.push(json!({
            "event": name,
            "events": n,
            "visitors": v,
            "rate_from_previous": previous.and_then(|p| ratio(v, p)),
        }));
        previous = Some(v);
    }
    Ok(json!({
        "events": all_events,
        "visitors": visitors.len(),
        "steps": steps,
    }))
}
