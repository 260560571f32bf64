//! Realistic synthetic events for the demo, the dashboard test and the report benchmark (the
//! `seed` command is its command line).
//!
//! A small shop's traffic (`shop`): visitor sessions over the given days, busier in the evening
//! and on Sundays; a landing PageView (a third through a UTM campaign, most Facebook ones with
//! `fbclid`, some with only `fbclid`), product views, carts, checkouts and Purchases with the
//! drop-off of a small shop; revenue in USD and EUR; returning visitors (`visitor`: a visitor is
//! derived from their number, so any thread can meet one again); hashed customer information from
//! the checkout on (from the first page for signed-in and known returning visitors); most
//! Purchases also reported by the store's server (merged into the beacon; some without a beacon
//! at all); a few beacons sent twice (dropped as duplicates); some traffic in limited-data-use
//! mode (`dpo=LDU`, no cookie) and some first pages held by a consent banner until it was
//! accepted. Relayed events are then marked sent, or failed with one of two Meta messages, and a
//! share of the newest stay pending.
//!
//! **Never in the future, never after the range.** Sessions start at least an hour before the
//! moment the seed runs and before the end of `end_day` (and a session lasts under an hour), so
//! with `end_day` today every event is in the past, and every event is within the range.
//!
//! **Fast, through the write path.** The range is cut into chunks (an hour each, shorter when an
//! hour would hold more than [`CHUNK_EVENTS`]) with their share of the events, generated on every
//! core but one (`plan`, then `session`), and stored in time order by this thread through
//! [`Store::insert_batch`] in batches of [`BATCH`], exactly as the ingest writer stores them.
//! The same seed and options give the same events, whatever the number of threads.
//!
//! ```text
//!  generator threads ──chunk k──▶ reorder (k in order) ──batch──▶ insert_batch ─▶ settle relay
//! ```

// Every index here is drawn from `0..len()` of the table it indexes; the generator has no input
// to be wrong about.
#![allow(clippy::indexing_slicing)]

mod plan;
mod session;
mod shop;
mod visitor;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Condvar, Mutex};

use fastrand::Rng;

use crate::event::NewEvent;
use crate::ports::{Clock, InsertOutcome, SystemClock};
use crate::store::Store;
use plan::{Chunk, Ctx};
use session::Output;

/// What to generate.
#[derive(Clone, Debug)]
pub struct Options {
    pub pixel: String,
    /// Events to store (duplicates come on top and are dropped by the store).
    pub events: u64,
    /// The range: `days` UTC days ending on day `end_day` (days since 1970-01-01).
    pub days: i64,
    pub end_day: i64,
    /// The same seed and options give the same events.
    pub seed: u64,
    /// Relayed (then marked sent/failed/pending) or not relayed (a pixel without access token).
    pub relay: bool,
}

/// What was stored.
#[derive(Clone, Copy, Debug)]
pub struct Summary {
    pub stored: u64,
    pub duplicates: u64,
    /// Distinct visitors who came for the first time (returning ones are counted once).
    pub visitors: u64,
}

/// Events handed to [`Store::insert_batch`] at once, at least (whole chunks: a Purchase and its
/// server copy always go in together). Twice the old 5,000: half the commits; on PostgreSQL a
/// batch of 10,000 with its relay marks takes about a second, far inside the store's call timeout.
pub const BATCH: usize = 10_000;
/// Most events in one chunk.
pub const CHUNK_EVENTS: u64 = 20_000;
/// The newest session starts this long before now or the end of the range: a session (with
/// its consent delay and server copy) lasts less.
const SESSION_MAX_SECS: i64 = 3600;

/// Fill `store`; `progress` is called with the number of events stored after each batch.
pub fn seed(
    store: &dyn Store,
    opts: &Options,
    progress: &mut dyn FnMut(u64),
) -> Result<Summary, String> {
    if !pixel_core::pixel_id::valid_pixel_id(&opts.pixel) {
        return Err("the pixel must be a numeric pixel id".into());
    }
    if opts.days < 1 {
        return Err("days must be at least 1".into());
    }
    let now_secs = SystemClock.now_ms() / 1000;
    let chunks = chunks(opts, now_secs)?;
    let ctx = Ctx {
        seed: opts.seed,
        pixel: &opts.pixel,
        relay: opts.relay,
        chunks: &chunks,
    };
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get().saturating_sub(1))
        .clamp(1, 8);
    // Generators run at most this many chunks ahead of the writer.
    let ahead = workers * 4;
    let next = AtomicUsize::new(0);
    let written = (Mutex::new(0usize), Condvar::new());
    let (tx, rx) = mpsc::sync_channel::<(usize, Output)>(ahead);
    let mut summary = Summary {
        stored: 0,
        duplicates: 0,
        visitors: 0,
    };
    let mut relay_rng = Rng::with_seed(opts.seed ^ 0x5eed);
    std::thread::scope(|scope| -> Result<(), String> {
        for _ in 0..workers {
            let (tx, next, written, ctx) = (tx.clone(), &next, &written, &ctx);
            scope.spawn(move || loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= ctx.chunks.len() {
                    return;
                }
                {
                    let (lock, cv) = written;
                    let mut w = lock.lock().unwrap_or_else(|e| e.into_inner());
                    while k >= *w + ahead {
                        w = cv.wait(w).unwrap_or_else(|e| e.into_inner());
                    }
                }
                if tx.send((k, session::generate(ctx, k))).is_err() {
                    return; // the writer stopped on an error
                }
            });
        }
        drop(tx);
        let result = write(
            store,
            opts,
            &rx,
            &written,
            &mut relay_rng,
            &mut summary,
            progress,
        );
        // On an error, let the generators see a closed channel and end.
        drop(rx);
        let (lock, cv) = &written;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = usize::MAX / 2;
        cv.notify_all();
        result
    })?;
    Ok(summary)
}

