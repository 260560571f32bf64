//! Tests of the PostgreSQL store against a real server: the backend-neutral contract
//! (`store/contract.rs`) and what only a shared store has (replicas deduplicating and claiming
//! together, migrations under the advisory lock, failing fast when the server is gone).
//!
//! The server comes from `COLLECTOR_TEST_PG_URL` (e.g. `postgres://postgres@127.0.0.1:5433/postgres`,
//! a role that may create databases); each test runs in a database of its own, created and
//! dropped here. Without the variable every test prints a line and passes without running.

use std::time::{Duration, Instant};

use super::connection::driver_config;
use super::error::pg_err;
use super::*;
use crate::config::DbUrl;
use crate::event::NewEvent;
use crate::ports::{EventLog, InsertOutcome, RelayQueue, ReportSource, StoreError, StoredEvent};
use crate::store::contract::{self, event, HOUR, T};
use crate::store::Store;
use tokio_postgres::NoTls;

/// The variable naming the test server.
pub const TEST_URL_VAR: &str = "COLLECTOR_TEST_PG_URL";

/// A database of its own for one test, dropped (with its connections) at the end.
struct Fresh {
    admin: tokio_postgres::Config,
    config: tokio_postgres::Config,
    name: String,
}

fn admin_exec(admin: &tokio_postgres::Config, sql: &str) -> Result<(), StoreError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| StoreError(e.to_string()))?;
    rt.block_on(async {
        let (client, conn) = admin.connect(NoTls).await.map_err(pg_err)?;
        let task = tokio::spawn(conn);
        let done = client.batch_execute(sql).await.map_err(pg_err);
        drop(client);
        let _ = task.await;
        done
    })
}

impl Fresh {
    /// `None` (with a line saying so) when no test server is configured.
    fn new(test: &str) -> Option<Fresh> {
        let Ok(url) = std::env::var(TEST_URL_VAR) else {
            println!("skipped {test}: {TEST_URL_VAR} is not set (scripts/pg.sh starts a server)");
            return None;
        };
        let url = match DbUrl::parse(&url, std::env::var("PGPASSWORD").ok()) {
            Ok(u) => u,
            Err(e) => unreachable!("{TEST_URL_VAR}: {e}"),
        };
        let admin = match driver_config(&url) {
            Ok(c) => c,
            Err(e) => unreachable!("{e}"),
        };
        let name = format!(
            "collector_test_{}_{:08x}",
            std::process::id(),
            fastrand::u32(..)
        );
        if let Err(e) = admin_exec(&admin, &format!("CREATE DATABASE {name}")) {
            unreachable!("cannot create a test database on {}: {e}", url.redacted());
        }
        let mut config = admin.clone();
        config.dbname(&name);
        Some(Fresh {
            admin,
            config,
            name,
        })
    }

    fn store(&self) -> PgStore {
        self.store_with(PgOptions {
            pool_size: 4,
            lease_ms: 60_000,
            owner: owner_name(),
            ca_file: None,
        })
    }

    fn store_with(&self, options: PgOptions) -> PgStore {
        match PgStore::open_config(self.config.clone(), &self.name, options) {
            Ok(s) => s,
            Err(e) => unreachable!("{e}"),
        }
    }

