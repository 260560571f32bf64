//! `/api/reports/match-quality` from a scan of the events: the same counts as from the rollups.

use std::collections::BTreeMap;

use serde_json::Value;

use super::super::match_quality::{answer, Counts};
use super::super::params::DayRange;
use super::super::scan::scan_range;
use crate::ports::derivation::{carried, user_data, MATCH_KEYS};
use crate::ports::{Columns, ReportSource, StoreError};

/// `/api/reports/match-quality`: per event name, the share of events carrying each key, the
/// score (the weighted share, 0 to 10) and the missing key that would raise it most.
pub(in crate::reports) fn match_quality(
    src: &dyn ReportSource,
    pixel: &str,
    range: DayRange,
) -> Result<Value, StoreError> {
    let mut per_event: Counts<String> = BTreeMap::new();
    let cols = Columns {
        user_data: true,
        user_agent: true,
        ..Columns::default()
    };
    scan_range(src, pixel, range, cols, &mut |row| {
        let ud = user_data(row);
        let has = carried(row, &ud);
        let entry = match per_event.get_mut(row.event_name) {
            Some(e) => e,
            None => per_event
                .entry(row.event_name.to_owned())
                .or_insert((0, [0; MATCH_KEYS.len()])),
        };
        entry.0 += 1;
        for (n, h) in entry.1.iter_mut().zip(has) {
            *n += u64::from(h);
        }
    })?;
    Ok(answer(&per_event))
}
