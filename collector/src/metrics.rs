//! Counters and a latency histogram, rendered as Prometheus text at `GET /metrics`.
//!
//! Hot counters are atomics; labelled counters (rare events) sit behind a mutex.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// Upper bounds of the latency buckets, seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Route label of everything the router's fallback (static files) answers.
pub const STATIC_ROUTE: &str = "static";

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    fn observe(&self, d: Duration) {
        // One increment per observation: the bucket it falls in; `render` sums them up.
        let secs = d.as_secs_f64();
        if let Some(slot) = BUCKETS
            .iter()
            .zip(&self.buckets)
            .find(|(bound, _)| secs <= **bound)
            .map(|(_, s)| s)
        {
            slot.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}

/// Process-wide counters.
#[derive(Default)]
pub struct Metrics {
    pub received: AtomicU64,
    pub stored: AtomicU64,
    pub duplicates: AtomicU64,
    pub merged: AtomicU64,
    pub server_received: AtomicU64,
    pub relayed: AtomicU64,
    pub relay_failed_events: AtomicU64,
    pub expired: AtomicU64,
    pub cookies_set: AtomicU64,
    rejected: Mutex<BTreeMap<&'static str, u64>>,
    relay_failures: Mutex<BTreeMap<&'static str, u64>>,
    user_data_dropped: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// Requests refused with `429` by a per-client limit, by route and bucket (`http::limit`).
    rate_limited: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// By route label: the route's path pattern (`MatchedPath`, so one label per route, never
    /// per URL), or [`STATIC_ROUTE`].
    latency: RwLock<BTreeMap<String, Arc<Histogram>>>,
    /// Stored events waiting for the relay, counted in the background (see `server`).
    pub relay_pending: AtomicU64,
    pub connections: Arc<ConnStats>,
}

/// Connection counters shared by the accept loop (`server::serve`) and `/metrics`.
#[derive(Default)]
pub struct ConnStats {
    pub open: AtomicU64,
    pub refused: AtomicU64,
    pub accept_errors: AtomicU64,
    pub head_timeouts: AtomicU64,
    pub idle_timeouts: AtomicU64,
    /// Connections closed at accept because their client already held
    /// `--max-connections-per-client`.
    pub refused_per_client: AtomicU64,
    /// Idle keep-alive connections closed after `--idle-timeout-busy-ms` (more than three
    /// quarters of `--max-connections` open).
    pub busy_idle_closes: AtomicU64,
}

fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K) {
    if let Ok(mut m) = map.lock() {
        *m.entry(key).or_insert(0) += 1;
    }
}

