//! The twin's [`EventLog`].

use super::diagnostics;
use super::people;
use super::source::record_fact;
use super::state::{MemoryStore, Record};
use crate::event::NewEvent;
use crate::ports::diagnostics::Tally;
use crate::ports::{
    merge, EventLog, EventQuery, InsertOutcome, RelayStatus, StoreError, StoredEvent,
};
use crate::store::columns::{merged_row, stored_form, Encoded};
use crate::store::dedup;

impl EventLog for MemoryStore {
    /// No wait for more events: a commit here costs nothing to share.
    fn commit_linger(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }

    fn insert_batch(&self, events: &[NewEvent]) -> Result<Vec<InsertOutcome>, StoreError> {
        self.faults.before_write()?;
        let mut state = self.state()?;
        let mut outcomes = Vec::with_capacity(events.len());
        let mut diag = Tally::default();
        for e in events {
            let key = dedup::key(&e.pixel_id, &e.event_name, &e.event_id);
            let Some(_claim) = state.dedup.claim(key, e.received_at_ms) else {
                if let Some(r) = state
                    .dedup
                    .row(key)
                    .and_then(|row| state.events.get_mut(&row))
                {
                    if let Some(merged) = merge::meet(&r.stored.event, r.stored.relay_status, e) {
                        let before = record_fact(r);
                        diag.merged(&r.stored.event, e, &merged);
                        let (row, columns) = merged_row(merged, Some(r.columns.report_keys));
                        let old = people::record_facts(r);
                        r.columns = columns;
                        r.stored.event = row;
                        let after = record_fact(r);
                        let id = r.stored.id;
                        state.change(&[(Some(before), Some(after))]);
                        people::merged(&mut state, id, &old)?;
                        outcomes.push(InsertOutcome::Merged);
                        continue;
                    }
                    diag.repeat(&r.stored.event, e);
                }
                let day = e.received_at_ms.div_euclid(86_400_000);
                *state
                    .duplicates
                    .entry((e.pixel_id.clone(), day))
                    .or_insert(0) += 1;
                outcomes.push(InsertOutcome::Duplicate);
                continue;
            };
            let id = state.next_id;
            state.dedup.set_row(key, id);
            state.next_id += 1;
            let record = Record {
                stored: StoredEvent {
                    id,
                    event: stored_form(e).into_owned(),
                    relay_status: RelayStatus::initial(e.relay),
                    relay_attempts: 0,
                    relay_error: None,
                },
                columns: Encoded::of(e),
                lease: None,
            };
            let after = record_fact(&record);
            state.events.insert(id, record);
            state.change(&[(None, Some(after))]);
            diag.stored(e);
            people::stored(&mut state, id)?;
            outcomes.push(InsertOutcome::Stored);
        }
        diagnostics::flush(&mut state.diagnostics, diag);
        Ok(outcomes)
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        self.faults.check()
    }

    fn list(&self, q: &EventQuery) -> Result<Vec<StoredEvent>, StoreError> {
        let state = self.state()?;
        Ok(state
            .events
            .values()
            .rev()
            .map(|r| &r.stored)
            .filter(|s| q.pixel_id.as_ref().is_none_or(|p| *p == s.event.pixel_id))
            .filter(|s| {
                q.event_name
                    .as_ref()
                    .is_none_or(|n| *n == s.event.event_name)
            })
            .take(q.limit)
            .cloned()
            .collect())
    }

    fn purge(&self, received_before_ms: Option<i64>, now_ms: i64) -> Result<u64, StoreError> {
        let mut state = self.state()?;
        let before = state.events.len();
        if let Some(cutoff) = received_before_ms {
            people::purging(&mut state, cutoff)?;
            let mut gone = Vec::new();
            state.events.retain(|_, r| {
                let keep = r.stored.event.received_at_ms >= cutoff;
                if !keep {
                    gone.push((Some(record_fact(r)), None));
                }
                keep
            });
            state.change(&gone);
            diagnostics::forget_before(&mut state.diagnostics, cutoff);
        }
        state.dedup.forget_before(now_ms);
        Ok(u64::try_from(before - state.events.len()).unwrap_or(0))
    }
}