    /// Rows of `sql` (one bigint column), straight from the database.
    fn count(&self, sql: &str) -> i64 {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        let Ok(rt) = rt else { unreachable!() };
        rt.block_on(async {
            let Ok((client, conn)) = self.config.connect(NoTls).await else {
                unreachable!("connect")
            };
            tokio::spawn(conn);
            match client.query_one(sql, &[]).await {
                Ok(row) => row.get::<_, i64>(0),
                Err(e) => unreachable!("{sql}: {e}"),
            }
        })
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        let _ = admin_exec(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

fn contract_test(
    name: &str,
    test: fn(&dyn Store) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let Some(db) = Fresh::new(name) else {
        return Ok(());
    };
    test(&db.store())
}

contract::contract_tests!(contract_test);

#[test]
fn replicas_starting_together_migrate_once() -> Result<(), StoreError> {
    let Some(db) = Fresh::new("replicas_starting_together_migrate_once") else {
        return Ok(());
    };
    let stores: Vec<PgStore> = std::thread::scope(|s| {
        let starts: Vec<_> = (0..4).map(|_| s.spawn(|| db.store())).collect();
        starts.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    assert_eq!(stores.len(), 4);
    for s in &stores {
        assert_eq!(s.schema_version()?, 9);
    }
    assert_eq!(db.count("SELECT COUNT(*) FROM schema_migrations"), 7);
    let names = db.count(
        "SELECT COUNT(*) FROM schema_migrations WHERE (version, name) IN
            ((1, 'events and per-pixel counters'),
             (2, 'reports: events by pixel and time, duplicates per day'),
             (3, 'reports: derived keys and visitor, an index that covers the scans'),
             (4, 'ingest: one index fewer, report keys unique after the time'),
             (5, 'server events: origin, hold, server fields'),
             (8, 'per-person state: landings, purchases, visitor-days, AEM sets'),
             (9, 'diagnostics: marks per pixel, day, code, event name and detail'))",
    );
    assert_eq!(names, 7, "the same versions and names as SQLite's");
    Ok(())
}

fn stored_in_chunks(store: &PgStore, evs: &[NewEvent]) -> Result<usize, StoreError> {
    let mut n = 0;
    for chunk in evs.chunks(50) {
        let outcomes = store.insert_batch(chunk)?;
        n += outcomes
            .iter()
            .filter(|o| **o == InsertOutcome::Stored)
            .count();
    }
    Ok(n)
}

#[test]
fn two_replicas_store_each_key_once() -> Result<(), StoreError> {
    let Some(db) = Fresh::new("two_replicas_store_each_key_once") else {
        return Ok(());
    };
    let (a, b) = (db.store(), db.store());
    // Both receive every event, in opposite orders, at the same time, in batches of 50.
    let events: Vec<NewEvent> = (0..400).map(|i| event(&format!("k{i}"), T)).collect();
    let mut reversed = events.clone();
    reversed.reverse();
    let stored: Vec<usize> = std::thread::scope(|s| {
        let ha = s.spawn(|| stored_in_chunks(&a, &events));
        let hb = s.spawn(|| stored_in_chunks(&b, &reversed));
        [ha, hb]
            .into_iter()
            .map(|h| match h.join() {
                Ok(Ok(n)) => n,
                other => unreachable!("{other:?}"),
            })
            .collect()
    });
    assert_eq!(stored.iter().sum::<usize>(), 400, "{stored:?}");
    assert_eq!(db.count("SELECT COUNT(*) FROM events"), 400);
    let day = T.div_euclid(86_400_000);
    assert_eq!(
        a.duplicates("1", day, day)?,
        400,
        "every second copy counted"
    );
    // A repeat 47 h later is still a duplicate for either replica.
    assert_eq!(
        b.insert_batch(&[event("k7", T + 47 * HOUR)])?,
        [InsertOutcome::Duplicate]
    );
    Ok(())
}

/// The two copies of each event land on different replicas at the same moment (half the server
/// copies first): each event is one row made of both copies, held no more, whichever replica
/// stored it; and a held copy without its pair is claimed by neither replica before its time.
#[test]
fn copies_on_two_replicas_merge_and_the_hold_holds_for_both() -> Result<(), StoreError> {
    let Some(db) = Fresh::new("copies_on_two_replicas_merge_and_the_hold_holds_for_both") else {
        return Ok(());
    };
    let (a, b) = (db.store(), db.store());
    let hold = Some(T + 600_000);
    let held = |e: NewEvent| NewEvent {
        hold_until_ms: hold,
        ..e
    };
    let browser: Vec<NewEvent> = (0..300).map(|i| held(event(&format!("o{i}"), T))).collect();
    let server: Vec<NewEvent> = (0..300)
        .map(|i| held(contract::server_copy(&format!("o{i}"), T)))
        .collect();
    let (mut to_a, mut to_b) = (Vec::new(), Vec::new());
    for (i, (x, y)) in browser.into_iter().zip(server).enumerate() {
        if i % 2 == 0 {
            to_a.push(x);
            to_b.push(y);
        } else {
            to_a.push(y);
            to_b.push(x);
        }
    }
    to_b.reverse();
    std::thread::scope(|s| {
        let ha = s.spawn(|| stored_in_chunks(&a, &to_a));
        let hb = s.spawn(|| stored_in_chunks(&b, &to_b));
        for h in [ha, hb] {
            let r = h.join();
            assert!(matches!(r, Ok(Ok(_))), "{r:?}");
        }
    });
    assert_eq!(db.count("SELECT COUNT(*) FROM events"), 300);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM events WHERE origin = 3 AND hold_until_ms IS NULL"),
        300,
        "every event is both copies, released"
    );
    assert_eq!(
        db.count(
            "SELECT COUNT(*) FROM events WHERE custom_data::jsonb ->> 'value' = '99' AND fbp IS NOT NULL"
        ),
        300,
        "the server's value, the browser's fbp"
    );
    let day = T.div_euclid(86_400_000);
    assert_eq!(a.duplicates("1", day, day)?, 0, "merges are not duplicates");
    // A held copy alone: neither replica claims it before its time; either may after.
    a.insert_batch(&[held(event("alone", T))])?;
    let names =
        |v: Vec<StoredEvent>| -> Vec<String> { v.into_iter().map(|e| e.event.event_id).collect() };
    let first = names(b.claim_pending("1", 0, 1000, T + 1)?);
    assert_eq!(first.len(), 300);
    assert!(!first.contains(&"alone".to_owned()));
    assert_eq!(names(a.claim_pending("1", 0, 1000, T + 1)?).len(), 0);
    let later = names(a.claim_pending("1", 0, 1000, T + 600_000)?);
    assert!(later.contains(&"alone".to_owned()), "{later:?}");
    Ok(())
}

#[test]
fn a_claim_is_exclusive_until_released_marked_or_expired() -> Result<(), StoreError> {
    let Some(db) = Fresh::new("a_claim_is_exclusive_until_released_marked_or_expired") else {
        return Ok(());
    };
    let lease = 1000;
    let replica = |owner: &str| {
        db.store_with(PgOptions {
            pool_size: 2,
            lease_ms: lease,
            owner: owner.into(),
            ca_file: None,
        })
    };
    let (a, b) = (replica("a"), replica("b"));
    let evs: Vec<NewEvent> = (0..6).map(|i| event(&format!("e{i}"), T)).collect();
    a.insert_batch(&evs)?;
    let ids = |v: Vec<StoredEvent>| -> Vec<i64> { v.into_iter().map(|e| e.id).collect() };
    let mine = ids(a.claim_pending("1", 0, 4, T)?);
    assert_eq!(mine.len(), 4);
    let theirs = ids(b.claim_pending("1", 0, 10, T)?);
    assert_eq!(theirs.len(), 2, "only what a did not claim");
    assert!(theirs.iter().all(|id| !mine.contains(id)));
    assert_eq!(
        ids(a.claim_pending("1", 0, 10, T + 1)?),
        mine,
        "its own again, not b's"
    );
    // a sends two, gives one back, keeps one in flight; then dies.
    let (sent, rest) = mine.split_at(2);
    a.mark_sent(sent, T)?;
    a.release(rest.get(..1).unwrap_or(&[]))?;
    assert_eq!(
        ids(b.claim_pending("1", 0, 10, T + 2)?).len(),
        3,
        "its own 2 again and the released one"
    );
    // a record_attempt releases too: b's failed request frees its events for anyone.
    b.record_attempt(&theirs, "HTTP 503")?;
    let last = rest.get(1).copied().unwrap_or(0);
    let after_attempt = ids(a.claim_pending("1", 0, 10, T + 3)?);
    let want: Vec<i64> = std::iter::once(last)
        .chain(theirs.iter().copied())
        .collect();
    assert_eq!(
        after_attempt, want,
        "its in-flight one and b's released two, not b's third"
    );
    // a's in-flight event (and everything else) is free once the leases end.
    let later = ids(b.claim_pending("1", 0, 10, T + 4 + lease)?);
    assert!(later.contains(&last), "{later:?} has {last}");
    assert_eq!(later.len(), 4);
    // A renewed claim outlives its first lease; one that was taken over is not taken back.
    let d = replica("d");
    let held = ids(d.claim_pending("1", 0, 10, T + 5 + 2 * lease)?);
    assert_eq!(held.len(), 4);
    d.renew(&held, T + 5 + 2 * lease + lease / 2)?;
    assert!(
        b.claim_pending("1", 0, 10, T + 6 + 3 * lease)?.is_empty(),
        "renewed"
    );
    b.renew(&held, T + 6 + 3 * lease)?;
    assert_eq!(
        ids(a.claim_pending("1", 0, 10, T + 6 + 4 * lease)?).len(),
        4,
        "b renewed nothing"
    );
    // One claim at a time even when many ask at once.
    let c = replica("c");
    let claimed: Vec<Vec<i64>> = std::thread::scope(|s| {
        let hs: Vec<_> = [&a, &b, &c]
            .into_iter()
            .map(|r| s.spawn(move || r.claim_pending("1", 0, 10, T + 10 * lease)))
            .collect();
        hs.into_iter()
            .map(|h| match h.join() {
                Ok(Ok(v)) => ids(v),
                other => unreachable!("{other:?}"),
            })
            .collect()
    });
    let mut all: Vec<i64> = claimed.concat();
    all.sort_unstable();
    let n = all.len();
    all.dedup();
    assert_eq!(
        (n, all.len()),
        (4, 4),
        "{claimed:?}: each pending event claimed once"
    );
    Ok(())
}

fn options(owner: &str) -> PgOptions {
    PgOptions {
        pool_size: 2,
        lease_ms: 1000,
        owner: owner.into(),
        ca_file: None,
    }
}

#[test]
fn an_unreachable_server_fails_fast() {
    // A listener that accepts and never answers: a server that stopped without closing.
    let Ok(silent) = std::net::TcpListener::bind("127.0.0.1:0") else {
        unreachable!()
    };
    let Ok(addr) = silent.local_addr() else {
        unreachable!()
    };
    let url = match DbUrl::parse(&format!("postgres://collector@{addr}/shop"), None) {
        Ok(u) => u,
        Err(e) => unreachable!("{e}"),
    };
    let t = Instant::now();
    let opened = PgStore::open(&url, options("x"));
    let took = t.elapsed();
    assert!(opened.is_err());
    assert!(took < CONNECT_TIMEOUT + Duration::from_secs(2), "{took:?}");
    // Nothing listening at all: refused at once.
    drop(silent);
    let t = Instant::now();
    assert!(PgStore::open(&url, options("x")).is_err());
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn sslmode_require_never_falls_back_to_plain() {
    let Ok(url) = std::env::var(TEST_URL_VAR) else {
        println!("skipped sslmode_require_never_falls_back_to_plain: {TEST_URL_VAR} is not set");
        return;
    };
    // The test server has no certificate a client could check (or no TLS at all).
    let sep = if url.contains('?') { '&' } else { '?' };
    let url = match DbUrl::parse(&format!("{url}{sep}sslmode=require"), None) {
        Ok(u) => u,
        Err(e) => unreachable!("{e}"),
    };
    match PgStore::open(&url, options("x")) {
        Err(e) => assert!(e.0.contains("TLS") || e.0.contains("certificate"), "{e}"),
        Ok(_) => unreachable!("connected without a TLS session it could check"),
    }
}

#[test]
fn every_report_agrees_with_sqlite_on_the_same_events() -> Result<(), StoreError> {
    let Some(db) = Fresh::new("every_report_agrees_with_sqlite_on_the_same_events") else {
        return Ok(());
    };
    contract::same_reports_as_sqlite(&db.store(), 4000)
}
