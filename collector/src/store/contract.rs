//! What every [`Store`] must do, as test bodies over `&dyn Store`: the SQLite tests
//! (`sqlite/tests.rs`), the PostgreSQL tests (`postgres/tests.rs`) and the in-memory twin's
//! (`memory/tests.rs`) run each of them on a fresh store of their own, so the three backends are
//! held to one table of expectations.

use pixel_core::wire::Dpo;
use serde_json::{json, Value};

use super::Store;
use crate::event::{NewEvent, Origin, ServerFields};
use crate::ports::{
    Columns, EventQuery, InsertOutcome, RelayStatus, ReportSource, Scan, StoreError, StoredEvent,
};

/// The contract as `#[test]` functions: each runs one contract test through `$run`, a
/// `fn(&str, fn(&dyn Store) -> Result<(), StoreError>) -> Result<(), StoreError>` that hands it a
/// fresh store of the backend under test (the name is the test's, for a backend that may skip).
macro_rules! contract_tests {
    ($run:path) => {
        $crate::store::contract::contract_tests!(
            $run;
            round_trip,
            dedup_window,
            purge_deletes_old_events,
            relay_status_transitions,
            expiry_in_chunks_and_paged_pending_reads,
            server_events_round_trip,
            copies_merge_in_either_order_and_in_one_batch,
            a_copy_after_the_relay_is_late_and_not_pending,
            held_events_wait_until_their_pair_or_their_time,
            held_events_are_pending_in_id_order,
            client_ip_and_user_agent_go_when_the_event_leaves_the_queue,
            a_late_copy_and_an_unrelayed_event_keep_no_ip_or_user_agent,
            rollups_equal_a_rebuild_after_random_changes
        );
    };
    ($run:path; $($name:ident),*) => {
        $(
            #[test]
            fn $name() -> Result<(), $crate::ports::StoreError> {
                $run(stringify!($name), $crate::store::contract::$name)
            }
        )*
    };
}
pub(crate) use contract_tests;

pub use super::rollup_contract::rollups_equal_a_rebuild_after_random_changes;

pub const HOUR: i64 = 3600 * 1000;
/// 2023-11-14T22:13:20Z.
pub const T: i64 = 1_700_000_000_000;

pub fn event(eid: &str, received_at_ms: i64) -> NewEvent {
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
        ..NewEvent::default()
    }
}

/// The server copy of [`event`]: verified, with the order's value and keys, no cookies.
pub fn server_copy(eid: &str, received_at_ms: i64) -> NewEvent {
    NewEvent {
        fbp: None,
        user_agent: None,
        client_ip: Some("198.51.100.2".into()),
        source_url: String::new(),
        user_data: vec![("ph".into(), "c".repeat(64))],
        custom_data: serde_json::from_value(json!({"value": 99, "currency": "EUR"}))
            .unwrap_or_default(),
        dpo: None,
        origin: Origin::SERVER,
        server: Some(Box::new(ServerFields {
            action_source: "website".into(),
            test_event_code: Some("TEST42".into()),
            user_data: serde_json::from_value(json!({"lead_id": "5"})).unwrap_or_default(),
            event: serde_json::from_value(json!({"opt_out": false})).unwrap_or_default(),
        })),
        ..event(eid, received_at_ms)
    }
}

fn all(s: &dyn Store) -> Result<Vec<StoredEvent>, StoreError> {
    s.list(&EventQuery {
        limit: 100,
        ..EventQuery::default()
    })
}

fn names(v: Vec<StoredEvent>) -> Vec<String> {
    v.into_iter().map(|e| e.event.event_id).collect()
}

