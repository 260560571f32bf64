//! The query parameters of the reports: `pixel`, `from`, `to` (`YYYY-MM-DD`, UTC days, `to`
//! inclusive) and each report's own. Every refusal says what is wrong.

use pixel_core::pixel_id::valid_pixel_id;
use pixel_core::wire::parse_query;

use crate::error::AppError;
use crate::event::MAX_EVENT_NAME;

/// Longest range a report covers (days).
pub const MAX_DAYS: i64 = 400;
/// `window_days` bounds and default.
pub const MAX_WINDOW_DAYS: i64 = 90;
pub const DEFAULT_WINDOW_DAYS: i64 = 7;
/// Aggregated Event Measurement allows 8 prioritised events per domain.
pub const MAX_AEM_EVENTS: usize = 8;
/// The priority used when `priority` is not given.
pub const DEFAULT_AEM_PRIORITY: [&str; 5] = [
    "Purchase",
    "InitiateCheckout",
    "AddToCart",
    "ViewContent",
    "PageView",
];

/// Seconds per UTC day (Unix time has no leap seconds).
pub(super) const SECS_PER_DAY: i64 = 86_400;

/// UTC days `from_day..=to_day`, as days since 1970-01-01.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DayRange {
    pub from_day: i64,
    pub to_day: i64,
}

impl DayRange {
    pub fn from_secs(&self) -> i64 {
        self.from_day * SECS_PER_DAY
    }
    /// Exclusive end.
    pub fn to_secs(&self) -> i64 {
        (self.to_day + 1) * SECS_PER_DAY
    }
    pub fn days(&self) -> i64 {
        self.to_day - self.from_day + 1
    }
}

/// The parameters every report takes.
#[derive(Clone, Debug)]
pub struct ReportParams {
    pub pixel: String,
    pub range: DayRange,
    /// Every `key=value` of the query, for the report's own parameters.
    pub rest: Vec<(String, String)>,
}

impl ReportParams {
    pub fn parse(query: Option<&str>) -> Result<ReportParams, AppError> {
        let pairs = parse_query(query.unwrap_or(""))
            .map_err(|_| AppError::BadParam("malformed query string"))?;
        let get = |name: &str| {
            pairs
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let pixel = match get("pixel") {
            None | Some("") => return Err(AppError::BadParam("pixel is missing (pixel=<id>)")),
            Some(p) if !valid_pixel_id(p) => {
                return Err(AppError::BadParam("pixel must be a numeric pixel id"))
            }
            Some(p) => p.to_owned(),
        };
        let from = match get("from") {
            None | Some("") => return Err(AppError::BadParam("from is missing (from=YYYY-MM-DD)")),
            Some(d) => parse_date(d).ok_or(AppError::BadParam(
                "from must be a date as YYYY-MM-DD (a UTC day)",
            ))?,
        };
        let to = match get("to") {
            None | Some("") => return Err(AppError::BadParam("to is missing (to=YYYY-MM-DD)")),
            Some(d) => parse_date(d).ok_or(AppError::BadParam(
                "to must be a date as YYYY-MM-DD (a UTC day, inclusive)",
            ))?,
        };
        if to < from {
            return Err(AppError::BadParam("to must not be before from"));
        }
        if to - from + 1 > MAX_DAYS {
            return Err(AppError::BadParam(
                "the range from..to is longer than 400 days",
            ));
        }
        Ok(ReportParams {
            pixel,
            range: DayRange {
                from_day: from,
                to_day: to,
            },
            rest: pairs,
        })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.rest
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `window_days` (default 7, 1 to 90).
    pub fn window_days(&self) -> Result<i64, AppError> {
        match self.get("window_days") {
            None => Ok(DEFAULT_WINDOW_DAYS),
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=MAX_WINDOW_DAYS).contains(n))
                .ok_or(AppError::BadParam(
                    "window_days must be a whole number of days from 1 to 90",
                )),
        }
    }

