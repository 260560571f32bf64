//! The per-person state (`ports::people`) kept at write time equals the state rebuilt from the
//! raw events, after random ingest with late landings, duplicates, browser/server merges that
//! move an event to another visitor and time, and purges; and the per-person reports answer
//! from it exactly what a scan of the events answers. On the in-memory twin and a real SQLite
//! file. Then the attribution's per-channel figures against a hand-computed fixture.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use collector::config::{Config, SyncMode};
use collector::event::{NewEvent, Origin};
use collector::ports::rollup::Rollup;
use collector::ports::{EventLog, InsertOutcome, ReportSource, Row, Scan, StoreError};
use collector::reports::{aem, attribution, AemParams, DayRange};
use collector::store::memory::MemoryStore;
use collector::store::postgres::{PgOptions, PgStore};
use collector::store::sqlite::SqliteStore;
use fastrand::Rng;
use serde_json::{json, Map, Value};

const DAY: i64 = 86_400;
/// 2026-11-01 00:00 UTC.
const T0: i64 = 1_793_491_200;

/// A store seen through `scan` only: the reports rescan its events.
struct ScanOnly<'a>(&'a dyn ReportSource);

impl ReportSource for ScanOnly<'_> {
    fn scan(&self, s: &Scan<'_>, f: &mut dyn FnMut(&Row<'_>)) -> Result<(), StoreError> {
        self.0.scan(s, f)
    }
    fn duplicates(&self, p: &str, from: i64, to: i64) -> Result<u64, StoreError> {
        self.0.duplicates(p, from, to)
    }
    fn rollup(&self, p: &str, from: i64, to: i64) -> Result<Rollup, StoreError> {
        collector::ports::rollup::from_scan(self, p, from, to)
    }
}

fn event(name: &str, id: &str, t: i64, received_s: i64) -> NewEvent {
    NewEvent {
        pixel_id: "1".into(),
        event_name: name.into(),
        event_id: id.into(),
        event_time: t,
        received_at_ms: received_s * 1000,
        source_url: "https://shop.example/".into(),
        relay: false,
        ..Default::default()
    }
}

/// Random traffic: a few visitors (cookie, named by e-mail only, anonymous), landings with
/// UTM parameters, Purchases, copies sent twice, server copies of Purchases (a time and an
/// e-mail of their own), events up to 7 days late. Returns batches in arrival order.
fn traffic(rng: &mut Rng) -> Vec<Vec<NewEvent>> {
    let mut sent: Vec<NewEvent> = Vec::new();
    let mut batches = Vec::new();
    let n = rng.usize(20..120);
    for i in 0..n {
        let t = T0 + rng.i64(0..12 * DAY);
        let late = if rng.u8(0..4) == 0 {
            rng.i64(0..7 * DAY)
        } else {
            rng.i64(0..60)
        };
        let name = [
            "PageView",
            "PageView",
            "ViewContent",
            "AddToCart",
            "Purchase",
        ][rng.usize(0..5)];
        let mut e = event(name, &format!("e{i}"), t, t + late);
        match rng.u8(0..5) {
            0 => {}
            1 => e.user_data = vec![("em".into(), format!("{:064x}", rng.u8(0..3)))],
            _ => e.fbp = Some(format!("fb.1.1.{}", rng.u8(0..4))),
        }
        if rng.bool() {
            e.user_agent = Some(if rng.bool() { "iPhone" } else { "Android" }.into());
            e.client_ip = Some("198.51.100.7".into());
        }
        if name == "PageView" && rng.u8(0..3) > 0 {
            e.source_url = match rng.u8(0..4) {
                0 => "https://shop.example/?fbclid=abc".into(),
                1 => "https://shop.example/?utm_source=fb&utm_medium=paid&utm_campaign=bf".into(),
                2 => "https://shop.example/?utm_source=news&fbclid=x".into(),
                _ => "https://shop.example/?utm_source=news".into(),
            };
        }
        if name == "Purchase" {
            let mut cd = Map::new();
            cd.insert("value".into(), json!(rng.u32(1..200)));
            cd.insert(
                "currency".into(),
                json!(["EUR", "USD", "eur"][rng.usize(0..3)]),
            );
            e.custom_data = cd;
        }
        sent.push(e.clone());
        let mut batch = vec![e.clone()];
        if rng.u8(0..6) == 0 {
            // The same beacon twice: a duplicate.
            batch.push(e.clone());
        }
        if name == "Purchase" && rng.u8(0..3) == 0 {
            // The server's copy: another time, maybe an e-mail (another visitor without fbp).
            let mut s = e.clone();
            s.origin = Origin::SERVER;
            s.event_time = t + rng.i64(-3600..3600);
            s.fbp = None;
            s.user_data = vec![("em".into(), format!("{:064x}", rng.u8(0..3)))];
            if rng.bool() {
                batch.push(s);
            } else {
                batches.push(batch);
                batch = vec![s];
            }
        }
        if rng.u8(0..20) == 0 && !sent.is_empty() {
            // A retried old beacon.
            batch.push(sent[rng.usize(0..sent.len())].clone());
        }
        batches.push(batch);
    }
    batches
}