/// An event reads back exactly as it was stored.
pub fn round_trip(s: &dyn Store) -> Result<(), StoreError> {
    assert_eq!(s.insert_batch(&[event("a", T)])?, [InsertOutcome::Stored]);
    let got = all(s)?;
    assert_eq!(got.len(), 1);
    let e = got.first().ok_or_else(|| StoreError("empty".into()))?;
    assert_eq!(e.event.user_data, vec![("em".to_owned(), "a".repeat(64))]);
    assert_eq!(
        Value::Object(e.event.custom_data.clone()),
        json!({"value": 1.5, "ids": ["a"]})
    );
    assert_eq!(e.relay_status, RelayStatus::Pending);
    assert_eq!(e.event, event("a", T), "read back as it was stored");
    let quiet = NewEvent {
        relay: false,
        fbp: None,
        client_ip: None,
        user_agent: None,
        dpo: None,
        user_data: Vec::new(),
        custom_data: serde_json::Map::new(),
        ..event("q", T)
    };
    s.insert_batch(std::slice::from_ref(&quiet))?;
    assert_eq!(
        names(s.pending("1", 10)?),
        ["a"],
        "not relayed: not pending"
    );
    let got = all(s)?;
    let e = got.first().ok_or_else(|| StoreError("empty".into()))?;
    assert_eq!(e.relay_status, RelayStatus::NotRelayed);
    assert_eq!(e.event, quiet);
    assert!(
        got.windows(2)
            .all(|w| w.first().map(|e| e.id) > w.get(1).map(|e| e.id)),
        "newest first"
    );
    Ok(())
}

/// The deduplication window, relative to each event's `received_at_ms` (`store/dedup.rs` is the
/// reference): rows of (key, hours after T, expected), in order, some in one batch.
pub fn dedup_window(s: &dyn Store) -> Result<(), StoreError> {
    use InsertOutcome::{Duplicate as D, Stored as S};
    let batches: &[&[(&str, i64, InsertOutcome)]] = &[
        &[("a", 0, S), ("a", 0, D), ("b", 0, S)],
        &[("a", 47, D)],
        &[("a", 49, S)],
        // 49 h after the last time it was stored (hour 49), not after the first.
        &[("a", 96, D)],
        &[("a", 98, S)],
        // Exactly 48 h later is outside the window.
        &[("a", 98 + 48, S)],
        // Copies within one batch are judged in order.
        &[("c", 0, S), ("c", 47, D), ("c", 49, S), ("c", 50, D)],
        // Another pixel or another event name is another key.
        &[("b", 1, D)],
    ];
    let mut duplicates = 0;
    for batch in batches {
        let events: Vec<NewEvent> = batch
            .iter()
            .map(|(k, h, _)| event(k, T + h * HOUR))
            .collect();
        let want: Vec<InsertOutcome> = batch.iter().map(|(_, _, o)| *o).collect();
        assert_eq!(s.insert_batch(&events)?, want, "{batch:?}");
        duplicates += want.iter().filter(|o| **o == D).count() as u64;
    }
    let other = [
        NewEvent {
            pixel_id: "2".into(),
            ..event("b", T)
        },
        NewEvent {
            event_name: "Lead".into(),
            ..event("b", T)
        },
    ];
    assert_eq!(s.insert_batch(&other)?, [S, S]);
    let day = |ms: i64| ms.div_euclid(86_400_000);
    assert_eq!(s.duplicates("1", day(T), day(T + 100 * HOUR))?, duplicates);
    assert_eq!(
        s.duplicates("1", day(T), day(T))?,
        2,
        "counted per day of receipt"
    );
    assert_eq!(s.duplicates("2", day(T), day(T + 100 * HOUR))?, 0);
    Ok(())
}

/// Retention: events received before the cutoff go, the others stay.
pub fn purge_deletes_old_events(s: &dyn Store) -> Result<(), StoreError> {
    for i in 0..7 {
        s.insert_batch(&[event(&format!("old-{i}"), T + i * HOUR)])?;
    }
    let now = T + 40 * 24 * HOUR;
    s.insert_batch(&[event("new", now)])?;
    assert_eq!(s.purge(Some(now - 30 * 24 * HOUR), now)?, 7);
    assert_eq!(names(all(s)?), ["new"]);
    assert_eq!(s.purge(None, now)?, 0);
    assert_eq!(s.purge(Some(now - 30 * 24 * HOUR), now)?, 0);
    // The purged keys may come again; the fresh one is still a duplicate.
    let again = s.insert_batch(&[event("old-1", now), event("new", now + HOUR)])?;
    assert_eq!(again, [InsertOutcome::Stored, InsertOutcome::Duplicate]);
    Ok(())
}

