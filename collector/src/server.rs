//! Running the application on a socket with its background tasks (relay, retention purge), and
//! stopping it gracefully on SIGTERM or Ctrl-C: stop accepting, finish in-flight requests (each
//! acknowledged beacon is already committed), let the relay finish the request it has in flight.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::{app, relay, AppState};

/// Serve until a shutdown signal.
pub async fn run(listener: TcpListener, state: AppState) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let relays = relay::spawn(&state, stop_rx.clone()).map_err(std::io::Error::other)?;
    let purge = tokio::spawn(purge_loop(state.clone(), stop_rx.clone()));
    let summary = tokio::spawn(summary_loop(state.clone()));
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutdown requested: finishing in-flight requests");
        let _ = stop_tx.send(true);
    });
    let mut http_stop = stop_rx.clone();
    let service = app(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(async move {
            let _ = http_stop.wait_for(|stop| *stop).await;
        })
        .await?;
    let drain = Duration::from_millis(state.config.relay_timeout_ms) + Duration::from_secs(2);
    let drained = tokio::time::timeout(drain, async {
        for task in relays {
            let _ = task.await;
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!("relay did not finish within the timeout; its pending events stay pending");
    }
    purge.abort();
    summary.abort();
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Delete events past `--retention-days` and dedup keys past 48 hours, every
/// `--purge-interval-secs` (the first run at start).
async fn purge_loop(state: AppState, mut stop: watch::Receiver<bool>) {
    let every = Duration::from_secs(state.config.purge_interval_secs);
    loop {
        let now = crate::now_ms();
        let days = i64::from(state.config.retention_days);
        let before = (days > 0).then(|| now - days * 86_400_000);
        let store = state.store.clone();
        match tokio::task::spawn_blocking(move || store.purge(before, now)).await {
            Ok(Ok(n)) if n > 0 => tracing::info!(deleted = n, days, "retention purge"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "retention purge failed"),
            Err(e) => tracing::error!(error = %e, "retention purge task failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Every 10 seconds with activity, one log line of what happened (each event is logged at debug).
async fn summary_loop(state: AppState) {
    use std::sync::atomic::Ordering::Relaxed;
    let m = &state.metrics;
    let read = || {
        [
            m.received.load(Relaxed),
            m.stored.load(Relaxed),
            m.duplicates.load(Relaxed),
            m.relayed.load(Relaxed),
            m.relay_failed_events.load(Relaxed),
            m.expired.load(Relaxed),
        ]
    };
    let mut last = read();
    loop {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let now = read();
        if now != last {
            let d = |i: usize| now.get(i).copied().unwrap_or(0) - last.get(i).copied().unwrap_or(0);
            tracing::info!(
                beacons = d(0),
                stored = d(1),
                duplicates = d(2),
                relayed = d(3),
                relay_failed = d(4),
                expired = d(5),
                "last 10 s"
            );
            last = now;
        }
    }
}
