//! Tests of the SQLite store on a temporary file.

use super::*;
use pixel_core::wire::Dpo;
use serde_json::{json, Value};

const HOUR: i64 = 3600 * 1000;

fn event(eid: &str, received_at_ms: i64) -> NewEvent {
    NewEvent {
        pixel_id: "1".into(),
        event_name: "Purchase".into(),
        event_id: eid.into(),
        event_id_derived: false,
        event_time: received_at_ms / 1000,
        received_at_ms,
        source_url: "https://shop.example/".into(),
        referrer_url: String::new(),
        fbp: Some("fb.1.2.3".into()),
        fbc: None,
        client_ip: Some("203.0.113.1".into()),
        user_agent: Some("UA".into()),
        user_data: vec![("em".into(), "a".repeat(64))],
        custom_data: serde_json::from_value(json!({"value": 1.5, "ids": ["a"]}))
            .unwrap_or_default(),
        dpo: Some(Dpo {
            options: vec!["LDU".into()],
            country: 1,
            state: 1000,
        }),
        relay: true,
    }
}

fn open(dir: &tempfile::TempDir) -> SqliteStore {
    match SqliteStore::open(&dir.path().join("t.db"), SyncMode::Normal) {
        Ok(s) => s,
        Err(e) => unreachable!("{e}"),
    }
}

#[test]
fn round_trip_migrations_once_and_reopen() -> Result<(), StoreError> {
    let dir = tempfile::tempdir().map_err(err)?;
    let t = 1_700_000_000_000;
    {
        let s = open(&dir);
        assert_eq!(s.insert_batch(&[event("a", t)])?, [InsertOutcome::Stored]);
    }
    let s = open(&dir);
    assert_eq!(s.schema_version()?, 3);
    let got = s.list(&EventQuery {
        limit: 10,
        ..EventQuery::default()
    })?;
    assert_eq!(got.len(), 1);
    let e = got.first().ok_or_else(|| StoreError("empty".into()))?;
    assert_eq!(e.event.user_data, vec![("em".to_owned(), "a".repeat(64))]);
    assert_eq!(
        Value::Object(e.event.custom_data.clone()),
        json!({"value": 1.5, "ids": ["a"]})
    );
    assert_eq!(
        e.event.dpo,
        Some(Dpo {
            options: vec!["LDU".into()],
            country: 1,
            state: 1000
        })
    );
    assert_eq!(e.relay_status, RelayStatus::Pending);
    assert_eq!(e.event, event("a", t), "read back as it was stored");
    Ok(())
}

#[test]
fn an_event_not_to_be_relayed_reads_back_as_stored() -> Result<(), StoreError> {
    let dir = tempfile::tempdir().map_err(err)?;
    let s = open(&dir);
    let quiet = NewEvent {
        relay: false,
        ..event("q", 1_700_000_000_000)
    };
    s.insert_batch(std::slice::from_ref(&quiet))?;
    let got = s.pending("1", 10)?;
    assert!(got.is_empty(), "{got:?}");
    let got = s.list(&EventQuery {
        limit: 10,
        ..EventQuery::default()
    })?;
    let e = got.first().ok_or_else(|| StoreError("empty".into()))?;
    assert_eq!(e.relay_status, RelayStatus::NotRelayed);
    assert_eq!(e.event, quiet);
    Ok(())
}

#[test]
fn dedup_holds_for_48_hours_then_lets_the_key_in_again() -> Result<(), StoreError> {
    let dir = tempfile::tempdir().map_err(err)?;
    let s = open(&dir);
    let t = 1_700_000_000_000;
    let outcomes = s.insert_batch(&[event("a", t), event("a", t), event("b", t)])?;
    assert_eq!(
        outcomes,
        [
            InsertOutcome::Stored,
            InsertOutcome::Duplicate,
            InsertOutcome::Stored
        ]
    );
    assert_eq!(
        s.insert_batch(&[event("a", t + 47 * HOUR)])?,
        [InsertOutcome::Duplicate]
    );
    assert_eq!(
        s.insert_batch(&[event("a", t + 49 * HOUR)])?,
        [InsertOutcome::Stored]
    );
    assert_eq!(s.report("1")?.duplicates, 2);
    Ok(())
}

#[test]
fn dedup_survives_a_restart() -> Result<(), StoreError> {
    let dir = tempfile::tempdir().map_err(err)?;
    let now = crate::now_ms();
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
    let now = crate::now_ms();
    s.writer()?.conn.execute_batch("CREATE TRIGGER no_b BEFORE INSERT ON events WHEN NEW.event_id = 'b' BEGIN SELECT RAISE(ABORT, 'disk full'); END;").map_err(err)?;
    assert!(s.insert_batch(&[event("a", now), event("b", now)]).is_err());
    s.writer()?
        .conn
        .execute_batch("DROP TRIGGER no_b;")
        .map_err(err)?;
    assert_eq!(
        s.insert_batch(&[event("a", now), event("b", now)])?,
        [InsertOutcome::Stored, InsertOutcome::Stored]
    );
    Ok(())
}

