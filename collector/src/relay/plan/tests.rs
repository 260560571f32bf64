//! Table tests of the relay's decisions: a simulated Meta answers each request from the ids it
//! carries; no socket, no store, no clock.

use std::collections::BTreeSet;

use super::*;

const S: Settings = Settings {
    retry_base_ms: 100,
    retry_max_ms: 400,
};
/// With this jitter the backoff is exactly `base · 2^(n-1)`.
const NO_JITTER: f64 = 0.5;

fn refused(message: &str) -> Verdict {
    Verdict::Rejected {
        message: message.into(),
        code: 100,
        subcode: 2804003,
        index: None,
    }
}

/// Meta refusing any request that carries one of `bad`, all with the same message.
fn meta_refusing(bad: &[i64]) -> impl Fn(&[i64]) -> Verdict + '_ {
    move |ids| {
        if ids.iter().any(|i| bad.contains(i)) {
            refused("Invalid parameter")
        } else {
            Verdict::Accepted
        }
    }
}

/// One round over `ids`: every request sent, the actions taken, the delay it ended with.
struct Ran {
    requests: Vec<Vec<i64>>,
    actions: Vec<Action>,
    delay: Duration,
}

impl Ran {
    fn sent(&self) -> Vec<i64> {
        self.actions
            .iter()
            .flat_map(|a| match a {
                Action::MarkSent(ids) => ids.clone(),
                _ => vec![],
            })
            .collect()
    }
    fn failed(&self) -> Vec<i64> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                Action::MarkFailed { id, .. } => Some(*id),
                _ => None,
            })
            .collect()
    }
    fn kept(&self) -> Vec<(Vec<i64>, Cause)> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                Action::KeepPending { ids, cause, .. } => Some((ids.clone(), cause.clone())),
                _ => None,
            })
            .collect()
    }
}

fn run(plan: &mut Plan, ids: Vec<i64>, meta: &dyn Fn(&[i64]) -> Verdict, now_ms: i64) -> Ran {
    let all = ids.clone();
    let mut round = Round::new(ids);
    let (mut requests, mut actions) = (Vec::new(), Vec::new());
    let mut delay = None;
    while let Some(range) = round.next_request() {
        let chunk = all.get(range).map(<[i64]>::to_vec).unwrap_or_default();
        let verdict = meta(&chunk);
        requests.push(chunk);
        for a in round.answer(plan, verdict, now_ms, NO_JITTER) {
            if let Action::Done(d) = a {
                assert!(delay.is_none(), "one Done per round");
                delay = Some(d);
            }
            actions.push(a);
        }
        assert!(requests.len() < 10_000, "the round never ends");
    }
    assert!(round.is_done());
    Ran {
        requests,
        actions,
        delay: delay.unwrap_or(Duration::MAX),
    }
}

#[test]
fn an_accepted_batch_is_one_request_marked_sent() {
    let mut plan = Plan::new(S);
    let r = run(&mut plan, (1..=10).collect(), &meta_refusing(&[]), 0);
    assert_eq!(r.requests, [(1..=10).collect::<Vec<_>>()]);
    assert_eq!(
        r.actions,
        [
            Action::MarkSent((1..=10).collect()),
            Action::Done(Duration::ZERO)
        ]
    );
}

#[test]
fn bisection_fails_the_lone_bad_event_and_sends_the_rest() {
    // (batch size, bad ids)
    for (n, bad) in [
        (10, vec![7]),
        (10, vec![1]),
        (10, vec![10]),
        (1000, vec![500]),
        (16, vec![3, 12]),
    ] {
        let mut plan = Plan::new(S);
        let r = run(&mut plan, (1..=n).collect(), &meta_refusing(&bad), 0);
        let mut sent = r.sent();
        sent.sort_unstable();
        let want: Vec<i64> = (1..=n).filter(|i| !bad.contains(i)).collect();
        assert_eq!(sent, want, "n={n} bad={bad:?}");
        assert_eq!(r.failed(), bad, "n={n}");
        assert!(r.kept().is_empty());
        assert_eq!(r.delay, Duration::ZERO);
        let log2 = 64 - (n as u64).leading_zeros() as usize;
        assert!(
            r.requests.len() <= 1 + (log2 + 2) * bad.len(),
            "n={n}: {} requests",
            r.requests.len()
        );
    }
}

