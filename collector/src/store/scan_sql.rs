//! The report scan's `SELECT`, written once for both SQL stores: nothing in it is SQLite's or
//! PostgreSQL's own dialect (`CASE`, `&`, `IN`, numbered parameters `?N`, which the PostgreSQL
//! store rewrites to `$N`).

use crate::ports::derivation::{AUDIENCE_KEYS, LANDING};
use crate::ports::Scan;

/// The optional columns of a scan's `SELECT`, in this order after the six it always reads (`id,
/// event_name, event_time, fbp, report_keys, report_visitor`).
#[derive(Clone, Copy)]
pub enum Col {
    Fbc,
    ClientIp,
    UserAgent,
    SourceUrl,
    UserData,
    PurchaseData,
    EventIdDerived,
    RelayStatus,
    RelayError,
    Origin,
}
pub const OPTIONAL: usize = 10;

/// The `SELECT` of one scan and where each optional column is in it: only the columns the scan
/// needs, and of those only what [`Row::derived`] does not make unnecessary.
pub fn scan_sql(scan: &Scan<'_>) -> (String, [Option<usize>; OPTIONAL]) {
    let c = &scan.columns;
    // Rows stored before migration 3 have no derived keys and need every column.
    let underived = |col: &str| format!("CASE WHEN report_keys IS NULL THEN {col} END");
    let unless_bits = |bits: i64, col: &str| {
        format!("CASE WHEN report_keys IS NULL OR (report_keys & {bits}) <> 0 THEN {col} END")
    };
    let wanted: [(Col, bool, String); OPTIONAL] = [
        (Col::Fbc, c.user_agent, underived("fbc IS NOT NULL")),
        (
            Col::ClientIp,
            c.user_agent,
            underived("client_ip IS NOT NULL"),
        ),
        (Col::UserAgent, c.user_agent, underived("user_agent")),
        (
            Col::SourceUrl,
            c.source_url,
            unless_bits(LANDING, "source_url"),
        ),
        (
            Col::UserData,
            c.user_data,
            if c.hashes {
                unless_bits(AUDIENCE_KEYS, "user_data")
            } else {
                underived("user_data")
            },
        ),
        (
            Col::PurchaseData,
            c.purchase_data,
            "CASE WHEN event_name = 'Purchase' THEN custom_data END".to_owned(),
        ),
        (Col::EventIdDerived, c.relay, "event_id_derived".to_owned()),
        (Col::RelayStatus, c.relay, "relay_status".to_owned()),
        (
            Col::RelayError,
            c.relay,
            "CASE WHEN relay_status = 'failed' THEN relay_error END".to_owned(),
        ),
        (Col::Origin, c.origin, underived("origin")),
    ];
    let mut select =
        String::from("SELECT id, event_name, event_time, fbp, report_keys, report_visitor");
    let mut at = [None; OPTIONAL];
    let mut next = 6;
    for (col, needed, expr) in wanted {
        if needed {
            select.push_str(", ");
            select.push_str(&expr);
            if let Some(slot) = at.get_mut(col as usize) {
                *slot = Some(next);
            }
            next += 1;
        }
    }
    let names = match scan.names {
        Some(list) if !list.is_empty() => {
            let marks: Vec<String> = (0..list.len()).map(|i| format!("?{}", i + 4)).collect();
            let names = format!("event_name IN ({})", marks.join(", "));
            if c.keyed_rows {
                format!(
                    " AND ({names} OR report_keys IS NULL OR (report_keys & {AUDIENCE_KEYS}) <> 0)"
                )
            } else {
                format!(" AND {names}")
            }
        }
        _ => String::new(),
    };
    let sql = format!(
        "{select}
         FROM events
         WHERE pixel_id = ?1 AND event_time >= ?2 AND event_time < ?3{names}"
    );
    (sql, at)
}
