//! The `ph` field: the digits of a phone number, country code first, no leading zeros.

use super::reason::DropReason;
use super::text::digit_value;

/// `ph`: keep the digits (ASCII, or of the scripts `text::digit_value` knows: a number typed on
/// an Arabic, Persian or Devanagari keyboard keeps its digits, where Meta's pixel would lose them
/// all), drop the leading zeros (`+1 (650) 555-1212` → `16505551212`,
/// `0044 (0)20 7946 0958` → `4402079460958`). Nothing left: dropped.
pub(crate) fn normalize_phone(trimmed: &str) -> Result<String, DropReason> {
    let mut digits = String::new();
    for d in trimmed.chars().filter_map(digit_value) {
        if d != 0 || !digits.is_empty() {
            digits.push(char::from(b'0' + d as u8));
        }
    }
    if digits.is_empty() {
        Err(DropReason::NoDigits)
    } else {
        Ok(digits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_of_other_scripts() {
        assert_eq!(normalize_phone("٠٥٥٥ ١٢٣"), Ok("555123".into()));
        assert_eq!(normalize_phone("۰۹۱۲"), Ok("912".into()));
        assert_eq!(normalize_phone("＋１ ６５０"), Ok("1650".into()));
        assert_eq!(normalize_phone("००७"), Ok("7".into()));
        assert_eq!(normalize_phone("٪"), Err(DropReason::NoDigits));
    }
}
