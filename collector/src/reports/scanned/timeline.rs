//! `/api/reports/timeline` from a scan of the events: the same buckets and revenue (in micros)
//! as from the rollups.

use std::collections::BTreeMap;

use serde_json::Value;

use super::super::money::purchase;
use super::super::params::{DayRange, SECS_PER_DAY};
use super::super::revenue::Revenue;
use super::super::scan::scan_range;
use super::super::timeline::{answer, HOURLY_UP_TO_DAYS};
use crate::ports::rollup::micros;
use crate::ports::{Columns, ReportSource, StoreError};

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
