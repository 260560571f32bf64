//! Write-time aggregates ("rollups"): what the count-like reports (funnel, timeline, match
//! quality, relay, summary) read instead of the events, so that their time grows with the days
//! in the range and not with the events in it (issue #26).
//!
//! Backend-neutral and pure: an event's stored facts ([`fact`]) become the cells it contributes
//! ([`Delta::add`]); every mutation of an event in a store (insert, the merge of its other copy,
//! a relay status change, expiry, purge) is "minus the old fact, plus the new one" through one
//! store function that hands a [`Delta`] to [`apply`], so no path can drift. Three kinds of cell:
//!
//! ```text
//!   hours   (pixel, hour, event name, purchase currency)         → events, value in micros
//!   days    (pixel, day, event name, match/origin keys, relay status,
//!            event_id_derived, Meta's message when failed)        → events
//!   gaps    (pixel, step, day, previous day of presence)          → visitors
//! ```
//!
//! Distinct visitors, exact for any range of days: each visitor (its `fbp`, else its hashed
//! `external_id` or `em`; an event with neither is an anonymous visitor of its own) is present
//! on a set of days per step (any event, and each [`FUNNEL`] step); the store keeps that set
//! (`visitor_days`: visitor, step, day → events, so a deletion knows when a day empties), and
//! for each present day the gap to the visitor's previous present day. A visitor is in
//! `from..=to` exactly once with a present day there whose previous one is before `from` (or
//! none: first seen, [`NONE_DAY`]), so the distinct visitors of any range are a sum over the
//! `gaps` cells with `day` in the range and `prev < from`, and the new ones those with no `prev`.
//! Adding or removing a present day touches at most three gap cells (its own, and its next
//! day's, which now points past it).
//!
//! Revenue is summed in integer micros (millionths of the currency unit), so that minus and plus
//! cancel exactly (a float sum drifts); a value is bounded to ±[`MAX_VALUE`].

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use serde_json::Value;

pub use super::cells::{
    hour_range, DayKey, Distinct, HourKey, Rollup, FUNNEL, NONE_DAY, STEPS, STEP_ALL, STEP_PURCHASE,
};
use super::cells::{HOURS_PER_DAY, SECS_PER_HOUR};
use super::derivation::{derive, FROM_CLIENT, LANDING};
use super::report_source::{Columns, Derived, ReportSource, Row, Scan};
use super::types::{RelayStatus, StoreError};

/// The currency of a Purchase value without one (ISO 4217's "no currency").
pub const NO_CURRENCY: &str = "XXX";
/// A Purchase value is counted within ±this (whole currency units), so that sums of micros stay
/// far inside an `i64` (9,000 such orders in one hour and currency).
pub const MAX_VALUE: f64 = 1e9;
/// Micros per currency unit.
pub const MICROS: f64 = 1e6;

/// A Purchase value as the rollups count it: micros, bounded to ±[`MAX_VALUE`].
pub fn micros(value: f64) -> i64 {
    (value.clamp(-MAX_VALUE, MAX_VALUE) * MICROS).round() as i64
}
/// The bits of `report_keys` the day cells keep: the match keys and the origin (which copies,
/// late), not iOS nor landing (the per-person reports read those from the events).
pub const DAY_KEYS: i64 = !(LANDING | (FROM_CLIENT & !(1 << 5)));

/// What the rollups know of one stored event.
#[derive(Clone, Debug, PartialEq)]
pub struct Fact {
    pub pixel: String,
    pub name: String,
    pub time: i64,
    /// `report_keys` & [`DAY_KEYS`].
    pub keys: i64,
    /// `b:<fbp>`, or the named visitor (`x:…`, `e:…`); `None`: anonymous.
    pub visitor: Option<String>,
    pub status: &'static str,
    pub error: Option<String>,
    pub id_derived: bool,
    /// Currency and value in micros of a Purchase with a finite value.
    pub amount: Option<(String, i64)>,
}

