//! Per-person state for the per-person reports (attribution, AEM), kept at write time so that a
//! report reads what grows with the people and days of its range instead of rescanning events.
//!
//! Every stored event contributes [`Facts`]; every mutation of the events table is, for this
//! state, "forget the old row's facts, remember the new row's": an insert remembers, a
//! browser/server merge forgets then remembers, a purge forgets. [`remember`] and [`forget`] are
//! exact inverses, and the state they leave depends only on the set of rows stored, not on the
//! order they came in. So a landing PageView that arrives after the Purchase it should credit
//! (outbox retries, server events up to 7 days late) updates that Purchase, and a rebuild from
//! the raw rows gives the same state as the incremental path (the property test proves it).
//!
//! What is kept, per pixel:
//!
//! ```text
//!   landings   (visitor, time, row) → touch          every landing PageView
//!   channel_days (campaign, visitor, day) → n         landings per channel, visitor and day
//!   firsts     (campaign, day, previous day) → count  per channel and day, the visitors who
//!                                                     landed that day, by the day they last did
//!   purchases  (time, row) → visitor, amount,        every Purchase, with its visitor's latest
//!              latest landing at or before it         landing at or before it (time, row, touch)
//!   days       (visitor, day, name) → n, n_ios        events per visitor-day and name
//!   aem_sets   (day, ios, set of names) → count       visitor-days per set of names they did
//!   names      (day, name) → n, n_ios                 events per day and name
//! ```
//!
//! Attribution for any window (1–90 days) reads the purchases of its range: a Purchase is
//! credited to its latest landing when that landing is at most `window` before it (an older
//! latest landing means every earlier one is older still). AEM for any priority list reads the
//! sets of its days: per visitor-day, the highest-priority name of its set. The distinct visitors
//! who landed through a channel in days `a..=b` are the landing days `d` in `a..=b` whose
//! visitor's previous landing day on that channel is before `a` (each visitor has exactly one
//! such day, its first in the range): a sum over `firsts`, exact for any range. The stores persist
//! the tables through [`PeopleTx`]; the algorithm is written once, here.
//!
//! A visitor is as the reports count them (`reports/visitors.rs`): the `fbp` (`f:` + fbp), else
//! the named visitor (`x:<external_id>`, `e:<em>`), else an anonymous visitor of one event
//! (`#<row id>`).

use super::derivation::{ios, touch, Touch, LANDING};
pub use super::people_source::{PeopleSource, PurchaseView};
use super::report_source::{Derived, Row};
use super::types::StoreError;

/// A Purchase's currency and value.
pub type Amount = (String, f64);

pub use super::rollup::NO_CURRENCY;

/// What one stored event contributes to the per-person state.
#[derive(Clone, Debug, PartialEq)]
pub struct Facts {
    pub pixel: String,
    pub row: i64,
    pub name: String,
    pub time: i64,
    pub visitor: String,
    pub ios: bool,
    /// A landing PageView's touch ([`touch_key`]).
    pub touch: Option<String>,
    /// A Purchase's amount (`None` for a Purchase without a finite value).
    pub amount: Option<Amount>,
}

impl Facts {
    fn is_purchase(&self) -> bool {
        self.name == "Purchase"
    }
    fn day(&self) -> i64 {
        self.time.div_euclid(86_400)
    }
}

/// The columns of a stored row the facts are made of. `derived`: the row's `report_keys` and
/// `report_visitor` when stored; without them, `row` must carry what
/// [`derive`](super::derivation::derive) reads.
pub fn facts(pixel: &str, row: &Row<'_>) -> Facts {
    let (keys, named) = match row.derived {
        Some(d) => (d.keys, d.visitor.map(str::to_owned)),
        None => super::derivation::derive(row),
    };
    let visitor = match (row.fbp, named) {
        (Some(fbp), _) => format!("f:{fbp}"),
        (None, Some(v)) => v,
        (None, None) => format!("#{}", row.id),
    };
    let derived = Row {
        derived: Some(Derived {
            keys,
            visitor: None,
        }),
        ..Row::default()
    };
    let touch = (row.event_name == "PageView" && keys & LANDING != 0)
        .then(|| touch(row.source_url))
        .flatten()
        .map(|t| touch_key(&t));
    let amount = (row.event_name == "Purchase")
        .then(|| amount(row.purchase_data))
        .flatten();
    Facts {
        pixel: pixel.to_owned(),
        row: row.id,
        name: row.event_name.to_owned(),
        time: row.event_time,
        visitor,
        ios: ios(&derived),
        touch,
        amount,
    }
}