/// pending → sent / failed / expired, attempts and errors recorded; the reports' scan sees it.
pub fn relay_status_transitions(s: &dyn Store) -> Result<(), StoreError> {
    s.insert_batch(&[event("a", T), event("b", T), event("c", T - 8 * 24 * HOUR)])?;
    assert_eq!(s.pending_count()?, 3);
    let (old, _) = s.pending_older_than("1", T / 1000 - 7 * 24 * 3600, 0, 100)?;
    assert_eq!(s.expire_ids(&old)?, 1);
    let pending = s.pending("1", 10)?;
    let ids: Vec<i64> = pending.iter().map(|e| e.id).collect();
    assert_eq!(names(pending), ["a", "b"]);
    s.record_attempt(&ids, "HTTP 500")?;
    let (a, b) = (
        ids.first().copied().unwrap_or(0),
        ids.get(1).copied().unwrap_or(0),
    );
    s.mark_sent(&[a], T)?;
    s.mark_failed(b, "Invalid parameter", T)?;
    s.mark_sent(&[b], T)?; // a failed event stays failed
    assert_eq!(s.pending_count()?, 0);
    let all = all(s)?;
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
    let mut seen = Vec::new();
    let scan = Scan {
        pixel_id: "1",
        from_secs: 0,
        to_secs: i64::MAX,
        names: None,
        columns: Columns {
            relay: true,
            user_data: true,
            hashes: true,
            ..Columns::default()
        },
    };
    s.scan(&scan, &mut |r| {
        seen.push((
            r.relay_status,
            r.relay_error.map(str::to_owned),
            r.fbp.is_some(),
            r.has_fbc,
            r.user_data.len(),
            r.derived.is_some(),
        ))
    })?;
    seen.sort_by_key(|r| r.0.map(|s| s.as_str()));
    // Derived at insert; the error read for failed events only; the hashes when asked for.
    let row = |status, error: Option<&str>| {
        (
            Some(status),
            error.map(str::to_owned),
            true,
            false,
            73,
            true,
        )
    };
    assert_eq!(
        seen,
        [
            row(RelayStatus::Expired, None),
            row(RelayStatus::Failed, Some("Invalid parameter")),
            row(RelayStatus::Sent, None),
        ]
    );
    Ok(())
}

/// The expiry walk in chunks and the paged pending reads (and the relay's claim, which pages
/// the same way).
pub fn expiry_in_chunks_and_paged_pending_reads(s: &dyn Store) -> Result<(), StoreError> {
    let old = T - 8 * 24 * HOUR;
    s.insert_batch(&[
        event("a", old),
        event("b", T),
        event("c", old),
        event("d", T),
        event("e", old),
    ])?;
    let cutoff = T / 1000 - 7 * 24 * 3600;
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
    assert_eq!(names(s.pending("1", 10)?), ["b", "d"]);
    let first = s.pending_after("1", 0, 1)?;
    assert_eq!(names(first.clone()), ["b"]);
    let after_b = first.first().map_or(0, |e| e.id);
    assert_eq!(names(s.pending_after("1", after_b, 10)?), ["d"]);
    assert!(s.pending_after("1", i64::MAX - 1, 10)?.is_empty());
    assert_eq!(names(s.claim_pending("1", 0, 1, T)?), ["b"]);
    // This process may claim its own events again.
    assert_eq!(names(s.claim_pending("1", 0, 10, T)?), ["b", "d"]);
    assert_eq!(names(s.claim_pending("1", after_b, 10, T)?), ["d"]);
    s.release(&[after_b])?;
    assert_eq!(names(s.claim_pending("1", 0, 10, T)?), ["b", "d"]);
    Ok(())
}

