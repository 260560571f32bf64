//! The port between the core and the world: time, randomness, the page, cookies, transports and
//! the console. The WebAssembly shell implements [`Host`] with browser APIs;
//! [`crate::memory_host::MemoryHost`] is the in-memory twin that drives the tests.

use crate::console::Msg;
use crate::delivery::Delivery;

/// What the core needs to know about the page at the moment of a call.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Page {
    /// `location.href`
    pub href: String,
    /// `document.referrer`
    pub referrer: String,
    /// True when the page runs inside a frame.
    pub in_iframe: bool,
    /// `screen.width`, `screen.height`
    pub screen: Option<(u32, u32)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Debug-mode output (beacons, dropped fields).
    Info = 0,
    Warn = 1,
    Error = 2,
}

/// A cookie write. `domain` empty means a host-only cookie (no `Domain` attribute).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookieWrite<'a> {
    pub name: &'a str,
    pub value: &'a str,
    pub domain: &'a str,
    pub max_age_secs: u32,
    pub secure: bool,
}

pub trait Host {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&mut self) -> u64;
    /// Fill `buf` with cryptographically strong random bytes.
    fn random(&mut self, buf: &mut [u8]);
    fn page(&mut self) -> Page;
    /// `navigator.globalPrivacyControl === true`
    fn global_privacy_control(&mut self) -> bool;
    /// The value of a cookie visible to the page.
    fn cookie(&mut self, name: &str) -> Option<String>;
    /// Write a cookie (`path=/`, `SameSite=Lax`).
    fn set_cookie(&mut self, c: &CookieWrite<'_>);
    /// Send a beacon's wire text `query` to `endpoint`, as `delivery` says.
    fn send(&mut self, endpoint: &str, query: &str, delivery: Delivery);
    /// Say `msg` with its arguments on the console ([`crate::console::render`] is the text).
    fn console(&mut self, level: Level, msg: Msg, args: &[&str]);
    /// `s` lowercased as JavaScript's `toLowerCase` does it (the advanced-matching rules of
    /// SPEC §6 follow Meta's JavaScript): the browser's own, so its Unicode tables stay out of
    /// the wasm.
    fn lowercase(&self, s: &str) -> String;
    /// The click ID Facebook's or Instagram's in-app browser gave the page, when it runs in one
    /// and its URL has no `fbclid` (src/host.js asks the app; it never makes an event wait).
    fn in_app_click_id(&mut self) -> Option<String>;
}