/// A Purchase's [`Amount`] from its stored `custom_data`, `None` without a finite value: the
/// rollups' rule ([`super::rollup::amount_json`]), so every report counts the same revenue.
pub fn amount(custom_data: &str) -> Option<Amount> {
    super::rollup::amount_json(custom_data)
}

/// A touch as stored: a JSON array `[source, medium, campaign, fbclid]` (unambiguous whatever
/// the UTM values hold).
pub(crate) fn touch_key(t: &Touch) -> String {
    serde_json::json!([t.source, t.medium, t.campaign, t.fbclid]).to_string()
}

/// The touch a [`touch_key`] stands for.
pub(crate) fn touch_of_key(key: &str) -> Option<Touch> {
    let (source, medium, campaign, fbclid): (Option<String>, Option<String>, Option<String>, bool) =
        serde_json::from_str(key).ok()?;
    Some(Touch {
        source,
        medium,
        campaign,
        fbclid,
    })
}

/// A set of event names as stored: the sorted names as a JSON array.
pub fn set_key(names: &[&str]) -> String {
    let mut v: Vec<&str> = names.to_vec();
    v.sort_unstable();
    v.dedup();
    serde_json::to_string(&v).unwrap_or_default()
}

/// The names of a [`set_key`].
pub fn names_of_set(key: &str) -> Vec<String> {
    serde_json::from_str(key).unwrap_or_default()
}

/// A visitor's landing: when, which row, which touch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Landing {
    pub time: i64,
    pub row: i64,
    pub touch: String,
}

/// One stored Purchase of the state.
#[derive(Clone, Debug, PartialEq)]
pub struct PurchaseRec {
    pub visitor: String,
    pub amount: Option<Amount>,
    /// Its visitor's latest landing before it, by time then row: a landing of the same second
    /// counts when it was stored first. (Stored after, it would credit every Purchase of that
    /// second again: a client repeating one cookie and one time made each landing rewrite all
    /// of the visitor's Purchases, ingest 30 times slower in `loadgen`.)
    pub landing: Option<Landing>,
}

/// The per-person tables of one store, inside the transaction that changes the events.
pub trait PeopleTx {
    fn landing_insert(&mut self, f: &Facts, touch: &str) -> Result<(), StoreError>;
    fn landing_delete(&mut self, f: &Facts) -> Result<(), StoreError>;
    /// The latest landing (by time, then row) of `visitor` before `at` (a Purchase's time and
    /// row: a landing of the same second counts when it was stored first).
    fn latest_landing(
        &mut self,
        pixel: &str,
        visitor: &str,
        at: (i64, i64),
    ) -> Result<Option<Landing>, StoreError>;
    fn purchase_insert(&mut self, f: &Facts, p: &PurchaseRec) -> Result<(), StoreError>;
    fn purchase_delete(&mut self, f: &Facts) -> Result<(), StoreError>;
    /// The Purchases of `visitor` after `after` (a landing's time and row, the same order as
    /// [`PeopleTx::latest_landing`]'s): `(time, row, landing (time, row))`.
    #[allow(clippy::type_complexity)]
    fn purchases_of(
        &mut self,
        pixel: &str,
        visitor: &str,
        after: (i64, i64),
    ) -> Result<Vec<(i64, i64, Option<(i64, i64)>)>, StoreError>;
    fn purchase_set_landing(
        &mut self,
        pixel: &str,
        time: i64,
        row: i64,
        landing: Option<&Landing>,
    ) -> Result<(), StoreError>;
    /// `(name, n, n_ios)` of `visitor` on `day`.
    fn day_names(
        &mut self,
        pixel: &str,
        visitor: &str,
        day: i64,
    ) -> Result<Vec<(String, i64, i64)>, StoreError>;
    /// Set the counts of one visitor-day and name; both 0 deletes it.
    fn day_name_set(&mut self, f: &Facts, n: i64, n_ios: i64) -> Result<(), StoreError>;
    fn bump_set(
        &mut self,
        pixel: &str,
        day: i64,
        ios: bool,
        set: &str,
        delta: i64,
    ) -> Result<(), StoreError>;
    fn bump_name(&mut self, f: &Facts, dn: i64, dios: i64) -> Result<(), StoreError>;
    /// `(day, n)` of the landings of `visitor` on channel `campaign`, days with n > 0.
    fn channel_days(
        &mut self,
        pixel: &str,
        campaign: &str,
        visitor: &str,
    ) -> Result<Vec<(i64, i64)>, StoreError>;
    /// Set one channel-visitor-day's landings; 0 deletes it.
    fn channel_day_set(&mut self, f: &Facts, campaign: &str, n: i64) -> Result<(), StoreError>;
    /// Add `delta` to the visitors of `campaign` landing on `day` whose previous landing day was
    /// `prev` ([`NO_DAY`] for none).
    fn bump_first(
        &mut self,
        pixel: &str,
        campaign: &str,
        day: i64,
        prev: i64,
        delta: i64,
    ) -> Result<(), StoreError>;
}