/// Every report and audience of seeded traffic, as text.
pub fn every_report(
    src: &dyn ReportSource,
    pixel: &str,
    range: crate::reports::DayRange,
) -> Result<Vec<String>, StoreError> {
    use crate::reports::{self, AemParams, Audience, AudienceParams};
    let aem = AemParams {
        priority: ["Purchase", "InitiateCheckout", "AddToCart", "ViewContent"]
            .map(String::from)
            .to_vec(),
    };
    let mut out = vec![
        reports::funnel(src, pixel, range)?.to_string(),
        reports::timeline(src, pixel, range)?.to_string(),
        reports::match_quality(src, pixel, range)?.to_string(),
        reports::relay(src, pixel, range)?.to_string(),
        reports::attribution(src, pixel, range, 7)?.to_string(),
        reports::aem(src, pixel, range, &aem)?.to_string(),
    ];
    for which in [
        Audience::Purchasers,
        Audience::CartAbandoners,
        Audience::Viewers,
    ] {
        let p = AudienceParams {
            window_days: 2,
            currency: None,
        };
        out.push(reports::audience(src, pixel, range, which, &p)?);
    }
    Ok(out)
}

/// Seed `events` of the `seed` command's traffic (relayed, 4 days ending 2026-11-30) into a fresh
/// SQLite file and into `other`, and assert that both stored the same and that every report and
/// audience agrees, over the whole range and over one day.
pub fn same_reports_as_sqlite(other: &dyn Store, events: u64) -> Result<(), StoreError> {
    let dir = tempfile::tempdir().map_err(|e| StoreError(e.to_string()))?;
    let sqlite = super::sqlite::SqliteStore::open(
        &dir.path().join("r.db"),
        crate::config::SyncMode::Normal,
    )?;
    let end_day = crate::reports::parse_date("2026-11-30").ok_or(StoreError("date".into()))?;
    let opts = crate::seed::Options {
        pixel: "1234567890".into(),
        events,
        days: 4,
        end_day,
        seed: 7,
        relay: true,
    };
    let a = crate::seed::seed(&sqlite, &opts, &mut |_| {}).map_err(StoreError)?;
    let b = crate::seed::seed(other, &opts, &mut |_| {}).map_err(StoreError)?;
    assert_eq!((a.stored, a.duplicates), (b.stored, b.duplicates));
    for (from_day, to_day) in [(end_day - 3, end_day), (end_day - 1, end_day - 1)] {
        let range = crate::reports::DayRange { from_day, to_day };
        let (x, y) = (
            every_report(&sqlite, "1234567890", range)?,
            every_report(other, "1234567890", range)?,
        );
        assert_eq!(x, y, "{range:?}");
        assert!(x.first().is_some_and(|f| f.contains("Purchase")), "{x:?}");
    }
    Ok(())
}

/// A server copy reads back with its origin, hold and server fields.
pub fn server_events_round_trip(s: &dyn Store) -> Result<(), StoreError> {
    let held = NewEvent {
        hold_until_ms: Some(T + 600_000),
        ..server_copy("s", T)
    };
    assert_eq!(
        s.insert_batch(std::slice::from_ref(&held))?,
        [InsertOutcome::Stored]
    );
    let got = all(s)?;
    assert_eq!(got.first().map(|e| &e.event), Some(&held));
    Ok(())
}

fn one(s: &dyn Store) -> Result<StoredEvent, StoreError> {
    let mut got = all(s)?;
    assert_eq!(got.len(), 1, "one event per key");
    got.pop().ok_or_else(|| StoreError("empty".into()))
}