#[test]
fn purge_deletes_old_events_and_old_dedup_keys() -> Result<(), StoreError> {
    let dir = tempfile::tempdir().map_err(err)?;
    let s = open(&dir);
    let t = 1_700_000_000_000;
    for i in 0..7 {
        s.insert_batch(&[event(&format!("old-{i}"), t + i * HOUR)])?;
    }
    s.insert_batch(&[event("new", t + 40 * 24 * HOUR)])?;
    let now = t + 40 * 24 * HOUR;
    assert_eq!(s.purge(Some(now - 30 * 24 * HOUR), now)?, 7);
    let left = s.list(&EventQuery {
        limit: 10,
        ..EventQuery::default()
    })?;
    assert_eq!(
        left.iter()
            .map(|e| e.event.event_id.as_str())
            .collect::<Vec<_>>(),
        ["new"]
    );
    assert_eq!(s.purge(None, now)?, 0);
    let keys = s.writer()?.dedup.len();
    assert_eq!(keys, 1, "the old key is gone, the fresh one stays");
    Ok(())
}

#[test]
fn relay_status_transitions() -> Result<(), StoreError> {
    let dir = tempfile::tempdir().map_err(err)?;
    let s = open(&dir);
    let t = 1_700_000_000_000;
    s.insert_batch(&[event("a", t), event("b", t), event("c", t - 8 * 24 * HOUR)])?;
    assert_eq!(s.pending_count()?, 3);
    assert_eq!(s.expire("1", t / 1000 - 7 * 24 * 3600)?, 1);
    let pending = s.pending("1", 10)?;
    let ids: Vec<i64> = pending.iter().map(|e| e.id).collect();
    assert_eq!(
        pending
            .iter()
            .map(|e| e.event.event_id.as_str())
            .collect::<Vec<_>>(),
        ["a", "b"]
    );
    s.record_attempt(&ids, "HTTP 500")?;
    let (a, b) = (
        ids.first().copied().unwrap_or(0),
        ids.get(1).copied().unwrap_or(0),
    );
    s.mark_sent(&[a], t)?;
    s.mark_failed(b, "Invalid parameter", t)?;
    s.mark_sent(&[b], t)?; // a failed event stays failed
    assert_eq!(s.pending_count()?, 0);
    let all = s.list(&EventQuery {
        limit: 10,
        ..EventQuery::default()
    })?;
    let by_id: std::collections::HashMap<&str, &StoredEvent> =
        all.iter().map(|e| (e.event.event_id.as_str(), e)).collect();
    let get = |k: &str| by_id.get(k).copied().ok_or_else(|| StoreError(k.into()));
    assert_eq!(
        (
            get("a")?.relay_status,
            get("a")?.relay_attempts,
            get("a")?.relay_error.clone()
        ),
        (RelayStatus::Sent, 2, None)
    );
    assert_eq!(get("b")?.relay_status, RelayStatus::Failed);
    assert_eq!(get("b")?.relay_error.as_deref(), Some("Invalid parameter"));
    assert_eq!(get("c")?.relay_status, RelayStatus::Expired);
    let report = s.report("1")?;
    assert_eq!(
        (
            report.total,
            report.with_em,
            report.with_fbp,
            report.with_fbc
        ),
        (3, 3, 3, 0)
    );
    for status in [RelayStatus::Sent, RelayStatus::Failed, RelayStatus::Expired] {
        assert!(
            report.by_relay_status.contains(&(status, 1)),
            "{:?}",
            report.by_relay_status
        );
    }
    assert_eq!(report.by_relay_status.len(), 3);
    Ok(())
}

#[test]
fn expiry_in_chunks_and_paged_pending_reads() -> Result<(), StoreError> {
    let dir = tempfile::tempdir().map_err(err)?;
    let s = open(&dir);
    let t = 1_700_000_000_000;
    let old = t - 8 * 24 * HOUR;
    s.insert_batch(&[
        event("a", old),
        event("b", t),
        event("c", old),
        event("d", t),
        event("e", old),
    ])?;
    let cutoff = t / 1000 - 7 * 24 * 3600;
    // Chunks of two: the cursor walks the pending queue, the old ones are collected.
    let (mut found, mut after, mut chunks) = (Vec::new(), 0, 0);
    while let (ids, Some(last)) = s.pending_older_than("1", cutoff, after, 2)? {
        found.extend(ids);
        after = last;
        chunks += 1;
    }
    assert_eq!(chunks, 3);
    assert_eq!(found.len(), 3);
    assert_eq!(s.pending_older_than("2", cutoff, 0, 2)?, (vec![], None));
    assert_eq!(s.expire_ids(&found)?, 3);
    assert_eq!(s.expire_ids(&found)?, 0, "only pending events expire");
    let names =
        |v: Vec<StoredEvent>| -> Vec<String> { v.into_iter().map(|e| e.event.event_id).collect() };
    assert_eq!(names(s.pending("1", 10)?), ["b", "d"]);
    let first = s.pending_after("1", 0, 1)?;
    assert_eq!(names(first.clone()), ["b"]);
    let after_b = first.first().map_or(0, |e| e.id);
    assert_eq!(names(s.pending_after("1", after_b, 10)?), ["d"]);
    assert!(s.pending_after("1", i64::MAX - 1, 10)?.is_empty());
    Ok(())
}
