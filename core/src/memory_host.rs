//! [`MemoryHost`]: the [`Host`] of the tests, in memory.

use crate::console::{render, Msg};
use crate::delivery::{Delivery, Keep, Transport};
use crate::host::{CookieWrite, Host, Level, Page};
use crate::wire::Beacon;

/// One request the [`MemoryHost`] was asked to send, with what it was told about its delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    pub endpoint: String,
    pub query: String,
    pub transport: Transport,
    /// Where the shell may keep it while unacknowledged.
    pub keep: Keep,
}

/// A cookie as the [`MemoryHost`] jar holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCookie {
    pub name: String,
    pub value: String,
    pub domain: String,
    pub max_age_secs: u32,
    pub secure: bool,
}

/// The in-memory twin of the browser: a clock you move, a deterministic random source, a cookie
/// jar that refuses public suffixes the way a browser does, and logs of what was sent and said.
#[derive(Clone, Debug, Default)]
pub struct MemoryHost {
    pub now: u64,
    pub seed: u64,
    pub page: Page,
    pub gpc: bool,
    /// Registrable-domain boundaries the jar refuses (`com`, `co.uk`, ...).
    pub public_suffixes: Vec<String>,
    pub jar: Vec<StoredCookie>,
    pub sent: Vec<Sent>,
    pub console: Vec<(Level, String)>,
    /// Every cookie write attempted, accepted or not.
    pub cookie_writes: usize,
    /// What an in-app browser answered for the click ID (`None`: not in one, or no answer yet).
    pub in_app_click_id: Option<String>,
}

impl MemoryHost {
    /// A host on `href` at time `now`, refusing the usual public suffixes.
    pub fn new(href: &str, now: u64) -> MemoryHost {
        MemoryHost {
            now,
            seed: 0x9E37_79B9_7F4A_7C15,
            page: Page {
                href: href.to_owned(),
                referrer: String::new(),
                in_iframe: false,
                screen: Some((1920, 1080)),
            },
            public_suffixes: ["com", "net", "org", "test", "uk", "co.uk", "example"]
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            ..MemoryHost::default()
        }
    }

    /// The decoded beacons sent so far (GET and POST alike).
    pub fn beacons(&self) -> Vec<Beacon> {
        self.sent
            .iter()
            .filter_map(|s| Beacon::decode(&s.query).ok())
            .collect()
    }

    pub fn warnings(&self) -> Vec<&str> {
        self.console
            .iter()
            .filter(|(l, _)| *l == Level::Warn)
            .map(|(_, m)| m.as_str())
            .collect()
    }

    /// The page's host, as the cookie rules see it (the same parser the tracker uses).
    fn host_name(&self) -> String {
        crate::url::http_host(&self.page.href)
            .map(|(host, _)| host)
            .unwrap_or_default()
    }
}

impl Host for MemoryHost {
    fn in_app_click_id(&mut self) -> Option<String> {
        self.in_app_click_id.clone()
    }

    fn lowercase(&self, s: &str) -> String {
        crate::matching::std_lower(s)
    }

    fn now_ms(&mut self) -> u64 {
        self.now
    }

    fn random(&mut self, buf: &mut [u8]) {
        for b in buf {
            // xorshift64*: deterministic, good enough for tests.
            self.seed ^= self.seed >> 12;
            self.seed ^= self.seed << 25;
            self.seed ^= self.seed >> 27;
            *b = (self.seed.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8;
        }
    }

    fn page(&mut self) -> Page {
        self.page.clone()
    }

    fn global_privacy_control(&mut self) -> bool {
        self.gpc
    }

    fn cookie(&mut self, name: &str) -> Option<String> {
        let host = self.host_name();
        self.jar
            .iter()
            .find(|c| {
                c.name == name
                    && (c.domain.is_empty()
                        || host == c.domain
                        || host.ends_with(&[".", &c.domain].concat()))
            })
            .map(|c| c.value.clone())
    }

    fn set_cookie(&mut self, c: &CookieWrite<'_>) {
        self.cookie_writes += 1;
        let host = self.host_name();
        let domain = c.domain.trim_start_matches('.').to_ascii_lowercase();
        if !domain.is_empty() {
            let on_host = host == domain || host.ends_with(&[".", &domain].concat());
            if !on_host || self.public_suffixes.contains(&domain) {
                return; // the browser ignores the write
            }
        }
        self.jar
            .retain(|k| !(k.name == c.name && k.domain == domain));
        if c.max_age_secs > 0 {
            self.jar.push(StoredCookie {
                name: c.name.to_owned(),
                value: c.value.to_owned(),
                domain,
                max_age_secs: c.max_age_secs,
                secure: c.secure,
            });
        }
    }

    fn send(&mut self, endpoint: &str, query: &str, delivery: Delivery) {
        self.sent.push(Sent {
            endpoint: endpoint.to_owned(),
            query: query.to_owned(),
            transport: delivery.transport,
            keep: delivery.keep,
        });
    }

    fn console(&mut self, level: Level, msg: Msg, args: &[&str]) {
        self.console.push((level, render(msg, args)));
    }
}

impl MemoryHost {
    /// The value of a cookie in the jar, or an empty string (test convenience).
    pub fn cookie_value(&mut self, name: &str) -> String {
        self.cookie(name).unwrap_or_default()
    }
}
