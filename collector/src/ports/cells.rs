//! The cells of the write-time aggregates as the reports read them ([`super::rollup`]): their
//! keys, the distinct visitors of a range, and the funnel steps the visitors are counted in. A
//! leaf: what [`super::ReportSource::rollup`] returns, without the rules that make it.

use std::collections::BTreeMap;

use super::types::RelayStatus;

pub(super) const SECS_PER_HOUR: i64 = 3600;
pub(super) const HOURS_PER_DAY: i64 = 24;

/// The funnel steps, in order (`/api/reports/funnel`); step `i + 1` of the presence cells.
pub const FUNNEL: [&str; 5] = [
    "PageView",
    "ViewContent",
    "AddToCart",
    "InitiateCheckout",
    "Purchase",
];
/// Steps of the presence cells: 0 any event, then one per [`FUNNEL`] step.
pub const STEPS: usize = FUNNEL.len() + 1;
/// The presence step of any event.
pub const STEP_ALL: u8 = 0;
/// The presence step of a Purchase (purchasers).
pub const STEP_PURCHASE: u8 = 5;
/// The previous present day of a visitor's first one.
pub const NONE_DAY: i64 = i64::MIN;
/// An hour cell's key (`hour`: hours since the epoch; `currency` empty for an event without a
/// Purchase amount).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HourKey {
    pub hour: i64,
    pub name: String,
    pub currency: String,
}

/// A day cell's key. `error` is Meta's message of a failed event (`(no message)` without one),
/// `None` for any other status.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DayKey {
    pub day: i64,
    pub name: String,
    pub keys: i64,
    pub status: &'static str,
    pub id_derived: bool,
    pub error: Option<String>,
}

impl DayKey {
    pub fn relay_status(&self) -> RelayStatus {
        RelayStatus::parse(self.status).unwrap_or(RelayStatus::Pending)
    }
}

/// Distinct visitors of a range: all of them, and those first seen in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Distinct {
    pub visitors: i64,
    pub new: i64,
}

/// The cells of one pixel over a range of days, as the reports read them (no zero cells).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rollup {
    /// `(events, micros)`.
    pub hours: BTreeMap<HourKey, (i64, i64)>,
    pub days: BTreeMap<DayKey, i64>,
    /// Per step.
    pub visitors: [Distinct; STEPS],
}

impl Rollup {
    /// Count one gap cell read back: `n` visitors present on a day of the range whose previous
    /// present day was `prev` (already known to be before the range).
    pub fn add_gap(&mut self, step: u8, prev: i64, n: i64) {
        if let Some(d) = self.visitors.get_mut(usize::from(step)) {
            d.visitors += n;
            if prev == NONE_DAY {
                d.new += n;
            }
        }
    }
}

/// The hours `[from, to)` of UTC days `from_day..=to_day`.
pub fn hour_range(from_day: i64, to_day: i64) -> (i64, i64) {
    (from_day * HOURS_PER_DAY, (to_day + 1) * HOURS_PER_DAY)
}
