//! Between PostgreSQL rows and values: [`StoredEvent`] and the reports' [`Row`].

use tokio_postgres::Row as PgRow;

use super::error::pg_err;
use crate::event::{NewEvent, Origin};
use crate::ports::{Derived, RelayStatus, Row, StoreError, StoredEvent};
use crate::store::columns::{parse_dpo, parse_object, parse_server_fields, user_data_pairs};
use crate::store::scan_sql::{Col, OPTIONAL};

/// A row of `columns::EVENT_COLUMNS`.
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
            origin: Origin::from_bits(int(17)?),
            hold_until_ms: r.try_get(18).map_err(pg_err)?,
            server: parse_server_fields(maybe(19)?),
        },
        relay_status,
        relay_attempts: int(20)?,
        relay_error: maybe(21)?,
    })
}

/// Hand one row of the reports' scan (`store/scan_sql.rs`, whose optional
/// columns are at `at`) to `f`.
pub(super) fn scan_row(r: &PgRow, at: &[Option<usize>; OPTIONAL], f: &mut dyn FnMut(&Row<'_>)) {
    let text = |i: usize| r.try_get::<_, Option<&str>>(i).ok().flatten();
    let slot = |col: Col| at.get(col as usize).copied().flatten();
    let opt_text = |col: Col| slot(col).and_then(text);
    let flag = |col: Col| {
        slot(col)
            .and_then(|i| r.try_get::<_, Option<bool>>(i).ok().flatten())
            .unwrap_or(false)
    };
    let derived = match r.try_get::<_, Option<i64>>(4) {
        Ok(Some(keys)) => Some(Derived {
            keys,
            visitor: text(5),
        }),
        _ => None,
    };
    let row = Row {
        id: r.try_get(0).unwrap_or(0),
        event_name: text(1).unwrap_or(""),
        event_time: r.try_get(2).unwrap_or(0),
        fbp: text(3),
        has_fbc: flag(Col::Fbc),
        has_client_ip: flag(Col::ClientIp),
        user_agent: opt_text(Col::UserAgent),
        source_url: opt_text(Col::SourceUrl).unwrap_or(""),
        user_data: opt_text(Col::UserData).unwrap_or(""),
        purchase_data: opt_text(Col::PurchaseData).unwrap_or(""),
        event_id_derived: flag(Col::EventIdDerived),
        relay_status: opt_text(Col::RelayStatus).and_then(RelayStatus::parse),
        relay_error: opt_text(Col::RelayError),
        derived,
        origin: slot(Col::Origin)
            .and_then(|i| r.try_get::<_, Option<i64>>(i).ok().flatten())
            .and_then(|o| u8::try_from(o).ok())
            .unwrap_or(0),
    };
    f(&row);
}
