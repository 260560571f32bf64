//! Several collectors on one PostgreSQL database, as behind a load balancer: the real binaries, a
//! real server and stand-ins for the Graph API (one per replica, so each request's sender is known).
//!
//! - the same event sent to both replicas is stored once and relayed once;
//! - an order's beacon on one replica and its server event on the other are one event at Meta,
//!   merged, and a lone held beacon waits its hold on either;
//! - a replica killed with `SIGKILL` mid-burst and restarted loses no acknowledged event, and
//!   every event reaches Meta exactly once but for at most the one batch the killed replica had in
//!   flight (its lease expires and another replica sends it again; Meta deduplicates it by event
//!   ID). The repeats are counted and printed;
//! - PostgreSQL restarted under both replicas: beacons get `503` with `Retry-After` while it is
//!   down, nothing acknowledged is lost, both recover on their own (`/healthz`, beacons, relay);
//! - the README's least-privilege setup: an owner migrates, a role with row privileges runs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::backend::{pg_start, pg_stop, psql, remove_at_exit, try_psql, with_database};
use common::{beacon, Answer, Backend, Collector, Db, Graph, PIXEL, TOKEN};

/// Relay settings of every replica: quick polls and retries, small batches, a short request
/// timeout (the claim's lease follows it), so a killed replica's batch is free again in seconds.
fn replica_args(graph: &str) -> Vec<String> {
    [
        "--graph-url",
        graph,
        "--graph-allow-http",
        "--pixel",
        &format!("{PIXEL}={TOKEN}"),
        // About the relay across replicas, not the hold (`store/postgres/tests.rs`).
        "--hold",
        "",
        "--relay-interval-ms",
        "50",
        "--retry-base-ms",
        "100",
        "--retry-max-ms",
        "400",
        "--relay-timeout-ms",
        "2000",
        "--relay-batch",
        "100",
    ]
    .map(str::to_owned)
    .to_vec()
}

async fn replica(db: &Db, dir: &Path, graph: &Graph) -> Collector {
    let args = replica_args(&graph.url);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Collector::start_on(db, dir, &args).await
}

/// How a beacon was answered: its status and `Retry-After`, or no answer (the replica is gone).
#[derive(Debug)]
enum Sent {
    Status(u16, Option<String>),
    NoAnswer,
}

async fn send(client: &reqwest::Client, c_url: &str, eid: &str) -> Sent {
    let b = beacon("PageView", eid);
    match client.get(format!("{c_url}?{}", b.encode())).send().await {
        Ok(r) => Sent::Status(
            r.status().as_u16(),
            r.headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        ),
        Err(_) => Sent::NoAnswer,
    }
}

/// How many times each ID appears.
fn tally<'a>(ids: impl IntoIterator<Item = &'a String>) -> HashMap<&'a str, usize> {
    let mut m = HashMap::new();
    for id in ids {
        *m.entry(id.as_str()).or_insert(0) += 1;
    }
    m
}