    /// `priority`: 1 to 8 distinct event names, highest priority first.
    pub fn aem(&self) -> Result<AemParams, AppError> {
        let Some(list) = self.get("priority") else {
            return Ok(AemParams {
                priority: DEFAULT_AEM_PRIORITY.map(str::to_owned).to_vec(),
            });
        };
        let names: Vec<String> = list.split(',').map(|n| n.trim().to_owned()).collect();
        if names
            .iter()
            .any(|n| n.is_empty() || n.chars().count() > MAX_EVENT_NAME)
        {
            return Err(AppError::BadParam(
                "priority must be a comma-separated list of event names of 1 to 100 characters",
            ));
        }
        if names.len() > MAX_AEM_EVENTS {
            return Err(AppError::BadParam(
                "priority lists more than 8 events: Aggregated Event Measurement allows 8 per domain",
            ));
        }
        if names
            .iter()
            .enumerate()
            .any(|(i, n)| names.iter().take(i).any(|m| m == n))
        {
            return Err(AppError::BadParam("priority names an event twice"));
        }
        Ok(AemParams { priority: names })
    }

    /// `window_days` and, for purchasers, `currency` (three letters).
    pub fn audience(&self) -> Result<AudienceParams, AppError> {
        let currency = match self.get("currency") {
            None | Some("") => None,
            Some(c) if c.len() == 3 && c.bytes().all(|b| b.is_ascii_alphabetic()) => {
                Some(c.to_ascii_uppercase())
            }
            Some(_) => {
                return Err(AppError::BadParam(
                    "currency must be a three-letter ISO 4217 code",
                ))
            }
        };
        Ok(AudienceParams {
            window_days: self.window_days()?,
            currency,
        })
    }
}

/// `/api/reports/aem`'s own parameter.
#[derive(Clone, Debug)]
pub struct AemParams {
    pub priority: Vec<String>,
}

/// `/api/audiences/*`'s own parameters.
#[derive(Clone, Debug)]
pub struct AudienceParams {
    pub window_days: i64,
    /// The currency whose Purchase values make `value` (default: the most used one).
    pub currency: Option<String>,
}

/// `YYYY-MM-DD` (a real date of years 1970 to 9999) as days since 1970-01-01.
pub fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if y < 1970 || !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (years counted from March, so the leap
/// day is the last of its year).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day since 1970-01-01, as `YYYY-MM-DD`.
pub fn format_day(day: i64) -> String {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_bad_ones_are_refused() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2026-12-01"), Some(20_788));
        assert_eq!(parse_date("2024-02-29"), Some(19_782));
        for day in [0, 59, 60, 365, 10_956, 19_782, 20_788, 2_932_896] {
            assert_eq!(parse_date(&format_day(day)), Some(day), "{day}");
        }
        for bad in [
            "2023-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-04-31",
            "26-12-01",
            "2026/12/01",
            "2026-1-011",
            "+026-12-01",
            "1969-12-31",
            "",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn parameters_say_what_is_wrong() {
        let msg = |q: &str| match ReportParams::parse(Some(q)) {
            Ok(_) => "ok".to_owned(),
            Err(e) => e.message().to_owned(),
        };
        assert_eq!(
            msg("from=2026-01-01&to=2026-01-02"),
            "pixel is missing (pixel=<id>)"
        );
        assert_eq!(
            msg("pixel=abc&from=2026-01-01&to=2026-01-02"),
            "pixel must be a numeric pixel id"
        );
        assert_eq!(
            msg("pixel=1&to=2026-01-02"),
            "from is missing (from=YYYY-MM-DD)"
        );
        assert_eq!(
            msg("pixel=1&from=2026-01-01"),
            "to is missing (to=YYYY-MM-DD)"
        );
        assert!(msg("pixel=1&from=2026-1-1&to=2026-01-02").starts_with("from must be a date"));
        assert_eq!(
            msg("pixel=1&from=2026-01-03&to=2026-01-02"),
            "to must not be before from"
        );
        assert!(msg("pixel=1&from=2020-01-01&to=2026-01-02").contains("400 days"));
        assert_eq!(msg("pixel=1&from=2026-01-01&to=2026-01-01"), "ok");
        let p = ReportParams::parse(Some(
            "pixel=1&from=2026-01-01&to=2026-01-01&priority=a,b,c,d,e,f,g,h,i",
        ));
        assert!(
            matches!(p.map(|p| p.aem()), Ok(Err(AppError::BadParam(m))) if m.contains("more than 8"))
        );
    }
}
