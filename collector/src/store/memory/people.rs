//! The twin's per-person state: the hooks its write path calls, its rebuild, and its reads.

use super::people_tables::MemPeople;
use super::state::{Inner, MemoryStore, Record};
use crate::ports::people::{facts, forget, remember, Facts, PeopleSource, PurchaseView};
use crate::ports::{Derived, Row, StoreError};

/// The facts of one of the twin's records, as the SQL stores read them from their row.
pub(super) fn record_facts(r: &Record) -> Facts {
    let e = &r.stored.event;
    let row = Row {
        id: r.stored.id,
        event_name: &e.event_name,
        event_time: e.event_time,
        fbp: e.fbp.as_deref(),
        source_url: &e.source_url,
        purchase_data: &r.columns.custom_data,
        derived: Some(Derived {
            keys: r.columns.report_keys,
            visitor: r.columns.report_visitor.as_deref(),
        }),
        ..Row::default()
    };
    facts(&e.pixel_id, &row)
}

impl MemoryStore {
    /// The per-person state as kept at write time.
    pub fn people_state(&self) -> Result<MemPeople, StoreError> {
        Ok(self.state()?.people.clone())
    }

    /// The per-person state rebuilt from the stored events (what the incremental one must
    /// equal); `replace` keeps it as the store's state.
    pub fn rebuild_people(&self, replace: bool) -> Result<MemPeople, StoreError> {
        let mut state = self.state()?;
        let mut fresh = MemPeople::default();
        for r in state.events.values() {
            remember(&mut fresh, &record_facts(r))?;
        }
        if replace {
            state.people = fresh.clone();
        }
        Ok(fresh)
    }
}

impl PeopleSource for MemoryStore {
    fn rebuild(&self) -> Result<u64, StoreError> {
        let n = self.state()?.events.len() as u64;
        self.rebuild_people(true)?;
        Ok(n)
    }
    fn purchases(
        &self,
        pixel: &str,
        from: i64,
        to: i64,
        f: &mut dyn FnMut(&PurchaseView<'_>),
    ) -> Result<(), StoreError> {
        self.state()?.people.purchases_in(pixel, from, to, f);
        Ok(())
    }
    fn channel_visitors(
        &self,
        pixel: &str,
        from_day: i64,
        to_day: i64,
        f: &mut dyn FnMut(&str, i64),
    ) -> Result<(), StoreError> {
        let state = self.state()?;
        for ((p, c, d, prev), n) in &state.people.firsts {
            if p == pixel && *d >= from_day && *d <= to_day && *prev < from_day {
                f(c, *n);
            }
        }
        Ok(())
    }
    fn aem_sets(
        &self,
        pixel: &str,
        from_day: i64,
        to_day: i64,
        f: &mut dyn FnMut(bool, &str, i64),
    ) -> Result<(), StoreError> {
        let state = self.state()?;
        let lo = (pixel.to_owned(), from_day, false, String::new());
        for ((p, d, ios, set), n) in state.people.aem_sets.range(lo..) {
            if p != pixel || *d > to_day {
                break;
            }
            f(*ios, set, *n);
        }
        Ok(())
    }
    fn names(
        &self,
        pixel: &str,
        from_day: i64,
        to_day: i64,
        f: &mut dyn FnMut(&str, i64, i64),
    ) -> Result<(), StoreError> {
        let state = self.state()?;
        let lo = (pixel.to_owned(), from_day, String::new());
        for ((p, d, name), (n, i)) in state.people.names.range(lo..) {
            if p != pixel || *d > to_day {
                break;
            }
            f(name, *n, *i);
        }
        Ok(())
    }
}

/// The hook after record `id` was inserted.
pub(super) fn stored(inner: &mut Inner, id: i64) -> Result<(), StoreError> {
    if let Some(r) = inner.events.get(&id) {
        remember(&mut inner.people, &record_facts(r))?;
    }
    Ok(())
}

/// The hook after record `id` was merged (its facts before: `old`).
pub(super) fn merged(inner: &mut Inner, id: i64, old: &Facts) -> Result<(), StoreError> {
    forget(&mut inner.people, old)?;
    stored(inner, id)
}

/// The hook before the records received before `cutoff` are deleted.
pub(super) fn purging(inner: &mut Inner, cutoff: i64) -> Result<(), StoreError> {
    for r in inner.events.values() {
        if r.stored.event.received_at_ms < cutoff {
            forget(&mut inner.people, &record_facts(r))?;
        }
    }
    Ok(())
}
