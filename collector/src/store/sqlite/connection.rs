//! The SQLite store's connections: a writer connection (ingest group commits and relay status
//! updates, serialised by a mutex) and [`READERS`] reader connections (API, reports, relay
//! queue), which WAL lets run beside the writer and beside each other: [`REPORT_READERS`] of them
//! for the reports, one kept free of them for everything else. Opening the file, the pragmas, and
//! the deduplication index loaded at start.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

use rusqlite::{params, Connection, OptionalExtension};

use super::error::err;
use super::rollup::{backfill_chunk, reset, Backfill};
use super::schema::{migrate, start_checkpointer};
use crate::config::SyncMode;
use crate::ports::{
    Clock, StoreError, SystemClock, COMMIT_LINGER, DEDUP_WINDOW_MS, EXPIRED_MESSAGE,
};
use crate::store::dedup::{self, DedupIndex};

/// How long the writer waits for a write lock another connection holds before its commit fails
/// (and the beacons of that group commit get 503): short, so a locked database is a quick
/// `Retry-After`, not a hang.
pub const WRITE_BUSY_TIMEOUT_MS: u32 = 2000;

/// Reader connections: a report over a long range keeps one busy on a core for a good part of a
/// second, and the dashboard asks for six at once, so [`REPORT_READERS`] run side by side (the
/// machine's two cores: more would only share them, and each report would arrive later), and one
/// more is left for the relay's and the API's short reads, which never wait behind a report.
pub const READERS: usize = 3;
/// The readers the reports may take (the first ones).
pub const REPORT_READERS: usize = 2;
const _: () = assert!(REPORT_READERS >= 1 && READERS > REPORT_READERS);

/// SQLite implementation of [`Store`].
pub struct SqliteStore {
    /// Shared with the rollups' backfill thread, when one runs.
    pub(super) writer: Arc<Mutex<Writer>>,
    readers: Vec<Mutex<Connection>>,
    /// Which reader a caller waits for when all are busy (in turn).
    next_reader: AtomicUsize,
    /// Dropping it stops the checkpoint thread.
    _checkpointer: std::sync::mpsc::Sender<()>,
    /// See [`EventLog::commit_linger`](crate::ports::EventLog::commit_linger).
    pub(super) linger: std::time::Duration,
}

/// The write connection and the deduplication index it keeps in step with the events table.
pub(super) struct Writer {
    pub(super) conn: Connection,
    pub(super) dedup: DedupIndex,
    /// The events the rollups' backfill has still to count, which the write paths leave to it.
    pub(super) backfill: Backfill,
}

/// Create a missing database file readable and writable by its owner only (0600), whatever the
/// umask: it holds IP addresses, user agents and hashed customer data. SQLite creates the WAL and
/// shared-memory files with the database file's own mode, so they are 0600 too. An existing
/// file keeps the mode its operator gave it.
fn create_private(path: &Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError(format!("cannot create {}: {e}", path.display()))),
    }
}

