//! The token buckets of the per-client limits: one map from client to two theoretical arrival
//! times (GCRA), bounded in size. See the parent module for what a client is and why not
//! `governor`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// A client's key (`super::key`: an address, an IPv6 one cut to its /64).
pub type Key = u128;

/// One bucket: `per_sec` units a second, `burst` at once. `per_sec == 0`: no limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bucket {
    pub per_sec: u64,
    pub burst: u64,
}

impl Bucket {
    fn on(self) -> bool {
        self.per_sec > 0
    }

    /// Nanoseconds `n` units take to refill.
    fn ns(self, n: u64) -> u64 {
        let ns = u128::from(n) * 1_000_000_000 / u128::from(self.per_sec.max(1));
        u64::try_from(ns).unwrap_or(u64::MAX)
    }
}

/// The two buckets of a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub requests: Bucket,
    pub bytes: Bucket,
}

/// Which bucket a refused request found empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exceeded {
    Requests,
    Bytes,
}

impl Exceeded {
    pub fn label(self) -> &'static str {
        match self {
            Exceeded::Requests => "requests",
            Exceeded::Bytes => "bytes",
        }
    }
}

/// A refusal: what was exceeded, and in how many whole seconds (at least 1) the request fits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused {
    pub exceeded: Exceeded,
    pub retry_after_secs: u64,
}

#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    requests: u64,
    bytes: u64,
}

impl Entry {
    fn latest(self) -> u64 {
        self.requests.max(self.bytes)
    }
}

type Table = HashMap<Key, Entry, foldhash::fast::RandomState>;

/// The buckets of every client of one route, at most `capacity` clients.
pub struct Limiter {
    rule: Rule,
    capacity: usize,
    base: Instant,
    table: Mutex<Table>,
}

impl Limiter {
    pub fn new(rule: Rule, capacity: usize) -> Limiter {
        Limiter {
            rule,
            capacity: capacity.max(16),
            base: Instant::now(),
            table: Mutex::new(Table::default()),
        }
    }

    pub fn rule(&self) -> Rule {
        self.rule
    }

    /// Whether either bucket limits anything.
    pub fn on(&self) -> bool {
        self.rule.requests.on() || self.rule.bytes.on()
    }

