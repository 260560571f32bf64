//! The 48-hour deduplication index of the SQLite store, kept in memory.
//!
//! Page-generated event IDs are random, so an on-disk unique index on them takes one random
//! B-tree page per event, and every group commit rewrote that many pages into the WAL: the single
//! largest cost of storing a beacon. The events table already holds every key (pixel, event name,
//! event ID, time of receipt), so the index is rebuilt from it at start and kept in memory:
//! 8 bytes of SHA-256 per key plus its time, about 40 bytes an event of the last 48 hours.
//! Two distinct keys share a 64-bit hash with a probability around 10⁻¹⁹ per pair.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use sha2::{Digest, Sha256};

use crate::ports::DEDUP_WINDOW_MS;

/// The keys are already uniformly distributed hashes: use them as they are.
#[derive(Default)]
pub struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The key of `(pixel_id, event_name, event_id)`.
pub fn key(pixel_id: &str, event_name: &str, event_id: &str) -> u64 {
    let mut h = Sha256::new();
    for part in [pixel_id, event_name, event_id] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(digest.get(..8).unwrap_or(&[0; 8]));
    u64::from_le_bytes(first)
}

/// Keys seen within the window, with the time each was (last) stored and its row: where the
/// other copy of an event finds it ([`crate::ports::merge`]).
#[derive(Default)]
pub struct DedupIndex {
    seen: HashMap<u64, (i64, i64), BuildHasherDefault<IdentityHasher>>,
}

/// What [`DedupIndex::claim`] changed, to undo it if the transaction fails.
pub struct Claim {
    key: u64,
    previous: Option<(i64, i64)>,
}

impl DedupIndex {
    /// Record `key` as stored at `at_ms` (its row given later by [`DedupIndex::set_row`]),
    /// unless it was stored within the window before. `None`: a repeat of a stored key.
    pub fn claim(&mut self, key: u64, at_ms: i64) -> Option<Claim> {
        let previous = self.seen.get(&key).copied();
        if previous.is_some_and(|(t, _)| at_ms - t < DEDUP_WINDOW_MS) {
            return None;
        }
        self.seen.insert(key, (at_ms, 0));
        Some(Claim { key, previous })
    }

    /// The row `key` was stored in, once its insert has given it an id.
    pub fn set_row(&mut self, key: u64, row: i64) {
        if let Some(slot) = self.seen.get_mut(&key) {
            slot.1 = row;
        }
    }

    /// The row of a stored key (`None`: not stored, or its row is not known).
    pub fn row(&self, key: u64) -> Option<i64> {
        self.seen.get(&key).map(|s| s.1).filter(|&r| r > 0)
    }

    /// Undo claims (newest last) after a failed transaction.
    pub fn undo(&mut self, claims: Vec<Claim>) {
        for c in claims.into_iter().rev() {
            match c.previous {
                Some(t) => self.seen.insert(c.key, t),
                None => self.seen.remove(&c.key),
            };
        }
    }

    /// Add a key read back from the store (start-up), with its row.
    pub fn load(&mut self, key: u64, at_ms: i64, row: i64) {
        let slot = self.seen.entry(key).or_insert((at_ms, row));
        if at_ms >= slot.0 {
            *slot = (at_ms, row);
        }
    }

    /// Forget keys older than the window.
    pub fn forget_before(&mut self, now_ms: i64) {
        self.seen.retain(|_, (t, _)| now_ms - *t < DEDUP_WINDOW_MS);
        self.seen.shrink_to_fit();
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_within_the_window_are_duplicates_and_undo_restores() {
        let mut d = DedupIndex::default();
        let k = key("1", "Purchase", "a");
        assert_ne!(k, key("1", "Purchase", "b"));
        assert_ne!(key("1", "Purchase", "a"), key("1", "Purchas", "ea"));
        let c1 = d.claim(k, 0);
        assert!(c1.is_some());
        assert!(d.claim(k, DEDUP_WINDOW_MS - 1).is_none());
        let c2 = d.claim(k, DEDUP_WINDOW_MS);
        assert!(c2.is_some());
        d.undo(c2.into_iter().collect());
        assert!(d.claim(k, 1).is_none(), "back to the first claim");
        d.undo(c1.into_iter().collect());
        assert!(d.is_empty());
        d.load(k, 5, 9);
        assert_eq!(d.row(k), Some(9));
        d.forget_before(5 + DEDUP_WINDOW_MS);
        assert_eq!(d.len(), 0);
    }
}