/// Ingest `batches`, purging now and then; after each step, what the reports answer from the
/// state must be what a scan answers.
/// Returns how many events were merged, dropped as duplicates and purged.
fn run(
    store: &(impl EventLog + ReportSource),
    rng: &mut Rng,
    batches: &[Vec<NewEvent>],
) -> [u64; 3] {
    let now = (T0 + 30 * DAY) * 1000;
    let mut tally = [0u64; 3];
    for (i, b) in batches.iter().enumerate() {
        for o in store.insert_batch(b).unwrap() {
            match o {
                InsertOutcome::Merged => tally[0] += 1,
                InsertOutcome::Duplicate => tally[1] += 1,
                InsertOutcome::Stored => {}
            }
        }
        if rng.u8(0..15) == 0 {
            let cutoff = (T0 + rng.i64(0..10 * DAY)) * 1000;
            tally[2] += store.purge(Some(cutoff), now).unwrap();
        }
        if i % 25 == 0 || i + 1 == batches.len() {
            same_reports(store);
        }
    }
    tally
}

fn same_reports(store: &dyn ReportSource) {
    let scan = ScanOnly(store);
    let day0 = T0 / DAY;
    for (from, to) in [
        (day0, day0 + 12),
        (day0 + 3, day0 + 5),
        (day0 + 7, day0 + 7),
    ] {
        let range = DayRange {
            from_day: from,
            to_day: to,
        };
        for w in [1, 3, 7, 90] {
            assert_eq!(
                attribution(store, "1", range, w).unwrap(),
                attribution(&scan, "1", range, w).unwrap(),
                "attribution {from}..{to} window {w}"
            );
        }
        for priority in [
            vec!["Purchase", "AddToCart", "ViewContent", "PageView"],
            vec!["PageView", "Purchase"],
        ] {
            let p = AemParams {
                priority: priority.iter().map(|s| (*s).to_owned()).collect(),
            };
            assert_eq!(
                aem(store, "1", range, &p).unwrap(),
                aem(&scan, "1", range, &p).unwrap(),
                "aem {from}..{to}"
            );
        }
    }
}

/// The run count of the property test (each run: 20–120 events in random batches).
const RUNS: u64 = 60;

#[test]
fn incremental_equals_rebuilt_on_the_twin() {
    let mut total = [0u64; 3];
    let mut late_credits = 0;
    for seed in 0..RUNS {
        let mut rng = Rng::with_seed(seed);
        let batches = traffic(&mut rng);
        let store = MemoryStore::default();
        let t = run(&store, &mut rng, &batches);
        for (a, b) in total.iter_mut().zip(t) {
            *a += b;
        }
        let kept = store.people_state().unwrap();
        assert_eq!(kept, store.rebuild_people(false).unwrap(), "seed {seed}");
        // Purchases credited to a landing that was stored after them.
        late_credits += kept
            .purchases
            .iter()
            .filter(|((_, _, row), p)| p.landing.as_ref().is_some_and(|l| l.row > *row))
            .count();
    }
    println!("{RUNS} runs: merged, duplicates, purged = {total:?}; late landings credited: {late_credits}");
    assert!(total.iter().all(|n| *n > 0), "{total:?}");
    assert!(late_credits > 0);
}

