//! A timed run of the real relay (`collector::relay::spawn`, the binary's relay tasks) for the
//! relay benchmarks (`loadgen`, `holdbench`).

use std::time::{Duration, Instant};

use collector::AppState;

/// Start the relay of `state` on `rt`, check `done` every `poll` until it holds (at most 600 s),
/// then stop the relay and wait for its tasks: the seconds until `done` held.
pub fn time(
    rt: &tokio::runtime::Runtime,
    state: &AppState,
    poll: Duration,
    mut done: impl FnMut() -> bool,
) -> f64 {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let start = Instant::now();
    let tasks = rt
        .block_on(async { collector::relay::spawn(state, stop_rx) })
        .unwrap();
    while !done() {
        std::thread::sleep(poll);
        assert!(start.elapsed() < Duration::from_secs(600), "relay too slow");
    }
    let secs = start.elapsed().as_secs_f64();
    let _ = stop_tx.send(true);
    rt.block_on(async {
        for t in tasks {
            let _ = t.await;
        }
    });
    secs
}
