//! The one call every report makes: scan one pixel's events in a time range.

use super::params::DayRange;
use crate::ports::{Columns, ReportSource, Row, Scan, StoreError};

/// [`ReportSource::scan`] of `pixel`, `event_time` in `[from_secs, to_secs)`.
pub(super) fn scan(
    src: &dyn ReportSource,
    pixel: &str,
    from_secs: i64,
    to_secs: i64,
    names: Option<&[String]>,
    columns: Columns,
    f: &mut dyn FnMut(&Row<'_>),
) -> Result<(), StoreError> {
    src.scan(
        &Scan {
            pixel_id: pixel,
            from_secs,
            to_secs,
            names,
            columns,
        },
        f,
    )
}

/// Every event of `pixel` in `range`, whatever its name (the reports that read the rollups no
/// longer call it; kept for the scanning reports).
pub(super) fn scan_range(
    src: &dyn ReportSource,
    pixel: &str,
    range: DayRange,
    columns: Columns,
    f: &mut dyn FnMut(&Row<'_>),
) -> Result<(), StoreError> {
    scan(
        src,
        pixel,
        range.from_secs(),
        range.to_secs(),
        None,
        columns,
        f,
    )
}

/// Event names as [`Scan::names`] takes them.
pub(super) fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|n| (*n).to_owned()).collect()
}