impl SqliteStore {
    /// Open (creating when missing) the database at `path`, switch to WAL and run migrations.
    pub fn open(path: &Path, sync: SyncMode) -> Result<SqliteStore, StoreError> {
        create_private(path)?;
        let writer = Connection::open(path).map_err(err)?;
        let mode: String = writer
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError(format!(
                "could not switch to WAL mode (got {mode})"
            )));
        }
        let sync_sql = match sync {
            SyncMode::Full => "PRAGMA synchronous = FULL",
            SyncMode::Normal => "PRAGMA synchronous = NORMAL",
        };
        // `secure_delete = FAST`: the IP and user agent the relay clears (`queue.rs`) are zeroed in
        // their page, not left in its free space until the page is rewritten (2,000 rows set to
        // NULL left 297 of their user agents readable in the file without it, none with it:
        // `tests.rs`), at no extra I/O (the FAST mode skips only what would cost I/O: pages moved
        // to the freelist).
        writer
            .execute_batch(&format!(
                "{sync_sql}; PRAGMA busy_timeout = {WRITE_BUSY_TIMEOUT_MS}; PRAGMA foreign_keys = ON;
                 PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 67108864;
                 PRAGMA cache_size = -32768; PRAGMA secure_delete = FAST;"
            ))
            .map_err(err)?;
        migrate(&writer)?;
        super::people::backfill(&writer)?;
        let backfill = Backfill::load(&writer)?;
        let checkpointer = start_checkpointer(path, sync_sql)?;
        let readers = (0..READERS)
            .map(|_| {
                let reader = Connection::open(path).map_err(err)?;
                // The reports scan whole ranges: reading the file through a memory map (up to
                // 1 GiB, shared by the readers) spares a copy and a system call per page.
                reader
                    .execute_batch(
                        "PRAGMA busy_timeout = 10000; PRAGMA query_only = ON;
                         PRAGMA cache_size = -32768; PRAGMA mmap_size = 1073741824;",
                    )
                    .map_err(err)?;
                Ok(Mutex::new(reader))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let store = SqliteStore {
            writer: Arc::new(Mutex::new(Writer {
                conn: writer,
                dedup: DedupIndex::default(),
                backfill,
            })),
            readers,
            next_reader: AtomicUsize::new(0),
            _checkpointer: checkpointer,
            // With `normal`, a commit is a write into the WAL, CPU on this machine: waiting
            // for more events leaves a core idle that handlers could use (in `loadgen`, 1.55
            // of 2 CPUs busy with the wait, against 1.7 without). With `full` it waits for an
            // fsync, and one fsync should cover as many events as it can.
            linger: match sync {
                SyncMode::Normal => std::time::Duration::ZERO,
                SyncMode::Full => COMMIT_LINGER,
            },
        };
        store.load_dedup(SystemClock.now_ms())?;
        if backfill.next <= backfill.end {
            start_backfill(store.writer.clone());
        }
        Ok(store)
    }

    /// Rebuild the deduplication index from the events received within the window.
    fn load_dedup(&self, now_ms: i64) -> Result<(), StoreError> {
        let since = now_ms - DEDUP_WINDOW_MS;
        let after_id = self.last_id_received_before(since)?.unwrap_or(0);
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare(
                "SELECT pixel_id, event_name, event_id, received_at_ms, id FROM events
                 WHERE id > ?1 AND received_at_ms >= ?2",
            )
            .map_err(err)?;
        let mut rows = stmt.query(params![after_id, since]).map_err(err)?;
        let mut w = self.writer()?;
        while let Some(r) = rows.next().map_err(err)? {
            let (p, n, e): (String, String, String) = (
                r.get(0).map_err(err)?,
                r.get(1).map_err(err)?,
                r.get(2).map_err(err)?,
            );
            w.dedup.load(
                dedup::key(&p, &n, &e),
                r.get(3).map_err(err)?,
                r.get(4).map_err(err)?,
            );
        }
        tracing::info!(
            keys = w.dedup.len(),
            "deduplication index loaded (events of the last 48 h)"
        );
        Ok(())
    }

    pub(super) fn writer(&self) -> Result<MutexGuard<'_, Writer>, StoreError> {
        self.writer
            .lock()
            .map_err(|_| StoreError("writer connection poisoned".into()))
    }

    /// A reader connection for a short read: a free one, the one reports never take first; when
    /// all are busy, that one once it is free.
    pub(super) fn reader(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        let n = self.readers.len();
        self.free_reader((0..n).rev(), n.saturating_sub(1))
    }

    /// A reader connection for a report: a free one of the first [`REPORT_READERS`], else the
    /// next of them in turn once it is free.
    pub(super) fn report_reader(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        let n = REPORT_READERS.min(self.readers.len()).max(1);
        let turn = self.next_reader.fetch_add(1, Ordering::Relaxed) % n;
        self.free_reader(0..n, turn)
    }

    fn free_reader(
        &self,
        candidates: impl Iterator<Item = usize>,
        wait_for: usize,
    ) -> Result<MutexGuard<'_, Connection>, StoreError> {
        let poisoned = || StoreError("reader connection poisoned".into());
        for r in candidates.filter_map(|i| self.readers.get(i)) {
            match r.try_lock() {
                Ok(conn) => return Ok(conn),
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Poisoned(_)) => return Err(poisoned()),
            }
        }
        self.readers
            .get(wait_for)
            .ok_or_else(|| StoreError("no reader connection".into()))?
            .lock()
            .map_err(|_| poisoned())
    }

    /// The largest id whose row was received before `before_ms`, by binary search over the id
    /// (receipt times grow with the id, give or take the milliseconds a group commit spans).
    pub(super) fn last_id_received_before(
        &self,
        before_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let conn = self.reader()?;
        let (lo, hi): (Option<i64>, Option<i64>) = conn
            .query_row("SELECT MIN(id), MAX(id) FROM events", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(err)?;
        let (Some(mut lo), Some(mut hi)) = (lo, hi) else {
            return Ok(None);
        };
        let mut probe = conn
            .prepare_cached(
                "SELECT id, received_at_ms FROM events WHERE id >= ?1 ORDER BY id LIMIT 1",
            )
            .map_err(err)?;
        let mut at = |id: i64| -> Result<Option<(i64, i64)>, StoreError> {
            probe
                .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .map_err(err)
        };
        match at(lo)? {
            Some((_, t)) if t < before_ms => {}
            _ => return Ok(None),
        }
        // Invariant: the row at or after `lo` is old; everything after `hi` is new or absent.
        while lo < hi {
            let mid = lo + (hi - lo + 1) / 2;
            match at(mid)? {
                Some((id, t)) if t < before_ms => lo = id.max(mid),
                _ => hi = mid - 1,
            }
        }
        Ok(Some(lo))
    }

    /// Mark pending events of `pixel_id` with `event_time` before `cutoff_secs` expired, in one
    /// statement under the writer's lock: what expiry was before the chunked walk of the relay
    /// (`pending_older_than` + `expire_ids`), kept for the benchmark that compares them.
    pub fn expire(&self, pixel_id: &str, cutoff_secs: i64) -> Result<u64, StoreError> {
        let w = self.writer()?;
        let n = w
            .conn
            .execute(
                "UPDATE events SET relay_status = 'expired', relay_error = ?3,
                    client_ip = CASE WHEN report_keys IS NULL THEN client_ip END,
                    user_agent = CASE WHEN report_keys IS NULL THEN user_agent END
                 WHERE id IN (
                    SELECT id FROM events INDEXED BY events_pending
                    WHERE pixel_id = ?1 AND relay_status = 'pending' AND hold_until_ms IS NULL
                        AND event_time < ?2
                    UNION ALL
                    SELECT id FROM events INDEXED BY events_held
                    WHERE pixel_id = ?1 AND relay_status = 'pending'
                        AND hold_until_ms IS NOT NULL AND event_time < ?2)",
                params![pixel_id, cutoff_secs, EXPIRED_MESSAGE],
            )
            .map_err(err)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The schema version applied to the file.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        let conn = self.reader()?;
        conn.query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |r| r.get(0),
        )
        .map_err(err)
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::SqliteStore;
    use crate::config::SyncMode;
    use crate::ports::{EventLog, StoreError};
    use crate::store::contract::{event, T};

    /// A new database, its WAL and its shared-memory file are the owner's only, under the usual
    /// umask (022) that gives every other new file 0644.
    #[test]
    fn a_new_database_and_its_wal_are_0600() -> Result<(), StoreError> {
        let io = |e: std::io::Error| StoreError(e.to_string());
        let dir = tempfile::tempdir().map_err(io)?;
        let path = dir.path().join("private.db");
        let store = SqliteStore::open(&path, SyncMode::Normal)?;
        store.insert_batch(&[event("perm-1", T)])?;
        let mode = |suffix: &str| {
            let p = dir.path().join(format!("private.db{suffix}"));
            std::fs::metadata(&p).map(|m| m.permissions().mode() & 0o777)
        };
        for suffix in ["", "-wal", "-shm"] {
            let m = mode(suffix).map_err(|e| StoreError(format!("{suffix}: {e}")))?;
            assert_eq!(m, 0o600, "private.db{suffix} is {m:o}");
        }
        // A file the collector did not create (here: 0644 by the umask) keeps its mode.
        let other = dir.path().join("other");
        std::fs::write(&other, b"").map_err(io)?;
        let before = std::fs::metadata(&other).map_err(io)?.permissions().mode() & 0o777;
        drop(SqliteStore::open(&other, SyncMode::Normal)?);
        let after = std::fs::metadata(&other).map_err(io)?.permissions().mode() & 0o777;
        assert_eq!(before, after);
        Ok(())
    }
}

