//! The library version.

/// The library version, sent as `v` and shown as `fbq.version`: Meta's pixel version whose
/// behaviour we mirror, tagged as ours.
pub const VERSION: &str = "2.9.134-wasm.0.1.0";