/// Meta refusing any request that carries one of `bad`, naming the first one's position in the
/// request (its `error_data.event_index`), or `shift` past it (a hint that names nothing).
fn meta_naming(bad: &[i64], shift: usize) -> impl Fn(&[i64]) -> Verdict + '_ {
    move |ids| match ids.iter().position(|i| bad.contains(i)) {
        Some(at) => Verdict::Rejected {
            message: "Invalid parameter".into(),
            code: 100,
            subcode: 2804003,
            index: Some(at + shift),
        },
        None => Verdict::Accepted,
    }
}

#[test]
fn a_refused_event_meta_names_fails_at_once_and_its_neighbours_go_on() {
    let mut plan = Plan::new(S);
    let r = run(&mut plan, (1..=10).collect(), &meta_naming(&[4, 8], 0), 0);
    assert_eq!(
        r.requests,
        [
            (1..=10).collect::<Vec<_>>(),
            vec![1, 2, 3],
            vec![5, 6, 7, 8, 9, 10],
            vec![5, 6, 7],
            vec![9, 10],
        ]
    );
    assert_eq!(r.failed(), [4, 8]);
    let mut sent = r.sent();
    sent.sort_unstable();
    assert_eq!(sent, [1, 2, 3, 5, 6, 7, 9, 10]);
    // Named first, even before anything was accepted: no suspect, no breaker.
    assert!(r.kept().is_empty());
}

/// A refusal that names an event of every request (a field Meta no longer takes, sent with every
/// event) is the request's own: before anything is accepted, named events are suspects, and the
/// second opens the breaker; nothing fails.
#[test]
fn a_refusal_naming_an_event_of_every_request_opens_the_breaker_and_fails_nothing() {
    let mut plan = Plan::new(S);
    let all: Vec<i64> = (1..=10).collect();
    let r = run(&mut plan, all.clone(), &meta_naming(&all, 0), 1_000);
    assert!(r.failed().is_empty(), "{:?}", r.actions);
    assert_eq!(r.kept(), [(all, Cause::Breaker { held: 10 })]);
    assert_eq!(r.requests.len(), 2, "{:?}", r.requests);
}

#[test]
fn an_index_past_the_request_names_nothing_and_the_search_does_without() {
    let mut plan = Plan::new(S);
    let r = run(&mut plan, (1..=10).collect(), &meta_naming(&[7], 100), 0);
    assert_eq!(r.failed(), [7]);
    assert_eq!(r.sent().len(), 9);
    assert!(r.requests.len() > 2, "{:?}", r.requests);
}

/// The binary search for the first refused event: a right half whose left half was accepted is
/// split without being sent whole; once the event is alone, the halves passed by go as one.
#[test]
fn the_search_skips_known_refused_halves_and_sends_the_rest_at_once() {
    let mut plan = Plan::new(S);
    let r = run(&mut plan, (1..=16).collect(), &meta_refusing(&[11]), 0);
    assert_eq!(
        r.requests,
        [
            (1..=16).collect::<Vec<_>>(),
            (1..=8).collect(),
            // 9..=16 holds it: split at once.
            vec![9, 10, 11, 12],
            vec![9, 10],
            // 11, 12 holds it: 11 alone, then 12 and 13..=16 as one.
            vec![11],
            vec![12, 13, 14, 15, 16],
        ]
    );
    assert_eq!(r.failed(), [11]);
    // Before: whole, 1..=8, 9..=16, 9..=12, 9..=10, 11..=12, 11, 12, 13..=16.
    let r = run(
        &mut Plan::new(S),
        (1..=16).collect(),
        &meta_refusing(&[1]),
        0,
    );
    assert_eq!(
        r.requests,
        [
            (1..=16).collect::<Vec<_>>(),
            (1..=8).collect(),
            vec![1, 2, 3, 4],
            vec![1, 2],
            vec![1],
            // A suspect (nothing accepted yet): its neighbour alone, as the breaker needs...
            vec![2],
            // ...then, accepted, the rest as one.
            (3..=16).collect(),
        ]
    );
    assert_eq!(r.failed(), [1]);
}

#[test]
fn the_failed_event_carries_metas_message() {
    let mut plan = Plan::new(S);
    let meta = |ids: &[i64]| {
        if ids.contains(&2) {
            refused("Invalid parameter: bad currency")
        } else {
            Verdict::Accepted
        }
    };
    let r = run(&mut plan, vec![1, 2, 3], &meta, 0);
    assert!(r.actions.contains(&Action::MarkFailed {
        id: 2,
        message: "Invalid parameter: bad currency".into()
    }));
}