/// Count the events of a database made before the rollups (schema migration 7) on a thread of
/// its own, a chunk per transaction, so that the collector serves (and ingests) meanwhile; its
/// progress is logged, and a restart resumes it.
fn start_backfill(writer: Arc<Mutex<Writer>>) {
    let spawned = std::thread::Builder::new()
        .name("collector-rollup-backfill".into())
        .spawn(move || {
            let started = std::time::Instant::now();
            let mut logged = std::time::Instant::now();
            let result = backfill(&writer, &mut |done, total| {
                if logged.elapsed() >= std::time::Duration::from_secs(2) {
                    tracing::info!(done, total, "rollups: backfilling the events stored before them");
                    logged = std::time::Instant::now();
                }
            });
            match result {
                Ok(n) => tracing::info!(
                    events = n,
                    seconds = started.elapsed().as_secs_f64(),
                    "rollups: backfill done"
                ),
                Err(e) => tracing::error!(error = %e, "rollups: backfill stopped (resumes at the next start)"),
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "rollups: cannot start the backfill thread");
    }
}

impl SqliteStore {
    /// Count the events the backfill has still to count, a chunk per transaction, calling
    /// `progress(done, total)` after each; returns how many it counted. Resumable: each chunk
    /// commits its progress with its cells.
    pub fn backfill_rollups(&self, progress: &mut dyn FnMut(i64, i64)) -> Result<i64, StoreError> {
        backfill(&self.writer, progress)
    }

    /// Forget every cell and count every event again (`collector rebuild`).
    pub fn rebuild_rollups(&self, progress: &mut dyn FnMut(i64, i64)) -> Result<i64, StoreError> {
        {
            let mut w = self.writer()?;
            let Writer { conn, backfill, .. } = &mut *w;
            *backfill = reset(conn)?;
        }
        self.backfill_rollups(progress)
    }
}

/// See [`SqliteStore::backfill_rollups`]: the writer lock is taken per chunk, so ingest runs
/// between two.
fn backfill(
    writer: &Arc<Mutex<Writer>>,
    progress: &mut dyn FnMut(i64, i64),
) -> Result<i64, StoreError> {
    let lock = || {
        writer
            .lock()
            .map_err(|_| StoreError("writer connection poisoned".into()))
    };
    let total = lock()?.backfill.end;
    let mut counted = 0;
    loop {
        let step = {
            let mut w = lock()?;
            let Writer { conn, backfill, .. } = &mut *w;
            backfill_chunk(conn, backfill)?
        };
        let Some((upto, n)) = step else {
            return Ok(counted);
        };
        counted += n;
        progress(upto, total);
    }
}