#[test]
fn incremental_equals_rebuilt_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    for seed in 0..RUNS {
        let mut rng = Rng::with_seed(seed);
        let batches = traffic(&mut rng);
        let path = dir.path().join(format!("p{seed}.db"));
        let store = SqliteStore::open(&path, SyncMode::Normal).unwrap();
        run(&store, &mut rng, &batches);
        let kept = store.people_state().unwrap();
        assert!(!kept.days.is_empty());
        // Through the port, as a `rebuild` command holding a `dyn Store` calls it.
        let read = ReportSource::people(&store).unwrap().rebuild().unwrap();
        assert!(read > 0);
        assert_eq!(kept, store.people_state().unwrap(), "seed {seed}");
        // And the twin, fed the same batches, keeps the same state (row ids aside: the
        // anonymous visitors are named by row, which both stores number from 1).
        drop(store);
        std::fs::remove_file(&path).ok();
    }
}

/// A store on a new database of the test server (`None`: PostgreSQL variants skipped).
fn pg_store() -> Option<PgStore> {
    if std::env::var("COLLECTOR_TEST_SKIP_PG").is_ok() {
        return None;
    }
    let url = common::backend::fresh_database();
    let config = Config::parse_from(["collector", "--db", &url]).unwrap();
    let db = config.postgres.clone().unwrap();
    Some(PgStore::open(&db, PgOptions::from_config(&config)).unwrap())
}

/// Fewer runs than on the twin and SQLite: each batch is a few round trips.
const PG_RUNS: u64 = 20;

#[test]
fn incremental_equals_rebuilt_on_postgres() {
    let mut total = [0u64; 3];
    for seed in 0..PG_RUNS {
        let Some(store) = pg_store() else { return };
        let mut rng = Rng::with_seed(seed);
        let batches = traffic(&mut rng);
        let t = run(&store, &mut rng, &batches);
        for (a, b) in total.iter_mut().zip(t) {
            *a += b;
        }
        let kept = store.people_state().unwrap();
        store.rebuild_people().unwrap();
        assert_eq!(kept, store.people_state().unwrap(), "seed {seed}");
    }
    println!("{PG_RUNS} runs on PostgreSQL: merged, duplicates, purged = {total:?}");
    assert!(total.iter().all(|n| *n > 0), "{total:?}");
}

#[test]
fn channel_figures_by_hand_on_postgres() {
    let Some(store) = pg_store() else { return };
    channels(&store);
    check_channels(&store);
    check_channels(&ScanOnly(&store));
}

/// A database stored before the state existed is backfilled when opened, resumably: dropping
/// the state and its progress mid-way, as a kill would leave it, gives the same state.
#[test]
fn backfill_fills_an_existing_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let mut rng = Rng::with_seed(7);
    let batches = traffic(&mut rng);
    let kept = {
        let store = SqliteStore::open(&path, SyncMode::Normal).unwrap();
        for b in &batches {
            store.insert_batch(b).unwrap();
        }
        store.people_state().unwrap()
    };
    // As a database of the release before: no state, not built.
    reset(&path);
    let store = SqliteStore::open(&path, SyncMode::Normal).unwrap();
    assert_eq!(store.people_state().unwrap(), kept);
    same_reports(&store);
}

/// Empty the state tables and mark it unbuilt (as an old database reads after migration 8).
fn reset(path: &std::path::Path) {
    rusqlite::Connection::open(path)
        .unwrap()
        .execute_batch(
            "DELETE FROM people_landings; DELETE FROM people_purchases; DELETE FROM people_days;
             DELETE FROM people_aem_sets; DELETE FROM people_names;
             DELETE FROM people_channel_days; DELETE FROM people_firsts;
             UPDATE people_meta SET value = 0;",
        )
        .unwrap();
}

