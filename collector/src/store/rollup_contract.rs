//! The rollups' property, run on every store (`contract.rs` lists it): after random ingest
//! (repeats, browser and server copies merged in either order, late copies, consent-revoked and
//! LDU traffic, unrelayed pixels), relay status changes (sent, failed with Meta's messages,
//! attempts, expired) and purges, the cells a store keeps at write time equal the cells rebuilt
//! from its raw events ([`from_scan`]), for random ranges of days.

use pixel_core::wire::Dpo;
use serde_json::json;

use super::contract::{event, server_copy, T};
use super::Store;
use crate::event::NewEvent;
use crate::ports::rollup::from_scan;
use crate::ports::StoreError;

/// Random runs per store, each on pixels of its own.
pub const RUNS: u64 = 24;
/// Operations per run.
const OPS: usize = 40;

const NAMES: [&str; 7] = [
    "PageView",
    "ViewContent",
    "AddToCart",
    "InitiateCheckout",
    "Purchase",
    "Purchase",
    "Lead",
];
const DAY_MS: i64 = 86_400_000;

fn random_event(rng: &mut fastrand::Rng, pixel: &str) -> NewEvent {
    let eid = format!("e{}", rng.u32(0..30));
    let at = T + rng.i64(0..8 * DAY_MS);
    let mut e = if rng.u8(0..4) == 0 {
        server_copy(&eid, at)
    } else {
        event(&eid, at)
    };
    e.pixel_id = pixel.to_owned();
    e.event_name = NAMES[rng.usize(0..NAMES.len())].to_owned();
    e.event_time = at / 1000 - rng.i64(0..3 * 86_400);
    e.event_id_derived = rng.bool();
    e.fbp = match rng.u8(0..4) {
        0 => None,
        n => Some(format!("fb.1.{}.{}", n, rng.u8(0..6))),
    };
    e.fbc = rng.bool().then(|| "fb.1.1.abc".to_owned());
    e.user_data = match rng.u8(0..4) {
        0 => vec![],
        1 => vec![("em".into(), format!("{:064}", rng.u8(0..5)))],
        2 => vec![("external_id".into(), format!("{:064}", rng.u8(0..5)))],
        _ => vec![("ph".into(), "c".repeat(64)), ("fn".into(), "d".repeat(64))],
    };
    e.custom_data = match rng.u8(0..5) {
        0 => serde_json::from_value(
            json!({"value": rng.u32(0..500) as f64 / 100.0, "currency": "EUR"}),
        ),
        1 => serde_json::from_value(json!({"value": "12.30", "currency": "usd"})),
        2 => serde_json::from_value(json!({"value": 7})),
        3 => serde_json::from_value(json!({"value": -1.25, "currency": "EUR"})),
        _ => serde_json::from_value(json!({})),
    }
    .unwrap_or_default();
    e.source_url = if rng.bool() {
        "https://shop.example/?utm_source=fb&fbclid=x".into()
    } else {
        "https://shop.example/".into()
    };
    e.user_agent = rng.bool().then(|| "Mozilla/5.0 (iPhone)".to_owned());
    e.dpo = match rng.u8(0..3) {
        0 => Some(Dpo {
            options: vec!["LDU".into()],
            country: 1,
            state: 1000,
        }),
        _ => None,
    };
    e.relay = rng.u8(0..5) != 0;
    e
}

/// The property on `s`, [`RUNS`] runs from fixed seeds (so a failure names its seed).
pub fn rollups_equal_a_rebuild_after_random_changes(s: &dyn Store) -> Result<(), StoreError> {
    for run in 0..RUNS {
        let mut rng = fastrand::Rng::with_seed(run);
        let pixel = format!("{}", 100 + run);
        let mut now = T;
        for _ in 0..OPS {
            now += rng.i64(0..DAY_MS / 4);
            match rng.u8(0..10) {
                0..=4 => {
                    let batch: Vec<NewEvent> = (0..rng.usize(1..8))
                        .map(|_| random_event(&mut rng, &pixel))
                        .collect();
                    s.insert_batch(&batch)?;
                }
                5 | 6 => {
                    let ids: Vec<i64> = s
                        .claim_pending(&pixel, 0, rng.usize(1..6), now)?
                        .iter()
                        .map(|e| e.id)
                        .collect();
                    match rng.u8(0..4) {
                        0 => s.mark_sent(&ids, now)?,
                        1 => {
                            for id in &ids {
                                let msg = ["bad fbc", "invalid parameter"][rng.usize(0..2)];
                                s.mark_failed(*id, msg, now)?;
                            }
                        }
                        2 => s.record_attempt(&ids, "timeout")?,
                        _ => {
                            s.expire_ids(&ids)?;
                        }
                    }
                    s.release(&ids)?;
                }
                7 => {
                    s.purge(Some(T + rng.i64(0..3 * DAY_MS)), now)?;
                }
                _ => {}
            }
            if rng.u8(0..4) == 0 {
                check(s, &pixel, &mut rng, run)?;
            }
        }
        check(s, &pixel, &mut rng, run)?;
    }
    println!("rollups property: {RUNS} random runs of {OPS} operations equal a rebuild");
    Ok(())
}

/// The whole range, and a few random ranges of the days the events are on.
fn check(s: &dyn Store, pixel: &str, rng: &mut fastrand::Rng, run: u64) -> Result<(), StoreError> {
    let d0 = T.div_euclid(DAY_MS) - 4;
    let mut ranges = vec![(d0 - 10, d0 + 20)];
    for _ in 0..4 {
        let a = d0 + rng.i64(0..14);
        ranges.push((a, a + rng.i64(0..5)));
    }
    for (from, to) in ranges {
        let kept = s.rollup(pixel, from, to)?;
        let rebuilt = from_scan(s, pixel, from, to)?;
        assert_eq!(kept, rebuilt, "seed {run}, days {from}..={to}");
    }
    Ok(())
}
