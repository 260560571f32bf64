//! The expiry task: pending events older than 7 days are marked `expired`, every
//! [`EXPIRE_EVERY`] (the first at start), for every relayed pixel.

use std::time::Duration;

use tokio::sync::watch;

use super::context::{blocking, Context};
use super::plan::MAX_EVENT_AGE_SECS;
use crate::metrics::Metrics;
use crate::ports::StoreError;

/// How often pending events are checked for expiry.
pub const EXPIRE_EVERY: Duration = Duration::from_secs(60);
/// Pending events looked at per expiry step (one short read, then a write of the few found).
const EXPIRE_CHUNK: usize = 5000;

/// Each step reads [`EXPIRE_CHUNK`] pending ids on the read connection and writes only the few
/// found, so the ingest writer never waits for a scan of the backlog.
pub(super) async fn run(ctx: Context, pixels: Vec<String>, mut shutdown: watch::Receiver<bool>) {
    loop {
        for pixel in &pixels {
            match expire_pixel(&ctx, pixel, &shutdown).await {
                Ok(n) => expired(&ctx.metrics, pixel, n),
                Err(e) => {
                    tracing::error!(pixel = %pixel, error = %e, "expiry failed; will try again")
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(EXPIRE_EVERY) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Count and log `n` events of `pixel` marked expired (by this task or by a relay round).
pub(super) fn expired(metrics: &Metrics, pixel: &str, n: u64) {
    if n > 0 {
        Metrics::add(&metrics.expired, n);
        tracing::warn!(pixel = %pixel, expired = n, "events older than 7 days marked expired, not sent");
    }
}

async fn expire_pixel(
    ctx: &Context,
    pixel: &str,
    shutdown: &watch::Receiver<bool>,
) -> Result<u64, StoreError> {
    let cutoff = ctx.clock.now_ms() / 1000 - MAX_EVENT_AGE_SECS;
    let (mut after, mut expired) = (0, 0);
    while !*shutdown.borrow() {
        let p = pixel.to_owned();
        let (old, last) = blocking(&ctx.queue, move |s| {
            s.pending_older_than(&p, cutoff, after, EXPIRE_CHUNK)
        })
        .await?;
        if !old.is_empty() {
            expired += blocking(&ctx.queue, move |s| s.expire_ids(&old)).await?;
        }
        match last {
            Some(last) => after = last,
            None => break,
        }
    }
    Ok(expired)
}