/// A beacon and a server copy of one event are one row, whichever came first, also when both
/// are in one group commit; repeats of either are duplicates.
pub fn copies_merge_in_either_order_and_in_one_batch(s: &dyn Store) -> Result<(), StoreError> {
    let (browser, server) = (event("m", T), server_copy("m", T + 1000));
    assert_eq!(
        s.insert_batch(std::slice::from_ref(&browser))?,
        [InsertOutcome::Stored]
    );
    assert_eq!(
        s.insert_batch(std::slice::from_ref(&server))?,
        [InsertOutcome::Merged]
    );
    let first = one(s)?;
    let expected = crate::ports::merge::meet(&browser, RelayStatus::Pending, &server);
    assert_eq!(Some(&first.event), expected.as_ref());
    assert_eq!(first.event.origin.as_str(), "both");
    assert_eq!(
        first.event.custom_data.get("value"),
        Some(&json!(99)),
        "the server's value"
    );
    assert_eq!(
        first.event.fbp.as_deref(),
        Some("fb.1.2.3"),
        "the browser's fbp"
    );
    assert_eq!(
        s.insert_batch(&[event("m", T + 2000), server_copy("m", T + 3000)])?,
        [InsertOutcome::Duplicate, InsertOutcome::Duplicate]
    );
    assert_eq!(one(s)?, first, "repeats change nothing");
    let dups = s.duplicates("1", 0, T / 86_400_000 + 1)?;
    assert_eq!(dups, 2, "repeats are counted, merges are not");

    // The other order, both copies in one commit.
    let (browser, server) = (event("n", T), server_copy("n", T));
    assert_eq!(
        s.insert_batch(&[server.clone(), browser.clone()])?,
        [InsertOutcome::Stored, InsertOutcome::Merged]
    );
    let got = all(s)?;
    let n = got.iter().find(|e| e.event.event_id == "n");
    let expected = crate::ports::merge::meet(&server, RelayStatus::Pending, &browser);
    assert_eq!(n.map(|e| &e.event), expected.as_ref());
    assert_eq!(got.len(), 2);
    Ok(())
}

/// A copy that arrives after its event was sent is merged for the reports, flagged late, and
/// not pending again.
pub fn a_copy_after_the_relay_is_late_and_not_pending(s: &dyn Store) -> Result<(), StoreError> {
    s.insert_batch(&[event("l", T)])?;
    let id = one(s)?.id;
    s.mark_sent(&[id], T + 10)?;
    assert_eq!(
        s.insert_batch(&[server_copy("l", T + 20)])?,
        [InsertOutcome::Merged]
    );
    let e = one(s)?;
    assert_eq!(e.relay_status, RelayStatus::Sent);
    assert!(e.event.origin.has(Origin::LATE) && e.event.origin.verified());
    assert!(s.claim_pending("1", 0, 10, T + 30)?.is_empty());
    Ok(())
}

/// An event held until a time is not claimed before it, unless its other copy came; a complete
/// pair is claimed at once.
pub fn held_events_wait_until_their_pair_or_their_time(s: &dyn Store) -> Result<(), StoreError> {
    let hold = Some(T + 600_000);
    let held = |e: NewEvent| NewEvent {
        hold_until_ms: hold,
        ..e
    };
    s.insert_batch(&[
        held(event("alone", T)),
        held(event("pair", T)),
        event("free", T),
    ])?;
    let ids = |v: Vec<StoredEvent>| names(v);
    assert_eq!(ids(s.claim_pending("1", 0, 10, T + 1)?), ["free"]);
    s.release(&all(s)?.iter().map(|e| e.id).collect::<Vec<_>>())?;
    s.insert_batch(&[held(server_copy("pair", T + 500))])?;
    assert_eq!(ids(s.claim_pending("1", 0, 10, T + 2)?), ["pair", "free"]);
    s.release(&all(s)?.iter().map(|e| e.id).collect::<Vec<_>>())?;
    assert_eq!(
        ids(s.claim_pending("1", 0, 10, T + 600_000)?),
        ["alone", "pair", "free"]
    );
    Ok(())
}

