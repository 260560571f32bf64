//! The `db` field: a date of birth, read from its runs of digits as SPEC §6 says, checked against
//! the real calendar and written as `YYYYMMDD`.

use super::reason::DropReason;

/// Earliest year of birth accepted.
pub const MIN_YEAR: u32 = 1800;

/// The year (UTC) of a Unix time in milliseconds: what the latest accepted year of birth (the
/// next year) is counted from.
pub fn year_of(unix_ms: u64) -> u32 {
    // Days since 1970-01-01, then whole 400-year cycles (146,097 days) and years within one.
    let mut days = unix_ms / 86_400_000;
    let mut year = 1970 + 400 * (days / 146_097) as u32;
    days %= 146_097;
    loop {
        let len = if is_leap_year(year) { 366 } else { 365 };
        if days < len {
            return year;
        }
        days -= len;
        year += 1;
    }
}

/// `db`: `YYYYMMDD` from the runs of ASCII digits in the value (anything else separates them).
/// Three or more runs: the first three, *a b c*; *a* > 31 is a year (then month, day), else
/// *b* > 31 is a year (then *c* month, *a* day), else *c* is the year (*a* month, *b* day), and the
/// month and day swap when the month is above 12 (`31.12.1990`). One run of exactly 8 digits is
/// `YYYYMMDD`. The year must be from [`MIN_YEAR`] to `this_year + 1`, and the date must exist
/// (`1990-02-30` and `1900-02-29` are dropped: Meta's code checks only that the day is 1-31).
pub(crate) fn normalize_date(trimmed: &str, this_year: u32) -> Result<String, DropReason> {
    let (year, month, day) = parse(trimmed).ok_or(DropReason::NotADate)?;
    if year < MIN_YEAR || year > this_year.saturating_add(1) {
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

/// (year, month, day) from the digit runs of `s`, without judging the values.
fn parse(s: &str) -> Option<(u32, u32, u32)> {
    // The first three runs: (value, number of digits); values saturate, a huge one is no date.
    let mut runs = [(0u32, 0u32); 3];
    let (mut count, mut in_run) = (0, false);
    for &c in s.as_bytes() {
        if c.is_ascii_digit() {
            if !in_run {
                count += 1;
                in_run = true;
            }
            if let Some(run) = runs.get_mut(count - 1) {
                *run = (
                    run.0.saturating_mul(10).saturating_add(u32::from(c - b'0')),
                    run.1 + 1,
                );
            }
        } else {
            in_run = false;
        }
    }
    let [(a, a_len), (b, _), (c, _)] = runs;
    let (year, month, day) = match count {
        1 if a_len == 8 => return Some((a / 10000, a / 100 % 100, a % 100)),
        0..=2 => return None,
        _ if a > 31 => (a, b, c),
        _ if b > 31 => (b, c, a),
        _ => (c, a, b),
    };
    Some(if month > 12 {
        (year, day, month)
    } else {
        (year, month, day)
    })
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
    fn years_of_unix_times() {
        assert_eq!(year_of(0), 1970);
        assert_eq!(year_of(951_782_400_000), 2000); // 2000-02-29
        assert_eq!(year_of(1_735_689_599_999), 2024); // 2024-12-31 23:59:59.999
        assert_eq!(year_of(1_735_689_600_000), 2025);
        assert_eq!(year_of(1_798_761_599_999), 2026);
        assert_eq!(year_of(4_102_444_800_000), 2100);
    }

    #[test]
    fn runs_of_digits() {
        assert_eq!(parse("19970216"), Some((1997, 2, 16)));
        assert_eq!(parse("1997-2-16"), Some((1997, 2, 16)));
        assert_eq!(parse("2/16/1997"), Some((1997, 2, 16)));
        assert_eq!(parse("31.12.1990"), Some((1990, 12, 31)));
        assert_eq!(parse("Born: 12-31-1990"), Some((1990, 12, 31)));
        assert_eq!(parse("12月31日1990年"), Some((1990, 12, 31)));
        assert_eq!(parse("5 1990 7"), Some((1990, 7, 5)));
        assert_eq!(parse("1990-12-31-15-30"), Some((1990, 12, 31)));
        assert_eq!(parse("12-31"), None);
        assert_eq!(parse("199012311999"), None);
        assert_eq!(parse("1997"), None);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn calendar_and_year_range() {
        let db = |s| normalize_date(s, 2026);
        assert_eq!(db("2000-02-29"), Ok("20000229".into()));
        assert_eq!(db("1900-02-29"), Err(DropReason::ImpossibleDate));
        assert_eq!(db("15-13-1990"), Err(DropReason::ImpossibleDate));
        assert_eq!(db("01-01-2027"), Ok("20270101".into()));
        assert_eq!(db("01-01-2028"), Err(DropReason::YearOutOfRange));
        assert_eq!(db("01-01-1799"), Err(DropReason::YearOutOfRange));
        assert_eq!(db("1800-01-01"), Ok("18000101".into()));
    }
}
