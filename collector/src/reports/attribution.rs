//! `/api/reports/attribution`: Purchases credited to the last non-direct landing before them,
//! with per channel the visitors who landed through it, its purchasers, conversion rate and
//! average order value.
//!
//! A store that keeps the per-person state ([`crate::ports::people`]) answers from it: the
//! Purchases of the range, each with its visitor's latest landing at or before it, and the
//! landings of the range; the time grows with those, not with every event. Otherwise the
//! events are scanned (the window before the range too) and the same is computed from them.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::figures::round;
use super::money::{purchase, Amount, Money};
use super::params::{DayRange, SECS_PER_DAY};
use super::scan::{names, scan};
use super::visitors::{per_visitor, FastMap, Visitors};
use crate::ports::derivation::{touch, Touch, LANDING};
use crate::ports::people::{campaign_of_key, touch_of_key, PeopleSource};
use crate::ports::{Columns, ReportSource, StoreError};

/// What the figures are made of: each Purchase of the range (its visitor, the touch it is
/// credited to, its amount) and per channel the distinct visitors who landed in the range.
#[derive(Default)]
struct Credits {
    purchases: Vec<(u32, Option<Touch>, Option<Amount>)>,
    visitors: BTreeMap<Campaign, u64>,
}

/// `/api/reports/attribution`: each Purchase in the range credited to its visitor's most recent
/// landing PageView with UTM parameters or `fbclid` at most `window_days` before it (last
/// non-direct touch); the rest are `(direct)`.
pub fn attribution(
    src: &dyn ReportSource,
    pixel: &str,
    range: DayRange,
    window_days: i64,
) -> Result<Value, StoreError> {
    let credits = match src.people() {
        Some(people) => from_people(people, pixel, range, window_days)?,
        None => from_scan(src, pixel, range, window_days)?,
    };
    Ok(figures(&credits, window_days))
}

/// The credits from the per-person state.
fn from_people(
    people: &dyn PeopleSource,
    pixel: &str,
    range: DayRange,
    window_days: i64,
) -> Result<Credits, StoreError> {
    let window = window_days * SECS_PER_DAY;
    let (from, to) = (range.from_secs(), range.to_secs());
    let mut ids: FastMap<Box<str>, u32> = FastMap::default();
    let mut touches: FastMap<Box<str>, Option<Touch>> = FastMap::default();
    let mut id = |v: &str| -> u32 {
        let next = u32::try_from(ids.len()).unwrap_or(u32::MAX);
        *ids.entry(v.into()).or_insert(next)
    };
    let mut touch_of = |k: &str| -> Option<Touch> {
        if let Some(t) = touches.get(k) {
            return t.clone();
        }
        let t = touch_of_key(k);
        touches.insert(k.into(), t.clone());
        t
    };
    let mut c = Credits::default();
    people.purchases(pixel, from, to, &mut |p| {
        let credited = p
            .landing
            .filter(|(age, _)| *age <= window)
            .and_then(|(_, k)| touch_of(k));
        let amount = p.amount.map(|(cur, v)| (cur.to_owned(), v));
        c.purchases.push((id(p.visitor), credited, amount));
    })?;
    people.channel_visitors(pixel, range.from_day, range.to_day, &mut |k, n| {
        if let Some(key) = campaign_of_key(k) {
            *c.visitors.entry(key).or_insert(0) += u64::try_from(n).unwrap_or(0);
        }
    })?;
    Ok(c)
}

