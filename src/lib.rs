//! # fbevents: the WebAssembly shell of the drop-in Meta Pixel
//!
//! The only crate that touches the browser. It implements the core's [`Host`] port with browser
//! APIs (clock, `crypto.getRandomValues`, `location`, `document.cookie`, `fetch` with keepalive,
//! `navigator.sendBeacon`, the console) and exposes a handful of plain wasm functions to the JS
//! loader (`www/fbevents.js`): `fbq_start`, `fbq_call`, `fbq_page_changed` and the string
//! plumbing, described in `src/browser.rs`. Everything that decides *what* happens lives in
//! `pixel-core`.
//!
//! Not here: the `fbq` stub takeover and the History API hooks (the loader does those in a few
//! lines of JS, cheaper than closure glue), and any logic worth testing on the host.
#![cfg_attr(not(target_arch = "wasm32"), allow(unused))]

#[cfg(any(target_arch = "wasm32", test))]
mod alloc;
#[cfg(target_arch = "wasm32")]
mod browser;

#[cfg(target_arch = "wasm32")]
pub use browser::{fbq_buf, fbq_call, fbq_page_changed, fbq_start, fbq_version, fbq_version_len};

pub use pixel_core::host::Host;
