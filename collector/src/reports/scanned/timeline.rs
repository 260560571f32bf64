//! `/api/reports/timeline` from a scan of the events.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::super::money::{purchase, Money};
use super::super::params::{format_day, DayRange, SECS_PER_DAY};
use super::super::scan::scan_range;
use crate::ports::{Columns, ReportSource, StoreError};

/// A range of at most this many days is reported per hour by the timeline.
const HOURLY_UP_TO_DAYS: i64 = 2;

/// `/api/reports/timeline`: per day, or per hour for a range of at most 2 days.
pub(in crate::reports) fn timeline(
    src: &dyn ReportSource,
    pixel: &str,
    range: DayRange,
) -> Result<Value, StoreError> {
    let hourly = range.days() <= HOURLY_UP_TO_DAYS;
    let step = if hourly { 3600 } else { SECS_PER_DAY };
    let start = range.from_secs();
    let buckets = usize::try_from((range.to_secs() - start) / step).unwrap_or(0);
    let mut counts: Vec<BTreeMap<String, u64>> = vec![BTreeMap::new(); buckets];
    let mut revenue: Vec<Money> = vec![Money::default(); buckets];
    let cols = Columns {
        purchase_data: true,
        ..Columns::default()
    };
    scan_range(src, pixel, range, cols, &mut |row| {
        let Ok(i) = usize::try_from((row.event_time - start) / step) else {
            return;
        };
        if let Some(c) = counts.get_mut(i) {
            match c.get_mut(row.event_name) {
                Some(n) => *n += 1,
                None => {
                    c.insert(row.event_name.to_owned(), 1);
                }
            }
        }
        if row.event_name == "Purchase" {
            if let (Some((cur, v)), Some(m)) = (purchase(row), revenue.get_mut(i)) {
                m.add(&cur, v);
            }
        }
    })?;
    let points: Vec<Value> = counts
        .iter()
        .zip(&revenue)
        .enumerate()
        .map(|(i, (c, m))| {
            let t = start + i as i64 * step;
            let label = if hourly {
                format!(
                    "{}T{:02}:00Z",
                    format_day(t.div_euclid(SECS_PER_DAY)),
                    t.rem_euclid(SECS_PER_DAY) / 3600
                )
            } else {
                format_day(t.div_euclid(SECS_PER_DAY))
            };
            json!({"start": label, "events": c, "revenue": m.json()})
        })
        .collect();
    let mut total_events: BTreeMap<&str, u64> = BTreeMap::new();
    let mut total_revenue = Money::default();
    for (c, m) in counts.iter().zip(&revenue) {
        for (name, n) in c {
            *total_events.entry(name).or_insert(0) += n;
        }
        for (cur, v) in &m.0 {
            total_revenue.add(cur, *v);
        }
    }
    Ok(json!({
        "bucket": if hourly { "hour" } else { "day" },
        "totals": {"events": total_events, "revenue": total_revenue.json()},
        "points": points,
    }))
}
