//! `/api/reports/match-quality`: which of [`MATCH_KEYS`] each event name carries, and its score,
//! from the rollups' day cells (whose keys are the events' match keys).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::figures::round;
use super::params::DayRange;
use super::scan::scan_range;
use crate::ports::derivation::{carried, user_data, MATCH_KEYS};
use crate::ports::{Columns, ReportSource, StoreError};

/// `/api/reports/match-quality`: per event name, the share of events carrying each key, the
/// score (the weighted share, 0 to 10) and the missing key that would raise it most.
pub fn match_quality(
    src: &dyn ReportSource,
    pixel: &str,
    range: DayRange,
) -> Result<Value, StoreError> {
    if !src.keeps_rollups() {
        return scanned(src, pixel, range);
    }
    let mut per_event: Counts<&str> = BTreeMap::new();
    let r = src.rollup(pixel, range.from_day, range.to_day)?;
    for (k, n) in &r.days {
        let n = u64::try_from(*n).unwrap_or(0);
        if n == 0 {
            continue;
        }
        let entry = per_event
            .entry(k.name.as_str())
            .or_insert((0, [0; MATCH_KEYS.len()]));
        entry.0 += n;
        for (i, with) in entry.1.iter_mut().enumerate() {
            if k.keys & (1 << i) != 0 {
                *with += n;
            }
        }
    }
    Ok(answer(&per_event))
}

/// Per event name, how many events and how many of them carry each of [`MATCH_KEYS`]: what the
/// report counts, from the rollups or from a scan (`scanned` below).
type Counts<K> = BTreeMap<K, (u64, [u64; MATCH_KEYS.len()])>;

/// The report from its [`Counts`]: one owner of the score and of the answer's shape.
fn answer<K: AsRef<str>>(per_event: &Counts<K>) -> Value {
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
                "event": name.as_ref(),
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
    json!({"weights": weights, "events": events})
}

/// [`match_quality`] from a scan of the events, for a store that keeps no rollups (PostgreSQL, for
/// now): the same counts, the same answer.
fn scanned(src: &dyn ReportSource, pixel: &str, range: DayRange) -> Result<Value, StoreError> {
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
