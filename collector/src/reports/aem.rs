//! `/api/reports/aem`: what Aggregated Event Measurement would count of a prioritised list of
//! event names, overall and for iOS.

use serde_json::{json, Value};

use super::params::{AemParams, DayRange, SECS_PER_DAY};
use super::scan::scan;
use super::visitors::{FastMap, Visitors};
use crate::ports::derivation::ios;
use crate::ports::{Columns, ReportSource, StoreError};

/// `/api/reports/aem`: per prioritised name, every event, and what Aggregated Event Measurement
/// would count (per visitor and UTC day, only the highest-priority event), overall and for iOS.
pub fn aem(
    src: &dyn ReportSource,
    pixel: &str,
    range: DayRange,
    params: &AemParams,
) -> Result<Value, StoreError> {
    let k = params.priority.len();
    let (mut all, mut ios_all) = (vec![0u64; k], vec![0u64; k]);
    // (visitor, day) → best (lowest) priority index; the second map for iOS events only.
    let mut visitors = Visitors::default();
    let mut best: FastMap<(u32, i64), usize> = FastMap::default();
    let mut ios_best: FastMap<(u32, i64), usize> = FastMap::default();
    let cols = Columns {
        user_data: true,
        user_agent: true,
        ..Columns::default()
    };
    let lift = |map: &mut FastMap<(u32, i64), usize>, key: (u32, i64), p: usize| {
        let slot = map.entry(key).or_insert(p);
        *slot = (*slot).min(p);
    };
    scan(
        src,
        pixel,
        range.from_secs(),
        range.to_secs(),
        Some(&params.priority),
        cols,
        &mut |row| {
            let Some(p) = params.priority.iter().position(|n| n == row.event_name) else {
                return;
            };
            let key = (visitors.id(row), row.event_time.div_euclid(SECS_PER_DAY));
            if let Some(n) = all.get_mut(p) {
                *n += 1;
            }
            if ios(row) {
                if let Some(n) = ios_all.get_mut(p) {
                    *n += 1;
                }
                lift(&mut ios_best, key, p);
            }
            lift(&mut best, key, p);
        },
    )?;
    let tally = |map: &FastMap<(u32, i64), usize>| {
        let mut out = vec![0u64; k];
        for p in map.values() {
            if let Some(n) = out.get_mut(*p) {
                *n += 1;
            }
        }
        out
    };
    let (aem_n, ios_aem_n) = (tally(&best), tally(&ios_best));
    let events: Vec<Value> = params
        .priority
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let at = |v: &[u64]| v.get(i).copied().unwrap_or(0);
            json!({
                "event": name,
                "priority": i + 1,
                "events": at(&all),
                "aem_events": at(&aem_n),
                "ios_events": at(&ios_all),
                "ios_aem_events": at(&ios_aem_n),
            })
        })
        .collect();
    Ok(json!({"priority": params.priority, "events": events}))
}
