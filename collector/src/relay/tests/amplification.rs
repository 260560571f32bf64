//! The cost of refused events (issue #24, "relay amplification"): events Meta refuses must not
//! buy an attacker many Graph requests each. Every test stores `good` events Meta accepts and
//! `bad` ones it refuses (spread over the queue), relays them with `--relay-batch b`, and checks
//! the number of requests the stand-in received against the bound that `relay/plan.rs` states:
//!
//! - Meta names the refused event (`error_data.event_index`, or `$['data'][i]` in its message):
//!   at most `rounds + 2·N` requests (the refusal, and one more request for the events on its
//!   other side);
//! - Meta does not name it: at most `rounds + N·(⌈log2 b⌉ + 3)` (a binary search for the first
//!   refused event of the chunk, at most `⌈log2 b⌉` requests of halves and one of the event
//!   alone, one for the rest, and in a burst one probe of the next few events), and a burst
//!   of refused events in a row costs two requests each after its first;
//!
//! where `rounds = ⌈(M + N) / b⌉`. The good events are delivered, each exactly once, and every
//! refused one is marked failed with Meta's message.

use super::*;

/// `good + bad` events, the refused ones (`BadEvent`, IDs `bad-<i>`) every `step` positions (evenly
/// spread when `None`) from `first_bad` on, never two in a row at the head (which is the
/// breaker's case, see `refusals.rs`).
fn spread(
    good: usize,
    bad: usize,
    first_bad: usize,
    step: Option<usize>,
    at_ms: i64,
) -> Vec<NewEvent> {
    let n = good + bad;
    let step = step.unwrap_or((n - first_bad) / bad.max(1));
    let bad_at: Vec<usize> = (0..bad).map(|k| first_bad + k * step).collect();
    (0..n)
        .map(|i| {
            if bad_at.contains(&i) {
                event_at("BadEvent", Some(&format!("bad-{i}")), at_ms)
            } else {
                event_at("AddToCart", Some(&format!("good-{i}")), at_ms)
            }
        })
        .collect()
}

fn log2_ceil(b: usize) -> usize {
    (usize::BITS - (b.max(1) - 1).leading_zeros()) as usize
}

/// Relay `good` + `bad` events with `--relay-batch batch`; the requests it took.
async fn requests_for((good, bad, first_bad, batch, step): Case, named: bool) -> usize {
    let mut twin = Twin::new(Vec::new());
    twin.settings.batch = batch;
    twin.graph.reject_event_name("BadEvent");
    if named {
        twin.graph.name_the_index();
    }
    // One commit, in queue order: the relay reads them oldest first.
    twin.store(&spread(good, bad, first_bad, step, twin.now_ms()));
    twin.start();
    until(Duration::from_secs(600), "nothing pending", || {
        twin.pending() == 0
    })
    .await;
    let events = twin.events();

    let accepted = twin.graph.accepted_ids();
    assert_eq!(accepted.len(), good, "every good event delivered");
    assert!(count(&accepted).values().all(|n| *n == 1), "each once");
    assert!(accepted.iter().all(|id| id.starts_with("good-")));
    for e in &events {
        let want = if e.event.event_id.starts_with("bad-") {
            RelayStatus::Failed
        } else {
            RelayStatus::Sent
        };
        assert_eq!(e.relay_status, want, "{}", e.event.event_id);
        if want == RelayStatus::Failed {
            assert_eq!(
                e.relay_error.as_deref(),
                Some("Invalid parameter: The event BadEvent has an invalid parameter.")
            );
        }
    }
    assert_eq!(
        twin.metric("collector_events_relay_failed_total"),
        bad as u64
    );
    // Meta got the client's IP and user agent; once sent or failed, the store keeps neither.
    let carried = |r: &stand_in::Received| {
        r.events().iter().all(|e| {
            e["user_data"]["client_ip_address"] == "203.0.113.7"
                && e["user_data"]["client_user_agent"] == "Mozilla/5.0 (Test)"
        })
    };
    assert!(twin.graph.received().iter().all(carried));
    assert!(events
        .iter()
        .all(|e| e.event.client_ip.is_none() && e.event.user_agent.is_none()));
    twin.stop().await;
    twin.graph.received().len()
}

/// good, bad, first bad position, batch, step between bad ones (`None`: spread evenly).
type Case = (usize, usize, usize, usize, Option<usize>);

const CASES: [Case; 10] = [
    (999, 1, 0, 1000, None),
    (999, 1, 1, 1000, None),
    (999, 1, 511, 1000, None),
    (999, 1, 999, 1000, None),
    (990, 10, 3, 1000, None),
    (950, 50, 7, 1000, None),
    (980, 20, 5, 100, None),
    // Bursts: refused events in a row, or nearly.
    (950, 50, 7, 1000, Some(1)),
    (950, 50, 7, 1000, Some(3)),
    (900, 100, 300, 1000, Some(2)),
];

#[tokio::test(start_paused = true)]
async fn refused_events_meta_does_not_name_cost_at_most_log2_batch_plus_three_requests_each() {
    for case in CASES {
        let (good, bad, _, batch, step) = case;
        let requests = requests_for(case, false).await;
        let rounds = (good + bad).div_ceil(batch);
        let bound = rounds + bad * (log2_ceil(batch) + 3);
        println!(
            "{bad} refused among {good} good (step {step:?}), --relay-batch {batch}, refusals not naming the event: {requests} Graph requests (bound {bound}, {:.1} per refused event)",
            (requests - rounds) as f64 / bad as f64
        );
        assert!(requests <= bound, "{requests} > {bound}");
        if step == Some(1) {
            // A burst: the first two found by halving (the second to learn it is a burst),
            // each next one with two requests.
            let burst = rounds + 2 * (log2_ceil(batch) + 3) + 2 * (bad - 2);
            assert!(requests <= burst, "{requests} > {burst}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn refused_events_meta_names_cost_at_most_two_requests_each() {
    for case in CASES {
        let (good, bad, _, batch, step) = case;
        let requests = requests_for(case, true).await;
        let rounds = (good + bad).div_ceil(batch);
        let bound = rounds + 2 * bad;
        println!(
            "{bad} refused among {good} good (step {step:?}), --relay-batch {batch}, refusals naming the event: {requests} Graph requests (bound {bound})"
        );
        assert!(requests <= bound, "{requests} > {bound}");
    }
}
