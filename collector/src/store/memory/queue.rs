//! The twin's [`RelayQueue`], with PostgreSQL's leases: a claimed event is not handed to another
//! handle ([`MemoryStore::replica`]) until it is marked, released, or its lease runs out.

use super::source::record_fact;
use super::state::{MemoryStore, Record};
use crate::ports::{older_than, RelayQueue, RelayStatus, StoreError, StoredEvent, EXPIRED_MESSAGE};

impl MemoryStore {
    /// Apply `f` to each of `ids` that is still pending, releasing its claim; how many were.
    fn settle(&self, ids: &[i64], f: impl Fn(&mut Record)) -> Result<u64, StoreError> {
        let mut state = self.state()?;
        let mut n = 0;
        let mut changes = Vec::new();
        for id in ids {
            if let Some(r) = state.events.get_mut(id) {
                if r.stored.relay_status == RelayStatus::Pending {
                    let before = record_fact(r);
                    f(r);
                    r.lease = None;
                    n += 1;
                    changes.push((Some(before), Some(record_fact(r))));
                }
            }
        }
        state.change(&changes);
        Ok(n)
    }

    fn pending_where(
        &self,
        pixel_id: &str,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let state = self.state()?;
        Ok(state
            .events
            .range(after_id.saturating_add(1)..)
            .map(|(_, r)| &r.stored)
            .filter(|s| s.relay_status == RelayStatus::Pending && s.event.pixel_id == pixel_id)
            .take(limit)
            .cloned()
            .collect())
    }
}

impl RelayQueue for MemoryStore {
    fn pending(&self, pixel_id: &str, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        self.pending_where(pixel_id, 0, limit)
    }

    fn pending_after(
        &self,
        pixel_id: &str,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.pending_where(pixel_id, after_id, limit)
    }

    fn pending_count(&self) -> Result<u64, StoreError> {
        let state = self.state()?;
        let n = state
            .events
            .values()
            .filter(|r| r.stored.relay_status == RelayStatus::Pending)
            .count();
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn claim_pending(
        &self,
        pixel_id: &str,
        after_id: i64,
        limit: usize,
        now_ms: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let mut state = self.state()?;
        let mut claimed = Vec::new();
        for r in state
            .events
            .range_mut(after_id.saturating_add(1)..)
            .map(|(_, r)| r)
        {
            if claimed.len() >= limit {
                break;
            }
            let free = match r.lease {
                None => true,
                Some((owner, until)) => owner == self.owner || until < now_ms,
            };
            let held = r.stored.event.hold_until_ms.is_some_and(|t| t > now_ms);
            if r.stored.relay_status == RelayStatus::Pending
                && r.stored.event.pixel_id == pixel_id
                && free
                && !held
            {
                r.lease = Some((self.owner, now_ms + self.lease_ms));
                claimed.push(r.stored.clone());
            }
        }
        Ok(claimed)
    }

    fn renew(&self, ids: &[i64], now_ms: i64) -> Result<(), StoreError> {
        let mut state = self.state()?;
        for id in ids {
            if let Some(r) = state.events.get_mut(id) {
                if r.stored.relay_status == RelayStatus::Pending
                    && r.lease.is_some_and(|(owner, _)| owner == self.owner)
                {
                    r.lease = Some((self.owner, now_ms + self.lease_ms));
                }
            }
        }
        Ok(())
    }

    fn release(&self, ids: &[i64]) -> Result<(), StoreError> {
        let mut state = self.state()?;
        for id in ids {
            if let Some(r) = state.events.get_mut(id) {
                if r.lease.is_some_and(|(owner, _)| owner == self.owner) {
                    r.lease = None;
                }
            }
        }
        Ok(())
    }

    fn mark_sent(&self, ids: &[i64], _now_ms: i64) -> Result<(), StoreError> {
        self.settle(ids, |r| {
            r.stored.relay_status = RelayStatus::Sent;
            forget_client(r);
            r.stored.relay_error = None;
            r.stored.relay_attempts += 1;
        })
        .map(drop)
    }

    fn mark_failed(&self, id: i64, message: &str, _now_ms: i64) -> Result<(), StoreError> {
        self.refused(id, message)?;
        self.settle(&[id], |r| {
            r.stored.relay_status = RelayStatus::Failed;
            forget_client(r);
            r.stored.relay_error = Some(message.to_owned());
            r.stored.relay_attempts += 1;
        })
        .map(drop)
    }

    fn record_attempt(&self, ids: &[i64], error: &str) -> Result<(), StoreError> {
        self.settle(ids, |r| {
            r.stored.relay_error = Some(error.to_owned());
            r.stored.relay_attempts += 1;
        })
        .map(drop)
    }

    fn pending_older_than(
        &self,
        pixel_id: &str,
        cutoff_secs: i64,
        after_id: i64,
        limit: usize,
    ) -> Result<(Vec<i64>, Option<i64>), StoreError> {
        let page = self.pending_where(pixel_id, after_id, limit)?;
        Ok(older_than(
            page.iter().map(|s| (s.id, s.event.event_time)),
            cutoff_secs,
        ))
    }

    fn expire_ids(&self, ids: &[i64]) -> Result<u64, StoreError> {
        self.settle(ids, |r| {
            r.stored.relay_status = RelayStatus::Expired;
            forget_client(r);
            r.stored.relay_error = Some(EXPIRED_MESSAGE.to_owned());
        })
    }
}

/// An event leaves the queue (sent, failed, expired): its IP and user agent go with it, in the
/// same update (the reports read what they need of them from `report_keys`, derived at insert).
fn forget_client(r: &mut Record) {
    r.stored.event.client_ip = None;
    r.stored.event.user_agent = None;
}
