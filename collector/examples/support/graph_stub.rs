//! A stand-in Graph API on loopback for the relay benchmarks: answers every request `200
//! {"events_received":n}` after parsing its body, and counts the events it received, by name.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;

/// What the stand-in has received so far.
#[derive(Default)]
pub struct Received {
    pub events: AtomicU64,
    pub requests: AtomicU64,
    /// Events named `Purchase`: the held set of the hold benchmark, which must never arrive.
    pub purchases: AtomicU64,
}

impl Received {
    pub fn events(&self) -> u64 {
        self.events.load(Ordering::Relaxed)
    }

    pub fn purchases(&self) -> u64 {
        self.purchases.load(Ordering::Relaxed)
    }

    pub fn reset(&self) {
        self.events.store(0, Ordering::Relaxed);
        self.requests.store(0, Ordering::Relaxed);
        self.purchases.store(0, Ordering::Relaxed);
    }
}

async fn answer(
    State(seen): State<Arc<Received>>,
    body: axum::body::Bytes,
) -> (StatusCode, String) {
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let data = v["data"].as_array().map_or(&[][..], Vec::as_slice);
    let purchases = data
        .iter()
        .filter(|e| e["event_name"] == "Purchase")
        .count();
    seen.requests.fetch_add(1, Ordering::Relaxed);
    seen.purchases
        .fetch_add(purchases as u64, Ordering::Relaxed);
    seen.events.fetch_add(data.len() as u64, Ordering::Relaxed);
    (
        StatusCode::OK,
        format!(
            r#"{{"events_received":{},"fbtrace_id":"bench"}}"#,
            data.len()
        ),
    )
}

/// Serve the stand-in on `rt`: its base URL (`--graph-url`, with `--graph-allow-http`) and its
/// counters.
pub fn start(rt: &tokio::runtime::Runtime) -> (String, Arc<Received>) {
    let seen = Arc::new(Received::default());
    let app = axum::Router::new()
        .fallback(answer)
        .with_state(seen.clone());
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind the stand-in Graph API");
    let url = format!("http://{}", listener.local_addr().expect("its address"));
    rt.spawn(async move {
        axum::serve(listener, app)
            .await
            .expect("serve the stand-in")
    });
    (url, seen)
}
