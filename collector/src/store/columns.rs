//! What both stores share: the JSON text columns (`user_data`, `custom_data`, `dpo`), written and
//! read back the same way, and the reports' scan statement, so the two backends store the same
//! bytes and the reports read them alike.

use pixel_core::wire::Dpo;
use serde_json::{Map, Value};

use crate::reports::Scan;

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

/// The `SELECT` of one scan, with parameters written by `mark` (1 for the first) and `null` for
/// the columns it does not need: the same statement on both stores.
pub fn scan_sql(scan: &Scan<'_>, mark: &dyn Fn(usize) -> String, null: &str) -> String {
    let c = &scan.columns;
    let pick = |needed: bool, col: &str| {
        if needed {
            col.to_owned()
        } else {
            null.to_owned()
        }
    };
    let names = match scan.names {
        Some(list) if !list.is_empty() => {
            let marks: Vec<String> = (0..list.len()).map(|i| mark(i + 4)).collect();
            format!(" AND event_name IN ({})", marks.join(", "))
        }
        _ => String::new(),
    };
    format!(
        "SELECT id, event_name, event_time, fbp, fbc IS NOT NULL, client_ip IS NOT NULL, {ua}, {url}, {ud},
                {pd}, event_id_derived, {status}, {error}
         FROM events
         WHERE pixel_id = {p1} AND event_time >= {p2} AND event_time < {p3}{names}",
        p1 = mark(1),
        p2 = mark(2),
        p3 = mark(3),
        ua = pick(c.user_agent, "user_agent"),
        url = pick(c.source_url, "source_url"),
        ud = pick(c.user_data, "user_data"),
        pd = pick(
            c.purchase_data,
            "CASE WHEN event_name = 'Purchase' THEN custom_data END"
        ),
        status = pick(c.relay, "relay_status"),
        error = pick(c.relay, "relay_error"),
    )
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
