//! What both stores share: the JSON text columns (`user_data`, `custom_data`, `dpo`), written and
//! read back the same way, and what the reports derive from an event at insert, so the two
//! backends store the same bytes and the reports read them alike.

use pixel_core::wire::Dpo;
use serde_json::{Map, Value};

/// The columns of a [`StoredEvent`](super::StoredEvent), in the order both stores read them.
pub const EVENT_COLUMNS: &str = "id, pixel_id, event_name, event_id, event_id_derived, event_time, received_at_ms, \
     source_url, referrer_url, fbp, fbc, client_ip, user_agent, user_data, custom_data, dpo, relay_status, \
     relay_attempts, relay_error";

pub fn user_data_json(ud: &[(String, String)]) -> String {
    let map: std::collections::BTreeMap<&str, &str> =
        ud.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    serde_json::to_string(&map).unwrap_or_else(|_| "{}".to_owned())
}

pub fn dpo_json(dpo: &Option<Dpo>) -> Option<String> {
    dpo.as_ref().map(|d| {
        serde_json::json!({"options": d.options, "country": d.country, "state": d.state})
            .to_string()
    })
}

pub fn parse_dpo(text: Option<String>) -> Option<Dpo> {
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

pub fn parse_object(text: &str) -> Map<String, Value> {
    match serde_json::from_str(text) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

pub fn custom_data_json(cd: &Map<String, Value>) -> String {
    serde_json::to_string(cd).unwrap_or_else(|_| "{}".to_owned())
}

/// The `user_data` column read back as `(key, hash)` pairs.
pub fn user_data_pairs(text: &str) -> Vec<(String, String)> {
    parse_object(text)
        .into_iter()
        .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
        .collect()
}

/// The expiry walk's answer from `(id, event_time)` rows in id order: the ids older than
/// `cutoff_secs`, and the last id looked at.
pub fn older_than(
    rows: impl IntoIterator<Item = (i64, i64)>,
    cutoff_secs: i64,
) -> (Vec<i64>, Option<i64>) {
    let (mut old, mut last) = (Vec::new(), None);
    for (id, event_time) in rows {
        if event_time < cutoff_secs {
            old.push(id);
        }
        last = Some(id);
    }
    (old, last)
}

/// `report_keys` and `report_visitor` of an event about to be stored, `user_data` its column:
/// what [`crate::reports::derive`] makes of it.
pub fn derive_event(e: &crate::event::NewEvent, user_data: &str) -> (i64, Option<String>) {
    crate::reports::derive(&crate::reports::Row {
        event_name: &e.event_name,
        fbp: e.fbp.as_deref(),
        has_fbc: e.fbc.is_some(),
        has_client_ip: e.client_ip.is_some(),
        user_agent: e.user_agent.as_deref(),
        source_url: &e.source_url,
        user_data,
        ..Default::default()
    })
}
