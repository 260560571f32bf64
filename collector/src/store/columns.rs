//! What both SQL stores share about the events table, written once: the columns an insert
//! writes and a read returns, the JSON text columns (`user_data`, `custom_data`, `dpo`) written
//! and read back the same way, and what the reports derive from an event at insert, so the two
//! backends store the same bytes and the reports read them alike. (The tables themselves are
//! created by each store's migrations, in its own dialect; a migration never changes once
//! released.)

use std::borrow::Cow;
use std::sync::LazyLock;

use pixel_core::wire::Dpo;
use serde_json::{Map, Value};

use crate::event::{NewEvent, Origin, ServerFields};
use crate::ports::derivation::FROM_CLIENT;
use crate::ports::RelayStatus;

/// The columns an insert writes, in the order of [`Encoded::of`]'s callers' parameters.
pub const INSERTED: [&str; 21] = [
    "pixel_id",
    "event_name",
    "event_id",
    "event_id_derived",
    "event_time",
    "received_at_ms",
    "source_url",
    "referrer_url",
    "fbp",
    "fbc",
    "client_ip",
    "user_agent",
    "user_data",
    "custom_data",
    "dpo",
    "relay_status",
    "report_keys",
    "report_visitor",
    "origin",
    "hold_until_ms",
    "server_fields",
];

/// [`INSERTED`] as an SQL column list.
pub static INSERT_COLUMNS: LazyLock<String> = LazyLock::new(|| INSERTED.join(", "));

/// The columns of a [`StoredEvent`](crate::ports::StoredEvent), in the order both stores read
/// them: the id, the inserted columns but the reports' derivation, then the relay's progress.
pub static EVENT_COLUMNS: LazyLock<String> = LazyLock::new(|| {
    let stored = INSERTED.iter().filter(|c| !c.starts_with("report_"));
    let mut cols = vec!["id"];
    cols.extend(stored);
    cols.extend(["relay_attempts", "relay_error"]);
    cols.join(", ")
});

/// A merge's update (`ports::merge`): every inserted column but the relay status, numbered
/// from 1 in [`INSERTED`]'s order by `mark` (`?1` or `$1`), then the row's id.
pub fn merge_update(mark: fn(usize) -> String) -> String {
    let sets: Vec<String> = INSERTED
        .iter()
        .filter(|c| **c != "relay_status")
        .enumerate()
        .map(|(i, c)| format!("{c} = {}", mark(i + 1)))
        .collect();
    format!(
        "UPDATE events SET {} WHERE id = {}",
        sets.join(", "),
        mark(INSERTED.len())
    )
}

/// Where `relay_status` is in [`INSERTED`]: a merge's values leave it out.
pub const STATUS_AT: usize = 15;

/// The stored form of an event's columns that are not copied as they are: its JSON texts, the
/// status it starts in, and what the reports derive from it.
pub struct Encoded {
    pub user_data: String,
    pub custom_data: String,
    pub dpo: Option<String>,
    pub status: &'static str,
    pub report_keys: i64,
    pub report_visitor: Option<String>,
    pub origin: i64,
    pub server_fields: Option<String>,
}

impl Encoded {
    pub fn of(e: &NewEvent) -> Encoded {
        let user_data = user_data_json(&e.user_data);
        let (report_keys, report_visitor) = derive_event(e, &user_data);
        Encoded {
            custom_data: custom_data_json(&e.custom_data),
            dpo: dpo_json(&e.dpo),
            status: RelayStatus::initial(e.relay).as_str(),
            user_data,
            report_keys,
            report_visitor,
            origin: i64::from(e.origin.0),
            server_fields: server_fields_json(e.server.as_deref()),
        }
    }
}

fn server_fields_json(s: Option<&ServerFields>) -> Option<String> {
    let s = s?;
    let mut m = Map::new();
    m.insert(
        "action_source".into(),
        Value::from(s.action_source.as_str()),
    );
    if let Some(code) = &s.test_event_code {
        m.insert("test_event_code".into(), Value::from(code.as_str()));
    }
    if !s.user_data.is_empty() {
        m.insert("user_data".into(), Value::Object(s.user_data.clone()));
    }
    if !s.event.is_empty() {
        m.insert("event".into(), Value::Object(s.event.clone()));
    }
    Some(Value::Object(m).to_string())
}

/// The `server_fields` column read back.
pub fn parse_server_fields(text: Option<String>) -> Option<Box<ServerFields>> {
    let mut m = parse_object(&text?);
    let mut object = |k: &str| match m.remove(k) {
        Some(Value::Object(o)) => o,
        _ => Map::new(),
    };
    let (user_data, event) = (object("user_data"), object("event"));
    let text = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
    Some(Box::new(ServerFields {
        action_source: text("action_source").unwrap_or_else(|| "website".to_owned()),
        test_event_code: text("test_event_code"),
        user_data,
        event,
    }))
}

fn user_data_json(ud: &[(String, String)]) -> String {
    let map: std::collections::BTreeMap<&str, &str> =
        ud.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    serde_json::to_string(&map).unwrap_or_else(|_| "{}".to_owned())
}

