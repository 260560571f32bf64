//! The pixel-ID rule, for the pixel (`init`, `set('openbridge')`) and the collector (its
//! configuration, its API and its report): one place that says what a pixel ID is.

/// A pixel ID: `^[1-9][0-9]{0,25}$`, 1 to 26 digits without a leading zero.
pub fn valid_pixel_id(id: &str) -> bool {
    let b = id.as_bytes();
    (1..=26).contains(&b.len()) && b.iter().all(u8::is_ascii_digit) && b.first() != Some(&b'0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_ids() {
        for ok in ["1", "1234567890", "12345678901234567890123456"] {
            assert!(valid_pixel_id(ok), "{ok}");
        }
        for bad in [
            "",
            "0",
            "0123",
            "123456789012345678901234567",
            "12a",
            " 1",
            "１",
        ] {
            assert!(!valid_pixel_id(bad), "{bad}");
        }
    }
}
