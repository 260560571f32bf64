//! The seed's promises: nothing in the future, exactly the events asked for, the same events for
//! the same seed, and the demo's traffic shaped like a small real shop.

use std::collections::{HashMap, HashSet};

use super::{seed, Options};
use crate::event::Origin;
use crate::ports::{Clock, EventLog, EventQuery, StoredEvent, SystemClock};
use crate::store::memory::MemoryStore;

const PIXEL: &str = "1234567890";

fn today() -> i64 {
    SystemClock.now_ms() / 86_400_000
}

fn run(events: u64, days: i64, end_day: i64, seed_: u64) -> (super::Summary, Vec<StoredEvent>) {
    let store = MemoryStore::new();
    let opts = Options {
        pixel: PIXEL.into(),
        events,
        days,
        end_day,
        seed: seed_,
        relay: true,
    };
    let summary = seed(&store, &opts, &mut |_| {}).expect("seeded");
    let all = store
        .list(&EventQuery {
            pixel_id: Some(PIXEL.into()),
            event_name: None,
            limit: usize::MAX,
        })
        .expect("listed");
    (summary, all)
}

#[test]
fn nothing_is_later_than_the_moment_it_runs() {
    // Ending today (the demo's default) and two days only: the newest hour is the risk.
    let (summary, all) = run(6000, 2, today(), 3);
    let now = SystemClock.now_ms();
    assert_eq!(summary.stored, 6000);
    assert_eq!(all.len(), 6000);
    let latest = all.iter().map(|e| e.event.event_time * 1000).max();
    assert!(latest.is_some_and(|t| t <= now), "{latest:?} > {now}");
    let received = all.iter().map(|e| e.event.received_at_ms).max();
    assert!(received.is_some_and(|t| t <= now), "{received:?} > {now}");
    // ... and the range is used up to the last hour, not left empty at its end.
    assert!(
        latest.is_some_and(|t| t > now - 3 * 3600 * 1000),
        "{latest:?}"
    );
}

#[test]
fn a_range_wholly_in_the_future_is_refused() {
    let store = MemoryStore::new();
    let opts = Options {
        pixel: PIXEL.into(),
        events: 10,
        days: 1,
        end_day: today() + 3,
        seed: 1,
        relay: false,
    };
    let e = seed(&store, &opts, &mut |_| {}).expect_err("refused");
    assert!(e.contains("before now"), "{e}");
}

#[test]
fn the_same_seed_gives_the_same_events() {
    let end = crate::reports::parse_date("2026-11-30").expect("date");
    let strip = |all: Vec<StoredEvent>| -> Vec<_> {
        all.into_iter()
            .map(|e| (e.event, e.relay_status, e.relay_error))
            .collect()
    };
    let (a, x) = run(5000, 4, end, 9);
    let (b, y) = run(5000, 4, end, 9);
    assert_eq!(
        (a.stored, a.duplicates, a.visitors),
        (b.stored, b.duplicates, b.visitors)
    );
    let first = x.first().map(|e| e.event.event_id.clone());
    assert_eq!(strip(x), strip(y));
    let (_, z) = run(5000, 4, end, 10);
    assert_ne!(
        z.first().map(|e| e.event.event_id.clone()),
        first,
        "another seed"
    );
}

/// The demo (`./run.sh`: 20,000 events over 30 days) looks like the small shop of the dashboard
/// issue: about 4,200 ViewContent, 890 AddToCart and 310 Purchase.
#[test]
fn the_demo_looks_like_a_small_shop() {
    let end = crate::reports::parse_date("2026-11-30").expect("date");
    let (summary, all) = run(20_000, 30, end, 1);
    // Within the range: the sessions of its last evening end before midnight.
    let after = (end + 1) * 86_400_000;
    assert!(all
        .iter()
        .all(|e| e.event.event_time * 1000 < after && e.event.received_at_ms < after));
    let mut names: HashMap<&str, u64> = HashMap::new();
    for e in &all {
        *names.entry(e.event.event_name.as_str()).or_default() += 1;
    }
    let near = |name: &str, want: f64| {
        let got = names.get(name).copied().unwrap_or(0) as f64;
        assert!(
            (got - want).abs() <= want * 0.12,
            "{name}: {got}, want about {want} ({names:?})"
        );
    };
    eprintln!("the demo's events: {names:?}, {summary:?}");
    near("ViewContent", 4200.0);
    near("AddToCart", 890.0);
    near("Purchase", 310.0);
    assert!(summary.duplicates > 0, "a few beacons sent twice");

    // Every day has traffic, the evenings more than the nights.
    let days: HashSet<i64> = all.iter().map(|e| e.event.event_time / 86_400).collect();
    assert_eq!(days.len(), 30);
    let at = |h: i64| {
        all.iter()
            .filter(|e| e.event.event_time % 86_400 / 3600 == h)
            .count()
    };
    assert!(at(20) > 3 * at(3), "20h {} vs 3h {}", at(20), at(3));

    // Returning visitors: a cookie seen on more than one day.
    let mut seen: HashMap<&str, HashSet<i64>> = HashMap::new();
    for e in &all {
        if let Some(fbp) = &e.event.fbp {
            seen.entry(fbp)
                .or_default()
                .insert(e.event.event_time / 86_400);
        }
    }
    let returning = seen.values().filter(|d| d.len() > 1).count();
    assert!(
        returning * 10 > seen.len(),
        "{returning} of {} return",
        seen.len()
    );

    // Purchases: most verified by the store's server, some from it alone; revenue in two
    // currencies; customer information on them.
    let purchases: Vec<_> = all
        .iter()
        .filter(|e| e.event.event_name == "Purchase")
        .collect();
    let both = purchases
        .iter()
        .filter(|e| e.event.origin == Origin::BROWSER.with(Origin::SERVER))
        .count();
    let server_only = purchases
        .iter()
        .filter(|e| e.event.origin == Origin::SERVER)
        .count();
    assert!(both * 2 > purchases.len(), "{both} of {}", purchases.len());
    assert!(server_only > 0);
    let currencies: HashSet<_> = purchases
        .iter()
        .filter_map(|e| e.event.custom_data.get("currency").and_then(|c| c.as_str()))
        .collect();
    assert_eq!(currencies, HashSet::from(["EUR", "USD"]));
    assert!(purchases
        .iter()
        .all(|e| !e.event.user_data.is_empty() || e.event.dpo.is_some()));

    // Campaigns, limited data use, a consent banner's held page, failed relays.
    let utm = all
        .iter()
        .filter(|e| e.event.source_url.contains("utm_campaign="))
        .count();
    assert!(utm > 1000, "{utm}");
    let ldu: Vec<_> = all.iter().filter(|e| e.event.dpo.is_some()).collect();
    assert!(ldu.len() > 100, "{}", ldu.len());
    assert!(ldu.iter().all(|e| e.event.fbp.is_none()
        && e.event.user_data.is_empty()
        && !e.event.source_url.contains('?')));
    let held = all
        .iter()
        .filter(|e| e.event.received_at_ms - e.event.event_time * 1000 > 4000)
        .count();
    assert!(held > 50, "{held}");
    assert!(all.iter().any(|e| e.relay_error.is_some()));
    // No plain identifier anywhere.
    assert!(all
        .iter()
        .all(|e| e.event.user_data.iter().all(|(_, h)| h.len() == 64)));
}