/// `value` and `currency` of a Purchase (any other field is skipped unread).
#[derive(Default, Deserialize)]
struct PurchaseData {
    value: Option<Value>,
    currency: Option<String>,
}

/// A Purchase's currency and value read from its `custom_data` (`row.purchase_data`), `None`
/// without a finite value. What the timeline has always counted as revenue.
pub fn amount(row: &Row<'_>) -> Option<(String, f64)> {
    amount_json(row.purchase_data)
}

/// [`amount`] of a stored `custom_data` (JSON text): the one rule, which the per-person state
/// ([`super::people`]) keeps at write time too.
pub fn amount_json(custom_data: &str) -> Option<(String, f64)> {
    if custom_data.len() <= 2 {
        return None;
    }
    let pd: PurchaseData = serde_json::from_str(custom_data).unwrap_or_default();
    amount_of(pd.value.as_ref(), pd.currency.as_deref())
}

/// [`amount`] of a `custom_data` object already parsed (the write path's).
pub fn amount_in(custom_data: &serde_json::Map<String, Value>) -> Option<(String, f64)> {
    let currency = custom_data.get("currency").and_then(Value::as_str);
    amount_of(custom_data.get("value"), currency)
}

fn amount_of(value: Option<&Value>, currency: Option<&str>) -> Option<(String, f64)> {
    let value = match value? {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    if !value.is_finite() {
        return None;
    }
    let currency = currency
        .map(|c| c.trim().to_ascii_uppercase())
        .filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_alphabetic()))
        .unwrap_or_else(|| NO_CURRENCY.to_owned());
    Some((currency, value))
}

/// The facts of a stored event of `pixel`, `row` as a scan returns it (with its purchase data,
/// relay fields, origin; its derived columns, or else the columns they are derived from).
pub fn fact(pixel: &str, row: &Row<'_>) -> Fact {
    let amount = if row.event_name == "Purchase" {
        amount(row)
    } else {
        None
    };
    fact_with(pixel, row, amount)
}

/// [`fact`] with the Purchase's amount already read ([`amount_in`], on the write path; `row`'s
/// purchase data is not read).
pub fn fact_with(pixel: &str, row: &Row<'_>, amount: Option<(String, f64)>) -> Fact {
    let (keys, named) = match row.derived {
        Some(d) => (d.keys, d.visitor.map(str::to_owned)),
        None => derive(row),
    };
    let visitor = match row.fbp {
        Some(fbp) => Some(format!("b:{fbp}")),
        None => named,
    };
    let status = row.relay_status.unwrap_or(RelayStatus::Pending);
    let error = (status == RelayStatus::Failed)
        .then(|| row.relay_error.unwrap_or("(no message)").to_owned());
    let amount = amount
        .filter(|_| row.event_name == "Purchase")
        .map(|(c, v)| (c, micros(v)));
    Fact {
        pixel: pixel.to_owned(),
        name: row.event_name.to_owned(),
        time: row.event_time,
        keys: keys & DAY_KEYS,
        visitor,
        status: status.as_str(),
        error,
        id_derived: row.event_id_derived,
        amount,
    }
}

/// The presence steps an event of `name` counts in.
pub fn steps(name: &str) -> impl Iterator<Item = u8> {
    let step = FUNNEL.iter().position(|s| *s == name);
    std::iter::once(STEP_ALL).chain(step.map(|i| i as u8 + 1))
}

/// Changes to the cells, summed over the facts added and removed: what [`apply`] writes.
#[derive(Default, Debug)]
pub struct Delta {
    pub hours: HashMap<(String, HourKey), (i64, i64)>,
    pub days: HashMap<(String, DayKey), i64>,
    /// `(pixel, visitor, step, day)` → events.
    pub presence: HashMap<(String, String, u8, i64), i64>,
    /// Anonymous visitors, one per event: `(pixel, step, day)`.
    pub anonymous: HashMap<(String, u8, i64), i64>,
}

