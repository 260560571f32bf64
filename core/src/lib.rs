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

pub mod consent;
pub mod cookie;
pub mod event;
pub mod event_id;
pub mod host;
pub mod json;
pub mod matching;
pub mod memory_host;
pub mod pixel_id;
pub mod sha256;
pub mod tracker;
pub mod url;
pub mod wire;

/// The byte index of the first of `set` (ASCII bytes) in `s`. Byte loops instead of `str::find`
/// with `char` patterns: std's searchers cost about a kilobyte of wasm for what this does.
// Not `set.contains(&b)`: on bytes that calls std's memchr, 200 bytes of gzip in the pixel.
#[allow(clippy::manual_contains)]
pub(crate) fn find_byte(s: &str, set: &[u8]) -> Option<usize> {
    s.bytes().position(|b| set.iter().any(|&s| s == b))
}

/// `s` split around its first `sep` (an ASCII byte).
pub(crate) fn split_byte(s: &str, sep: u8) -> Option<(&str, &str)> {
    let i = find_byte(s, &[sep])?;
    Some((s.get(..i)?, s.get(i + 1..)?))
}

/// Two lowercase hex digits of `b`.
pub(crate) fn push_hex(out: &mut String, b: u8) {
    let digit = |n: u8| {
        char::from(
            b"0123456789abcdef"
                .get(usize::from(n & 0xf))
                .copied()
                .unwrap_or(b'0'),
        )
    };
    out.push(digit(b >> 4));
    out.push(digit(b));
}

/// The library version, sent as `v` and shown as `fbq.version`: Meta's pixel version whose
/// behaviour we mirror, tagged as ours.
pub const VERSION: &str = "2.9.134-wasm.0.1.0";
