//! The event-ID rule (ours, SPEC §2): an event carries the page's `eventID` when it gives one,
//! otherwise a fresh random 128-bit ID, so that a copy relayed through the Conversions API
//! deduplicates with the browser copy.

use crate::host::Host;

/// A random (version 4, RFC 9562) UUID in its usual 36-character form.
pub fn generate(host: &mut dyn Host) -> String {
    let mut b = [0u8; 16];
    host.random(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        crate::ascii::push_hex(&mut s, *byte);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory_host::MemoryHost;

    #[test]
    fn uuid_v4_shape_and_uniqueness() {
        let mut h = MemoryHost::new("https://a.b/", 0);
        let ids: Vec<String> = (0..1000).map(|_| generate(&mut h)).collect();
        for id in &ids {
            assert_eq!(id.len(), 36);
            let parts: Vec<&str> = id.split('-').collect();
            assert_eq!(
                parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
                [8, 4, 4, 4, 12]
            );
            assert!(parts[2].starts_with('4'), "{id}");
            assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"), "{id}");
            assert!(id
                .chars()
                .all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        }
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len());
    }
}