impl Delta {
    /// Count `f` in (`sign` 1) or out (`sign` -1).
    pub fn add(&mut self, f: &Fact, sign: i64) {
        let hour = f.time.div_euclid(SECS_PER_HOUR);
        let day = hour.div_euclid(HOURS_PER_DAY);
        let (currency, micros) = f.amount.clone().unwrap_or_default();
        let h = self
            .hours
            .entry((
                f.pixel.clone(),
                HourKey {
                    hour,
                    name: f.name.clone(),
                    currency,
                },
            ))
            .or_insert((0, 0));
        h.0 += sign;
        h.1 += sign * micros;
        *self
            .days
            .entry((
                f.pixel.clone(),
                DayKey {
                    day,
                    name: f.name.clone(),
                    keys: f.keys,
                    status: f.status,
                    id_derived: f.id_derived,
                    error: f.error.clone(),
                },
            ))
            .or_insert(0) += sign;
        for step in steps(&f.name) {
            match &f.visitor {
                Some(v) => {
                    *self
                        .presence
                        .entry((f.pixel.clone(), v.clone(), step, day))
                        .or_insert(0) += sign
                }
                None => {
                    *self
                        .anonymous
                        .entry((f.pixel.clone(), step, day))
                        .or_insert(0) += sign
                }
            }
        }
    }

    /// `before` out, `after` in.
    pub fn change(&mut self, before: Option<&Fact>, after: Option<&Fact>) {
        if before == after {
            return;
        }
        if let Some(b) = before {
            self.add(b, -1);
        }
        if let Some(a) = after {
            self.add(a, 1);
        }
    }
}

/// Where [`apply`] writes: a store's cells, inside the transaction of the change.
pub trait Cells {
    fn hour(
        &mut self,
        pixel: &str,
        key: &HourKey,
        events: i64,
        micros: i64,
    ) -> Result<(), StoreError>;
    fn day(&mut self, pixel: &str, key: &DayKey, events: i64) -> Result<(), StoreError>;
    fn gap(&mut self, pixel: &str, step: u8, day: i64, prev: i64, n: i64)
        -> Result<(), StoreError>;
    /// Add `delta` to the events of `visitor` on `day` in `step` (removing the day at 0);
    /// returns the count before.
    fn presence(
        &mut self,
        pixel: &str,
        visitor: &str,
        step: u8,
        day: i64,
        delta: i64,
    ) -> Result<i64, StoreError>;
    /// The visitor's present days nearest to `day` in `step`, before and after it (not `day`).
    fn neighbours(
        &mut self,
        pixel: &str,
        visitor: &str,
        step: u8,
        day: i64,
    ) -> Result<(Option<i64>, Option<i64>), StoreError>;
}

/// Write `delta` into `cells`: the one function every mutation of every store goes through.
pub fn apply(delta: &Delta, cells: &mut dyn Cells) -> Result<(), StoreError> {
    for ((pixel, key), (events, micros)) in &delta.hours {
        if *events != 0 || *micros != 0 {
            cells.hour(pixel, key, *events, *micros)?;
        }
    }
    for ((pixel, key), events) in &delta.days {
        if *events != 0 {
            cells.day(pixel, key, *events)?;
        }
    }
    for ((pixel, step, day), n) in &delta.anonymous {
        if *n != 0 {
            cells.gap(pixel, *step, *day, NONE_DAY, *n)?;
        }
    }
    for ((pixel, visitor, step, day), d) in &delta.presence {
        if *d == 0 {
            continue;
        }
        let (step, day) = (*step, *day);
        let old = cells.presence(pixel, visitor, step, day, *d)?;
        let new = old + d;
        let sign = match (old > 0, new > 0) {
            (false, true) => 1,
            (true, false) => -1,
            _ => continue,
        };
        let (prev, next) = cells.neighbours(pixel, visitor, step, day)?;
        let prev = prev.unwrap_or(NONE_DAY);
        cells.gap(pixel, step, day, prev, sign)?;
        if let Some(next) = next {
            cells.gap(pixel, step, next, prev, -sign)?;
            cells.gap(pixel, step, next, day, sign)?;
        }
    }
    Ok(())
}

