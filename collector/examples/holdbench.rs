//! Does the hold slow the relay of the events it does not hold? One run:
//!
//! ```sh
//! nice -n 19 cargo run --release -p collector --example holdbench -- \
//!     [--events 20000] [--held 0,1000,10000] [--rounds 3] [--layout spread,first] \
//!     [--batch 1000] [--pg postgres://postgres@127.0.0.1:PORT/postgres] [--explain] [--unrelayed]
//! ```
//!
//! For each store (a SQLite file; with `--pg`, also a fresh database on that server, created and
//! dropped here) and each count H of `--held`, a fresh store is loaded with `--events` PageViews
//! to relay and H Purchases whose `hold_until_ms` is a day away (held: the relay must step over
//! them), then the real relay (`collector::relay::spawn`: the relay tasks of the binary, reqwest
//! to a stand-in Graph API on loopback that parses every request) is started and timed until the
//! stand-in has received every PageView. The held Purchases are either spread evenly among the
//! PageViews (`spread`: the order in which a shop's traffic stores them) or all stored before
//! them (`first`: a backlog of held orders ahead of the queue).
//!
//! The configurations run interleaved (round 1: every H, then round 2 …), so the machine's drift
//! falls on all of them alike; each row is one run, `vs H=0` its rate against the same round's
//! H = 0. `--unrelayed` is the control: the H Purchases stored not to be relayed
//! (never pending) rather than held, so that what a larger table costs the relay shows apart from
//! what the hold costs. After each run: the held events are still pending and none reached the
//! stand-in, and the time of one claim that finds nothing but held events (what every idle poll
//! of the relay costs while they wait). The last column is the load's rate (`insert_batch` of
//! 2,048 built events), the ingest side of the same indexes. `--explain` prints the claim's plan
//! on the largest H.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use collector::config::Config;
use collector::event::NewEvent;
use collector::ports::{Clock, SystemClock};
use collector::store::Store;
use collector::AppState;

use support::load::{page_view, purchase, stored_event, PIXEL};
use support::{flags, graph_stub, relay};

/// How far away the held events' hold ends: never within a run.
const HOLD_MS: i64 = 86_400_000;

struct Args {
    events: usize,
    held: Vec<usize>,
    rounds: usize,
    layouts: Vec<Layout>,
    batch: usize,
    pg: Option<String>,
    explain: bool,
    /// The control: the H Purchases stored not to be relayed (never pending) instead of held,
    /// the same rows in the same places, so what remains of the difference to H = 0 is the
    /// larger table and not the hold.
    unrelayed: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Layout {
    /// Held events spread evenly among the others, as traffic stores them.
    Spread,
    /// Every held event stored before the others.
    First,
}

impl Layout {
    fn name(self) -> &'static str {
        match self {
            Layout::Spread => "spread",
            Layout::First => "first",
        }
    }
}

fn args() -> Args {
    let mut a = Args {
        events: 20_000,
        held: vec![0, 1_000, 10_000],
        rounds: 3,
        layouts: vec![Layout::Spread],
        batch: 1_000,
        pg: None,
        explain: false,
        unrelayed: false,
    };
    for (k, v) in flags::pairs(&["--explain", "--unrelayed"]) {
        match k.as_str() {
            "--explain" => a.explain = true,
            "--unrelayed" => a.unrelayed = true,
            "--events" => a.events = flags::number(&k, &v),
            "--held" => {
                a.held = v
                    .split(',')
                    .map(|h| h.parse().expect("--held H,H,…"))
                    .collect()
            }
            "--rounds" => a.rounds = flags::number(&k, &v),
            "--layout" => {
                a.layouts = v
                    .split(',')
                    .map(|l| match l {
                        "spread" => Layout::Spread,
                        "first" => Layout::First,
                        _ => panic!("--layout spread,first"),
                    })
                    .collect()
            }
            "--batch" => a.batch = flags::number(&k, &v),
            "--pg" => a.pg = Some(v),
            _ => panic!("unknown argument {k}"),
        }
    }
    if !a.held.contains(&0) {
        a.held.insert(0, 0); // the baseline
    }
    a
}

/// Where a run's events live.
#[derive(Clone, Copy, PartialEq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

/// Statements on the PostgreSQL server's maintenance database (create and drop the run's).
fn pg_admin(url: &str, sql: &str) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("connect {url}: {e}"));
        let task = tokio::spawn(conn);
        let rows = client
            .simple_query(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        drop(client);
        let _ = task.await;
        rows.into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
                _ => None,
            })
            .collect()
    })
}

/// The URL of database `name` on the server of `url`.
fn pg_database(url: &str, name: &str) -> String {
    let (server, _) = url.rsplit_once('/').expect("a URL ending in /DATABASE");
    format!("{server}/{name}")
}

