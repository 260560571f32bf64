//! `/api/reports/funnel` from a scan of the events: the same counts as from the rollups.

use serde_json::Value;

use super::super::funnel::answer;
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
    let step_visitors = |i: usize| did.iter().filter(|d| *d & (1 << i) != 0).count() as u64;
    Ok(answer(
        events,
        all_events,
        visitors.len() as u64,
        step_visitors,
    ))
}