/// The previous landing day of a visitor's first landing on a channel.
pub const NO_DAY: i64 = -1;

/// The channel of a touch ([`touch_key`]): `[source or "(not set)", medium, campaign]` as JSON,
/// what the attribution groups by.
pub fn campaign_key(touch: &str) -> String {
    let t = touch_of_key(touch).unwrap_or(Touch {
        source: None,
        medium: None,
        campaign: None,
        fbclid: false,
    });
    let source = t.source.unwrap_or_else(|| "(not set)".to_owned());
    serde_json::json!([source, t.medium, t.campaign]).to_string()
}

/// The `(source, medium, campaign)` of a [`campaign_key`].
pub fn campaign_of_key(key: &str) -> Option<(String, Option<String>, Option<String>)> {
    serde_json::from_str(key).ok()
}

/// One more (`delta` 1) or one fewer (-1) landing of `f`'s visitor on its channel that day.
fn channel(tx: &mut dyn PeopleTx, f: &Facts, touch: &str, delta: i64) -> Result<(), StoreError> {
    let campaign = campaign_key(touch);
    let day = f.day();
    let days = tx.channel_days(&f.pixel, &campaign, &f.visitor)?;
    let n = days.iter().find(|(d, _)| *d == day).map_or(0, |(_, n)| *n);
    let now = n + delta;
    if now < 0 {
        return Err(StoreError(format!(
            "per-person state out of step with the events: landing {} forgotten twice",
            f.row
        )));
    }
    tx.channel_day_set(f, &campaign, now)?;
    if (n == 0) != (now == 0) {
        let prev = days
            .iter()
            .map(|(d, _)| *d)
            .filter(|d| *d < day)
            .max()
            .unwrap_or(NO_DAY);
        let next = days.iter().map(|(d, _)| *d).filter(|d| *d > day).min();
        let s = if now > 0 { 1 } else { -1 };
        if let Some(q) = next {
            tx.bump_first(&f.pixel, &campaign, q, prev, -s)?;
            tx.bump_first(&f.pixel, &campaign, q, day, s)?;
        }
        tx.bump_first(&f.pixel, &campaign, day, prev, s)?;
    }
    Ok(())
}

/// Add one stored row's facts to the state.
pub fn remember(tx: &mut dyn PeopleTx, f: &Facts) -> Result<(), StoreError> {
    count(tx, f, 1)?;
    if let Some(touch) = &f.touch {
        channel(tx, f, touch, 1)?;
        tx.landing_insert(f, touch)?;
        for (time, row, current) in tx.purchases_of(&f.pixel, &f.visitor, (f.time, f.row))? {
            if current.is_none_or(|c| c < (f.time, f.row)) {
                let landing = Landing {
                    time: f.time,
                    row: f.row,
                    touch: touch.clone(),
                };
                tx.purchase_set_landing(&f.pixel, time, row, Some(&landing))?;
            }
        }
    }
    if f.is_purchase() {
        let landing = tx.latest_landing(&f.pixel, &f.visitor, (f.time, f.row))?;
        let p = PurchaseRec {
            visitor: f.visitor.clone(),
            amount: f.amount.clone(),
            landing,
        };
        tx.purchase_insert(f, &p)?;
    }
    Ok(())
}