#[test]
fn a_batch_of_one_refused_fails() {
    let mut plan = Plan::new(S);
    let r = run(&mut plan, vec![9], &meta_refusing(&[9]), 0);
    assert_eq!(r.failed(), [9]);
    assert_eq!(r.delay, Duration::ZERO);
}

#[test]
fn a_refusal_of_every_request_opens_the_breaker_and_fails_nothing() {
    let mut plan = Plan::new(S);
    let all: Vec<i64> = (1..=10).collect();
    let r = run(&mut plan, all.clone(), &meta_refusing(&all), 1_000);
    assert!(r.failed().is_empty());
    assert_eq!(r.kept(), [(all.clone(), Cause::Breaker { held: 10 })]);
    // Whole batch, half, quarter, then the two lone suspects.
    assert_eq!(r.requests.len(), 5, "{:?}", r.requests);
    assert_eq!(
        r.delay,
        Duration::from_millis(100),
        "backoff after the first opening"
    );
    for id in &all {
        assert!(plan.is_held(*id, 1_000));
        assert!(plan.is_held(*id, 3_600_999));
        assert!(!plan.is_held(*id, 3_601_000), "held for an hour at most");
    }
    // Meta accepts another request: the held ones come back within --retry-max-ms.
    run(&mut plan, vec![11], &meta_refusing(&[]), 5_000);
    assert!(plan.is_held(1, 5_399));
    assert!(!plan.is_held(1, 5_400));
    plan.release_all(2_000);
    assert!(!plan.is_held(1, 2_000));
    // The suspects go last when they come back.
    assert_eq!(plan.rank(1), 1);
    assert_eq!(plan.rank(2), 1);
    assert_eq!(plan.rank(3), 0);
}

#[test]
fn a_suspect_fails_when_meta_accepts_a_request_later_in_the_round() {
    let mut plan = Plan::new(S);
    // [1..8]: [1..4] → [1,2] → 1 suspect, 2 accepted → 1 fails.
    let r = run(&mut plan, (1..=8).collect(), &meta_refusing(&[1]), 0);
    assert_eq!(r.failed(), [1]);
    assert_eq!(r.sent().len(), 7);
    assert!(r.kept().is_empty());
}

#[test]
fn a_different_refusal_is_not_a_suspect() {
    let mut plan = Plan::new(S);
    let meta = |ids: &[i64]| match ids {
        [1] => refused("first"),
        [2] => refused("second"),
        _ if ids.contains(&1) || ids.contains(&2) => refused("batch"),
        _ => Verdict::Accepted,
    };
    let r = run(&mut plan, (1..=4).collect(), &meta, 0);
    assert_eq!(r.failed(), [1, 2]);
}

#[test]
fn retry_after_is_honoured_but_never_shorter_than_the_backoff() {
    // (Retry-After, consecutive failures before, expected delay)
    for (after, before, want) in [
        (None, 0, 100),
        (Some(0), 0, 100),
        (Some(0), 2, 400),
        (Some(10_000), 0, 10_000),
        (Some(7_200_000), 0, 3_600_000),
        (None, 5, 400),
    ] {
        let mut plan = Plan::new(S);
        for _ in 0..before {
            plan.store_failed(NO_JITTER);
        }
        let verdict = |_: &[i64]| Verdict::Retry {
            kind: "http_5xx",
            after: after.map(Duration::from_millis),
            detail: "HTTP 503".into(),
        };
        let r = run(&mut plan, vec![1, 2, 3], &verdict, 0);
        assert_eq!(
            r.delay,
            Duration::from_millis(want),
            "{after:?} after {before}"
        );
        assert_eq!(
            r.kept(),
            [(vec![1, 2, 3], Cause::Transient { kind: "http_5xx" })]
        );
        assert!(r.sent().is_empty() && r.failed().is_empty());
    }
}

#[test]
fn the_backoff_doubles_then_resets_on_acceptance() {
    let mut plan = Plan::new(S);
    let down = |_: &[i64]| Verdict::Retry {
        kind: "connect",
        after: None,
        detail: "refused".into(),
    };
    let delays: Vec<u128> = (0..4)
        .map(|_| run(&mut plan, vec![1], &down, 0).delay.as_millis())
        .collect();
    assert_eq!(delays, [100, 200, 400, 400]);
    assert_eq!(
        run(&mut plan, vec![1], &meta_refusing(&[]), 0).delay,
        Duration::ZERO
    );
    assert_eq!(run(&mut plan, vec![2], &down, 0).delay.as_millis(), 100);
}

