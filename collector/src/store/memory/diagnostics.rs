//! The twin's diagnostics: the marks summed in a map, as the SQL stores sum them in a table.

use super::state::{DiagKey, MemoryStore};
use crate::ports::diagnostics::{counted, refusal_detail, Code, DiagnosticSource, MarkRow, Tally};
use crate::ports::{RelayStatus, StoreError};
use std::collections::BTreeMap;

/// Add `rows` to `map`, as the SQL stores' upsert does.
pub(super) fn add(map: &mut BTreeMap<DiagKey, MarkRow>, rows: Vec<MarkRow>) {
    for r in rows {
        let key = (
            r.pixel_id.clone(),
            r.day,
            r.code.clone(),
            r.event_name.clone(),
            r.detail.clone(),
        );
        match map.get_mut(&key) {
            Some(s) => {
                s.events += r.events;
                s.first_seen_ms = s.first_seen_ms.min(r.first_seen_ms);
                s.last_seen_ms = s.last_seen_ms.max(r.last_seen_ms);
                if s.example_event_id.is_empty() {
                    s.example_event_id = r.example_event_id;
                }
            }
            None => {
                map.insert(key, r);
            }
        }
    }
}

/// A commit's marks.
pub(super) fn flush(map: &mut BTreeMap<DiagKey, MarkRow>, tally: Tally) {
    add(map, tally.rows());
}

/// Retention: the rows of days wholly received before `before_ms`.
pub(super) fn forget_before(map: &mut BTreeMap<DiagKey, MarkRow>, before_ms: i64) {
    let day = before_ms.div_euclid(86_400_000);
    map.retain(|k, _| k.1 >= day);
}

impl MemoryStore {
    /// Meta refused the pending event `id`: its mark (before the relay status changes).
    pub(super) fn refused(&self, id: i64, message: &str) -> Result<(), StoreError> {
        let mut state = self.state()?;
        let Some(e) = state
            .events
            .get(&id)
            .filter(|r| r.stored.relay_status == RelayStatus::Pending)
            .map(|r| r.stored.event.clone())
        else {
            return Ok(());
        };
        let row = MarkRow {
            pixel_id: e.pixel_id,
            day: e.received_at_ms.div_euclid(86_400_000),
            code: Code::MetaRefused.as_str().to_owned(),
            event_name: e.event_name,
            detail: refusal_detail(message),
            events: 1,
            first_seen_ms: e.received_at_ms,
            last_seen_ms: e.received_at_ms,
            example_event_id: e.event_id,
        };
        add(&mut state.diagnostics, vec![row]);
        counted(Code::MetaRefused, 1);
        Ok(())
    }
}

impl DiagnosticSource for MemoryStore {
    fn marks(
        &self,
        pixel_id: &str,
        from_day: i64,
        to_day: i64,
    ) -> Result<Vec<MarkRow>, StoreError> {
        let state = self.state()?;
        Ok(state
            .diagnostics
            .values()
            .filter(|r| r.pixel_id == pixel_id && r.day <= to_day)
            .filter(|r| {
                r.day >= from_day
                    || (r.day >= from_day - 2 && r.code == Code::TestEventCode.as_str())
            })
            .cloned()
            .collect())
    }

    fn record(&self, rows: Vec<MarkRow>) -> Result<(), StoreError> {
        self.faults.before_write()?;
        add(&mut self.state()?.diagnostics, rows);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{NewEvent, Origin, ServerFields};
    use crate::ports::{EventLog, RelayQueue};

    const NOW: i64 = 1_796_083_200_000;

    fn lead(id: &str, origin: Origin, fbp: Option<&str>) -> NewEvent {
        NewEvent {
            pixel_id: "1".into(),
            event_name: "Lead".into(),
            event_id: id.into(),
            event_time: NOW / 1000,
            received_at_ms: NOW,
            fbp: fbp.map(str::to_owned),
            relay: true,
            origin,
            server: origin.verified().then(Box::<ServerFields>::default),
            ..NewEvent::default()
        }
    }

    fn sum(rows: &[MarkRow], code: &str) -> i64 {
        rows.iter()
            .filter(|r| r.code == code)
            .map(|r| r.events)
            .sum()
    }

    #[test]
    fn stored_merged_repeated_refused_and_purged() -> Result<(), StoreError> {
        let s = MemoryStore::new();
        let day = NOW / 86_400_000;
        s.insert_batch(&[
            lead("a", Origin::BROWSER, Some("fb.1.1.1")),
            lead("b", Origin::BROWSER, Some("fb.1.1.2")),
        ])?;
        // The server copy of `a` from another browser; `b` again from a third one.
        s.insert_batch(&[
            lead("a", Origin::SERVER, Some("fb.1.1.9")),
            lead("b", Origin::BROWSER, Some("fb.1.1.3")),
        ])?;
        let pending = s.pending("1", 10)?;
        let b = pending.iter().find(|e| e.event.event_id == "b");
        s.mark_failed(b.map_or(0, |e| e.id), "Invalid parameter", NOW)?;
        let rows = s.marks("1", day, day)?;
        assert_eq!(sum(&rows, Code::FbpMismatch.as_str()), 1, "{rows:#?}");
        assert_eq!(sum(&rows, Code::EventIdReused.as_str()), 1);
        assert_eq!(sum(&rows, Code::MetaRefused.as_str()), 1);
        assert_eq!(sum(&rows, "_events"), 2, "a merge counts its event once");
        let refused = rows.iter().find(|r| r.code == Code::MetaRefused.as_str());
        assert_eq!(
            refused.map(|r| (r.detail.as_str(), r.example_event_id.as_str())),
            Some(("Invalid parameter", "b"))
        );
        s.purge(Some(NOW + 86_400_000), NOW)?;
        assert!(s.marks("1", day, day)?.is_empty());
        Ok(())
    }
}