/// A held event is pending like any other: counted, listed, expired, and claimed in id order
/// among the others once its hold is over (SQLite keeps the two in separate indexes), a page at
/// a time.
pub fn held_events_are_pending_in_id_order(s: &dyn Store) -> Result<(), StoreError> {
    let old = T - 8 * 24 * HOUR;
    let held = |e: NewEvent, until: i64| NewEvent {
        hold_until_ms: Some(until),
        ..e
    };
    s.insert_batch(&[
        event("a", T),
        held(event("b", T), T + 1_000),
        event("c", T),
        held(event("d", T), T + 5_000),
        held(event("e", old), T + 1_000),
        event("f", old),
    ])?;
    assert_eq!(s.pending_count()?, 6);
    assert_eq!(names(s.pending("1", 10)?), ["a", "b", "c", "d", "e", "f"]);
    assert_eq!(names(s.pending("1", 3)?), ["a", "b", "c"]);
    assert_eq!(names(s.claim_pending("1", 0, 10, T)?), ["a", "c", "f"]);
    s.release(&all(s)?.iter().map(|e| e.id).collect::<Vec<_>>())?;
    // b and e are due, d is not; a page of two, then the rest after its last id.
    let page = s.claim_pending("1", 0, 2, T + 1_000)?;
    assert_eq!(names(page.clone()), ["a", "b"]);
    let after = page.last().map_or(0, |e| e.id);
    assert_eq!(
        names(s.claim_pending("1", after, 10, T + 1_000)?),
        ["c", "e", "f"]
    );
    s.release(&all(s)?.iter().map(|e| e.id).collect::<Vec<_>>())?;
    let cutoff = T / 1000 - 7 * 24 * 3600;
    assert_eq!(s.expire("1", cutoff)?, 2, "the held old event expires too");
    assert_eq!(s.pending_count()?, 4);
    assert_eq!(names(s.pending_after("1", 0, 10)?), ["a", "b", "c", "d"]);
    Ok(())
}

/// Every report but the relay's (which reads the statuses the relay changes) over pixel `1`, as
/// text.
fn reports_but_relay(
    s: &dyn Store,
    range: crate::reports::DayRange,
) -> Result<Vec<String>, StoreError> {
    let mut out = every_report(s, "1", range)?;
    out.remove(3);
    Ok(out)
}

/// `n` pending events of pixel `1` over one day from [`T`]: the funnel's names, iPhone, desktop
/// and missing user agents, IPs or none, landings, hashed e-mails on some, values on purchases.
fn traffic(n: usize) -> Vec<NewEvent> {
    const NAMES: [&str; 5] = [
        "PageView",
        "ViewContent",
        "AddToCart",
        "InitiateCheckout",
        "Purchase",
    ];
    const AGENTS: [Option<&str>; 3] = [
        Some("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)"),
        Some("Mozilla/5.0 (X11; Linux x86_64)"),
        None,
    ];
    (0..n)
        .map(|i| {
            let name = NAMES[i % NAMES.len()];
            let at = T + i64::try_from(i).unwrap_or(0) * 60_000;
            NewEvent {
                event_name: name.into(),
                source_url: if i % 7 == 0 {
                    "https://shop.example/?utm_source=facebook&fbclid=x".into()
                } else {
                    "https://shop.example/p".into()
                },
                fbp: (i % 11 != 0).then(|| format!("fb.1.2.{}", i / 5)),
                client_ip: (i % 4 != 0).then(|| format!("203.0.113.{}", i % 250)),
                user_agent: AGENTS[(i / 5) % AGENTS.len()].map(str::to_owned),
                user_data: if i % 3 == 0 {
                    vec![("em".into(), format!("{:064x}", i / 5))]
                } else {
                    Vec::new()
                },
                custom_data: if name == "Purchase" {
                    serde_json::from_value(json!({"value": 10 + i, "currency": "EUR"}))
                        .unwrap_or_default()
                } else {
                    serde_json::Map::new()
                },
                dpo: None,
                ..event(&format!("t{i}"), at)
            }
        })
        .collect()
}

