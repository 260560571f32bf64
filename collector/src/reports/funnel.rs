//! `/api/reports/funnel`: events and visitors per step of [`FUNNEL`], from the rollups.

use serde_json::{json, Value};

use super::figures::ratio;
use super::params::DayRange;
use super::scan::scan_range;
use super::visitors::{per_visitor, Visitors};
use crate::ports::rollup::STEP_ALL;
use crate::ports::{Columns, ReportSource, StoreError};

pub use crate::ports::rollup::FUNNEL;

/// `/api/reports/funnel`: the events of each step (day cells), the distinct visitors of the
/// range and of each step (gap cells, [`crate::ports::rollup`]).
pub fn funnel(src: &dyn ReportSource, pixel: &str, range: DayRange) -> Result<Value, StoreError> {
    if !src.keeps_rollups() {
        return scanned(src, pixel, range);
    }
    let r = src.rollup(pixel, range.from_day, range.to_day)?;
    let mut events = [0u64; FUNNEL.len()];
    let mut all_events = 0u64;
    for (k, n) in &r.days {
        let n = u64::try_from(*n).unwrap_or(0);
        all_events += n;
        if let Some(i) = FUNNEL.iter().position(|s| *s == k.name) {
            if let Some(e) = events.get_mut(i) {
                *e += n;
            }
        }
    }
    let visitors = |step: usize| {
        r.visitors
            .get(step)
            .map_or(0, |d| u64::try_from(d.visitors).unwrap_or(0))
    };
    Ok(answer(
        events,
        all_events,
        visitors(usize::from(STEP_ALL)),
        |i| visitors(i + 1),
    ))
}

/// The report from its counts, whether from the rollups or a scan (`scanned` below): the
/// events of each step, all events, all visitors, and `step_visitors(i)`, the visitors who did
/// step `i` of [`FUNNEL`].
fn answer(
    events: [u64; FUNNEL.len()],
    all_events: u64,
    all_visitors: u64,
    step_visitors: impl Fn(usize) -> u64,
) -> Value {
    let mut steps = Vec::with_capacity(FUNNEL.len());
    let mut previous: Option<u64> = None;
    for (i, (name, n)) in FUNNEL.iter().zip(events).enumerate() {
        let v = step_visitors(i);
        steps.push(json!({
            "event": name,
            "events": n,
            "visitors": v,
            "rate_from_previous": previous.and_then(|p| ratio(v, p)),
        }));
        previous = Some(v);
    }
    json!({
        "events": all_events,
        "visitors": all_visitors,
        "steps": steps,
    })
}

/// [`funnel`] from a scan of the events, for a store that keeps no rollups (PostgreSQL, for
/// now): the same counts, the same answer.
fn scanned(src: &dyn ReportSource, pixel: &str, range: DayRange) -> Result<Value, StoreError> {
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