/// Wait until every one of `want` has arrived at one of `graphs`; returns what is missing.
async fn wait_relayed(graphs: &[&Graph], want: &HashSet<String>, within: Duration) -> Vec<String> {
    let start = Instant::now();
    loop {
        let seen: HashSet<String> = graphs.iter().flat_map(|g| g.arrivals()).flatten().collect();
        let missing: Vec<String> = want.difference(&seen).cloned().collect();
        if missing.is_empty() || start.elapsed() > within {
            return missing;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Wait until no event is left unsent in `db`; returns how many are.
async fn wait_all_sent(db: &Db, within: Duration) -> u64 {
    let start = Instant::now();
    loop {
        let unsent = db.count("SELECT count(*) FROM events WHERE relay_status <> 'sent'");
        if unsent == 0 || start.elapsed() > within {
            return unsent;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn healthz(c: &Collector) -> u16 {
    match reqwest::Client::new()
        .get(c.url("/healthz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
    {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    }
}

async fn wait_health(c: &Collector, want: u16, within: Duration) -> Duration {
    let start = Instant::now();
    while healthz(c).await != want {
        assert!(
            start.elapsed() < within,
            "/healthz not {want} after {within:?}: {}",
            c.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_event_sent_to_both_replicas_is_stored_and_relayed_once() {
    if Backend::Postgres.skipped() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = Backend::Postgres.db(dir.path());
    let (ga, gb) = (Graph::start().await, Graph::start().await);
    let a = replica(&db, dir.path(), &ga).await;
    let b = replica(&db, dir.path(), &gb).await;

    // Each event to both replicas at the same moment, 200 events over 8 connections.
    let client = reqwest::Client::new();
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (client, next) = (client.clone(), next.clone());
        let (ua, ub) = (a.url("/tr/"), b.url("/tr/"));
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= 200 {
                    return;
                }
                let eid = format!("both-{i}");
                let (x, y) = tokio::join!(send(&client, &ua, &eid), send(&client, &ub, &eid));
                for s in [x, y] {
                    assert!(matches!(s, Sent::Status(200, _)), "{eid}: {s:?}");
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }

    assert_eq!(db.count("SELECT count(*) FROM events"), 200);
    assert_eq!(db.count("SELECT count(DISTINCT event_id) FROM events"), 200);
    let duplicates = a.metric("collector_events_duplicate_total").await
        + b.metric("collector_events_duplicate_total").await;
    assert_eq!(duplicates, 200, "one copy of each was a duplicate");
    // Both replicas show the same 200.
    assert_eq!(a.events("?limit=1000").await.len(), 200);
    assert_eq!(b.events("?limit=1000").await.len(), 200);

    let want: HashSet<String> = (0..200).map(|i| format!("both-{i}")).collect();
    let missing = wait_relayed(&[&ga, &gb], &want, Duration::from_secs(20)).await;
    assert!(missing.is_empty(), "never relayed: {missing:?}");
    tokio::time::sleep(Duration::from_millis(500)).await; // any second copy would be out by now
    let all: Vec<String> = [&ga, &gb]
        .iter()
        .flat_map(|g| g.arrivals())
        .flatten()
        .collect();
    let repeated: Vec<(&str, usize)> = tally(&all).into_iter().filter(|(_, n)| *n > 1).collect();
    println!(
        "relayed by A: {}, by B: {}, repeated: {}",
        ga.arrivals().iter().flatten().count(),
        gb.arrivals().iter().flatten().count(),
        repeated.len()
    );
    assert!(repeated.is_empty(), "relayed twice: {repeated:?}");
    assert_eq!(wait_all_sent(&db, Duration::from_secs(10)).await, 0);
}

/// The two copies of each Purchase through different replicas at the same moment: the beacon to
/// one, the store's server event (`POST /v24.0/{pixel}/events` with the access token) to the
/// other, half of them the other way round. Each order reaches Meta once, merged: the server's
/// value, the browser's `fbp`, both copies' keys; and a lone beacon of the held set waits its hold
/// on either replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_two_copies_of_an_order_on_two_replicas_reach_meta_once_merged() {
    if Backend::Postgres.skipped() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = Backend::Postgres.db(dir.path());
    let (ga, gb) = (Graph::start().await, Graph::start().await);
    let start = |graph: String| {
        let mut args = replica_args(&graph);
        // Held (the default set, Purchase) for 5 s: long enough that a pair can only leave
        // early by merging.
        let at = args.iter().position(|a| a == "--hold").unwrap();
        args.drain(at..at + 2);
        args.extend(["--hold-secs".to_owned(), "5".to_owned()]);
        args
    };
    let (args_a, args_b) = (start(ga.url.clone()), start(gb.url.clone()));
    let a = Collector::start_on(
        &db,
        dir.path(),
        &args_a.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    let b = Collector::start_on(
        &db,
        dir.path(),
        &args_b.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    let client = reqwest::Client::new();
    let now = collector::ports::Clock::now_ms(&collector::ports::SystemClock) / 1000;
    let sent_at = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (client, ua, ub) = (client.clone(), a.url("/tr/"), b.url("/v24.0/"));
        let (ua_alt, ub_alt) = (b.url("/tr/"), a.url("/v24.0/"));
        tasks.push(tokio::spawn(async move {
            let eid = format!("order-{i}");
            let mut beacon = beacon("Purchase", &eid);
            beacon.fbp = Some(format!("fb.1.1700000000000.{i}"));
            beacon.cd = vec![("value".into(), "1".into()), ("currency".into(), "XXX".into())];
            beacon.ud = vec![("fn".into(), "jane".into())];
            let server = serde_json::json!({
                "data": [{
                    "event_name": "Purchase", "event_time": now, "event_id": eid,
                    "action_source": "website", "event_source_url": "https://shop.example/thanks",
                    "user_data": {"em": format!("buyer{i}@example.com"),
                        "client_user_agent": "Mozilla/5.0 (checkout)", "client_ip_address": "203.0.113.5"},
                    "custom_data": {"value": 100 + i, "currency": "EUR"}
                }],
                "access_token": TOKEN,
            });
            let (to_tr, to_api) = if i % 2 == 0 { (ua, ub) } else { (ua_alt, ub_alt) };
            let (x, y) = tokio::join!(
                client.get(format!("{to_tr}?{}", beacon.encode())).send(),
                client
                    .post(format!("{to_api}{PIXEL}/events"))
                    .header("content-type", "application/json")
                    .body(server.to_string())
                    .send()
            );
            assert_eq!(x.unwrap().status().as_u16(), 200);
            let y = y.unwrap();
            assert_eq!(y.status().as_u16(), 200, "{:?}", y.text().await);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // A lone beacon of the held set.
    assert!(matches!(
        send_event(&client, &a.url("/tr/"), "Purchase", "alone").await,
        Sent::Status(200, _)
    ));
    assert_eq!(db.count("SELECT count(*) FROM events"), 41);
    assert_eq!(
        db.count("SELECT count(*) FROM events WHERE origin = 3"),
        40,
        "every order is both copies, whichever replica stored which"
    );
    let want: HashSet<String> = (0..40).map(|i| format!("order-{i}")).collect();
    let missing = wait_relayed(&[&ga, &gb], &want, Duration::from_secs(20)).await;
    assert!(missing.is_empty(), "never relayed: {missing:?}");
    let relayed = |g: &Graph| -> Vec<serde_json::Value> {
        g.received()
            .iter()
            .flat_map(|r| r.events().clone())
            .collect()
    };
    let early: Vec<serde_json::Value> = relayed(&ga).into_iter().chain(relayed(&gb)).collect();
    assert!(
        early.iter().all(|e| e["event_id"] != "alone"),
        "the lone beacon left before its hold"
    );
    assert!(
        sent_at.elapsed() < Duration::from_secs(5),
        "the pairs left before the hold was over"
    );
    let missing = wait_relayed(
        &[&ga, &gb],
        &HashSet::from(["alone".to_owned()]),
        Duration::from_secs(20),
    )
    .await;
    assert!(missing.is_empty(), "the lone beacon never left");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all: Vec<serde_json::Value> = relayed(&ga).into_iter().chain(relayed(&gb)).collect();
    assert_eq!(all.len(), 41, "each event once: {all:?}");
    for i in 0..40 {
        let e = all
            .iter()
            .find(|e| e["event_id"] == format!("order-{i}"))
            .unwrap();
        assert_eq!(e["custom_data"]["value"], 100 + i, "the server's value");
        assert_eq!(e["custom_data"]["currency"], "EUR");
        assert_eq!(e["user_data"]["fbp"], format!("fb.1.1700000000000.{i}"));
        assert_eq!(
            e["user_data"]["client_user_agent"],
            "Mozilla/5.0 (checkout)"
        );
        let em = pixel_core::matching::sha256_hex(&format!("buyer{i}@example.com"));
        assert_eq!(e["user_data"]["em"], serde_json::json!([em]));
        assert_eq!(
            e["user_data"]["fn"],
            serde_json::json!([pixel_core::matching::sha256_hex("jane")]),
            "the browser's key the server lacked"
        );
    }
}

async fn send_event(client: &reqwest::Client, c_url: &str, ev: &str, eid: &str) -> Sent {
    let b = beacon(ev, eid);
    match client.get(format!("{c_url}?{}", b.encode())).send().await {
        Ok(r) => Sent::Status(r.status().as_u16(), None),
        Err(_) => Sent::NoAnswer,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_burst_loses_nothing_and_repeats_at_most_its_batch_in_flight() {
    if Backend::Postgres.skipped() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = Backend::Postgres.db(dir.path());
    // Slow answers (150 ms each), so the replica has a request in flight when it is killed.
    let slow = vec![Answer::Hang(Duration::from_millis(150)); 10_000];
    let (ga, gb, ga2) = (
        Graph::start().await,
        Graph::start().await,
        Graph::start().await,
    );
    ga.script(&slow);
    gb.script(&slow);
    let a = Arc::new(Mutex::new(Some(replica(&db, dir.path(), &ga).await)));
    let b = replica(&db, dir.path(), &gb).await;
    let a_url = Arc::new(Mutex::new(a.lock().unwrap().as_ref().unwrap().url("/tr/")));
    let b_url = b.url("/tr/");

    // 8 senders, half of each one's beacons to A, half to B. A beacon A does not answer (killed)
    // goes to B instead, as the load balancer would send the pixel's retry.
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(0));
    let client = reqwest::Client::new();
    let mut senders = Vec::new();
    for _ in 0..8 {
        let (acked, stop, next, client) =
            (acked.clone(), stop.clone(), next.clone(), client.clone());
        let (a_url, b_url) = (a_url.clone(), b_url.clone());
        senders.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let eid = format!("k-{i}");
                let first = if i % 2 == 0 {
                    a_url.lock().unwrap().clone()
                } else {
                    b_url.clone()
                };
                let mut answer = send(&client, &first, &eid).await;
                if matches!(answer, Sent::NoAnswer) {
                    answer = send(&client, &b_url, &eid).await;
                }
                match answer {
                    Sent::Status(200, _) => acked.lock().unwrap().push(eid),
                    other => panic!("{eid}: {other:?}"),
                }
            }
        }));
    }
    let wait_acked = |n: usize| {
        let acked = acked.clone();
        async move {
            let start = Instant::now();
            while acked.lock().unwrap().len() < n {
                assert!(start.elapsed() < Duration::from_secs(30), "burst too slow");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    wait_acked(1500).await;
    // Kill A while its relay waits on the stand-in.
    let in_flight_at_kill = {
        let start = Instant::now();
        // A request of A's has arrived and is not answered yet (the stand-in takes 150 ms).
        while ga.arrivals().len() <= ga.received().len() {
            assert!(start.elapsed() < Duration::from_secs(10), "A never relayed");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let mut c = a.lock().unwrap().take().unwrap();
        c.child.kill().unwrap(); // SIGKILL
        let killed_at = Instant::now();
        c.child.wait().unwrap();
        let arrived = ga.arrivals().len();
        drop(c);
        // Its requests answered after the kill: A never saw those answers.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let answered_before = ga.received().iter().filter(|r| r.at < killed_at).count();
        arrived - answered_before
    };
    let at_kill = acked.lock().unwrap().len();
    wait_acked(at_kill + 1000).await;
    // A comes back (relaying to a stand-in of its own, to tell its requests apart).
    let a2 = replica(&db, dir.path(), &ga2).await;
    *a_url.lock().unwrap() = a2.url("/tr/");
    let at_restart = acked.lock().unwrap().len();
    wait_acked(at_restart + 1000).await;
    stop.store(true, Ordering::Relaxed);
    for s in senders {
        s.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();

    // Nothing acknowledged is lost.
    let stored = db.stored_ids();
    let lost: Vec<&String> = acked.iter().filter(|e| !stored.contains(*e)).collect();
    assert!(lost.is_empty(), "{} acknowledged events lost", lost.len());
    assert_eq!(
        db.count("SELECT count(*) FROM events") as usize,
        stored.len(),
        "each stored once"
    );

    // Every event is marked sent in the end, the killed replica's claim included (once its
    // lease has run out, another replica sends it again)...
    let unsent = wait_all_sent(&db, Duration::from_secs(60)).await;
    assert_eq!(unsent, 0, "events never marked sent");
    // ...and every one reached a stand-in; repeats only from A's batch in flight at the kill.
    let want: HashSet<String> = stored.iter().cloned().collect();
    let missing = wait_relayed(&[&ga, &gb, &ga2], &want, Duration::from_secs(10)).await;
    assert!(
        missing.is_empty(),
        "{} never relayed, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let a_requests = ga.arrivals();
    let all: Vec<String> = [&ga, &gb, &ga2]
        .iter()
        .flat_map(|g| g.arrivals())
        .flatten()
        .collect();
    let repeated: HashSet<&str> = tally(&all)
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(id, _)| id)
        .collect();
    println!(
        "SIGKILL of a replica mid-burst: {} acknowledged ({at_kill} before the kill, {} before the \
         restart), {} stored, {} relayed ({} by A before the kill in {} requests, {} in flight at \
         the kill); repeated: {}",
        acked.len(),
        at_restart,
        stored.len(),
        all.len(),
        a_requests.iter().flatten().count(),
        a_requests.len(),
        in_flight_at_kill,
        repeated.len()
    );
    if in_flight_at_kill == 0 {
        // Rare: the answer landed between the check and the kill; nothing had to be repeated.
        println!("the kill landed between two requests of A: no batch was in flight");
    } else {
        assert!(
            !repeated.is_empty(),
            "the batch in flight at the kill was never sent again"
        );
    }
    if !repeated.is_empty() {
        // All of them in one request of A (before the kill).
        let from_one = a_requests.iter().any(|r| {
            let r: HashSet<&str> = r.iter().map(String::as_str).collect();
            repeated.is_subset(&r)
        });
        assert!(
            from_one,
            "{} repeats, not all from one batch of the killed replica",
            repeated.len()
        );
        assert!(
            repeated.len() <= 100,
            "more than one batch (--relay-batch 100)"
        );
    }
    drop(a2);
}

/// A private server (this test stops and starts it), removed with the test's directory.
struct PrivateServer {
    dir: tempfile::TempDir,
    url: String,
}

impl PrivateServer {
    fn start() -> PrivateServer {
        let dir = tempfile::tempdir().unwrap();
        remove_at_exit(dir.path());
        let url = pg_start(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        PrivateServer { dir, url }
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        pg_stop(self.dir.path(), "immediate");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_two_replicas_is_503_then_both_recover_and_lose_nothing() {
    if Backend::Postgres.skipped() {
        return;
    }
    let server = PrivateServer::start();
    psql(&server.url, "CREATE DATABASE restart");
    let db = Db::Postgres(with_database(&server.url, "restart"));
    let dir = tempfile::tempdir().unwrap();
    let graph = Graph::start().await;
    let a = replica(&db, dir.path(), &graph).await;
    let b = replica(&db, dir.path(), &graph).await;
    let client = reqwest::Client::new();
    let urls = [a.url("/tr/"), b.url("/tr/")];
    let mut acked = Vec::new();
    let mut refused = Vec::new();
    let mut retry_after = HashSet::new();

    for i in 0..100 {
        let eid = format!("before-{i}");
        match send(&client, &urls[i % 2], &eid).await {
            Sent::Status(200, _) => acked.push(eid),
            other => panic!("{eid}: {other:?}"),
        }
    }

    // PostgreSQL goes away (a clean, fast shutdown: every session is ended).
    let dir_of_server = server.dir.path().to_owned();
    tokio::task::spawn_blocking(move || pg_stop(&dir_of_server, "fast"))
        .await
        .unwrap();
    let down_at = Instant::now();
    let mut i = 0;
    while down_at.elapsed() < Duration::from_secs(4) {
        let eid = format!("down-{i}");
        match send(&client, &urls[i % 2], &eid).await {
            Sent::Status(200, _) => acked.push(eid),
            Sent::Status(503, ra) => {
                let ra = ra.unwrap_or_else(|| panic!("{eid}: 503 without Retry-After"));
                retry_after.insert(ra);
                refused.push(eid);
            }
            other => panic!("{eid} while PostgreSQL is down: {other:?}"),
        }
        i += 1;
    }
    let down_health = (healthz(&a).await, healthz(&b).await);
    println!(
        "PostgreSQL down: {} beacons, {} answered 503 (Retry-After: {retry_after:?}), {} 200; \
         /healthz {down_health:?}",
        i,
        refused.len(),
        i - refused.len()
    );
    assert!(refused.len() >= i / 2, "most beacons refused while down");
    assert_eq!(down_health, (503, 503));

    // Back on the same port; the replicas are not restarted.
    let dir_of_server = server.dir.path().to_owned();
    let url = tokio::task::spawn_blocking(move || pg_start(&dir_of_server))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(url, server.url);
    let up_at = Instant::now();
    let healthy_a = wait_health(&a, 200, Duration::from_secs(30)).await;
    let healthy_b = wait_health(&b, 200, Duration::from_secs(30))
        .await
        .max(healthy_a);
    println!(
        "PostgreSQL back after {:?} down: /healthz 200 on both within {healthy_b:?}",
        up_at.duration_since(down_at)
    );
    // The refused beacons sent again (the pixel's retry), and new ones.
    let again: Vec<String> = refused
        .iter()
        .cloned()
        .chain((0..100).map(|i| format!("after-{i}")))
        .collect();
    for (i, eid) in again.into_iter().enumerate() {
        match send(&client, &urls[i % 2], &eid).await {
            Sent::Status(200, _) => acked.push(eid),
            other => panic!("{eid} after the restart: {other:?}"),
        }
    }

    let stored = db.stored_ids();
    let lost: Vec<&String> = acked.iter().filter(|e| !stored.contains(*e)).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged events lost: {lost:?}",
        lost.len()
    );
    let want: HashSet<String> = acked.iter().cloned().collect();
    let missing = wait_relayed(&[&graph], &want, Duration::from_secs(30)).await;
    assert!(missing.is_empty(), "relay did not resume: {missing:?}");
    assert_eq!(wait_all_sent(&db, Duration::from_secs(30)).await, 0);
    let all: Vec<String> = graph.arrivals().into_iter().flatten().collect();
    let repeats = all.len() - tally(&all).len();
    println!(
        "after the restart: {} acknowledged in all, {} stored, {} relayed, {repeats} repeated",
        acked.len(),
        stored.len(),
        all.len()
    );
    drop((a, b));
}

/// The production setup of the README: an owner role migrates, the replicas run as a role that
/// may only read and write rows (granted through the owner's default privileges).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_with_row_privileges_only_runs_the_collector_once_the_owner_migrated() {
    if Backend::Postgres.skipped() {
        return;
    }
    let server = common::backend::server_url();
    let pid = std::process::id();
    let (owner, runner, name) = (
        format!("owner_{pid}"),
        format!("runner_{pid}"),
        format!("t_{pid}_roles"),
    );
    for sql in [
        format!("CREATE ROLE {owner} LOGIN"),
        format!("CREATE ROLE {runner} LOGIN"),
        format!("CREATE DATABASE {name} OWNER {owner}"),
        format!("REVOKE ALL ON DATABASE {name} FROM PUBLIC"),
        format!("GRANT CONNECT ON DATABASE {name} TO {runner}"),
    ] {
        psql(server, &sql);
    }
    let as_role = |role: &str| {
        let url = with_database(server, &name);
        url.replacen("postgres@", &format!("{role}@"), 1)
    };
    let owner_url = as_role(&owner);
    for sql in [
        format!(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public \
             GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {runner}"
        ),
        format!(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public \
             GRANT USAGE, SELECT ON SEQUENCES TO {runner}"
        ),
        format!("GRANT USAGE ON SCHEMA public TO {runner}"),
    ] {
        psql(&owner_url, &sql);
    }
    let dir = tempfile::tempdir().unwrap();
    // The owner's run creates the schema.
    let c = Collector::start_on(
        &Db::Postgres(owner_url.clone()),
        dir.path(),
        &["--pixel", PIXEL],
    )
    .await;
    assert_eq!(c.terminate(), 0);
    // The runner cannot change the schema...
    let runner_url = as_role(&runner);
    let refused = try_psql(&runner_url, "CREATE TABLE intruder (x int)").unwrap_err();
    assert!(refused.contains("permission denied"), "{refused}");
    // ...and runs the collector: start (migrations up to date), store, read, relay.
    let graph = Graph::start().await;
    let runner_db = Db::Postgres(runner_url);
    let c = replica(&runner_db, dir.path(), &graph).await;
    common::send_all(
        &c,
        vec![beacon("Purchase", "lp-1"), beacon("Purchase", "lp-1")],
        1,
    )
    .await;
    assert_eq!(
        graph.wait_accepted(1, Duration::from_secs(10)).await,
        ["lp-1"]
    );
    let events = c.wait_settled(1, Duration::from_secs(10)).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["relay_status"], "sent");
    assert_eq!(c.metric("collector_events_duplicate_total").await, 1);
    let log = c.log_text();
    assert!(!log.contains("permission denied"), "{log}");
}
