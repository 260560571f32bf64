//! What happens around the requests: expiry (in a round and in the expiry task), a shutdown with a
//! request in flight or a round half done, and a pixel without an access token.

use super::*;
use crate::config::Config;
use crate::state::AppState;

const DAY_MS: i64 = 24 * 3600 * 1000;

#[tokio::test(start_paused = true)]
async fn events_older_than_seven_days_expire_instead_of_being_sent() {
    let mut twin = Twin::new(Vec::new());
    let now = twin.now_ms();
    twin.store(&[
        event_at("Purchase", Some("old-1"), now - 8 * DAY_MS),
        event_at("Purchase", Some("new-1"), now),
    ]);
    twin.start();
    let events = twin.settled(2, Duration::from_secs(10)).await;
    let status = |id: &str| {
        let e = events.iter().find(|e| e.event.event_id == id).unwrap();
        e.relay_status
    };
    assert_eq!(status("old-1"), RelayStatus::Expired);
    assert_eq!(status("new-1"), RelayStatus::Sent);
    assert_eq!(twin.graph.accepted_ids(), ["new-1"]);
    assert_eq!(twin.metric("collector_events_expired_total"), 1);
}

/// The relay waits an hour on Meta with an event 30 s short of 7 days old: the expiry task, once
/// a minute, marks it expired meanwhile.
#[tokio::test(start_paused = true)]
async fn the_expiry_task_expires_an_event_that_grows_too_old_while_the_relay_waits() {
    let mut twin = Twin::new(vec![Answer::Late(Duration::from_secs(3600))]);
    let aging = twin.now_ms() - 7 * DAY_MS + 30_000;
    twin.store(&[event_at("Purchase", Some("aging-1"), aging)]);
    twin.start();
    twin.arrived(1, Duration::from_secs(1)).await;
    assert_eq!(twin.statuses()["aging-1"], RelayStatus::Pending);

    let start = twin.now_ms();
    until(super::super::EXPIRE_EVERY * 2, "expired", || {
        twin.statuses()["aging-1"] == RelayStatus::Expired
    })
    .await;
    let took = twin.now_ms() - start;
    let poll = i64::try_from(POLL.as_millis()).unwrap();
    assert!(
        (30_000..=60_000 + poll).contains(&took),
        "expired after {took} ms"
    );
    assert_eq!(twin.metric("collector_events_expired_total"), 1);
    let log = twin.logs.text();
    assert!(
        log.contains("events older than 7 days marked expired"),
        "{log}"
    );
    assert!(twin.graph.received().is_empty(), "still waiting on Meta");
}

/// The relay's part of a graceful stop (SIGTERM on the real binary: `tests/relay.rs`).
#[tokio::test(start_paused = true)]
async fn a_shutdown_lets_the_request_in_flight_finish_and_records_it() {
    let mut twin = Twin::new(vec![Answer::Late(Duration::from_millis(1500))]);
    twin.store(&[event_at("Purchase", Some("inflight-1"), twin.now_ms())]);
    twin.start();
    twin.arrived(1, Duration::from_secs(10)).await; // the relay now waits on the stand-in
    let asked = twin.now_ms();
    twin.stop().await;
    let answered = twin.graph.received()[0].at_ms;
    assert!(asked < answered, "the stop came after the answer");
    assert_eq!(twin.graph.accepted_ids(), ["inflight-1"]);
    assert_eq!(
        twin.statuses()["inflight-1"],
        RelayStatus::Sent,
        "the 2xx that arrived during shutdown was recorded"
    );
    assert_eq!(twin.metric("collector_events_relayed_total"), 1);
    assert!(twin.logs.text().contains("relay stopped"));
}

/// A shutdown while a bisection is under way: the round stops after the answer in flight, the
/// rest stays pending, untouched, and its claim is released, so another replica sends it at once
/// (long before the 20 s lease would have run out).
#[tokio::test(start_paused = true)]
async fn a_shutdown_mid_round_leaves_the_rest_pending_and_free_for_another_replica_at_once() {
    let mut twin = Twin::new(vec![Answer::Late(Duration::from_secs(1))]);
    twin.graph.reject_event_name("BadEvent");
    twin.store(&one_bad("m", 10, 3, twin.now_ms()));
    twin.start();
    twin.arrived(1, Duration::from_secs(1)).await;
    twin.stop().await;

    let sizes = twin.graph.sizes();
    assert_eq!(sizes, [(10, 400)], "the bisection went on after the stop");
    assert_eq!(twin.pending(), 10);
    assert!(twin.events().iter().all(|e| e.relay_attempts == 0));

    let mut other = twin.replica(Vec::new());
    other.graph.reject_event_name("BadEvent");
    let released = other
        .store
        .claim_pending(PIXEL, 0, 100, other.now_ms())
        .unwrap();
    assert_eq!(released.len(), 10, "the claim was released");
    other.start();
    other.settled(10, Duration::from_secs(5)).await;
    let status = other.statuses();
    assert_eq!(status["bad-3"], RelayStatus::Failed);
    assert_eq!(
        status.values().filter(|s| **s == RelayStatus::Sent).count(),
        9
    );
}

#[tokio::test]
async fn without_an_access_token_events_are_stored_not_relayed_and_the_log_says_so_once() {
    use tower::ServiceExt as _;
    let (logs, _logging) = Logs::capture();
    let config = Config::parse_from(["collector", "--pixel", PIXEL]).unwrap();
    let store = Arc::new(MemoryStore::new());
    let state = AppState::new(config, store.clone()).unwrap();
    for i in 0..3 {
        let beacon = Beacon {
            id: PIXEL.into(),
            ev: "PageView".into(),
            dl: "http://shop.example/product/1".into(),
            ts: u64::try_from(state.clock.now_ms()).unwrap(),
            eid: Some(format!("n-{i}")),
            ..Beacon::default()
        };
        let req = axum::http::Request::get(format!("/tr/?{}", beacon.encode()))
            .body(axum::body::Body::empty())
            .unwrap();
        let resp = crate::http::router(state.clone())
            .oneshot(req)
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.status());
    }
    let (_stop, shutdown) = watch::channel(false);
    let tasks = super::super::spawn(&state, shutdown).unwrap();
    assert!(tasks.is_empty(), "a task was started: something may relay");
    let events = store
        .list(&EventQuery {
            limit: 10,
            ..EventQuery::default()
        })
        .unwrap();
    assert_eq!(events.len(), 3);
    assert!(events
        .iter()
        .all(|e| e.relay_status == RelayStatus::NotRelayed));
    let log = logs.text();
    assert_eq!(
        log.matches("stored and shown but not relayed").count(),
        1,
        "{log}"
    );
}