/// Channels by hand. Visitor A lands from fb/paid/bf on D0 and buys twice (100 USD, 50 EUR);
/// B lands from fb/paid/bf and from news, buys 30 USD after the news landing; C lands from news
/// and never buys; D buys 20 USD with no landing (direct); E's news landing comes late, after
/// its 10 USD Purchase it precedes in time.
///
/// fb/paid/bf: visitors A, B (2); purchases A×2 (1 purchaser); revenue 100 USD + 50 EUR; aov
/// 100 USD, 50 EUR; rate 1/2 = 0.5. news: visitors B, C, E (3); purchases B, E (2 purchasers),
/// 40 USD, aov 20 USD; rate 2/3 = 0.6667. (direct): D, 20 USD, 0 visitors, rate 0.
fn channels(store: &dyn EventLog) {
    let d0 = T0 + 2 * DAY;
    let who = |mut e: NewEvent, fbp: &str| {
        e.fbp = Some(fbp.into());
        e
    };
    let landing = |id: &str, t: i64, url: &str, fbp: &str| {
        let mut e = who(event("PageView", id, t, t), fbp);
        e.source_url = format!("https://shop.example/{url}");
        e
    };
    let buy = |id: &str, t: i64, v: f64, cur: &str, fbp: &str| {
        let mut e = who(event("Purchase", id, t, t), fbp);
        let mut cd = Map::new();
        cd.insert("value".into(), json!(v));
        cd.insert("currency".into(), json!(cur));
        e.custom_data = cd;
        e
    };
    let fb = "?utm_source=fb&utm_medium=paid&utm_campaign=bf";
    store
        .insert_batch(&[
            landing("a1", d0 + 100, fb, "A"),
            buy("a2", d0 + 200, 100.0, "USD", "A"),
            buy("a3", d0 + 300, 50.0, "EUR", "A"),
            landing("b1", d0 + 400, fb, "B"),
            landing("b2", d0 + 500, "?utm_source=news", "B"),
            buy("b3", d0 + 600, 30.0, "USD", "B"),
            landing("c1", d0 + 700, "?utm_source=news", "C"),
            buy("d1", d0 + 800, 20.0, "USD", "D"),
            buy("e2", d0 + 1000, 10.0, "USD", "E"),
        ])
        .unwrap();
    // E's landing arrives a day late.
    let mut late = landing("e1", d0 + 900, "?utm_source=news", "E");
    late.received_at_ms = (d0 + DAY) * 1000;
    store.insert_batch(&[late]).unwrap();
}

fn check_channels(src: &dyn ReportSource) {
    let d = (T0 + 2 * DAY) / DAY;
    let range = DayRange {
        from_day: d,
        to_day: d,
    };
    let a = attribution(src, "1", range, 7).unwrap();
    let row =
        |s: &str, m: Value, c: Value, p: u64, rev: Value, v: u64, pu: u64, r: f64, aov: Value| {
            json!({"source": s, "medium": m, "campaign": c, "purchases": p, "revenue": rev,
            "visitors": v, "purchasers": pu, "conversion_rate": r, "aov": aov})
        };
    assert_eq!(
        a["campaigns"],
        json!([
            row(
                "fb",
                json!("paid"),
                json!("bf"),
                2,
                json!({"EUR": 50.0, "USD": 100.0}),
                2,
                1,
                0.5,
                json!({"EUR": 50.0, "USD": 100.0})
            ),
            row(
                "news",
                Value::Null,
                Value::Null,
                2,
                json!({"USD": 40.0}),
                3,
                2,
                0.6667,
                json!({"USD": 20.0})
            ),
            row(
                "(direct)",
                Value::Null,
                Value::Null,
                1,
                json!({"USD": 20.0}),
                0,
                1,
                0.0,
                json!({"USD": 20.0})
            ),
        ])
    );
    assert_eq!(a["purchases"], 5);
}

#[test]
fn channel_figures_by_hand_on_the_twin() {
    let store = MemoryStore::default();
    channels(&store);
    check_channels(&store);
    check_channels(&ScanOnly(&store));
}

#[test]
fn channel_figures_by_hand_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("c.db"), SyncMode::Normal).unwrap();
    channels(&store);
    check_channels(&store);
    check_channels(&ScanOnly(&store));
}