#[test]
fn a_misconfiguration_or_a_redirect_keeps_everything_pending_for_the_longest_wait() {
    for (verdict, cause) in [
        (
            Verdict::Misconfigured {
                detail: "code 190".into(),
            },
            Cause::Misconfigured,
        ),
        (
            Verdict::Redirected {
                detail: "HTTP 302 redirect to https://elsewhere/".into(),
            },
            Cause::Redirected,
        ),
    ] {
        let mut plan = Plan::new(S);
        let v = verdict.clone();
        let r = run(&mut plan, vec![4, 5], &move |_: &[i64]| v.clone(), 0);
        assert_eq!(r.requests.len(), 1);
        assert_eq!(r.kept(), [(vec![4, 5], cause)]);
        assert_eq!(r.delay, Duration::from_millis(400));
    }
}

#[test]
fn a_failure_mid_bisection_keeps_the_undecided_and_the_suspects_pending() {
    let mut plan = Plan::new(S);
    let meta = |ids: &[i64]| match ids {
        [1] => refused("Invalid parameter"),
        [2] => Verdict::Retry {
            kind: "http_5xx",
            after: None,
            detail: "HTTP 500".into(),
        },
        _ => refused("Invalid parameter"),
    };
    let r = run(&mut plan, vec![1, 2, 3, 4], &meta, 0);
    assert!(r.failed().is_empty() && r.sent().is_empty());
    let kept = r.kept();
    assert_eq!(kept.len(), 1);
    let ids: BTreeSet<i64> = kept.iter().flat_map(|(ids, _)| ids.clone()).collect();
    assert_eq!(ids, BTreeSet::from([1, 2, 3, 4]));
}

/// The relay's loop in miniature: a queue of pending ids, reads of `batch` leaving out held
/// events (all of them when nothing else is left), time advancing by each round's delay.
struct Queue {
    pending: BTreeSet<i64>,
    sent: Vec<(i64, i64)>,
    failed: Vec<(i64, i64)>,
    now: i64,
    requests: usize,
}

impl Queue {
    fn new(ids: impl IntoIterator<Item = i64>) -> Queue {
        Queue {
            pending: ids.into_iter().collect(),
            sent: vec![],
            failed: vec![],
            now: 1_000_000,
            requests: 0,
        }
    }

    fn round(&mut self, plan: &mut Plan, batch: usize, meta: &dyn Fn(&[i64]) -> Verdict) {
        let mut ids: Vec<i64> = self
            .pending
            .iter()
            .copied()
            .filter(|id| !plan.is_held(*id, self.now))
            .take(batch)
            .collect();
        if ids.is_empty() {
            plan.release_all(self.now);
            ids = self.pending.iter().copied().take(batch).collect();
        }
        if ids.is_empty() {
            self.now += 1000;
            return;
        }
        ids.sort_by_key(|id| plan.rank(*id));
        let r = run(plan, ids, meta, self.now);
        self.requests += r.requests.len();
        for id in r.sent() {
            assert!(self.pending.remove(&id), "{id} sent twice");
            self.sent.push((id, self.now));
        }
        for id in r.failed() {
            assert!(self.pending.remove(&id), "{id} failed twice");
            self.failed.push((id, self.now));
        }
        self.now += i64::try_from(r.delay.as_millis()).unwrap_or(i64::MAX) + 50;
    }
}

#[test]
fn a_run_of_refused_events_longer_than_a_batch_holds_back_nothing() {
    // The case: batch 20, 60 identically refused events, then 40 good ones.
    let bad: Vec<i64> = (1..=60).collect();
    let meta = meta_refusing(&bad);
    let mut plan = Plan::new(S);
    let mut q = Queue::new(1..=100);
    let mut rounds = 0;
    while q.sent.len() < 40 {
        q.round(&mut plan, 20, &meta);
        rounds += 1;
        assert!(rounds <= 5, "the good events waited {rounds} rounds");
    }
    assert!(q.sent.iter().all(|(id, _)| *id > 60));
    while !q.pending.is_empty() {
        q.round(&mut plan, 20, &meta);
        rounds += 1;
        assert!(
            rounds < 50,
            "the refused ones never settled: {:?}",
            q.pending
        );
    }
    let failed: BTreeSet<i64> = q.failed.iter().map(|(id, _)| *id).collect();
    assert_eq!(failed, bad.iter().copied().collect());
    assert_eq!(plan.held_count(), 0);
}

