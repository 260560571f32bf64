//! The twin's [`ReportSource`]: every row of the range, with what was derived at insert, so the
//! reports read it as they read an SQL store's scan.

use super::state::{MemoryStore, Record};
use crate::ports::derivation::AUDIENCE_KEYS;
use crate::ports::{Derived, RelayStatus, ReportSource, Row, Scan, StoreError};

pub(super) fn row(r: &Record) -> Row<'_> {
    let e = &r.stored.event;
    let c = &r.columns;
    Row {
        id: r.stored.id,
        event_name: &e.event_name,
        event_time: e.event_time,
        fbp: e.fbp.as_deref(),
        has_fbc: e.fbc.is_some(),
        has_client_ip: e.client_ip.is_some(),
        user_agent: e.user_agent.as_deref(),
        source_url: &e.source_url,
        user_data: &c.user_data,
        purchase_data: if e.event_name == "Purchase" {
            &c.custom_data
        } else {
            ""
        },
        event_id_derived: e.event_id_derived,
        relay_status: Some(r.stored.relay_status),
        relay_error: match r.stored.relay_status {
            RelayStatus::Failed => r.stored.relay_error.as_deref(),
            _ => None,
        },
        derived: Some(Derived {
            keys: c.report_keys,
            visitor: c.report_visitor.as_deref(),
        }),
        origin: e.origin.0,
    }
}

/// What the rollups know of a record.
pub(super) fn record_fact(r: &Record) -> crate::ports::rollup::Fact {
    let e = &r.stored.event;
    crate::ports::rollup::fact_with(
        &e.pixel_id,
        &row(r),
        crate::ports::rollup::amount_in(&e.custom_data),
    )
}

/// Whether `r` is in `scan`'s pixel and time range (its names and columns are not read).
fn in_range(scan: &Scan<'_>, r: &Record) -> bool {
    let e = &r.stored.event;
    e.pixel_id == scan.pixel_id && e.event_time >= scan.from_secs && e.event_time < scan.to_secs
}

impl ReportSource for MemoryStore {
    fn people(&self) -> Option<&dyn crate::ports::people::PeopleSource> {
        Some(self)
    }

    fn scan(&self, scan: &Scan<'_>, f: &mut dyn FnMut(&Row<'_>)) -> Result<(), StoreError> {
        let names = scan.names.filter(|n| !n.is_empty());
        let state = self.state()?;
        for r in state.events.values().filter(|r| in_range(scan, r)) {
            let wanted = names.is_none_or(|names| {
                names.contains(&r.stored.event.event_name)
                    || (scan.columns.keyed_rows && r.columns.report_keys & AUDIENCE_KEYS != 0)
            });
            if wanted {
                f(&row(r));
            }
        }
        Ok(())
    }

    fn keeps_rollups(&self) -> bool {
        true
    }

    fn rollup(
        &self,
        pixel_id: &str,
        from_day: i64,
        to_day: i64,
    ) -> Result<crate::ports::rollup::Rollup, StoreError> {
        Ok(self.state()?.rollups.read(pixel_id, from_day, to_day))
    }

    fn duplicates(&self, pixel_id: &str, from_day: i64, to_day: i64) -> Result<u64, StoreError> {
        let state = self.state()?;
        Ok(state
            .duplicates
            .iter()
            .filter(|((p, day), _)| p == pixel_id && (from_day..=to_day).contains(day))
            .map(|(_, n)| n)
            .sum())
    }

    fn user_data(
        &self,
        scan: &Scan<'_>,
        ids: &[i64],
        f: &mut dyn FnMut(i64, &str),
    ) -> Result<(), StoreError> {
        let state = self.state()?;
        for id in ids {
            if let Some(r) = state.events.get(id).filter(|r| in_range(scan, r)) {
                f(*id, &r.columns.user_data);
            }
        }
        Ok(())
    }
}
