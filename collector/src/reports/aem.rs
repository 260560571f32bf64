//! `/api/reports/aem`: what Aggregated Event Measurement would count of a prioritised list of
//! event names, overall and for iOS.
//!
//! A store that keeps the per-person state ([`crate::ports::people`]) answers from its daily
//! tables: events per day and name, and visitor-days per day and set of names they did (per
//! visitor-day, AEM keeps the name of its set that comes first in the list): the time grows with
//! the days of the range and the distinct sets, not with the events. Otherwise the events are
//! scanned.

use serde_json::{json, Value};

use super::params::{AemParams, DayRange, SECS_PER_DAY};
use super::scan::scan;
use super::visitors::{FastMap, Visitors};
use crate::ports::derivation::ios;
use crate::ports::people::{names_of_set, PeopleSource};
use crate::ports::{Columns, ReportSource, StoreError};

/// `/api/reports/aem`: per prioritised name, every event, and what Aggregated Event Measurement
/// would count (per visitor and UTC day, only the highest-priority event), overall and for iOS.
pub fn aem(
    src: &dyn ReportSource,
    pixel: &str,
    range: DayRange,
    params: &AemParams,
) -> Result<Value, StoreError> {
    let counts = match src.people() {
        Some(people) => from_people(people, pixel, range, params)?,
        None => from_scan(src, pixel, range, params)?,
    };
    Ok(answer(params, &counts))
}

/// Per prioritised name: events, AEM events, iOS events, iOS AEM events.
type Counts = [Vec<u64>; 4];

/// The counts from the per-person state's daily tables.
fn from_people(
    people: &dyn PeopleSource,
    pixel: &str,
    range: DayRange,
    params: &AemParams,
) -> Result<Counts, StoreError> {
    let k = params.priority.len();
    let mut c: Counts = std::array::from_fn(|_| vec![0u64; k]);
    // `which` of the four counts, slot `i`.
    let add = |c: &mut Counts, which: usize, i: usize, n: i64| {
        if let Some(slot) = c.get_mut(which).and_then(|v| v.get_mut(i)) {
            *slot += u64::try_from(n).unwrap_or(0);
        }
    };
    let pos = |name: &str| params.priority.iter().position(|n| n == name);
    people.names(
        pixel,
        range.from_day,
        range.to_day,
        &mut |name, n, n_ios| {
            if let Some(i) = pos(name) {
                add(&mut c, 0, i, n);
                add(&mut c, 2, i, n_ios);
            }
        },
    )?;
    let mut best_of: FastMap<String, Option<usize>> = FastMap::default();
    people.aem_sets(pixel, range.from_day, range.to_day, &mut |ios, set, n| {
        let best = *best_of
            .entry(set.to_owned())
            .or_insert_with(|| names_of_set(set).iter().filter_map(|s| pos(s)).min());
        if let Some(i) = best {
            add(&mut c, if ios { 3 } else { 1 }, i, n);
        }
    })?;
    Ok(c)
}

/// The counts from a scan of the range's events.
fn from_scan(
    src: &dyn ReportSource,
    pixel: &str,
    range: DayRange,
    params: &AemParams,
) -> Result<Counts, StoreError> {
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
    Ok([all, aem_n, ios_all, ios_aem_n])
}

fn answer(params: &AemParams, c: &Counts) -> Value {
    let [all, aem_n, ios_all, ios_aem_n] = c;
    let events: Vec<Value> = params
        .priority
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let at = |v: &[u64]| v.get(i).copied().unwrap_or(0);
            json!({
                "event": name,
                "priority": i + 1,
                "events": at(all),
                "aem_events": at(aem_n),
                "ios_events": at(ios_all),
                "ios_aem_events": at(ios_aem_n),
            })
        })
        .collect();
    json!({"priority": params.priority, "events": events})
}
