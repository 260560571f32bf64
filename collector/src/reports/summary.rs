//! `/api/reports/summary`: the headline figures an owner asks for first (issue #22), from the
//! rollups: visitors (new: first seen in the range; returning: seen before it too), orders,
//! purchasers, conversion rate (purchasers / visitors), revenue and average order value per
//! currency.

use serde_json::{json, Map, Value};

use super::figures::round;
use super::params::DayRange;
use super::revenue::Revenue;
use crate::ports::rollup::{STEP_ALL, STEP_PURCHASE};
use crate::ports::{ReportSource, StoreError};

/// `/api/reports/summary`:
/// `{"visitors","new_visitors","returning_visitors","orders","purchasers","conversion_rate",
/// "revenue":{"EUR":…},"aov":{"EUR":…}}`. Revenue is the timeline's `totals.revenue`; the
/// average order value of a currency is its revenue over the orders with a value in it.
pub fn summary(src: &dyn ReportSource, pixel: &str, range: DayRange) -> Result<Value, StoreError> {
    let r = src.rollup(pixel, range.from_day, range.to_day)?;
    let mut orders = 0i64;
    let mut revenue = Revenue::default();
    let mut orders_in = Revenue::default();
    for (k, (n, micros)) in &r.hours {
        if k.name != "Purchase" {
            continue;
        }
        orders += n;
        revenue.add(&k.currency, *micros);
        orders_in.add(&k.currency, *n);
    }
    let all = r
        .visitors
        .get(usize::from(STEP_ALL))
        .copied()
        .unwrap_or_default();
    let purchasers = r
        .visitors
        .get(usize::from(STEP_PURCHASE))
        .map_or(0, |d| d.visitors);
    let conversion = if all.visitors > 0 {
        round(purchasers as f64 / all.visitors as f64, 4)
    } else {
        0.0
    };
    let aov: Map<String, Value> = revenue
        .0
        .iter()
        .filter_map(|(cur, micros)| {
            let n = *orders_in.0.get(cur)?;
            (n > 0).then(|| (cur.clone(), json!(Revenue::amount(micros / n))))
        })
        .collect();
    Ok(json!({
        "visitors": all.visitors,
        "new_visitors": all.new,
        "returning_visitors": all.visitors - all.new,
        "orders": orders,
        "purchasers": purchasers,
        "conversion_rate": conversion,
        "revenue": revenue.json(),
        "aov": aov,
    }))
}
