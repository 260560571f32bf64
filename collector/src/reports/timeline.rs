//! `/api/reports/timeline`: events per name and revenue per currency, per day or per hour, from
//! the rollups' hour cells.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::money::purchase;
use super::params::{format_day, DayRange, SECS_PER_DAY};
use super::revenue::Revenue;
use super::scan::scan_range;
use crate::ports::rollup::hour_range;
use crate::ports::rollup::micros;
use crate::ports::{Columns, ReportSource, StoreError};

/// A range of at most this many days is reported per hour by the timeline.
const HOURLY_UP_TO_DAYS: i64 = 2;

/// `/api/reports/timeline`: per day, or per hour for a range of at most 2 days.
pub fn timeline(src: &dyn ReportSource, pixel: &str, range: DayRange) -> Result<Value, StoreError> {
    if !src.keeps_rollups() {
        return scanned(src, pixel, range);
    }
    let hourly = range.days() <= HOURLY_UP_TO_DAYS;
    let step = if hourly { 1 } else { 24 };
    let (start, end) = hour_range(range.from_day, range.to_day);
    let buckets = usize::try_from((end - start) / step).unwrap_or(0);
    let mut counts: Vec<BTreeMap<String, u64>> = vec![BTreeMap::new(); buckets];
    let mut revenue: Vec<Revenue> = vec![Revenue::default(); buckets];
    let r = src.rollup(pixel, range.from_day, range.to_day)?;
    for (k, (n, micros)) in &r.hours {
        let Ok(i) = usize::try_from((k.hour - start) / step) else {
            continue;
        };
        if *n == 0 {
            continue;
        }
        if let Some(c) = counts.get_mut(i) {
            *c.entry(k.name.clone()).or_insert(0) += u64::try_from(*n).unwrap_or(0);
        }
        if k.name == "Purchase" {
            if let Some(m) = revenue.get_mut(i) {
                m.add(&k.currency, *micros);
            }
        }
    }
    Ok(answer(hourly, start, step, &counts, &revenue))
}

/// The report from its buckets, whether from the rollups' hour cells or a scan
/// (`scanned` below): bucket `i` starts at hour `start + i * step` (hours since the epoch),
/// with its events per name and its Purchases' revenue.
fn answer(
    hourly: bool,
    start: i64,
    step: i64,
    counts: &[BTreeMap<String, u64>],
    revenue: &[Revenue],
) -> Value {
    let points: Vec<Value> = counts
        .iter()
        .zip(revenue)
        .enumerate()
        .map(|(i, (c, m))| {
            let hour = start + i as i64 * step;
            let label = if hourly {
                format!(
                    "{}T{:02}:00Z",
                    format_day(hour.div_euclid(24)),
                    hour.rem_euclid(24)
                )
            } else {
                format_day(hour.div_euclid(24))
            };
            json!({"start": label, "events": c, "revenue": m.json()})
        })
        .collect();
    let mut total_events: BTreeMap<&str, u64> = BTreeMap::new();
    let mut total_revenue = Revenue::default();
    for (c, m) in counts.iter().zip(revenue) {
        for (name, n) in c {
            *total_events.entry(name).or_insert(0) += n;
        }
        for (cur, v) in &m.0 {
            total_revenue.add(cur, *v);
        }
    }
    json!({
        "bucket": if hourly { "hour" } else { "day" },
        "totals": {"events": total_events, "revenue": total_revenue.json()},
        "points": points,
    })
}

/// [`timeline`] from a scan of the events, for a store that keeps no rollups (PostgreSQL, for
/// now): the same counts, the same answer.
fn scanned(src: &dyn ReportSource, pixel: &str, range: DayRange) -> Result<Value, StoreError> {
    let hourly = range.days() <= HOURLY_UP_TO_DAYS;
    let step = if hourly { 3600 } else { SECS_PER_DAY };
    let start = range.from_secs();
    let buckets = usize::try_from((range.to_secs() - start) / step).unwrap_or(0);
    let mut counts: Vec<BTreeMap<String, u64>> = vec![BTreeMap::new(); buckets];
    let mut revenue: Vec<Revenue> = vec![Revenue::default(); buckets];
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
                m.add(&cur, micros(v));
            }
        }
    })?;
    Ok(answer(hourly, start / 3600, step / 3600, &counts, &revenue))
}