/// `events` PageViews to relay and `held` held Purchases, laid out as `layout` says.
fn workload(
    events: usize,
    held: usize,
    layout: Layout,
    now: i64,
    unrelayed: bool,
) -> Vec<NewEvent> {
    let total = events + held;
    (0..total)
        .map(|k| {
            let is_held = match layout {
                Layout::First => k < held,
                // Bresenham: k is held when the held count due by k+1 passes that due by k.
                Layout::Spread => (k + 1) * held / total > k * held / total,
            };
            let n = k as u64;
            if is_held {
                let mut e = stored_event(purchase(n), now, !unrelayed);
                e.hold_until_ms = (!unrelayed).then_some(now + HOLD_MS);
                e
            } else {
                stored_event(page_view(n), now, true)
            }
        })
        .collect()
}

struct Run {
    backend: Backend,
    layout: Layout,
    round: usize,
    held: usize,
    secs: f64,
    /// One claim that finds only held events, milliseconds (median of 15).
    idle_claim_ms: f64,
    /// The load: events stored per second (`insert_batch` of 2,048 built events).
    store_per_sec: f64,
}

impl Run {
    fn per_sec(&self, events: usize) -> f64 {
        events as f64 / self.secs
    }
}

/// The claim's query plan on the store just relayed (every held event still pending).
fn explain(backend: Backend, db: &str, now: i64, batch: usize) {
    match backend {
        Backend::Sqlite => {
            let conn = rusqlite::Connection::open(db).unwrap();
            // The claim of `store/sqlite/queue.rs` (its `PENDING_IDS`, migration 6).
            let sql = "EXPLAIN QUERY PLAN SELECT * FROM events WHERE id IN (
                    SELECT id FROM (SELECT id FROM events INDEXED BY events_pending
                        WHERE pixel_id = ?1 AND relay_status = 'pending'
                            AND hold_until_ms IS NULL AND id > ?2
                        ORDER BY id LIMIT ?3)
                    UNION ALL
                    SELECT id FROM (SELECT id FROM events INDEXED BY events_held
                        WHERE pixel_id = ?1 AND relay_status = 'pending'
                            AND hold_until_ms IS NOT NULL AND hold_until_ms <= ?4 AND id > ?2
                        ORDER BY id LIMIT ?3))
                 ORDER BY id LIMIT ?3";
            let mut stmt = conn.prepare(sql).unwrap();
            let rows: Vec<String> = stmt
                .query_map(rusqlite::params![PIXEL, 0, batch as i64, now], |r| {
                    r.get::<_, String>(3)
                })
                .unwrap()
                .map(Result::unwrap)
                .collect();
            println!("SQLite claim plan: {}", rows.join(" | "));
        }
        Backend::Postgres => {
            let sql = format!(
                "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) SELECT id FROM events
                 WHERE pixel_id = '{PIXEL}' AND relay_status = 'pending' AND id > 0
                    AND (lease_until_ms < {now} OR lease_owner = 'bench')
                    AND (hold_until_ms IS NULL OR hold_until_ms <= {now})
                 ORDER BY id LIMIT {batch}"
            );
            println!("PostgreSQL claim plan, statistics of the load (every row pending):");
            for line in pg_admin(db, &sql) {
                println!("    {line}");
            }
            pg_admin(db, "ANALYZE events");
            println!("PostgreSQL claim plan, statistics after the relay (ANALYZE):");
            for line in pg_admin(db, &sql) {
                println!("    {line}");
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn run_once(
    a: &Args,
    backend: Backend,
    layout: Layout,
    round: usize,
    held: usize,
    dir: &std::path::Path,
    graph: &(String, Arc<graph_stub::Received>),
    rt: &tokio::runtime::Runtime,
) -> Run {
    let name = format!("hb_{}_{}_{round}_{held}", backend.name(), layout.name()).to_lowercase();
    let db = match backend {
        Backend::Sqlite => dir.join(format!("{name}.db")).to_str().unwrap().to_owned(),
        Backend::Postgres => {
            let admin = a.pg.as_deref().unwrap();
            pg_admin(
                admin,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            );
            pg_admin(admin, &format!("CREATE DATABASE {name}"));
            pg_database(admin, &name)
        }
    };
    let pixel = format!("{PIXEL}=bench-token");
    let batch = a.batch.to_string();
    let cfg = Config::parse_from([
        "collector",
        "--db",
        &db,
        "--pixel",
        &pixel,
        "--graph-url",
        &graph.0,
        "--graph-allow-http",
        "--relay-batch",
        &batch,
        "--relay-interval-ms",
        "20",
        "--log",
        "warn",
    ])
    .unwrap_or_else(|e| panic!("{e:?}"));
    let store: Arc<dyn Store> = collector::store::open(&cfg).unwrap();
    let now = SystemClock.now_ms();
    let events = workload(a.events, held, layout, now, a.unrelayed);
    let t = Instant::now();
    for chunk in events.chunks(2048) {
        store.insert_batch(chunk).unwrap();
    }
    let store_per_sec = events.len() as f64 / t.elapsed().as_secs_f64();
    // Every run starts from a settled store: the load's WAL checkpointed (SQLite; it would
    // otherwise be copied into the file during the timed relay, more of it the larger H), the
    // table analysed and checkpointed (PostgreSQL; autovacuum would get to it at its own time).
    match backend {
        Backend::Sqlite => rusqlite::Connection::open(&db)
            .unwrap()
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap(),
        Backend::Postgres => {
            pg_admin(&db, "VACUUM ANALYZE events");
            pg_admin(&db, "CHECKPOINT");
        }
    }
    graph.1.reset();
    let state = AppState::new(cfg, store.clone()).unwrap();
    let secs = relay::time(rt, &state, Duration::from_millis(1), || {
        graph.1.events() >= a.events as u64
    });
    // Every PageView sent, every held Purchase still waiting and none sent.
    let waiting = if a.unrelayed { 0 } else { held as u64 };
    let settle = Instant::now();
    while store.pending_count().unwrap() != waiting {
        assert!(
            settle.elapsed() < Duration::from_secs(10),
            "pending {} != {waiting}",
            store.pending_count().unwrap()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(graph.1.purchases(), 0, "a held event reached the Graph API");
    assert_eq!(graph.1.events(), a.events as u64, "an event sent twice");
    let mut idle: Vec<f64> = (0..15)
        .map(|_| {
            let t = Instant::now();
            let got = store
                .claim_pending(PIXEL, 0, a.batch, SystemClock.now_ms())
                .unwrap();
            assert!(got.is_empty(), "a held event claimed");
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    idle.sort_by(f64::total_cmp);
    if a.explain && round == 1 && Some(&held) == a.held.iter().max() {
        explain(backend, &db, SystemClock.now_ms(), a.batch);
    }
    drop(state);
    drop(store);
    if backend == Backend::Postgres {
        let admin = a.pg.as_deref().unwrap();
        pg_admin(admin, &format!("DROP DATABASE {name} WITH (FORCE)"));
    } else {
        let _ = std::fs::remove_file(&db);
        let _ = std::fs::remove_file(format!("{db}-wal"));
        let _ = std::fs::remove_file(format!("{db}-shm"));
    }
    Run {
        backend,
        layout,
        round,
        held,
        secs,
        idle_claim_ms: idle[idle.len() / 2],
        store_per_sec,
    }
}

fn main() {
    let a = args();
    let dir = tempfile::tempdir().unwrap();
    // The relay's tasks and the stand-in, on two worker threads (the store's calls run on the
    // blocking pool).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let graph = graph_stub::start(&rt);
    let mut backends = vec![Backend::Sqlite];
    if a.pg.is_some() {
        backends.push(Backend::Postgres);
    }
    println!(
        "holdbench: {} PageViews relayed (batches of {}) past H {} Purchases, H in {:?}; {} \
         interleaved rounds; relay tasks + stand-in Graph API on 2 threads, loopback",
        a.events,
        a.batch,
        if a.unrelayed {
            "never relayed (the control: no hold)"
        } else {
            "held (hold a day away)"
        },
        a.held,
        a.rounds
    );
    let mut runs = Vec::new();
    for round in 1..=a.rounds {
        for &backend in &backends {
            for &layout in &a.layouts {
                for &held in &a.held {
                    let r = run_once(&a, backend, layout, round, held, dir.path(), &graph, &rt);
                    eprintln!(
                        "  round {round} {} {} H={held}: {:.3} s",
                        backend.name(),
                        layout.name(),
                        r.secs
                    );
                    runs.push(r);
                }
            }
        }
    }

    println!(
        "{:<11} {:<7} {:>5} {:>7} {:>8} {:>10} {:>10} {:>14} {:>9}",
        "store", "layout", "round", "H", "secs", "events/s", "vs H=0", "idle claim ms", "stored/s"
    );
    let base = |r: &Run| {
        runs.iter()
            .find(|b| {
                b.backend == r.backend && b.layout == r.layout && b.round == r.round && b.held == 0
            })
            .map_or(f64::NAN, |b| b.per_sec(a.events))
    };
    for r in &runs {
        println!(
            "{:<11} {:<7} {:>5} {:>7} {:>8.3} {:>10.0} {:>10.2} {:>14.2} {:>9.0}",
            r.backend.name(),
            r.layout.name(),
            r.round,
            r.held,
            r.secs,
            r.per_sec(a.events),
            r.per_sec(a.events) / base(r),
            r.idle_claim_ms,
            r.store_per_sec
        );
    }
    println!("medians over the rounds:");
    for &backend in &backends {
        for &layout in &a.layouts {
            for &held in &a.held {
                let pick = |f: &dyn Fn(&Run) -> f64| {
                    let mut v: Vec<f64> = runs
                        .iter()
                        .filter(|r| r.backend == backend && r.layout == layout && r.held == held)
                        .map(f)
                        .collect();
                    v.sort_by(f64::total_cmp);
                    v[v.len() / 2]
                };
                println!(
                    "{:<11} {:<7} {:>5} {:>7} {:>8.3} {:>10.0} {:>10.2} {:>14.2} {:>9.0}",
                    backend.name(),
                    layout.name(),
                    "med",
                    held,
                    pick(&|r| r.secs),
                    pick(&|r| r.per_sec(a.events)),
                    pick(&|r| r.per_sec(a.events) / base(r)),
                    pick(&|r| r.idle_claim_ms),
                    pick(&|r| r.store_per_sec)
                );
            }
        }
    }
}
