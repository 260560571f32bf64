//! `/api/reports/relay` from a scan of the events: the same [`Tally`] as from the rollups.

use serde_json::Value;

use super::super::params::DayRange;
use super::super::relay::Tally;
use super::super::scan::scan_range;
use crate::ports::derivation::origin;
use crate::ports::{Columns, ReportSource, StoreError};

/// `/api/reports/relay`: received, duplicates, each relay status, Meta's messages grouped and
/// the share of Purchases with the page's own event ID.
pub(in crate::reports) fn relay(
    src: &dyn ReportSource,
    pixel: &str,
    range: DayRange,
) -> Result<Value, StoreError> {
    let mut tally = Tally::default();
    let cols = Columns {
        relay: true,
        origin: true,
        ..Columns::default()
    };
    scan_range(src, pixel, range, cols, &mut |row| {
        let (status, error) = (row.relay_status, row.relay_error);
        tally.add(
            row.event_name,
            status,
            error,
            origin(row),
            row.event_id_derived,
            1,
        );
    })?;
    let duplicates = src.duplicates(pixel, range.from_day, range.to_day)?;
    Ok(tally.answer(duplicates))
}