    fn now(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Admit one request of `bytes` from `key` now, or say why not (and take nothing).
    pub fn admit(&self, key: Key, bytes: u64) -> Result<(), Refused> {
        self.admit_at(key, bytes, None)
    }

    /// `now`: the time to decide at, or `None` for the clock read under the lock. Read before
    /// the lock, a thread's time could lag behind a later one that took the lock first and moved
    /// the client's schedule past it: at rates whose burst lasts microseconds, a spurious refusal.
    fn admit_at(&self, key: Key, bytes: u64, now: Option<u64>) -> Result<(), Refused> {
        let Ok(mut table) = self.table.lock() else {
            return Ok(());
        };
        let now = now.unwrap_or_else(|| self.now());
        if table.len() >= self.capacity && !table.contains_key(&key) {
            make_room(&mut table, self.capacity, now);
        }
        let entry = table.entry(key).or_default();
        let mut next = *entry;
        let checks = [
            (
                self.rule.requests,
                &mut next.requests,
                1,
                Exceeded::Requests,
            ),
            (self.rule.bytes, &mut next.bytes, bytes, Exceeded::Bytes),
        ];
        for (bucket, tat, cost, exceeded) in checks {
            if !bucket.on() {
                continue;
            }
            // A request larger than the whole bucket needs a full bucket, not more.
            let cost = cost.min(bucket.burst);
            let after = (*tat).max(now).saturating_add(bucket.ns(cost));
            let allowed = now.saturating_add(bucket.ns(bucket.burst));
            if after > allowed {
                let wait = after - allowed;
                return Err(Refused {
                    exceeded,
                    retry_after_secs: wait.div_ceil(1_000_000_000).max(1),
                });
            }
            *tat = after;
        }
        *entry = next;
        Ok(())
    }

    /// Charge `bytes` to `key` whatever its bucket holds (a chunked body, counted as read): the
    /// client's next requests wait for them.
    pub fn charge(&self, key: Key, bytes: u64) {
        if !self.rule.bytes.on() || bytes == 0 {
            return;
        }
        let now = self.now();
        let Ok(mut table) = self.table.lock() else {
            return;
        };
        if table.len() >= self.capacity && !table.contains_key(&key) {
            make_room(&mut table, self.capacity, now);
        }
        let entry = table.entry(key).or_default();
        entry.bytes = entry
            .bytes
            .max(now)
            .saturating_add(self.rule.bytes.ns(bytes));
    }

    /// Clients remembered now.
    pub fn clients(&self) -> usize {
        self.table.lock().map(|t| t.len()).unwrap_or(0)
    }
}

/// Forget every client whose buckets are full again; if that leaves the table more than 7/8
/// full (a flood of distinct addresses, all spending), forget those closest to full until it is
/// 3/4 full. One pass over the table frees at least an eighth of it, so the cost per new client
/// stays constant.
fn make_room(table: &mut Table, capacity: usize, now: u64) {
    table.retain(|_, e| e.latest() > now);
    if table.len() <= capacity - capacity / 8 {
        return;
    }
    let mut latest: Vec<u64> = table.values().map(|e| e.latest()).collect();
    let excess = table.len() - capacity * 3 / 4;
    let (_, cut, _) = latest.select_nth_unstable(excess.saturating_sub(1));
    let cut = *cut;
    let mut dropped = 0;
    table.retain(|_, e| {
        if dropped < excess && e.latest() <= cut {
            dropped += 1;
            false
        } else {
            true
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    const SEC: u64 = 1_000_000_000;

    fn rule(rps: u64, burst: u64, bps: u64, bytes_burst: u64) -> Rule {
        Rule {
            requests: Bucket {
                per_sec: rps,
                burst,
            },
            bytes: Bucket {
                per_sec: bps,
                burst: bytes_burst,
            },
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| unreachable!("{s}: {e}"))
    }

    /// A distinct key per address (the real rule is the parent's `key`).
    fn key(ip: IpAddr) -> Key {
        match ip {
            IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
            IpAddr::V6(v6) => u128::from(v6),
        }
    }

    #[test]
    fn a_burst_then_the_rate_and_other_clients_untouched() {
        let l = Limiter::new(rule(10, 20, 0, 1), 1000);
        let (a, b) = (key(ip("127.0.0.2")), key(ip("127.0.0.3")));
        for _ in 0..20 {
            assert_eq!(l.admit_at(a, 0, Some(SEC)), Ok(()));
        }
        let refused = l.admit_at(a, 0, Some(SEC));
        assert_eq!(
            refused,
            Err(Refused {
                exceeded: Exceeded::Requests,
                retry_after_secs: 1
            })
        );
        assert_eq!(
            l.admit_at(b, 0, Some(SEC)),
            Ok(()),
            "another client is not limited"
        );
        // A tenth of a second later, one more fits (10 a second).
        assert_eq!(l.admit_at(a, 0, Some(SEC + SEC / 10)), Ok(()));
        assert!(l.admit_at(a, 0, Some(SEC + SEC / 10)).is_err());
    }

    #[test]
    fn bytes_are_limited_and_a_refusal_takes_nothing() {
        let l = Limiter::new(rule(1000, 1000, 1000, 4000), 1000);
        let a = key(ip("10.0.0.1"));
        assert_eq!(l.admit_at(a, 3000, Some(SEC)), Ok(()));
        let refused = l.admit_at(a, 3000, Some(SEC));
        assert_eq!(
            refused,
            Err(Refused {
                exceeded: Exceeded::Bytes,
                retry_after_secs: 2
            })
        );
        // Nothing was taken by the refusal: a 1,000-byte request still fits.
        assert_eq!(l.admit_at(a, 1000, Some(SEC)), Ok(()));
        // A request larger than the whole bucket fits a full bucket.
        let b = key(ip("10.0.0.2"));
        assert_eq!(l.admit_at(b, 1_000_000, Some(SEC)), Ok(()));
        assert!(l.admit_at(b, 1, Some(SEC)).is_err());
    }

    #[test]
    fn retry_after_is_when_the_request_fits() {
        let l = Limiter::new(rule(1, 1, 0, 1), 1000);
        let a = key(ip("10.0.0.1"));
        assert_eq!(l.admit_at(a, 0, Some(10 * SEC)), Ok(()));
        let Err(r) = l.admit_at(a, 0, Some(10 * SEC + SEC / 2)) else {
            unreachable!("refused")
        };
        assert_eq!(r.retry_after_secs, 1);
        assert!(l.admit_at(a, 0, Some(11 * SEC - 1)).is_err());
        assert_eq!(l.admit_at(a, 0, Some(11 * SEC)), Ok(()));
    }

    #[test]
    fn the_table_stays_bounded_under_a_flood_of_addresses() {
        let l = Limiter::new(rule(1, 5, 0, 1), 1000);
        for i in 0..100_000u32 {
            let client = key(IpAddr::from(i.to_be_bytes()));
            // All spending at the same instant: none ever refills.
            let _ = l.admit_at(client, 0, Some(SEC));
            assert!(l.clients() <= 1000);
        }
        // Refilled clients are forgotten first, and a forgotten client is a new one.
        let l = Limiter::new(rule(1, 1, 0, 1), 100);
        let hot = key(ip("192.0.2.1"));
        assert_eq!(l.admit_at(hot, 0, Some(SEC)), Ok(()));
        for i in 0..99u32 {
            let _ = l.admit_at(u128::from(i), 0, Some(0));
        }
        let _ = l.admit_at(u128::from(1000u32), 0, Some(SEC));
        assert!(l.clients() < 100);
        assert!(l.admit_at(hot, 0, Some(SEC)).is_err(), "still remembered");
    }

    #[test]
    fn charged_bytes_are_a_debt() {
        let l = Limiter::new(rule(0, 1, 1000, 1000), 100);
        let a = key(ip("10.0.0.1"));
        l.charge(a, 5000);
        assert!(l.admit(a, 1).is_err());
    }
}