/// Every cell in memory: the in-memory store's rollups, and what a rebuild computes from the
/// events (so the two compare with `==`). Zero cells are removed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RollupState {
    hours: BTreeMap<(String, HourKey), (i64, i64)>,
    days: BTreeMap<(String, DayKey), i64>,
    gaps: BTreeMap<(String, u8, i64, i64), i64>,
    presence: BTreeMap<(String, String, u8, i64), i64>,
}

fn bump<K: Ord>(map: &mut BTreeMap<K, i64>, key: K, n: i64) -> i64 {
    let old = map.get(&key).copied().unwrap_or(0);
    if old + n == 0 {
        map.remove(&key);
    } else {
        map.insert(key, old + n);
    }
    old
}

impl Cells for RollupState {
    fn hour(
        &mut self,
        pixel: &str,
        key: &HourKey,
        events: i64,
        micros: i64,
    ) -> Result<(), StoreError> {
        let k = (pixel.to_owned(), key.clone());
        let v = self.hours.entry(k.clone()).or_insert((0, 0));
        v.0 += events;
        v.1 += micros;
        if *v == (0, 0) {
            self.hours.remove(&k);
        }
        Ok(())
    }
    fn day(&mut self, pixel: &str, key: &DayKey, events: i64) -> Result<(), StoreError> {
        bump(&mut self.days, (pixel.to_owned(), key.clone()), events);
        Ok(())
    }
    fn gap(
        &mut self,
        pixel: &str,
        step: u8,
        day: i64,
        prev: i64,
        n: i64,
    ) -> Result<(), StoreError> {
        bump(&mut self.gaps, (pixel.to_owned(), step, day, prev), n);
        Ok(())
    }
    fn presence(
        &mut self,
        pixel: &str,
        visitor: &str,
        step: u8,
        day: i64,
        delta: i64,
    ) -> Result<i64, StoreError> {
        let key = (pixel.to_owned(), visitor.to_owned(), step, day);
        Ok(bump(&mut self.presence, key, delta))
    }
    fn neighbours(
        &mut self,
        pixel: &str,
        visitor: &str,
        step: u8,
        day: i64,
    ) -> Result<(Option<i64>, Option<i64>), StoreError> {
        let (p, v) = (pixel.to_owned(), visitor.to_owned());
        let prev = self
            .presence
            .range((p.clone(), v.clone(), step, i64::MIN)..(p.clone(), v.clone(), step, day))
            .next_back()
            .map(|(k, _)| k.3);
        let next = self
            .presence
            .range((p.clone(), v.clone(), step, day.saturating_add(1))..=(p, v, step, i64::MAX))
            .next()
            .map(|(k, _)| k.3);
        Ok((prev, next))
    }
}

impl RollupState {
    /// The cells of `pixel` over UTC days `from_day..=to_day`.
    pub fn read(&self, pixel: &str, from_day: i64, to_day: i64) -> Rollup {
        let mut r = Rollup::default();
        let (h0, h1) = hour_range(from_day, to_day);
        let p = pixel.to_owned();
        let lo = |hour| HourKey {
            hour,
            name: String::new(),
            currency: String::new(),
        };
        for ((_, k), v) in self.hours.range((p.clone(), lo(h0))..(p.clone(), lo(h1))) {
            r.hours.insert(k.clone(), *v);
        }
        for ((px, k), v) in &self.days {
            if *px == p && (from_day..=to_day).contains(&k.day) {
                r.days.insert(k.clone(), *v);
            }
        }
        for ((px, step, day, prev), n) in &self.gaps {
            if *px == p && (from_day..=to_day).contains(day) && *prev < from_day {
                r.add_gap(*step, *prev, *n);
            }
        }
        r
    }

