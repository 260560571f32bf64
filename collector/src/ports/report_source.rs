//! The report source port: what the reports need from a store. A store only has to stream the
//! rows of one pixel in a time range ([`ReportSource::scan`], one plain
//! `SELECT ... WHERE pixel_id = ? AND event_time >= ? AND event_time < ?`) and count the
//! duplicates it dropped per day; every figure is computed by the reports, in one pass over those
//! rows, so two stores that hold the same events give the same answers by construction. (The
//! audiences then read the hashes of the few events they export by id,
//! [`ReportSource::user_data`], whose default is one more scan.)
//!
//! Speed: a store keeps, beside each event, what the write-time derivation makes of it
//! ([`Row::derived`]: which keys it carries, iOS or not, landing or not, its visitor without
//! `fbp`) in columns an index can cover, so a scan reads a narrow index instead of whole rows; a
//! store without them passes `None` and the reports derive the same from the row.

use super::cells::Rollup;
use super::people_source::PeopleSource;
use super::types::{RelayStatus, StoreError};

/// The facts the reports need from an event that never change once it is stored, derived when it
/// is stored: which keys it carries, whether its user agent is iOS, whether it is a landing (the
/// bits of `keys`), and who it was when it has no `fbp` (`x:<external_id>` or `e:<em>`, `None`
/// for an anonymous visitor or one with `fbp`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Derived<'a> {
    pub keys: i64,
    pub visitor: Option<&'a str>,
}

/// Which optional columns a report reads (the others come back empty, and cost nothing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Columns {
    pub user_data: bool,
    /// With `user_data`: the report reads the hashes themselves (the audiences), not only which
    /// keys an event carries and who its visitor is, which [`Row::derived`] tells when present.
    pub hashes: bool,
    /// `value` and `currency` of Purchases.
    pub purchase_data: bool,
    pub source_url: bool,
    /// `user_agent`, and with it `has_fbc` and `has_client_ip` (what match quality reads).
    pub user_agent: bool,
    /// `relay_status`, `relay_error` and `event_id_derived`.
    pub relay: bool,
    /// Not a column but a wider filter: with [`Scan::names`], also every row that carries one of
    /// [`AUDIENCE_KEYS`](super::derivation::AUDIENCE_KEYS) (by [`Row::derived`]; every row stored without it), whatever its name.
    /// What the audiences scan: the events that decide who is in, and those that name them.
    pub keyed_rows: bool,
    /// Which copies each event is made of ([`Row::origin`] on a row without
    /// [`Row::derived`], whose keys tell it otherwise).
    pub origin: bool,
}

/// What to scan: one pixel, `event_time` in `[from_secs, to_secs)`, optionally only some names.
#[derive(Clone, Debug)]
pub struct Scan<'a> {
    pub pixel_id: &'a str,
    pub from_secs: i64,
    pub to_secs: i64,
    /// `None`: every event name.
    pub names: Option<&'a [String]>,
    pub columns: Columns,
}

/// One stored event as a report sees it, borrowed from the store's row.
#[derive(Clone, Debug, Default)]
pub struct Row<'a> {
    pub id: i64,
    pub event_name: &'a str,
    pub event_time: i64,
    pub fbp: Option<&'a str>,
    pub has_fbc: bool,
    pub has_client_ip: bool,
    pub user_agent: Option<&'a str>,
    pub source_url: &'a str,
    /// The `user_data` column: a JSON object of canonical key → SHA-256 hex.
    pub user_data: &'a str,
    /// The `custom_data` column of a Purchase (empty otherwise).
    pub purchase_data: &'a str,
    pub event_id_derived: bool,
    pub relay_status: Option<RelayStatus>,
    pub relay_error: Option<&'a str>,
    /// What [`derive`](super::derivation::derive) made of the event when it was stored (columns `report_keys` and
    /// `report_visitor`), `None` for a row stored without. With it, a store may leave out
    /// what it makes unnecessary: `user_agent`, `has_fbc` and `has_client_ip` always,
    /// `source_url` unless `keys` has [`LANDING`](super::derivation::LANDING), `user_data` unless the scan wants
    /// [`Columns::hashes`] and `keys` has one of [`AUDIENCE_KEYS`](super::derivation::AUDIENCE_KEYS). A store that never fills it
    /// gets the same answers, only slower.
    pub derived: Option<Derived<'a>>,
    /// Which copies the event is made of (`event::Origin`'s bits; 0 reads as a browser's), on a
    /// row without [`Row::derived`] (and on the write path, for
    /// [`derive`](super::derivation::derive)); the reports read it with
    /// [`origin`](super::derivation::origin), from [`Derived::keys`] when there.
    pub origin: u8,
}

/// The read side the reports need from a store.
pub trait ReportSource: Send + Sync {
    /// Call `f` once per event matching `scan`, in any order.
    fn scan(&self, scan: &Scan<'_>, f: &mut dyn FnMut(&Row<'_>)) -> Result<(), StoreError>;

    /// Duplicates acknowledged but not stored for `pixel_id`, received on UTC days
    /// `from_day..=to_day` (days since the Unix epoch).
    fn duplicates(&self, pixel_id: &str, from_day: i64, to_day: i64) -> Result<u64, StoreError>;

    /// Whether [`ReportSource::rollup`] reads aggregates kept at write time (SQLite, the twin);
    /// without them the count-like reports scan the events, each only the columns it needs.
    fn keeps_rollups(&self) -> bool {
        false
    }

    /// The per-person state kept at write time ([`super::people`]), when the store keeps it and
    /// it is complete (built or backfilled); `None`: the per-person reports scan the events.
    fn people(&self) -> Option<&dyn PeopleSource> {
        None
    }

    /// The write-time aggregates of `pixel_id` over UTC days `from_day..=to_day`
    /// ([`super::rollup`]): what the count-like reports read. A store that keeps none computes
    /// them from its events with [`super::rollup::from_scan`]: the same answers, only slower.
    fn rollup(&self, pixel_id: &str, from_day: i64, to_day: i64) -> Result<Rollup, StoreError>;

    /// Call `f(id, user_data)` once for each of the events `ids` (sorted, no repeats) that
    /// `scan` matches; `scan` says which pixel and time range they are in (its names and columns
    /// are not read). The audiences read the hashes only of the few events they export, once they
    /// know which. This default scans the range again, so every store answers the same; a store
    /// that can read a row by its id does that instead.
    fn user_data(
        &self,
        scan: &Scan<'_>,
        ids: &[i64],
        f: &mut dyn FnMut(i64, &str),
    ) -> Result<(), StoreError> {
        let all = Scan {
            names: None,
            columns: Columns {
                user_data: true,
                hashes: true,
                ..Columns::default()
            },
            ..scan.clone()
        };
        self.scan(&all, &mut |row| {
            if ids.binary_search(&row.id).is_ok() {
                f(row.id, row.user_data);
            }
        })
    }
}
