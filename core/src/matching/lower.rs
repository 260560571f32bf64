//! Lowercasing off the browser. The pixel lowercases with the browser's own `toLowerCase`
//! (through the host, so no Unicode case table is in the wasm); the collector and the tests use
//! [`std_lower`], the same mapping.

/// `str::to_lowercase`: the same mapping as JavaScript's `toLowerCase` (final sigma included), for
/// the collector and the tests.
pub fn std_lower(s: &str) -> String {
    s.to_lowercase()
}
