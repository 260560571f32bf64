//! # pixel-core: the heart of the drop-in Meta Pixel, as ports and adapters
//!
//! In scope: parsing `fbq(...)` calls, validating events, advanced-matching normalisation and
//! SHA-256, consent and Limited Data Use state, `_fbp`/`_fbc` cookie values, the `/tr` wire format
//! (encode *and* decode), the event-ID and pixel-ID rules.
//!
//! The design is ports and adapters: the core calls out through one port, the [`host::Host`]
//! trait (time, randomness, the page, the cookie jar, transports, the console, lowercasing), and
//! each side plugs an adapter in: the WebAssembly shell (`src/`) with browser APIs,
//! [`memory_host::MemoryHost`] for the tests. The core does not do I/O itself, but it does drive
//! it through that port as it goes, so it is not sans-IO in the strict sense. No wasm-bindgen,
//! web-sys or js-sys here: everything runs under plain `cargo test`. The collector uses the same
//! rules (matching, cookies, URLs, pixel IDs) from here.
//!
//! The imports run one way: no circles, and no module imports one above it (this file only
//! declares and re-exports); `tests/module_graph.rs` checks it. Delivery policy (GET or POST,
//! which beacons may wait in storage, the outbox's key and age limit) is decided here too
//! ([`delivery`]) and handed to the shell with each beacon. What the pixel says on the console is
//! a number and its arguments ([`console::Msg`]); the texts are a table here that the wasm never
//! references, which the loader fetches as `fbevents.messages.js` when the engine first says
//! something.

mod ascii;
pub mod consent;
pub mod console;
pub mod cookie;
pub mod decimal;
pub mod delivery;
pub mod event;
pub mod event_id;
pub mod host;
mod identity;
pub mod json;
pub mod matching;
pub mod memory_host;
pub mod percent;
pub mod pixel_id;
pub mod scrub;
pub mod sha256;
pub mod tracker;
pub mod url;
mod version;
pub mod wire;

pub use version::VERSION;
