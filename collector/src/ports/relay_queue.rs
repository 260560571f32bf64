//! The relay queue port: the pending events of a pixel, claimed by one replica at a time, marked
//! sent, failed or expired once the Conversions API has answered or the 7 days are over.

use super::types::{StoreError, StoredEvent};

pub trait RelayQueue: Send + Sync + 'static {
    /// Pending events of `pixel_id`, oldest first.
    fn pending(&self, pixel_id: &str, limit: usize) -> Result<Vec<StoredEvent>, StoreError>;

    /// Pending events of `pixel_id` with an id above `after_id`, oldest first: the relay pages
    /// through the queue with it, leaving out the events its breaker holds.
    fn pending_after(
        &self,
        pixel_id: &str,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// Events waiting for the relay, all pixels.
    fn pending_count(&self) -> Result<u64, StoreError>;

    /// The relay's read: claim up to `limit` pending events of `pixel_id` with an id above
    /// `after_id`, oldest first, for this process. A claimed event is not handed to another
    /// replica until its claim is released ([`RelayQueue::mark_sent`],
    /// [`RelayQueue::mark_failed`], [`RelayQueue::record_attempt`], [`RelayQueue::release`]) or
    /// its lease runs out (the replica died mid-request); this process may claim its own events
    /// again. On a store only one process uses, this is [`RelayQueue::pending_after`].
    fn claim_pending(
        &self,
        pixel_id: &str,
        after_id: i64,
        limit: usize,
        now_ms: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let _ = now_ms;
        self.pending_after(pixel_id, after_id, limit)
    }

    /// Extend this process's claim on these events (those still pending and still its own) by a
    /// whole lease from `now_ms`: a round that outlasts half its lease renews it.
    fn renew(&self, ids: &[i64], now_ms: i64) -> Result<(), StoreError> {
        let _ = (ids, now_ms);
        Ok(())
    }

    /// Give up the claim on these events (still pending, untouched: shutdown) so that another
    /// replica may send them at once.
    fn release(&self, ids: &[i64]) -> Result<(), StoreError> {
        let _ = ids;
        Ok(())
    }

    /// Mark events sent (after a 2xx from the Conversions API).
    fn mark_sent(&self, ids: &[i64], now_ms: i64) -> Result<(), StoreError>;

    /// Mark one event failed for good, with Meta's message.
    fn mark_failed(&self, id: i64, message: &str, now_ms: i64) -> Result<(), StoreError>;

    /// Count a failed attempt on events that stay pending, with the last error.
    fn record_attempt(&self, ids: &[i64], error: &str) -> Result<(), StoreError>;

    /// Expiry in chunks, off the writer's lock: look at up to `limit` pending events of `pixel_id`
    /// with an id above `after_id` (on a read connection) and return the ids of those with
    /// `event_time` before `cutoff_secs`, and the last id looked at (`None`: no pending event is
    /// left above `after_id`).
    fn pending_older_than(
        &self,
        pixel_id: &str,
        cutoff_secs: i64,
        after_id: i64,
        limit: usize,
    ) -> Result<(Vec<i64>, Option<i64>), StoreError>;

    /// Mark these events expired if they are still pending; returns how many were.
    fn expire_ids(&self, ids: &[i64]) -> Result<u64, StoreError>;

    /// Mark every pending event of `pixel_id` with `event_time` before `cutoff_secs` expired:
    /// the relay's chunked walk ([`RelayQueue::pending_older_than`] +
    /// [`RelayQueue::expire_ids`]) in one call, for tools and tests. Returns how many were.
    fn expire(&self, pixel_id: &str, cutoff_secs: i64) -> Result<u64, StoreError> {
        let (mut after, mut expired) = (0, 0);
        while let (old, Some(last)) = self.pending_older_than(pixel_id, cutoff_secs, after, 5000)? {
            expired += self.expire_ids(&old)?;
            after = last;
        }
        Ok(expired)
    }
}