fn dpo_json(dpo: &Option<Dpo>) -> Option<String> {
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

fn custom_data_json(cd: &Map<String, Value>) -> String {
    serde_json::to_string(cd).unwrap_or_else(|_| "{}".to_owned())
}

/// The `user_data` column read back as `(key, hash)` pairs.
pub fn user_data_pairs(text: &str) -> Vec<(String, String)> {
    parse_object(text)
        .into_iter()
        .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
        .collect()
}

/// A merged copy ([`crate::ports::merge::meet`]) about to be written over its row, whose
/// `report_keys` were `old_keys`: the event to write and its columns. A late copy (its event
/// already sent, refused or expired: [`Origin::LATE`]) is not sent again, so its IP and user agent
/// are not stored: the bits the reports read of them ([`FROM_CLIENT`]) are derived from it
/// first, and joined with the row's own, derived when it still had its IP and user agent (cleared
/// since, when it left the queue). So for an event never relayed ([`stored_form`]). A server copy that replaces a forged beacon whole (no browser
/// copy in it) keeps none of the beacon's.
pub fn merged_row(mut merged: NewEvent, old_keys: Option<i64>) -> (NewEvent, Encoded) {
    let mut c = Encoded::of(&merged);
    if keeps_no_client(&merged) {
        if merged.origin.has(Origin::BROWSER) {
            c.report_keys |= old_keys.unwrap_or(0) & FROM_CLIENT;
        }
        merged.client_ip = None;
        merged.user_agent = None;
    }
    (merged, c)
}

/// An event as a store writes it: an event that is never relayed (its pixel has no access
/// token: stored `not_relayed`) keeps no IP or user agent. They would only ever serve the
/// reports, which read what they need of them from `report_keys`, derived at insert from the
/// event as it came ([`Encoded::of`]); the relay never reads such an event, even after a token is
/// configured.
pub fn stored_form(e: &NewEvent) -> Cow<'_, NewEvent> {
    if e.relay || (e.client_ip.is_none() && e.user_agent.is_none()) {
        return Cow::Borrowed(e);
    }
    Cow::Owned(NewEvent {
        client_ip: None,
        user_agent: None,
        ..e.clone()
    })
}

/// Whether a merged copy is written without IP and user agent ([`merged_row`]): a late one, or
/// one of an event never relayed. Only then does a merge read the row's `report_keys`.
pub fn keeps_no_client(merged: &NewEvent) -> bool {
    merged.origin.has(Origin::LATE) || !merged.relay
}

/// `report_keys` and `report_visitor` of an event about to be stored, `user_data` its column:
/// what [`crate::ports::derivation::derive`] makes of it.
fn derive_event(e: &NewEvent, user_data: &str) -> (i64, Option<String>) {
    crate::ports::derivation::derive(&crate::ports::Row {
        event_name: &e.event_name,
        fbp: e.fbp.as_deref(),
        has_fbc: e.fbc.is_some(),
        has_client_ip: e.client_ip.is_some(),
        user_agent: e.user_agent.as_deref(),
        source_url: &e.source_url,
        user_data,
        origin: e.origin.0,
        ..Default::default()
    })
}

/// What the rollups count of an event about to be inserted ([`Encoded::of`] its columns): the
/// [`Fact`](crate::ports::rollup::Fact) a read of its row would give.
pub fn inserted_fact(e: &NewEvent, c: &Encoded) -> crate::ports::rollup::Fact {
    crate::ports::rollup::fact_with(
        &e.pixel_id,
        &crate::ports::Row {
            event_name: &e.event_name,
            event_time: e.event_time,
            fbp: e.fbp.as_deref(),
            event_id_derived: e.event_id_derived,
            relay_status: Some(RelayStatus::initial(e.relay)),
            derived: Some(crate::ports::Derived {
                keys: c.report_keys,
                visitor: c.report_visitor.as_deref(),
            }),
            ..Default::default()
        },
        crate::ports::rollup::amount_in(&e.custom_data),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_read_columns_are_the_id_the_stored_ones_and_the_relay_progress() {
        assert_eq!(
            *EVENT_COLUMNS,
            "id, pixel_id, event_name, event_id, event_id_derived, event_time, received_at_ms, \
             source_url, referrer_url, fbp, fbc, client_ip, user_agent, user_data, custom_data, \
             dpo, relay_status, origin, hold_until_ms, server_fields, relay_attempts, relay_error"
        );
        assert_eq!(INSERTED.get(STATUS_AT), Some(&"relay_status"));
        assert_eq!(
            merge_update(|i| format!("?{i}")),
            "UPDATE events SET pixel_id = ?1, event_name = ?2, event_id = ?3, \
             event_id_derived = ?4, event_time = ?5, received_at_ms = ?6, source_url = ?7, \
             referrer_url = ?8, fbp = ?9, fbc = ?10, client_ip = ?11, user_agent = ?12, \
             user_data = ?13, custom_data = ?14, dpo = ?15, report_keys = ?16, \
             report_visitor = ?17, origin = ?18, hold_until_ms = ?19, server_fields = ?20 \
             WHERE id = ?21"
        );
        assert!(INSERT_COLUMNS.ends_with(
            "relay_status, report_keys, report_visitor, origin, hold_until_ms, server_fields"
        ));
    }
}
