//! Several collectors on one store ([`MemoryStore::replica`], with PostgreSQL's leases): each
//! event goes once, a replica killed mid-request leaves its batch to the others when its lease
//! ends, and a round that outlasts half its lease renews it.

use super::*;

#[tokio::test(start_paused = true)]
async fn two_replicas_on_one_store_relay_every_event_exactly_once() {
    let slow = || vec![Answer::Late(Duration::from_millis(30)); 50];
    let mut a = Twin::new(slow());
    a.settings.batch = 20;
    let mut b = a.replica(slow());
    a.start();
    b.start();
    for round in 0..10 {
        a.store(&numbered("PageView", &format!("r{round}"), 20, a.now_ms()));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let events = a.settled(200, Duration::from_secs(10)).await;
    assert!(events.iter().all(|e| e.relay_status == RelayStatus::Sent));
    let (by_a, by_b) = (a.graph.accepted_ids(), b.graph.accepted_ids());
    assert!(!by_a.is_empty() && !by_b.is_empty(), "one replica sent all");
    let all: Vec<String> = by_a.into_iter().chain(by_b).collect();
    assert_eq!(all.len(), 200);
    assert!(count(&all).values().all(|n| *n == 1), "{all:?}");
    assert_eq!(
        a.metric("collector_events_relayed_total") + b.metric("collector_events_relayed_total"),
        200
    );
}

/// What `tests/replicas.rs` shows with `kill -9` on PostgreSQL, as logic: the killed replica's
/// batch stays claimed until its lease (twice `--relay-timeout-ms`) runs out, then another sends
/// it; that batch may reach Meta twice, nothing more.
#[tokio::test(start_paused = true)]
async fn a_replica_killed_mid_request_leaves_its_batch_to_the_other_after_the_lease() {
    let store = Arc::new(MemoryStore::with_lease(2_000));
    let mut a = Twin::on(store, vec![Answer::Late(Duration::from_secs(3600))]);
    a.settings.timeout = Duration::from_secs(1);
    a.store(&numbered("Purchase", "k", 10, a.now_ms()));
    a.start();
    a.arrived(1, Duration::from_secs(1)).await;
    let claimed_at = a.now_ms();
    a.kill();

    let mut b = a.replica(Vec::new());
    b.start();
    let ids = b.accepted(10, Duration::from_secs(10)).await;
    let waited = b.graph.received()[0].at_ms - claimed_at;
    assert!(
        waited >= 2_000,
        "sent within the killed replica's lease: {waited} ms"
    );
    assert!(count(&ids).values().all(|n| *n == 1), "{ids:?}");
    let mut reached: Vec<String> = a.graph.arrivals().concat();
    assert_eq!(reached.len(), 10, "one request in flight when killed");
    reached.extend(ids);
    assert!(count(&reached).values().all(|n| *n <= 2), "{reached:?}");
    let events = b.settled(10, Duration::from_secs(1)).await;
    assert!(events.iter().all(|e| e.relay_status == RelayStatus::Sent));
}

/// A bisection of 8 events with one bad, each answer 500 ms late: 6 requests, 3 s, longer than
/// the 2 s lease. The claim is renewed before a request once half the lease is gone, so the other
/// replica, polling all along, never gets any of these events.
#[tokio::test(start_paused = true)]
async fn a_round_longer_than_half_its_lease_renews_its_claim() {
    let store = Arc::new(MemoryStore::with_lease(2_000));
    let mut a = Twin::on(store, vec![Answer::Late(Duration::from_millis(500)); 20]);
    a.settings.timeout = Duration::from_secs(1);
    a.graph.reject_event_name("BadEvent");
    a.store(&one_bad("l", 8, 5, a.now_ms()));
    a.start();
    a.arrived(1, Duration::from_secs(1)).await;
    let mut b = a.replica(Vec::new());
    b.start();

    a.settled(8, Duration::from_secs(10)).await;
    let got = a.graph.received();
    let round = got.last().unwrap().at_ms - got[0].at_ms + 500;
    assert!(round > 2_000, "the round took {round} ms, within one lease");
    assert_eq!(
        b.graph.arrived(),
        0,
        "the other replica sent claimed events"
    );
    let status = a.statuses();
    assert_eq!(status["bad-5"], RelayStatus::Failed);
    let accepted = a.graph.accepted_ids();
    assert_eq!(accepted.len(), 7, "{accepted:?}");
    assert!(count(&accepted).values().all(|n| *n == 1));
}
