//! Between PostgreSQL rows and values: [`StoredEvent`] and the reports' [`Row`].

use tokio_postgres::Row as PgRow;

use super::pg_err;
use crate::event::NewEvent;
pub(super) use crate::store::columns::EVENT_COLUMNS;
use crate::store::columns::{parse_dpo, parse_object, user_data_pairs};
use crate::store::{RelayStatus, StoreError, StoredEvent};

/// A row of [`EVENT_COLUMNS`].
pub(super) fn row_to_event(r: &PgRow) -> Result<StoredEvent, StoreError> {
    let status: String = r.try_get(16).map_err(pg_err)?;
    let relay_status = RelayStatus::parse(&status).unwrap_or(RelayStatus::Pending);
    let text = |i: usize| r.try_get::<_, String>(i).map_err(pg_err);
    let maybe = |i: usize| r.try_get::<_, Option<String>>(i).map_err(pg_err);
    let int = |i: usize| r.try_get::<_, i64>(i).map_err(pg_err);
    Ok(StoredEvent {
        id: int(0)?,
        event: NewEvent {
            pixel_id: text(1)?,
            event_name: text(2)?,
            event_id: text(3)?,
            event_id_derived: r.try_get(4).map_err(pg_err)?,
            event_time: int(5)?,
            received_at_ms: int(6)?,
            source_url: text(7)?,
            referrer_url: text(8)?,
            fbp: maybe(9)?,
            fbc: maybe(10)?,
            client_ip: maybe(11)?,
            user_agent: maybe(12)?,
            user_data: user_data_pairs(&text(13)?),
            custom_data: parse_object(&text(14)?),
            dpo: parse_dpo(maybe(15)?),
            // Not a column: an event to relay is stored `pending` and never becomes `not_relayed`.
            relay: relay_status != RelayStatus::NotRelayed,
        },
        relay_status,
        relay_attempts: int(17)?,
        relay_error: maybe(18)?,
    })
}

/// Hand one row of [`scan_sql`](crate::store::columns::scan_sql) to `f`.
pub(super) fn scan_row(r: &PgRow, f: &mut dyn FnMut(&crate::reports::Row<'_>)) {
    let text = |i: usize| r.try_get::<_, Option<&str>>(i).ok().flatten();
    let flag = |i: usize| r.try_get::<_, bool>(i).unwrap_or(false);
    let row = crate::reports::Row {
        id: r.try_get(0).unwrap_or(0),
        event_name: text(1).unwrap_or(""),
        event_time: r.try_get(2).unwrap_or(0),
        fbp: text(3),
        has_fbc: flag(4),
        has_client_ip: flag(5),
        user_agent: text(6),
        source_url: text(7).unwrap_or(""),
        user_data: text(8).unwrap_or(""),
        purchase_data: text(9).unwrap_or(""),
        event_id_derived: flag(10),
        relay_status: text(11).and_then(RelayStatus::parse),
        relay_error: text(12),
    };
    f(&row);
}