/// Take one row's facts (as [`remember`] added them) off the state.
pub fn forget(tx: &mut dyn PeopleTx, f: &Facts) -> Result<(), StoreError> {
    count(tx, f, -1)?;
    if let Some(touch) = &f.touch {
        channel(tx, f, touch, -1)?;
        tx.landing_delete(f)?;
        for (time, row, current) in tx.purchases_of(&f.pixel, &f.visitor, (f.time, f.row))? {
            if current == Some((f.time, f.row)) {
                let landing = tx.latest_landing(&f.pixel, &f.visitor, (time, row))?;
                tx.purchase_set_landing(&f.pixel, time, row, landing.as_ref())?;
            }
        }
    }
    if f.is_purchase() {
        tx.purchase_delete(f)?;
    }
    Ok(())
}

/// The AEM counts: one more (`delta` 1) or one fewer (-1) event of `f`'s name for its
/// visitor-day, moving the visitor-day from its old set of names to its new one.
fn count(tx: &mut dyn PeopleTx, f: &Facts, delta: i64) -> Result<(), StoreError> {
    let day = f.day();
    let mut names = tx.day_names(&f.pixel, &f.visitor, day)?;
    let sets = |names: &[(String, i64, i64)]| {
        let all: Vec<&str> = names
            .iter()
            .filter(|(_, n, _)| *n > 0)
            .map(|(s, _, _)| s.as_str())
            .collect();
        let ios: Vec<&str> = names
            .iter()
            .filter(|(_, _, n)| *n > 0)
            .map(|(s, _, _)| s.as_str())
            .collect();
        (set_key(&all), set_key(&ios))
    };
    let before = sets(&names);
    let dios = if f.ios { delta } else { 0 };
    let (n, n_ios) = match names.iter_mut().find(|(s, _, _)| *s == f.name) {
        Some(slot) => {
            slot.1 += delta;
            slot.2 += dios;
            (slot.1, slot.2)
        }
        None => {
            names.push((f.name.clone(), delta, dios));
            (delta, dios)
        }
    };
    if n < 0 || n_ios < 0 {
        return Err(StoreError(format!(
            "per-person state out of step with the events: row {} forgotten twice",
            f.row
        )));
    }
    tx.day_name_set(f, n, n_ios)?;
    let after = sets(&names);
    const EMPTY: &str = "[]";
    for (ios, old, new) in [(false, &before.0, &after.0), (true, &before.1, &after.1)] {
        if old != new {
            if old != EMPTY {
                tx.bump_set(&f.pixel, day, ios, old, -1)?;
            }
            if new != EMPTY {
                tx.bump_set(&f.pixel, day, ios, new, 1)?;
            }
        }
    }
    tx.bump_name(f, delta, dios)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let t = Touch {
            source: Some("a\"b".into()),
            medium: None,
            campaign: Some("[x]".into()),
            fbclid: true,
        };
        assert_eq!(touch_of_key(&touch_key(&t)), Some(t));
        assert_eq!(set_key(&["b", "a", "b"]), r#"["a","b"]"#);
        assert_eq!(names_of_set(&set_key(&["x\n", "y"])), vec!["x\n", "y"]);
        assert_eq!(set_key(&[]), "[]");
    }

    #[test]
    fn amounts() {
        assert_eq!(
            amount(r#"{"value":"12.5","currency":" eur"}"#),
            Some(("EUR".into(), 12.5))
        );
        assert_eq!(amount(r#"{"value":3}"#), Some(("XXX".into(), 3.0)));
        assert_eq!(amount(r#"{"currency":"USD"}"#), None);
        assert_eq!(amount(""), None);
    }
}
