//! Between rows and values: the column list, JSON columns and [`StoredEvent`].

use pixel_core::wire::Dpo;
use rusqlite::{Connection, Row};
use serde_json::{Map, Value};

use super::err;
use crate::event::NewEvent;
use crate::store::{RelayStatus, StoreError, StoredEvent};

pub(super) const EVENT_COLUMNS: &str = "id, pixel_id, event_name, event_id, event_id_derived, event_time, received_at_ms, \
     source_url, referrer_url, fbp, fbc, client_ip, user_agent, user_data, custom_data, dpo, relay_status, \
     relay_attempts, relay_error";

pub(super) fn user_data_json(ud: &[(String, String)]) -> String {
    let map: std::collections::BTreeMap<&str, &str> =
        ud.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    serde_json::to_string(&map).unwrap_or_else(|_| "{}".to_owned())
}

pub(super) fn dpo_json(dpo: &Option<Dpo>) -> Option<String> {
    dpo.as_ref().map(|d| {
        serde_json::json!({"options": d.options, "country": d.country, "state": d.state})
            .to_string()
    })
}

pub(super) fn parse_dpo(text: Option<String>) -> Option<Dpo> {
    let v: Value = serde_json::from_str(&text?).ok()?;
    let options = v
        .get("options")?
        .as_array()?
        .iter()
        .filter_map(|o| o.as_str().map(str::to_owned))
        .collect();
    Some(Dpo {
        options,
        country: v.get("country").and_then(Value::as_i64).unwrap_or(0),
        state: v.get("state").and_then(Value::as_i64).unwrap_or(0),
    })
}

pub(super) fn parse_object(text: &str) -> Map<String, Value> {
    match serde_json::from_str(text) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

pub(super) fn row_to_event(r: &Row<'_>) -> rusqlite::Result<StoredEvent> {
    let user_data = parse_object(&r.get::<_, String>(13)?)
        .into_iter()
        .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
        .collect();
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
        },
        relay_status,
        relay_attempts: r.get(17)?,
        relay_error: r.get(18)?,
    })
}

pub(super) fn count(conn: &Connection, sql: &str, pixel_id: &str) -> Result<u64, StoreError> {
    conn.query_row(sql, [pixel_id], |r| r.get::<_, i64>(0))
        .map(|n| u64::try_from(n).unwrap_or(0))
        .map_err(err)
}

/// The `(key, count)` rows of a `SELECT key, COUNT(*) ... WHERE pixel_id = ?1 GROUP BY key`.
pub(super) fn grouped_counts(
    conn: &Connection,
    sql: &str,
    pixel_id: &str,
) -> Result<Vec<(String, u64)>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(err)?;
    let rows = stmt
        .query_map([pixel_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })
        .map_err(err)?;
    rows.map(|row| {
        row.map(|(key, n)| (key, u64::try_from(n).unwrap_or(0)))
            .map_err(err)
    })
    .collect()
}
