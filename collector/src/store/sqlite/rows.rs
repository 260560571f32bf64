//! Between SQLite rows and values: a row of the column list (`columns::EVENT_COLUMNS`) as a
//! [`StoredEvent`].

use rusqlite::Row;

use crate::event::{NewEvent, Origin};
use crate::ports::{RelayStatus, StoredEvent};
use crate::store::columns::{parse_dpo, parse_object, parse_server_fields, user_data_pairs};

pub(super) fn row_to_event(r: &Row<'_>) -> rusqlite::Result<StoredEvent> {
    let user_data = user_data_pairs(&r.get::<_, String>(13)?);
    let status: String = r.get(16)?;
    let relay_status = RelayStatus::parse(&status).unwrap_or(RelayStatus::Pending);
    Ok(StoredEvent {
        id: r.get(0)?,
        event: NewEvent {
            pixel_id: r.get(1)?,
            event_name: r.get(2)?,
            event_id: r.get(3)?,
            event_id_derived: r.get::<_, i64>(4)? != 0,
            event_time: r.get(5)?,
            received_at_ms: r.get(6)?,
            source_url: r.get(7)?,
            referrer_url: r.get(8)?,
            fbp: r.get(9)?,
            fbc: r.get(10)?,
            client_ip: r.get(11)?,
            user_agent: r.get(12)?,
            user_data,
            custom_data: parse_object(&r.get::<_, String>(14)?),
            dpo: parse_dpo(r.get(15)?),
            // Not a column: an event to relay is stored `pending` and never becomes `not_relayed`.
            relay: relay_status != RelayStatus::NotRelayed,
            origin: Origin::from_bits(r.get(17)?),
            hold_until_ms: r.get(18)?,
            server: parse_server_fields(r.get(19)?),
        },
        relay_status,
        relay_attempts: r.get(20)?,
        relay_error: r.get(21)?,
    })
}
