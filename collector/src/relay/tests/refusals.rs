//! Refusals: a bad event found by bisection and failed alone, the breaker that tells a refusal of
//! the request from one of its events, and misconfigurations that keep events pending. Formerly
//! end-to-end tests in `collector/tests/relay.rs` (on SQLite and PostgreSQL, in real time, each
//! behind a first `503 Retry-After: 1` that held the relay until every beacon was stored; here
//! the events are stored before the relay starts); each asserts here at least what it asserted
//! there.

use super::stand_in::META_400;
use super::*;

/// Meta's answer when the token cannot reach the pixel (wrong pixel id, or a token of another
/// business): the request as a whole is refused, whatever events it carries.
const META_SUBCODE_33: &str = r#"{"error":{"message":"Unsupported post request. Object with ID '1234567890' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api","type":"GraphMethodException","code":100,"error_subcode":33,"fbtrace_id":"A33"}}"#;

/// Meta's answer to a wrong `--app-secret`.
const META_APPSECRET: &str = r#"{"error":{"message":"Invalid appsecret_proof provided in the API argument","type":"GraphMethodException","code":100,"fbtrace_id":"Aproof"}}"#;

/// A request-level refusal the classifier does not know: only the bisection's breaker can tell.
const META_UNKNOWN_REQUEST_LEVEL: &str = r#"{"error":{"message":"Invalid parameter","type":"OAuthException","code":100,"error_subcode":9999001,"is_transient":false,"error_user_msg":"Server events are not enabled for this dataset.","fbtrace_id":"Aunk"}}"#;

/// Store `events` in the order the end-to-end tests' `send_all` stored them: from the last.
fn store_from_the_end(twin: &Twin, mut events: Vec<NewEvent>) {
    events.reverse();
    for e in events {
        twin.store(&[e]);
    }
}

#[tokio::test(start_paused = true)]
async fn a_400_is_bisected_the_bad_event_fails_with_metas_message_the_rest_go_through() {
    let mut twin = Twin::new(Vec::new());
    twin.graph.reject_event_name("BadEvent");
    store_from_the_end(&twin, one_bad("a", 10, 6, twin.now_ms()));
    twin.start();

    let events = twin.settled(10, Duration::from_secs(15)).await;
    let status = twin.statuses();
    assert_eq!(status.len(), 10);
    assert_eq!(status["bad-6"], RelayStatus::Failed);
    assert!(
        status
            .iter()
            .filter(|(id, _)| *id != "bad-6")
            .all(|(_, s)| *s == RelayStatus::Sent),
        "{status:?}"
    );
    let bad = events.iter().find(|e| e.event.event_id == "bad-6").unwrap();
    assert_eq!(
        bad.relay_error.as_deref(),
        Some("Invalid parameter: The event BadEvent has an invalid parameter.")
    );
    assert!(META_400.contains("BadEvent has an invalid parameter"));

    let accepted = twin.graph.accepted_ids();
    assert_eq!(accepted.len(), 9, "{accepted:?}");
    assert!(count(&accepted).values().all(|n| *n == 1));
    let sizes = twin.graph.sizes();
    assert!(sizes.contains(&(10, 400)), "{sizes:?}");
    assert!(sizes.contains(&(1, 400)), "{sizes:?}");
    assert!(
        sizes.len() <= 2 * 4 + 1,
        "bisection takes at most 2·log2(n) requests: {sizes:?}"
    );
    assert_eq!(twin.metric("collector_events_relay_failed_total"), 1);
}