#[test]
fn thousands_of_refused_events_at_the_head_of_the_queue_delay_the_rest_by_seconds() {
    let bad: Vec<i64> = (1..=3000).collect();
    let meta = meta_refusing(&bad);
    let mut plan = Plan::new(Settings {
        retry_base_ms: 1000,
        retry_max_ms: 300_000,
    });
    let mut q = Queue::new(1..=5000);
    let start = q.now;
    while q.sent.len() < 2000 {
        q.round(&mut plan, 1000, &meta);
    }
    let waited = q.now - start;
    // Three openings, 1 s, 2 s and 4 s of backoff after them, then two accepted batches.
    assert!(waited < 10_000, "the good events waited {waited} ms");
    assert!(
        q.failed.is_empty(),
        "nothing fails before Meta accepts something"
    );
}

#[test]
fn a_broken_configuration_never_fails_an_event() {
    // Meta refuses every request the same way (an unknown request-level refusal), for hours.
    let all: Vec<i64> = (1..=100).collect();
    let meta = meta_refusing(&all);
    let mut plan = Plan::new(S);
    let mut q = Queue::new(all.clone());
    let start = q.now;
    for _ in 0..500 {
        q.round(&mut plan, 20, &meta);
    }
    assert!(q.failed.is_empty(), "{:?}", q.failed);
    assert_eq!(q.pending.len(), 100);
    // The backoff between openings grew to the cap: a broken configuration is not hammered.
    let per_round = (q.now - start) / 500;
    assert!(per_round >= 400, "{per_round} ms between rounds");
    assert!(q.requests <= 500 * 6, "{} requests", q.requests);
}

#[test]
fn a_suspect_held_again_and_again_while_meta_accepts_others_fails_at_the_bound() {
    // Event 100 is never refused alone: each round, two fresh bad events before it open the
    // breaker first; between the rounds Meta accepts some other request.
    let mut plan = Plan::new(S);
    let mut fresh = 1;
    let mut now = 0;
    let mut failed_at = None;
    for round in 1..=10 {
        let (a, b) = (fresh, fresh + 1);
        fresh += 2;
        let ids = vec![a, b, 100];
        let bad = [a, b, 100];
        let r = run(&mut plan, ids, &meta_refusing(&bad), now);
        if r.failed().contains(&100) {
            failed_at = Some(round);
            break;
        }
        assert!(r.failed().is_empty());
        now += 10_000;
        let ok = run(&mut plan, vec![1000 + round], &meta_refusing(&[]), now);
        assert_eq!(ok.sent().len(), 1);
        // The accepted round proves the refused pair were bad: they are judged when they return.
        now += 10_000;
    }
    assert_eq!(failed_at, Some(MAX_PROVEN_OPENINGS as i64 + 1));
}

#[test]
fn a_held_event_back_alone_without_an_acceptance_since_stays_pending() {
    let mut plan = Plan::new(S);
    let r = run(&mut plan, vec![1, 2], &meta_refusing(&[1, 2]), 0);
    assert_eq!(r.kept().len(), 1);
    let r = run(&mut plan, vec![1], &meta_refusing(&[1, 2]), 1_000);
    assert!(r.failed().is_empty());
    assert_eq!(r.kept(), [(vec![1], Cause::Breaker { held: 1 })]);
    // After an acceptance, the same lone refusal is its own: failed.
    run(&mut plan, vec![3], &meta_refusing(&[]), 2_000);
    let r = run(&mut plan, vec![1], &meta_refusing(&[1, 2]), 3_000);
    assert_eq!(r.failed(), [1]);
}

#[test]
fn old_events_are_too_old_after_seven_days() {
    let now_ms = 1_700_000_000_000;
    assert!(!too_old(now_ms / 1000, now_ms));
    assert!(!too_old(now_ms / 1000 - MAX_EVENT_AGE_SECS, now_ms));
    assert!(too_old(now_ms / 1000 - MAX_EVENT_AGE_SECS - 1, now_ms));
}

#[test]
fn backoff_grows_with_jitter_and_is_capped() {
    let s = Settings {
        retry_base_ms: 100,
        retry_max_ms: 10_000,
    };
    assert_eq!(s.backoff(1, 0.0), Duration::from_millis(50));
    assert_eq!(s.backoff(1, 0.999), Duration::from_millis(149));
    assert_eq!(s.backoff(4, 0.5), Duration::from_millis(800));
    assert_eq!(s.backoff(40, 0.999), Duration::from_millis(10_000));
    assert_eq!(s.backoff(0, 0.5), Duration::from_millis(100));
}
