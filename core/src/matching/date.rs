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
    if !(MIN_YEAR..=MAX_YEAR).contains(&year) {
        return Err(DropReason::YearOutOfRange);
    }
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(DropReason::ImpossibleDate);
    }
    let mut out = String::with_capacity(8);
    push_digits(&mut out, year, 4);
    push_digits(&mut out, month, 2);
    push_digits(&mut out, day, 2);
    Ok(out)
}

/// Splits a date into (year, month, day) by layout, without judging the values.
fn parse(s: &str) -> Option<(u32, u32, u32)> {
    if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        return Some((
            number(s.get(..4)?, 4, 4)?,
            number(s.get(4..6)?, 2, 2)?,
            number(s.get(6..)?, 2, 2)?,
        ));
    }
    let sep = if s.contains('-') { '-' } else { '/' };
    let mut parts = s.split(sep);
    let (a, b, c) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    if a.len() == 4 {
        Some((number(a, 4, 4)?, number(b, 1, 2)?, number(c, 1, 2)?))
    } else if sep == '/' {
        Some((number(c, 4, 4)?, number(a, 1, 2)?, number(b, 1, 2)?))
    } else {
        None
    }
}

/// The value of `min..=max` ASCII digits, or `None`.
fn number(s: &str, min: usize, max: usize) -> Option<u32> {
    if s.len() < min || s.len() > max || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0, |n, b| n * 10 + u32::from(b - b'0')))
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

/// Appends `n` as exactly `width` decimal digits (zero-padded; higher digits are cut).
fn push_digits(out: &mut String, n: u32, width: u32) {
    for i in (0..width).rev() {
        let digit = (n / 10u32.pow(i)) % 10;
        out.push(char::from(b'0' + digit as u8));
    }
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