/// The credits from a scan of the events.
fn from_scan(
    src: &dyn ReportSource,
    pixel: &str,
    range: DayRange,
    window_days: i64,
) -> Result<Credits, StoreError> {
    let window = window_days * SECS_PER_DAY;
    // Per visitor: landings (time, id, touch) and purchases (time, value).
    let mut visitors = Visitors::default();
    let mut landings: Vec<Vec<(i64, i64, Touch)>> = Vec::new();
    let mut purchases: Vec<(u32, (i64, i64), Option<Amount>)> = Vec::new();
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
                purchases.push((visitors.id(row), (row.event_time, row.id), purchase(row)));
            }
        },
    )?;
    let mut c = Credits::default();
    let mut landed: BTreeSet<(Campaign, usize)> = BTreeSet::new();
    for (who, l) in landings.iter_mut().enumerate() {
        l.sort_by_key(|(t, id, _)| (*t, *id));
        for (t, _, touch) in l.iter() {
            if *t >= from {
                landed.insert((campaign(Some(touch)), who));
            }
        }
    }
    for (key, _) in landed {
        *c.visitors.entry(key).or_insert(0) += 1;
    }
    // A landing credits a Purchase stored after it in the same second, as the per-person
    // state's rule (`ports::people`).
    for (who, (at, at_row), value) in purchases {
        let credited = landings.get(who as usize).and_then(|l| {
            l.iter()
                .rev()
                .find(|(t, id, _)| (*t, *id) < (at, at_row) && at - t <= window)
                .map(|(_, _, touch)| touch.clone())
        });
        c.purchases.push((who, credited, value));
    }
    Ok(c)
}

/// A channel: `utm_source` (or `(not set)`, `(direct)`), `utm_medium`, `utm_campaign`.
type Campaign = (String, Option<String>, Option<String>);

fn campaign(t: Option<&Touch>) -> Campaign {
    match t {
        Some(t) => (
            t.source.clone().unwrap_or_else(|| "(not set)".to_owned()),
            t.medium.clone(),
            t.campaign.clone(),
        ),
        None => ("(direct)".to_owned(), None, None),
    }
}

/// One channel's figures.
#[derive(Default)]
struct Channel {
    purchases: u64,
    revenue: Money,
    /// Purchases with a value, per currency (the denominator of the average order value).
    orders: BTreeMap<String, u64>,
    purchasers: BTreeSet<u32>,
    visitors: u64,
}

fn figures(c: &Credits, window_days: i64) -> Value {
    let mut campaigns: BTreeMap<Campaign, Channel> = BTreeMap::new();
    let mut fbclid: BTreeMap<bool, (u64, Money)> = BTreeMap::new();
    for (who, t, value) in &c.purchases {
        let ch = campaigns.entry(campaign(t.as_ref())).or_default();
        ch.purchases += 1;
        ch.purchasers.insert(*who);
        let f = fbclid
            .entry(t.as_ref().is_some_and(|t| t.fbclid))
            .or_default();
        f.0 += 1;
        if let Some((cur, v)) = value {
            ch.revenue.add(cur, *v);
            *ch.orders.entry(cur.clone()).or_insert(0) += 1;
            f.1.add(cur, *v);
        }
    }
    for (key, n) in &c.visitors {
        campaigns.entry(key.clone()).or_default().visitors += n;
    }
    let fbclid: Vec<Value> = [true, false]
        .iter()
        .map(|has| {
            let (n, money) = fbclid.get(has).cloned().unwrap_or_default();
            json!({"has_fbclid": has, "purchases": n, "revenue": money.json()})
        })
        .collect();
    let mut rows: Vec<_> = campaigns.into_iter().collect();
    rows.sort_by(|a, b| {
        b.1.purchases
            .cmp(&a.1.purchases)
            .then_with(|| a.0.cmp(&b.0))
    });
    let rows: Vec<Value> = rows
        .iter()
        .map(|((s, m, cpg), ch)| {
            let (visitors, purchasers) = (ch.visitors, ch.purchasers.len());
            let rate = if visitors == 0 {
                0.0
            } else {
                round(purchasers as f64 / visitors as f64, 4)
            };
            let aov: serde_json::Map<String, Value> = ch
                .revenue
                .0
                .iter()
                .map(|(cur, sum)| {
                    let n = ch.orders.get(cur).copied().unwrap_or(1).max(1);
                    (cur.clone(), json!(round(sum / n as f64, 2)))
                })
                .collect();
            json!({
                "source": s, "medium": m, "campaign": cpg, "purchases": ch.purchases,
                "revenue": ch.revenue.json(), "visitors": visitors, "purchasers": purchasers,
                "conversion_rate": rate, "aov": aov,
            })
        })
        .collect();
    json!({
        "window_days": window_days,
        "purchases": c.purchases.len(),
        "campaigns": rows,
        "fbclid": fbclid,
    })
}
