//! `/api/reports/attribution`: Purchases credited to the last non-direct landing before them.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::money::{purchase, Amount, Money};
use super::params::{DayRange, SECS_PER_DAY};
use super::scan::{names, scan};
use super::visitors::{per_visitor, Visitors};
use crate::ports::derivation::{touch, Touch, LANDING};
use crate::ports::{Columns, ReportSource, StoreError};

/// `/api/reports/attribution`: each Purchase in the range credited to its visitor's most recent
/// landing PageView with UTM parameters or `fbclid` at most `window_days` before it (last
/// non-direct touch); the rest are `(direct)`.
pub fn attribution(
    src: &dyn ReportSource,
    pixel: &str,
    range: DayRange,
    window_days: i64,
) -> Result<Value, StoreError> {
    let window = window_days * SECS_PER_DAY;
    // Per visitor: landings (time, id, touch) and purchases (time, value).
    let mut visitors = Visitors::default();
    let mut landings: Vec<Vec<(i64, i64, Touch)>> = Vec::new();
    let mut purchases: Vec<(u32, i64, Option<Amount>)> = Vec::new();
    let cols = Columns {
        user_data: true,
        purchase_data: true,
        source_url: true,
        ..Columns::default()
    };
    let wanted = names(&["PageView", "Purchase"]);
    let (from, to) = (range.from_secs(), range.to_secs());
    scan(
        src,
        pixel,
        from - window,
        to,
        Some(&wanted),
        cols,
        &mut |row| {
            if row.event_name == "PageView" {
                if row.derived.is_some_and(|d| d.keys & LANDING == 0) {
                    return;
                }
                if let Some(t) = touch(row.source_url) {
                    per_visitor(&mut landings, visitors.id(row)).push((row.event_time, row.id, t));
                }
            } else if row.event_time >= from {
                purchases.push((visitors.id(row), row.event_time, purchase(row)));
            }
        },
    )?;
    for l in landings.iter_mut() {
        l.sort_by_key(|(t, id, _)| (*t, *id));
    }
    let mut by_touch: BTreeMap<Option<Touch>, (u64, Money)> = BTreeMap::new();
    for (who, at, value) in &purchases {
        let credited = landings.get(*who as usize).and_then(|l| {
            l.iter()
                .rev()
                .find(|(t, _, _)| *t <= *at && at - t <= window)
                .map(|(_, _, touch)| touch.clone())
        });
        let entry = by_touch.entry(credited).or_default();
        entry.0 += 1;
        if let Some((cur, v)) = value {
            entry.1.add(cur, *v);
        }
    }
    type Campaign = (String, Option<String>, Option<String>);
    let mut campaigns: BTreeMap<Campaign, (u64, Money)> = BTreeMap::new();
    let mut fbclid: BTreeMap<bool, (u64, Money)> = BTreeMap::new();
    for (t, (n, money)) in &by_touch {
        let key = match t {
            Some(t) => (
                t.source.clone().unwrap_or_else(|| "(not set)".to_owned()),
                t.medium.clone(),
                t.campaign.clone(),
            ),
            None => ("(direct)".to_owned(), None, None),
        };
        for (slot_n, slot_m) in [
            campaigns.entry(key).or_default(),
            fbclid
                .entry(t.as_ref().is_some_and(|t| t.fbclid))
                .or_default(),
        ] {
            *slot_n += n;
            for (c, v) in &money.0 {
                slot_m.add(c, *v);
            }
        }
    }
    let fbclid: Vec<Value> = [true, false]
        .iter()
        .map(|has| {
            let (n, money) = fbclid.get(has).cloned().unwrap_or_default();
            json!({"has_fbclid": has, "purchases": n, "revenue": money.json()})
        })
        .collect();
    let mut rows: Vec<_> = campaigns.into_iter().collect();
    rows.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then_with(|| a.0.cmp(&b.0)));
    Ok(json!({
        "window_days": window_days,
        "purchases": purchases.len(),
        "campaigns": rows.iter().map(|((s, m, c), (n, money))| json!({
            "source": s, "medium": m, "campaign": c, "purchases": n, "revenue": money.json(),
        })).collect::<Vec<_>>(),
        "fbclid": fbclid,
    }))
}