    /// Apply `delta` (never fails in memory).
    pub fn apply(&mut self, delta: &Delta) {
        let _ = apply(delta, self);
    }
}

/// The cells of `pixel` over `from_day..=to_day` computed from the raw events: what a store
/// without rollups answers (PostgreSQL today), and what the rollups must always equal. One scan
/// of the range, counting into maps keyed by small integers (names, currencies, messages and
/// visitors numbered as they appear), and one of the events before it that reads only who did
/// what: a visitor present in the range and before it is a returning one.
pub fn from_scan<S: ReportSource + ?Sized>(
    src: &S,
    pixel: &str,
    from_day: i64,
    to_day: i64,
) -> Result<Rollup, StoreError> {
    let from_secs = from_day * SECS_PER_HOUR * HOURS_PER_DAY;
    let range = Scan {
        pixel_id: pixel,
        from_secs,
        to_secs: (to_day + 1) * SECS_PER_HOUR * HOURS_PER_DAY,
        names: None,
        columns: Columns {
            user_data: true,
            purchase_data: true,
            user_agent: true,
            relay: true,
            origin: true,
            ..Default::default()
        },
    };
    let mut c = Counts::default();
    src.scan(&range, &mut |row| c.count(row))?;
    let mut r = c.rollup();
    if c.visitors.is_empty() {
        return Ok(r);
    }
    let before = Scan {
        from_secs: i64::MIN / 2,
        to_secs: from_secs,
        columns: Columns {
            user_data: true,
            ..Default::default()
        },
        ..range
    };
    // Per visitor of the range: the steps they did before it too.
    let mut returning = vec![0u8; c.visitors.len()];
    src.scan(&before, &mut |row| {
        let id = match visitor_of(row) {
            Some(Who::Fbp(f)) => c.visitors.get(&Key::Fbp(f.into())),
            Some(Who::Named(n)) => c.visitors.get(&Key::Named(n.into())),
            None => None,
        };
        if let Some(&id) = id {
            let mask = steps(row.event_name).fold(0u8, |m, s| m | 1 << s);
            if let Some(slot) = returning.get_mut(id as usize) {
                *slot |= mask & c.did.get(id as usize).copied().unwrap_or(0);
            }
        }
    })?;
    for mask in returning {
        for (step, d) in r.visitors.iter_mut().enumerate() {
            if mask & (1 << step) != 0 {
                d.new -= 1;
            }
        }
    }
    Ok(r)
}

/// Who did an event, borrowed from its row: its `fbp`, else its named visitor.
enum Who<'a> {
    Fbp(&'a str),
    Named(std::borrow::Cow<'a, str>),
}

fn visitor_of<'a>(row: &Row<'a>) -> Option<Who<'a>> {
    if let Some(fbp) = row.fbp {
        return Some(Who::Fbp(fbp));
    }
    match row.derived {
        Some(d) => d.visitor.map(|v| Who::Named(v.into())),
        None => derive(row).1.map(|v| Who::Named(v.into())),
    }
}

#[derive(PartialEq, Eq, Hash)]
enum Key {
    Fbp(Box<str>),
    Named(Box<str>),
}

