//! `/api/reports/relay`: what reached the collector and what became of it on its way to Meta,
//! from the rollups' day cells (relay status, Meta's message, origin, own event ID).

use std::collections::HashMap;

use serde_json::{json, Value};

use super::figures::ratio;
use super::params::DayRange;
use super::scan::scan_range;
use crate::event::Origin;
use crate::ports::derivation::origin;
use crate::ports::rollup::keys_row;
use crate::ports::{Columns, RelayStatus, ReportSource, StoreError};

/// `/api/reports/relay`: received, duplicates, each relay status, Meta's messages grouped and
/// the share of Purchases with the page's own event ID.
pub fn relay(src: &dyn ReportSource, pixel: &str, range: DayRange) -> Result<Value, StoreError> {
    if !src.keeps_rollups() {
        return scanned(src, pixel, range);
    }
    let mut tally = Tally::default();
    let r = src.rollup(pixel, range.from_day, range.to_day)?;
    for (k, n) in &r.days {
        let n = u64::try_from(*n).unwrap_or(0);
        if n > 0 {
            let from = origin(&keys_row(k.keys));
            let error = k.error.as_deref();
            tally.add(
                &k.name,
                Some(k.relay_status()),
                error,
                from,
                k.id_derived,
                n,
            );
        }
    }
    let duplicates = src.duplicates(pixel, range.from_day, range.to_day)?;
    Ok(tally.answer(duplicates))
}

/// The relay report's counts, whether they come from the rollups' cells or a scan of the events
/// (`scanned` below): one owner of what each figure counts and of the answer's shape.
#[derive(Default)]
struct Tally {
    by_status: HashMap<RelayStatus, u64>,
    errors: HashMap<String, u64>,
    stored: u64,
    purchases: u64,
    purchases_with_id: u64,
    /// By `event::Origin`'s copy bits: 1 browser, 2 server, 3 both.
    provenance: HashMap<u8, u64>,
    purchase_copies: HashMap<u8, u64>,
    late: u64,
}

impl Tally {
    /// `n` events of `name` with this relay status (and Meta's message when it failed), made of
    /// the copies `from`, with a derived event ID or the page's own.
    fn add(
        &mut self,
        name: &str,
        status: Option<RelayStatus>,
        error: Option<&str>,
        from: Origin,
        id_derived: bool,
        n: u64,
    ) {
        self.stored += n;
        if let Some(s) = status {
            *self.by_status.entry(s).or_insert(0) += n;
            if s == RelayStatus::Failed {
                let msg = error.unwrap_or("(no message)");
                match self.errors.get_mut(msg) {
                    Some(count) => *count += n,
                    None => {
                        self.errors.insert(msg.to_owned(), n);
                    }
                }
            }
        }
        let copies = from.copies().0;
        *self.provenance.entry(copies).or_insert(0) += n;
        if from.has(Origin::LATE) {
            self.late += n;
        }
        if name == "Purchase" {
            self.purchases += n;
            if !id_derived {
                self.purchases_with_id += n;
            }
            *self.purchase_copies.entry(copies).or_insert(0) += n;
        }
    }

    /// The report, with the `duplicates` the store dropped in the range.
    fn answer(self, duplicates: u64) -> Value {
        let mut errors: Vec<(String, u64)> = self.errors.into_iter().collect();
        errors.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let status = |s| self.by_status.get(&s).copied().unwrap_or(0);
        json!({
            "received": self.stored + duplicates,
            "duplicates": duplicates,
            "stored": self.stored,
            "relayed": status(RelayStatus::Sent),
            "pending": status(RelayStatus::Pending),
            "failed": status(RelayStatus::Failed),
            "expired": status(RelayStatus::Expired),
            "not_relayed": status(RelayStatus::NotRelayed),
            "errors": errors.iter().map(|(m, n)| json!({"message": m, "count": n})).collect::<Vec<_>>(),
            "purchases": self.purchases,
            "purchases_with_event_id": self.purchases_with_id,
            "purchase_event_id_share": ratio(self.purchases_with_id, self.purchases),
            "provenance": {
                "browser": copies(&self.provenance, 1),
                "server": copies(&self.provenance, 2),
                "both": copies(&self.provenance, 3),
                "late": self.late,
            },
            "capture": capture(&self.purchase_copies),
        })
    }
}

fn copies(by: &HashMap<u8, u64>, bits: u8) -> u64 {
    by.get(&bits).copied().unwrap_or(0)
}

/// The browser capture rate: of the verified (server) Purchases, the share that also came from a
/// browser. What content blockers, closed tabs and payment redirects cost the store's pixel.
fn capture(purchases: &HashMap<u8, u64>) -> Value {
    let (server_only, both) = (copies(purchases, 2), copies(purchases, 3));
    json!({
        "verified_purchases": server_only + both,
        "both": both,
        "server_only": server_only,
        "browser_only": copies(purchases, 1),
        "browser_capture_rate": ratio(both, server_only + both),
    })
}

/// [`relay`] from a scan of the events, for a store that keeps no rollups (PostgreSQL, for
/// now): the same counts, the same answer.
fn scanned(src: &dyn ReportSource, pixel: &str, range: DayRange) -> Result<Value, StoreError> {
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