/// The client's IP and user agent are cleared when an event is sent, failed or expired, in the
/// update that marks it; every report answers the same before and after (they read the bits
/// derived at insert).
pub fn client_ip_and_user_agent_go_when_the_event_leaves_the_queue(
    s: &dyn Store,
) -> Result<(), StoreError> {
    s.insert_batch(&traffic(600))?;
    let day = T.div_euclid(86_400_000);
    let range = crate::reports::DayRange {
        from_day: day,
        to_day: day + 1,
    };
    let before = reports_but_relay(s, range)?;
    // The user agents matter to the reports: every event name has iOS events.
    assert!(
        before[4].contains("\"ios_events\":") && !before[4].contains("\"ios_events\":0,"),
        "{}",
        before[4]
    );
    let pending = s.pending("1", 10_000)?;
    assert_eq!(pending.len(), 600);
    let ids: Vec<i64> = pending.iter().map(|e| e.id).collect();
    let (sent, rest) = ids.split_at(200);
    let (failed, expired) = rest.split_at(200);
    s.mark_sent(sent, T)?;
    for id in failed {
        s.mark_failed(*id, "Invalid parameter", T)?;
    }
    assert_eq!(s.expire_ids(expired)?, 200);
    assert_eq!(s.pending_count()?, 0);
    for e in all_of(s)? {
        assert_eq!(
            (e.event.client_ip.as_deref(), e.event.user_agent.as_deref()),
            (None, None),
            "{:?} event {} kept them",
            e.relay_status,
            e.event.event_id
        );
    }
    assert_eq!(reports_but_relay(s, range)?, before);
    Ok(())
}

fn all_of(s: &dyn Store) -> Result<Vec<StoredEvent>, StoreError> {
    s.list(&EventQuery {
        limit: 100_000,
        ..EventQuery::default()
    })
}

/// The bits the reports read of the IP and user agent, on the rows of pixel `1`.
fn client_bits(s: &dyn Store) -> Result<Vec<i64>, StoreError> {
    let scan = Scan {
        pixel_id: "1",
        from_secs: 0,
        to_secs: i64::MAX,
        names: None,
        columns: Columns::default(),
    };
    let mut bits = Vec::new();
    s.scan(&scan, &mut |r| {
        bits.push(
            r.derived
                .map_or(-1, |d| d.keys & crate::ports::derivation::FROM_CLIENT),
        )
    })?;
    Ok(bits)
}

/// A browser copy arriving after its server copy was relayed (a late copy, not sent again)
/// stores no IP or user agent, and the reports keep what both copies' gave them (the server
/// copy's, cleared at its relay, and the late one's); an event of a pixel without access token,
/// never relayed, keeps none from its insert on.
pub fn a_late_copy_and_an_unrelayed_event_keep_no_ip_or_user_agent(
    s: &dyn Store,
) -> Result<(), StoreError> {
    use crate::ports::derivation::FROM_CLIENT;
    let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)";
    let server = NewEvent {
        user_agent: Some(iphone.into()),
        ..server_copy("l", T)
    };
    s.insert_batch(&[server])?;
    assert_eq!(client_bits(s)?, [FROM_CLIENT]);
    let id = one(s)?.id;
    s.mark_sent(&[id], T + 10)?;
    assert_eq!(client_bits(s)?, [FROM_CLIENT], "kept after the relay");
    // The beacon: another IP, a desktop user agent.
    let beacon = NewEvent {
        fbp: None,
        client_ip: Some("192.0.2.44".into()),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64)".into()),
        ..event("l", T + 20)
    };
    assert_eq!(s.insert_batch(&[beacon])?, [InsertOutcome::Merged]);
    let e = one(s)?;
    assert!(e.event.origin.has(Origin::LATE));
    assert_eq!((e.event.client_ip, e.event.user_agent), (None, None));
    assert_eq!(client_bits(s)?, [FROM_CLIENT], "the server copy's iOS kept");

    let quiet = NewEvent {
        relay: false,
        ..event("q", T)
    };
    s.insert_batch(&[quiet])?;
    let got = all(s)?;
    let q = got
        .iter()
        .find(|e| e.event.event_id == "q")
        .ok_or_else(|| StoreError("q".into()))?;
    assert_eq!(q.relay_status, RelayStatus::NotRelayed);
    assert_eq!(
        (q.event.client_ip.as_deref(), q.event.user_agent.as_deref()),
        (None, None)
    );
    // "UA" is no iPhone: only the ip_ua bit.
    assert_eq!(client_bits(s)?, [FROM_CLIENT, 1 << 5]);
    Ok(())
}
