//! `/api/reports/match-quality` from a scan of the events.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::super::figures::round;
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
    let mut per_event: BTreeMap<String, (u64, [u64; MATCH_KEYS.len()])> = BTreeMap::new();
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
    let events: Vec<Value> = per_event
        .iter()
        .map(|(name, (n, with))| {
            let mut shares = Map::new();
            let mut score = 0.0;
            let mut best: Option<(&str, f64)> = None;
            for ((key, weight), k) in MATCH_KEYS.iter().zip(with) {
                let share = *k as f64 / *n as f64;
                shares.insert((*key).to_owned(), json!(round(share, 4)));
                score += weight * share;
                let gain = weight * (1.0 - share);
                if gain > 1e-9 && best.is_none_or(|(_, g)| gain > g + 1e-9) {
                    best = Some((key, gain));
                }
            }
            json!({
                "event": name,
                "events": n,
                "shares": shares,
                "score": round(score, 1),
                "add": best.map(|(key, gain)| json!({"key": key, "score_gain": round(gain, 1)})),
            })
        })
        .collect();
    let weights: Map<String, Value> = MATCH_KEYS
        .iter()
        .map(|(k, w)| ((*k).to_owned(), json!(w)))
        .collect();
    Ok(json!({"weights": weights, "events": events}))
}