#[tokio::test(start_paused = true)]
async fn bad_events_at_the_head_of_the_batch_still_fail_alone_and_the_rest_go_through() {
    let mut twin = Twin::new(Vec::new());
    twin.graph.reject_event_name("BadEvent");
    // Stored first, so the bisection meets two identically bad events before any good one.
    let now = twin.now_ms();
    let mut events = numbered("AddToCart", "h", 10, now);
    events[9] = event_at("BadEvent", Some("bad-9"), now);
    events[8] = event_at("BadEvent", Some("bad-8"), now);
    store_from_the_end(&twin, events);
    twin.start();

    twin.settled(10, Duration::from_secs(15)).await;
    let status = twin.statuses();
    assert_eq!(status.len(), 10);
    assert_eq!(status["bad-8"], RelayStatus::Failed, "{status:?}");
    assert_eq!(status["bad-9"], RelayStatus::Failed, "{status:?}");
    assert!(
        status
            .iter()
            .filter(|(id, _)| !id.starts_with("bad"))
            .all(|(_, s)| *s == RelayStatus::Sent),
        "{status:?}"
    );
    let accepted = twin.graph.accepted_ids();
    assert_eq!(accepted.len(), 8, "{accepted:?}");
    assert!(count(&accepted).values().all(|n| *n == 1));
    assert_eq!(twin.metric("collector_events_relay_failed_total"), 2);
    // The breaker opened once (two suspects, nothing accepted yet); the next round sent them last.
    assert_eq!(
        twin.metric("collector_relay_failures_total{kind=\"request_rejected\"}"),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn an_unknown_refusal_of_every_request_opens_the_breaker_instead_of_failing_events() {
    let mut twin = Twin::new(vec![Answer::Status(400, META_UNKNOWN_REQUEST_LEVEL); 12]);
    twin.store(&numbered("AddToCart", "u", 10, twin.now_ms()));
    twin.start();

    twin.sent_each_once(10, Duration::from_secs(20)).await;
    assert_eq!(twin.metric("collector_events_relay_failed_total"), 0);
    assert!(twin.metric("collector_relay_failures_total{kind=\"request_rejected\"}") >= 1);
}

/// Issue #9: with `--relay-batch 20`, 60 events Meta refuses identically at the head of the queue,
/// then 40 good ones. The breaker used to re-queue its suspects at the end of the next batch of
/// the same 20 and retry every `--retry-max-ms`: none of the 40 went through within 45 s.
#[tokio::test(start_paused = true)]
async fn a_run_of_identically_refused_events_longer_than_a_batch_holds_back_nothing() {
    let mut twin = Twin::new(Vec::new());
    twin.settings.batch = 20;
    twin.graph.reject_event_name("BadEvent");
    // Stored from the end: the 60 bad ones first.
    let now = twin.now_ms();
    let mut events = numbered("AddToCart", "good", 40, now);
    events.extend(numbered("BadEvent", "bad", 60, now));
    store_from_the_end(&twin, events);
    twin.start();

    let start = twin.now_ms();
    let ids = twin.accepted(40, Duration::from_secs(10)).await;
    println!(
        "40 good events behind 60 refused ones relayed in {} ms (--relay-batch 20, --retry-base-ms 100)",
        twin.now_ms() - start
    );
    assert_eq!(ids.len(), 40, "good events relayed within 10 s: {ids:?}");
    assert!(ids.iter().all(|i| i.starts_with("good-")), "{ids:?}");
    assert!(count(&ids).values().all(|n| *n == 1), "{ids:?}");
    // The refused ones are then tried again alone, after Meta accepted other events, and fail for
    // good with Meta's message.
    twin.settled(100, Duration::from_secs(20)).await;
    let status = twin.statuses();
    assert_eq!(status.len(), 100);
    for (id, s) in &status {
        let want = if id.starts_with("good-") {
            RelayStatus::Sent
        } else {
            RelayStatus::Failed
        };
        assert_eq!(*s, want, "{id}: {status:?}");
    }
    println!(
        "and the 60 refused ones failed after {} ms",
        twin.now_ms() - start
    );
    assert_eq!(twin.metric("collector_events_relay_failed_total"), 60);
    assert_eq!(twin.graph.accepted_ids().len(), 40);
}

#[tokio::test(start_paused = true)]
async fn subcode_33_keeps_events_pending_and_they_go_once_when_it_is_fixed() {
    // Refused six times as a misconfigured pixel, then accepted.
    let mut twin = Twin::new(vec![Answer::Status(400, META_SUBCODE_33); 6]);
    twin.store(&numbered("AddToCart", "s", 10, twin.now_ms()));
    twin.start();

    twin.sent_each_once(10, Duration::from_secs(15)).await;
    // Not bisected: each refused request carried the whole batch.
    let refused: Vec<usize> = twin
        .graph
        .received()
        .iter()
        .filter(|r| r.status == 400)
        .map(|r| r.events().len())
        .collect();
    assert_eq!(refused, [10; 6]);
    assert_eq!(twin.metric("collector_events_relay_failed_total"), 0);
    assert_eq!(
        twin.metric("collector_relay_failures_total{kind=\"misconfigured\"}"),
        6
    );
    let log = twin.logs.text();
    assert!(log.contains("does not exist, cannot be loaded"), "{log}");
}

#[tokio::test(start_paused = true)]
async fn a_wrong_app_secret_keeps_events_pending_instead_of_failing_them() {
    let mut twin = Twin::new(vec![Answer::Status(400, META_APPSECRET); 100]);
    twin.app_secret = Some("not-the-secret");
    twin.store(&numbered("Lead", "l", 5, twin.now_ms()));
    twin.start();

    // Three refusals (one every --retry-max-ms).
    twin.arrived(3, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let events = twin.events();
    let status = twin.statuses();
    assert_eq!(status.len(), 5);
    assert!(
        status.values().all(|s| *s == RelayStatus::Pending),
        "{status:?}"
    );
    assert!(
        events.iter().all(|e| e
            .relay_error
            .as_deref()
            .is_some_and(|m| m.contains("appsecret_proof"))),
        "{events:?}"
    );
    assert!(twin
        .graph
        .received()
        .iter()
        .filter(|r| r.status == 400)
        .all(|r| r.events().len() == 5));
    assert_eq!(twin.metric("collector_events_relay_failed_total"), 0);
    assert!(twin.metric("collector_relay_failures_total{kind=\"misconfigured\"}") >= 2);
    assert_eq!(
        twin.metric("collector_relay_failures_total{kind=\"bad_request\"}"),
        0
    );
}
