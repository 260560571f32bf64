//! Tests of the SQLite store on a temporary file: the backend-neutral contract
//! (`store/contract.rs`) and what only SQLite has (the in-memory index, the file).

use super::error::err;
use super::SqliteStore;
use crate::config::SyncMode;
use crate::ports::{Clock, EventLog, InsertOutcome, RelayQueue, StoreError, COMMIT_LINGER};
use crate::store::contract::{self, event, HOUR};
use crate::store::Store;

fn open(dir: &tempfile::TempDir) -> SqliteStore {
    match SqliteStore::open(&dir.path().join("t.db"), SyncMode::Normal) {
        Ok(s) => s,
        Err(e) => unreachable!("{e}"),
    }
}

/// Run a contract test on a fresh store in a temporary directory.
fn on_fresh(_: &str, test: fn(&dyn Store) -> Result<(), StoreError>) -> Result<(), StoreError> {
    let dir = tempfile::tempdir().map_err(err)?;
    test(&open(&dir))
}

contract::contract_tests!(on_fresh);

/// The group commit waits for more events only where a commit waits for an fsync.
#[test]
fn commit_linger_follows_the_sync_mode() -> Result<(), StoreError> {
    let dir = tempfile::tempdir().map_err(err)?;
    assert_eq!(open(&dir).commit_linger(), std::time::Duration::ZERO);
    let full = SqliteStore::open(&dir.path().join("full.db"), SyncMode::Full)?;
    assert_eq!(full.commit_linger(), COMMIT_LINGER);
    Ok(())
}

#[test]
fn migrations_once_and_reopen() -> Result<(), StoreError> {
    let dir = tempfile::tempdir().map_err(err)?;
    let t = contract::T;
    {
        let s = open(&dir);
        assert_eq!(s.insert_batch(&[event("a", t)])?, [InsertOutcome::Stored]);
    }
    let s = open(&dir);
    assert_eq!(s.schema_version()?, 8);
    assert_eq!(s.pending("1", 10)?.len(), 1);
    Ok(())
}

#[test]
fn dedup_survives_a_restart() -> Result<(), StoreError> {
    let dir = tempfile::tempdir().map_err(err)?;
    let now = crate::ports::SystemClock.now_ms();
    {
        let s = open(&dir);
        s.insert_batch(&[event("kept", now - HOUR), event("stale", now - 49 * HOUR)])?;
    }
    let s = open(&dir);
    assert_eq!(
        s.writer()?.dedup.len(),
        1,
        "only keys of the last 48 h are loaded"
    );
    let again = s.insert_batch(&[event("kept", now), event("stale", now)])?;
    assert_eq!(again, [InsertOutcome::Duplicate, InsertOutcome::Stored]);
    Ok(())
}

#[test]
fn a_failed_batch_frees_its_keys() -> Result<(), StoreError> {
    let dir = tempfile::tempdir().map_err(err)?;
    let s = open(&dir);
    let now = crate::ports::SystemClock.now_ms();
    s.writer()?.conn.execute_batch("CREATE TRIGGER no_b BEFORE INSERT ON events WHEN NEW.event_id = 'b' BEGIN SELECT RAISE(ABORT, 'disk full'); END;").map_err(err)?;
    assert!(s.insert_batch(&[event("a", now), event("b", now)]).is_err());
    // The whole batch was rolled back ("a" too), and no transaction is left open.
    assert!(s.writer()?.conn.is_autocommit());
    s.writer()?
        .conn
        .execute_batch("DROP TRIGGER no_b;")
        .map_err(err)?;
    assert_eq!(
        s.insert_batch(&[event("a", now), event("b", now)])?,
        [InsertOutcome::Stored, InsertOutcome::Stored]
    );
    let rows: i64 = s
        .writer()?
        .conn
        .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
        .map_err(err)?;
    assert_eq!(rows, 2);
    Ok(())
}

#[test]
fn purge_forgets_old_dedup_keys() -> Result<(), StoreError> {
    let dir = tempfile::tempdir().map_err(err)?;
    let s = open(&dir);
    let t = contract::T;
    s.insert_batch(&[event("old", t), event("new", t + 40 * 24 * HOUR)])?;
    s.purge(None, t + 40 * 24 * HOUR)?;
    let keys = s.writer()?.dedup.len();
    assert_eq!(keys, 1, "the old key is gone, the fresh one stays");
    Ok(())
}

#[test]
fn one_statement_expiry_marks_the_old_pending_events() -> Result<(), StoreError> {
    let dir = tempfile::tempdir().map_err(err)?;
    let s = open(&dir);
    let t = contract::T;
    let held = crate::event::NewEvent {
        hold_until_ms: Some(t),
        ..event("h", t - 8 * 24 * HOUR)
    };
    s.insert_batch(&[event("a", t), event("c", t - 8 * 24 * HOUR), held])?;
    assert_eq!(s.expire("1", t / 1000 - 7 * 24 * 3600)?, 2);
    assert_eq!(s.pending_count()?, 1);
    Ok(())
}

/// The IP and user agent cleared at the relay are gone from the file's bytes too, not only from
/// what a query returns: the cleared cells are zeroed (`secure_delete = FAST`), and once the WAL
/// is checkpointed neither file holds them.
#[test]
fn cleared_ips_and_user_agents_leave_no_bytes_in_the_file() -> Result<(), StoreError> {
    let dir = tempfile::tempdir().map_err(err)?;
    let path = dir.path().join("t.db");
    let store = SqliteStore::open(&path, SyncMode::Normal)?;
    let events: Vec<_> = (0..2000)
        .map(|i| crate::event::NewEvent {
            client_ip: Some(format!("203.0.113.{}", i % 250)),
            user_agent: Some(format!("Mozilla/5.0 (SecretAgent {i})")),
            ..event(&format!("e{i}"), contract::T)
        })
        .collect();
    for chunk in events.chunks(500) {
        store.insert_batch(chunk)?;
    }
    let checkpoint = || -> Result<(), StoreError> {
        store
            .writer()?
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(err)
    };
    let agents = || -> Result<usize, StoreError> {
        let mut n = 0;
        for file in [path.clone(), dir.path().join("t.db-wal")] {
            if let Ok(bytes) = std::fs::read(&file) {
                n += bytes.windows(11).filter(|w| w == b"SecretAgent").count();
            }
        }
        Ok(n)
    };
    checkpoint()?;
    assert!(agents()? >= 2000, "the fixture writes them");
    let ids: Vec<i64> = store.pending("1", 5000)?.iter().map(|e| e.id).collect();
    store.mark_sent(&ids, contract::T)?;
    checkpoint()?;
    assert_eq!(agents()?, 0, "user agents left in the file after the relay");
    Ok(())
}
