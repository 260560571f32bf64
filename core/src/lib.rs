//! # pixel-core: the sans-IO heart of the drop-in Meta Pixel
//!
//! In scope: parsing `fbq(...)` calls, validating events, advanced-matching normalisation and
//! SHA-256, consent and Limited Data Use state, `_fbp`/`_fbc` cookie values, the `/tr` wire format
//! (encode *and* decode) and the event-ID rule.
//!
//! Out of scope: every kind of I/O. Time, randomness, the page URL, the cookie jar, transports and
//! the console reach the core through the [`host::Host`] port; the WebAssembly shell (`src/`)
//! implements it with browser APIs and [`host::MemoryHost`] implements it for tests. No
//! wasm-bindgen, web-sys or js-sys here: everything runs under plain `cargo test`.

pub mod matching;
pub mod wire;