/// Gauges read at scrape time.
pub struct Gauges {
    /// Beacons waiting for the group commit.
    pub ingest_queue: u64,
    /// Stored events waiting for the relay (the background count, [`Metrics::relay_pending`]).
    pub relay_pending: u64,
    /// Diagnostics findings counted by the stores' write paths, per code
    /// (`ports::diagnostics::totals`): a counter, read at scrape time.
    pub diagnostics: Vec<(&'static str, u64)>,
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn rejected(&self, reason: &'static str) {
        bump(&self.rejected, reason);
    }

    /// A failed Conversions API request, by kind (`http_5xx`, `rate_limited`, `timeout`, ...).
    pub fn relay_failure(&self, kind: &'static str) {
        bump(&self.relay_failures, kind);
    }

    pub fn user_data_dropped(&self, field: &'static str, reason: &'static str) {
        bump(&self.user_data_dropped, (field, reason));
    }

    /// A request refused by a per-client limit of `route` (`beacon`, `server_events`), its
    /// `bucket` (`requests`, `bytes`) empty.
    pub fn rate_limited(&self, route: &'static str, bucket: &'static str) {
        bump(&self.rate_limited, (route, bucket));
    }

    /// All [`Metrics::rate_limited`] refusals so far.
    pub fn rate_limited_total(&self) -> u64 {
        self.rate_limited
            .lock()
            .map(|m| m.values().sum())
            .unwrap_or(0)
    }

    pub fn observe(&self, route: &str, d: Duration) {
        let found = self.latency.read().ok().and_then(|m| m.get(route).cloned());
        let h = match found {
            Some(h) => h,
            None => match self.latency.write() {
                Ok(mut m) => m.entry(route.to_owned()).or_default().clone(),
                Err(_) => return,
            },
        };
        h.observe(d);
    }

    /// Count of rejections with `reason` so far.
    pub fn rejected_count(&self, reason: &str) -> u64 {
        self.rejected
            .lock()
            .ok()
            .and_then(|m| m.get(reason).copied())
            .unwrap_or(0)
    }

    /// The Prometheus text exposition.
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::with_capacity(4096);
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let counters = [
            (
                "collector_beacons_received_total",
                "Beacon requests received on /tr.",
                load(&self.received),
            ),
            (
                "collector_events_stored_total",
                "Events committed to the store.",
                load(&self.stored),
            ),
            (
                "collector_events_duplicate_total",
                "Repeats of (pixel, event, event id) within 48 h, acknowledged and not stored.",
                load(&self.duplicates),
            ),
            (
                "collector_events_merged_total",
                "Copies merged into the other copy of their event (a server copy of a beacon, or the reverse).",
                load(&self.merged),
            ),
            (
                "collector_server_requests_total",
                "Requests received on the server-events endpoint (POST /{version}/{pixel}/events).",
                load(&self.server_received),
            ),
            (
                "collector_events_relayed_total",
                "Events the Conversions API accepted.",
                load(&self.relayed),
            ),
            (
                "collector_events_relay_failed_total",
                "Events the Conversions API refused for good.",
                load(&self.relay_failed_events),
            ),
            (
                "collector_events_expired_total",
                "Events older than 7 days marked expired instead of sent.",
                load(&self.expired),
            ),
            (
                "collector_cookies_set_total",
                "First-party _fbp/_fbc cookies set by the server.",
                load(&self.cookies_set),
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        labelled(
            &mut out,
            "collector_beacons_rejected_total",
            "Requests refused, by reason.",
            "reason",
            &self.rejected,
        );
        labelled(
            &mut out,
            "collector_relay_failures_total",
            "Failed Conversions API requests, by kind.",
            "kind",
            &self.relay_failures,
        );
        let _ = writeln!(
            out,
            "# HELP collector_user_data_dropped_total ud[...] values dropped instead of stored.\n# TYPE collector_user_data_dropped_total counter"
        );
        if let Ok(m) = self.user_data_dropped.lock() {
            for ((field, reason), n) in m.iter() {
                let _ = writeln!(out, "collector_user_data_dropped_total{{field=\"{field}\",reason=\"{reason}\"}} {n}");
            }
        }
        let _ = writeln!(
            out,
            "# HELP collector_rate_limited_total Requests refused with 429 by a per-client limit, by route and bucket.\n# TYPE collector_rate_limited_total counter"
        );
        if let Ok(m) = self.rate_limited.lock() {
            for ((route, bucket), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "collector_rate_limited_total{{route=\"{route}\",bucket=\"{bucket}\"}} {n}"
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP collector_diagnostics_total Events marked with a diagnostics finding when stored, merged or refused, by code (see the README's Diagnostics).\n# TYPE collector_diagnostics_total counter"
        );
        for (code, n) in &gauges.diagnostics {
            let _ = writeln!(out, "collector_diagnostics_total{{code=\"{code}\"}} {n}");
        }
        let gauges = [
            (
                "collector_ingest_queue_depth",
                "Beacons waiting for the group commit.",
                gauges.ingest_queue,
            ),
            (
                "collector_relay_queue_depth",
                "Stored events waiting to be relayed.",
                gauges.relay_pending,
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        let c = &self.connections;
        let conn_counters = [
            ("collector_connections_refused_total", "Connections closed at accept because --max-connections were open.", load(&c.refused)),
            ("collector_connections_head_timeout_total", "Connections closed because a request head did not arrive within --head-timeout-ms.", load(&c.head_timeouts)),
            ("collector_connections_idle_timeout_total", "Keep-alive connections closed after --idle-timeout-ms without traffic.", load(&c.idle_timeouts)),
            ("collector_connections_refused_per_client_total", "Connections closed at accept because their client held --max-connections-per-client.", load(&c.refused_per_client)),
            ("collector_connections_busy_idle_closed_total", "Idle keep-alive connections closed after --idle-timeout-busy-ms while more than three quarters of --max-connections were open.", load(&c.busy_idle_closes)),
            ("collector_accept_errors_total", "Failed accepts (out of file descriptors, or reset before accept).", load(&c.accept_errors)),
        ];
        for (name, help, value) in conn_counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        let name = "collector_connections_open";
        let _ = writeln!(
            out,
            "# HELP {name} Open HTTP connections.\n# TYPE {name} gauge\n{name} {}",
            load(&c.open)
        );
        let name = "collector_request_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} HTTP request latency by route.\n# TYPE {name} histogram"
        );
        let routes: Vec<(String, Arc<Histogram>)> = self
            .latency
            .read()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        for (route, h) in &routes {
            let mut cumulative = 0;
            let route = label_value(route);
            for (bound, slot) in BUCKETS.iter().zip(&h.buckets) {
                cumulative += load(slot);
                let _ = writeln!(
                    out,
                    "{name}_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let count = load(&h.count);
            let sum = load(&h.sum_micros) as f64 / 1e6;
            let _ = writeln!(
                out,
                "{name}_bucket{{route=\"{route}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(out, "{name}_sum{{route=\"{route}\"}} {sum}");
            let _ = writeln!(out, "{name}_count{{route=\"{route}\"}} {count}");
        }
        out
    }
}

/// A route pattern as a Prometheus label value (`\\` and `"` escaped).
fn label_value(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn labelled(
    out: &mut String,
    name: &str,
    help: &str,
    label: &str,
    map: &Mutex<BTreeMap<&'static str, u64>>,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    if let Ok(m) = map.lock() {
        for (k, n) in m.iter() {
            let _ = writeln!(out, "{name}{{{label}=\"{k}\"}} {n}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_labels_and_histogram() {
        let m = Metrics::default();
        Metrics::inc(&m.received);
        m.rejected("unknown_pixel");
        m.rejected("unknown_pixel");
        m.observe("/tr", Duration::from_micros(700));
        m.rate_limited("beacon", "bytes");
        let text = m.render(&Gauges {
            ingest_queue: 0,
            relay_pending: 7,
            diagnostics: vec![("meta_refused", 3), ("fbp_mismatch", 0)],
        });
        assert!(text.contains("collector_diagnostics_total{code=\"meta_refused\"} 3\n"));
        assert!(text.contains("collector_diagnostics_total{code=\"fbp_mismatch\"} 0\n"));
        assert!(text.contains("collector_beacons_received_total 1\n"));
        assert!(text.contains("collector_beacons_rejected_total{reason=\"unknown_pixel\"} 2\n"));
        assert!(text.contains("collector_relay_queue_depth 7\n"));
        assert!(
            text.contains("collector_rate_limited_total{route=\"beacon\",bucket=\"bytes\"} 1\n")
        );
        assert!(text.contains(
            "collector_request_duration_seconds_bucket{route=\"/tr\",le=\"0.0005\"} 0\n"
        ));
        assert!(text
            .contains("collector_request_duration_seconds_bucket{route=\"/tr\",le=\"0.001\"} 1\n"));
        assert!(text.contains("collector_request_duration_seconds_count{route=\"/tr\"} 1\n"));
    }
}