type Fast<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
/// A [`DayKey`] with its name and message as numbers.
type DayIds = (i64, u16, i64, &'static str, bool, Option<u16>);

/// The range's cells as [`from_scan`] counts them.
#[derive(Default)]
struct Counts {
    names: Vec<String>,
    texts: Vec<String>,
    /// (hour, name, currency text or none) → (events, micros).
    hours: Fast<(i64, u16, Option<u16>), (i64, i64)>,
    /// (day, name, keys, status, id_derived, error text) → events.
    days: Fast<DayIds, i64>,
    visitors: Fast<Key, u32>,
    /// Per visitor: the steps they did in the range.
    did: Vec<u8>,
    anonymous: [i64; STEPS],
}

fn intern(list: &mut Vec<String>, s: &str) -> u16 {
    match list.iter().position(|x| x == s) {
        Some(i) => i as u16,
        None => {
            list.push(s.to_owned());
            (list.len() - 1) as u16
        }
    }
}

impl Counts {
    fn count(&mut self, row: &Row<'_>) {
        let keys = match row.derived {
            Some(d) => d.keys,
            None => derive(row).0,
        } & DAY_KEYS;
        let status = row.relay_status.unwrap_or(RelayStatus::Pending);
        let error = (status == RelayStatus::Failed)
            .then(|| intern(&mut self.texts, row.relay_error.unwrap_or("(no message)")));
        let name = intern(&mut self.names, row.event_name);
        let amount = if row.event_name == "Purchase" {
            amount(row)
        } else {
            None
        };
        let (currency, micros) = match amount {
            Some((c, v)) => (Some(intern(&mut self.texts, &c)), micros(v)),
            None => (None, 0),
        };
        let hour = row.event_time.div_euclid(SECS_PER_HOUR);
        let h = self.hours.entry((hour, name, currency)).or_insert((0, 0));
        h.0 += 1;
        h.1 += micros;
        let day = hour.div_euclid(HOURS_PER_DAY);
        *self
            .days
            .entry((
                day,
                name,
                keys,
                status.as_str(),
                row.event_id_derived,
                error,
            ))
            .or_insert(0) += 1;
        let mask = steps(row.event_name).fold(0u8, |m, s| m | 1 << s);
        let key = match visitor_of(row) {
            Some(Who::Fbp(f)) => Key::Fbp(f.into()),
            Some(Who::Named(n)) => Key::Named(n.into()),
            None => {
                for (step, n) in self.anonymous.iter_mut().enumerate() {
                    if mask & (1 << step) != 0 {
                        *n += 1;
                    }
                }
                return;
            }
        };
        let next = self.visitors.len() as u32;
        let id = *self.visitors.entry(key).or_insert(next);
        if id == next {
            self.did.push(0);
        }
        if let Some(d) = self.did.get_mut(id as usize) {
            *d |= mask;
        }
    }

    /// As if every visitor of the range were first seen in it (the scan before corrects that).
    fn rollup(&self) -> Rollup {
        let text = |i: Option<u16>| i.and_then(|i| self.texts.get(usize::from(i)).cloned());
        let name = |i: u16| self.names.get(usize::from(i)).cloned().unwrap_or_default();
        let mut r = Rollup::default();
        for ((hour, n, cur), v) in &self.hours {
            let key = HourKey {
                hour: *hour,
                name: name(*n),
                currency: text(*cur).unwrap_or_default(),
            };
            let e = r.hours.entry(key).or_insert((0, 0));
            e.0 += v.0;
            e.1 += v.1;
        }
        for ((day, n, keys, status, id_derived, error), v) in &self.days {
            let key = DayKey {
                day: *day,
                name: name(*n),
                keys: *keys,
                status,
                id_derived: *id_derived,
                error: text(*error),
            };
            *r.days.entry(key).or_insert(0) += v;
        }
        for (step, d) in r.visitors.iter_mut().enumerate() {
            let n = self.did.iter().filter(|m| *m & (1 << step) != 0).count() as i64
                + self.anonymous.get(step).copied().unwrap_or(0);
            d.visitors = n;
            d.new = n;
        }
        r
    }
}

/// A row of a report's day cell keys, for [`super::derivation::origin`].
pub fn keys_row(keys: i64) -> Row<'static> {
    Row {
        derived: Some(Derived {
            keys,
            visitor: None,
        }),
        ..Row::default()
    }
}
