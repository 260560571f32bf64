//! The `db` field: a date of birth in one of four layouts, checked against the real calendar and
//! written as `YYYYMMDD`.

use super::DropReason;

/// Earliest year of birth accepted.
pub const MIN_YEAR: u32 = 1900;
/// Latest year of birth accepted. The core has no clock, so "not in the future" cannot be checked
/// here; this only catches typos such as `9190`.
pub const MAX_YEAR: u32 = 2100;

/// `db`: `YYYYMMDD`, `YYYY-MM-DD`, `YYYY/MM/DD` or US `MM/DD/YYYY` → `YYYYMMDD`. Month and day may
/// have one or two digits in the separated layouts (`2/16/1997`, `1997-2-16`). Other layouts are
/// dropped, and so are impossible dates (`1990-02-30`, month 13, `1900-02-29`) and years outside
/// [`MIN_YEAR`]..=[`MAX_YEAR`].
pub(crate) fn normalize_date(trimmed: &str) -> Result<String, DropReason> {
    let (year, month, day) = parse(trimmed).ok_or(DropReason::NotADate)?;
    if !matches!(year, MIN_YEAR..=MAX_YEAR) {
        return Err(DropReason::YearOutOfRange);
    }
    if !matches!(month, 1..=12) || day < 1 || day > days_in_month(year, month) {
        return Err(DropReason::ImpossibleDate);
    }
    let mut out = String::with_capacity(8);
    let mut push2 = |n: u32| {
        out.push(char::from(b'0' + (n / 10) as u8));
        out.push(char::from(b'0' + (n % 10) as u8));
    };
    push2(year / 100);
    push2(year % 100);
    push2(month);
    push2(day);
    Ok(out)
}

/// Splits a date into (year, month, day) by layout, without judging the values: `YYYYMMDD`, or
/// three runs of ASCII digits separated by `-` or `/` (whichever comes first; the other one is
/// not allowed), with one or two digits for month and day and four for the year, year first or
/// (with `/` only) last.
fn parse(s: &str) -> Option<(u32, u32, u32)> {
    let (mut sep, mut i) = (0, 0);
    // Each part: (value, number of digits).
    let mut parts = [(0u32, 0u32); 3];
    for &c in s.as_bytes() {
        if c.is_ascii_digit() {
            let part = parts.get_mut(i)?;
            if part.1 == 8 {
                return None;
            }
            *part = (part.0 * 10 + u32::from(c - b'0'), part.1 + 1);
        } else if (c == b'-' || c == b'/') && (sep == 0 || sep == c) {
            sep = c;
            i += 1;
        } else {
            return None;
        }
    }
    let [(a, a_len), (b, b_len), (c, c_len)] = parts;
    let short = |len| len == 1 || len == 2;
    if i == 0 && a_len == 8 {
        Some((a / 10000, a / 100 % 100, a % 100))
    } else if i != 2 || !short(b_len) {
        None
    } else if a_len == 4 && short(c_len) {
        Some((a, b, c))
    } else if sep == b'/' && c_len == 4 && short(a_len) {
        Some((c, a, b))
    } else {
        None
    }
}

/// Number of days in `month` (1-12) of `year`, Gregorian leap years included.
pub fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Gregorian leap year: divisible by 4, except centuries not divisible by 400.
pub fn is_leap_year(year: u32) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leap_years() {
        assert!(is_leap_year(2000) && is_leap_year(1996) && is_leap_year(2024));
        assert!(!is_leap_year(1900) && !is_leap_year(2100) && !is_leap_year(1999));
    }

    #[test]
    fn layouts() {
        assert_eq!(parse("19970216"), Some((1997, 2, 16)));
        assert_eq!(parse("1997-2-16"), Some((1997, 2, 16)));
        assert_eq!(parse("1997/02/16"), Some((1997, 2, 16)));
        assert_eq!(parse("1990-1-5"), Some((1990, 1, 5)));
        assert_eq!(parse("2/16/1997"), Some((1997, 2, 16)));
        assert_eq!(parse("02-16-1997"), None);
        assert_eq!(parse("1997-02/16"), None);
        assert_eq!(parse("97/2/16"), None);
        assert_eq!(parse("1997-02-16-01"), None);
        assert_eq!(parse("+1997-2-16"), None);
    }
}