/// The writer's side: chunks in order, in batches, through the store's write path.
fn write(
    store: &dyn Store,
    opts: &Options,
    rx: &mpsc::Receiver<(usize, Output)>,
    written: &(Mutex<usize>, Condvar),
    relay_rng: &mut Rng,
    summary: &mut Summary,
    progress: &mut dyn FnMut(u64),
) -> Result<(), String> {
    let mut waiting: BTreeMap<usize, Output> = BTreeMap::new();
    let mut next = 0usize;
    let mut batch: Vec<NewEvent> = Vec::with_capacity(BATCH + CHUNK_EVENTS as usize * 2);
    let mut flush = |batch: &mut Vec<NewEvent>, last: bool| {
        let outcomes = store.insert_batch(batch).map_err(|e| e.to_string())?;
        let count = |what| outcomes.iter().filter(|o| **o == what).count() as u64;
        // Exactly what was planned on a fresh database; fewer where it already holds some of
        // these events (the same seed run twice: the store drops the repeats).
        let stored = count(InsertOutcome::Stored);
        summary.stored += stored;
        summary.duplicates += count(InsertOutcome::Duplicate);
        if opts.relay {
            settle(store, &opts.pixel, relay_rng, last)?;
        }
        progress(summary.stored);
        batch.clear();
        Ok::<(), String>(())
    };
    for (k, out) in rx.iter() {
        waiting.insert(k, out);
        while let Some(out) = waiting.remove(&next) {
            next += 1;
            {
                let (lock, cv) = written;
                *lock.lock().unwrap_or_else(|e| e.into_inner()) = next;
                cv.notify_all();
            }
            summary.visitors += out.new_visitors;
            batch.extend(out.events);
            if batch.len() >= BATCH {
                flush(&mut batch, false)?;
            }
        }
    }
    flush(&mut batch, true)
}

/// The range cut into chunks, each with its share of the events by the hour's traffic.
fn chunks(opts: &Options, now_secs: i64) -> Result<Vec<Chunk>, String> {
    let start = (opts.end_day - opts.days + 1) * 86_400;
    // The last session starts an hour before the end of the range, or before now: it ends in
    // both.
    let end = ((opts.end_day + 1) * 86_400).min(now_secs) - SESSION_MAX_SECS;
    if end <= start {
        return Err("the range has no hour before now to put events in".into());
    }
    let hours = (end - start + 3599) / 3600;
    let per_hour = opts.events / u64::try_from(hours).unwrap_or(1).max(1);
    let split = i64::try_from(per_hour / CHUNK_EVENTS + 1).unwrap_or(1);
    let len = (3600 / split).max(1);
    let mut bounds = Vec::new();
    let mut t = start;
    while t < end {
        bounds.push((t, (t + len).min(end)));
        t += len;
    }
    let weights: Vec<f64> = bounds
        .iter()
        .map(|(a, b)| shop::hour_weight(*a) * (b - a) as f64)
        .collect();
    let total: f64 = weights.iter().sum();
    let (mut acc, mut given) = (0.0, 0u64);
    Ok(bounds
        .iter()
        .zip(weights)
        .map(|(&(a, b), w)| {
            acc += w;
            let upto = ((acc / total) * opts.events as f64).round() as u64;
            let quota = upto.min(opts.events).saturating_sub(given);
            given += quota;
            Chunk {
                start: a,
                end: b,
                quota,
            }
        })
        .collect())
}

/// Give the relayed events of the last batch their journey: most sent, some failed with Meta's
/// message; in the newest batch a share is still pending. The pending ids come from the relay's
/// own light walk (`pending_older_than`: ids and times only, not whole rows).
fn settle(store: &dyn Store, pixel: &str, rng: &mut Rng, newest: bool) -> Result<(), String> {
    let now = SystemClock.now_ms();
    let mut after = 0;
    loop {
        let (ids, last) = store
            .pending_older_than(pixel, i64::MAX, after, BATCH)
            .map_err(|e| e.to_string())?;
        let Some(last) = last else {
            return Ok(());
        };
        after = last;
        let mut sent = Vec::with_capacity(ids.len());
        for id in ids {
            match rng.u32(0..1000) {
                0..=14 => store
                    .mark_failed(id, shop::META_ERRORS[usize::from(rng.bool())], now)
                    .map_err(|e| e.to_string())?,
                15..=299 if newest => {}
                _ => sent.push(id),
            }
        }
        store.mark_sent(&sent, now).map_err(|e| e.to_string())?;
    }
}

#[cfg(test)]
mod tests;
