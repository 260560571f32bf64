//! The twin's state: the events in id order, the deduplication index, the duplicates per day, and
//! the switches that make it fail on demand.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::ports::rollup::{Delta, Fact, RollupState};
use crate::ports::{StoreError, StoredEvent};
use crate::store::columns::Encoded;
use crate::store::dedup::DedupIndex;

/// One stored event with what the SQL stores keep beside it.
pub(super) struct Record {
    pub(super) stored: StoredEvent,
    /// The stored JSON and derived columns, as the SQL stores write them.
    pub(super) columns: Encoded,
    /// The relay claim: which handle holds it, until when.
    pub(super) lease: Option<(u64, i64)>,
}

#[derive(Default)]
pub(super) struct Inner {
    pub(super) events: BTreeMap<i64, Record>,
    pub(super) next_id: i64,
    pub(super) dedup: DedupIndex,
    /// Duplicates per `(pixel, UTC day of receipt)`.
    pub(super) duplicates: BTreeMap<(String, i64), u64>,
    /// The write-time aggregates ([`crate::ports::rollup`]), kept by [`Inner::change`].
    pub(super) rollups: RollupState,
    /// The diagnostics table (`ports::diagnostics`).
    pub(super) diagnostics: BTreeMap<DiagKey, crate::ports::diagnostics::MarkRow>,
    /// The per-person state (`people.rs`).
    pub(super) people: super::people_tables::MemPeople,
}

impl Inner {
    /// The one place the twin's aggregates change: each event's facts before and after a
    /// mutation (`None`: not there), applied as minus old, plus new.
    pub(super) fn change(&mut self, changes: &[(Option<Fact>, Option<Fact>)]) {
        let mut delta = Delta::default();
        for (before, after) in changes {
            delta.change(before.as_ref(), after.as_ref());
        }
        self.rollups.apply(&delta);
    }
}

/// A diagnostics row's key: pixel, day, code, event name, detail.
pub(super) type DiagKey = (String, i64, String, String, String);

/// What makes the twin fail, as a real store can: commits that wait until released (a slow
/// disk), commits and probes that fail (a full disk), a writer that panics.
#[derive(Default)]
pub struct Faults {
    held: Mutex<bool>,
    released: Condvar,
    fail: AtomicBool,
    panic: AtomicBool,
}

impl Faults {
    /// Commits wait (`true`) until set back to `false`.
    pub fn hold(&self, held: bool) {
        if let Ok(mut h) = self.held.lock() {
            *h = held;
        }
        self.released.notify_all();
    }

    /// Commits and probe commits fail as on a full disk.
    pub fn fail(&self, fail: bool) {
        self.fail.store(fail, Ordering::SeqCst);
    }

    /// The next commit panics (the writer thread dies).
    pub fn panic(&self, panic: bool) {
        self.panic.store(panic, Ordering::SeqCst);
    }

    /// What a commit meets before it writes.
    pub(super) fn before_write(&self) -> Result<(), StoreError> {
        if self.panic.load(Ordering::SeqCst) {
            #[allow(clippy::panic)]
            {
                panic!("the store fell over");
            }
        }
        if let Ok(held) = self.held.lock() {
            let _released = self.released.wait_while(held, |h| *h);
        }
        self.check()
    }

    pub(super) fn check(&self) -> Result<(), StoreError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(StoreError("database or disk is full".into()));
        }
        Ok(())
    }
}

/// The in-memory store. [`MemoryStore::replica`] gives another handle on the same events, with a
/// relay claim of its own, as a second collector on one PostgreSQL database.
pub struct MemoryStore {
    pub(super) inner: Arc<Mutex<Inner>>,
    pub(super) faults: Arc<Faults>,
    /// This handle's name in the relay leases.
    pub(super) owner: u64,
    pub(super) lease_ms: i64,
}

static OWNERS: AtomicU64 = AtomicU64::new(1);

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

impl MemoryStore {
    /// An empty store whose relay claims last 20 s (twice the relay's default request timeout).
    pub fn new() -> MemoryStore {
        MemoryStore::with_lease(20_000)
    }

    pub fn with_lease(lease_ms: i64) -> MemoryStore {
        MemoryStore {
            inner: Arc::new(Mutex::new(Inner {
                next_id: 1,
                ..Inner::default()
            })),
            faults: Arc::new(Faults::default()),
            owner: OWNERS.fetch_add(1, Ordering::Relaxed),
            lease_ms,
        }
    }

    /// Another handle on the same events and faults, claiming for itself.
    pub fn replica(&self) -> MemoryStore {
        MemoryStore {
            inner: self.inner.clone(),
            faults: self.faults.clone(),
            owner: OWNERS.fetch_add(1, Ordering::Relaxed),
            lease_ms: self.lease_ms,
        }
    }

    /// The switches that make it fail.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    pub(super) fn state(&self) -> Result<MutexGuard<'_, Inner>, StoreError> {
        self.inner
            .lock()
            .map_err(|_| StoreError("memory store poisoned".into()))
    }
}
