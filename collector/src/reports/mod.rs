//! What the store learns from its events: the funnel, the timeline, match quality, relay health,
//! attribution, Aggregated Event Measurement and the audiences (`/api/reports/*`,
//! `/api/audiences/*.csv`).
//!
//! The split that keeps the reports backend-neutral (issue #12, PostgreSQL): a store only has to
//! stream the rows of one pixel in a time range ([`ReportSource::scan`], one plain
//! `SELECT ... WHERE pixel_id = ? AND event_time >= ? AND event_time < ?`) and count the
//! duplicates it dropped per day; every figure is computed here, in one pass over those rows, so
//! two stores that hold the same events give the same answers by construction. (The audiences then
//! read the hashes of the few events they export by id, [`ReportSource::user_data`], whose default
//! is one more scan.)
//!
//! Speed (1,000,000 events per report, see the README): a store keeps, beside each event, what
//! [`derive()`] makes of it when it is stored ([`Row::derived`]: which keys it carries, iOS or not,
//! landing or not, its visitor without `fbp`) in columns an index can cover, so a scan reads a
//! narrow index instead of whole rows; a store without them passes `None` and the reports derive
//! the same from the row. Visitors are numbered once per scan, so each report keeps integers.
//!
//! The count-like reports read the write-time aggregates instead ([`ReportSource::rollup`],
//! [`crate::ports::rollup`]): their time grows with the days in the range, not the events (issue
//! #26). A store that keeps none (PostgreSQL for now) answers them from one scan each as before
//! (each report's `scanned`, counting into the same figures and answer as its rollup path).
//!
//! One file per report:
//! - `funnel.rs`: [`funnel()`], events and visitors per step of [`FUNNEL`] (rollups);
//! - `timeline.rs`: [`timeline()`], events and revenue per day or hour (rollups);
//! - `match_quality.rs`: [`match_quality()`], the share of events carrying each key, and the score
//!   (rollups);
//! - `relay.rs`: [`relay()`], received, duplicates, each relay status and Meta's messages (rollups);
//! - `summary.rs`: [`summary()`], visitors new and returning, orders, purchasers, conversion rate,
//!   revenue and average order value (rollups);
//! - `attribution.rs`: [`attribution()`], Purchases credited to the last non-direct landing;
//! - `aem.rs`: [`aem()`], what Aggregated Event Measurement would count, overall and for iOS;
//! - `audience.rs`: [`audience()`] and [`Audience`], the customer-list CSVs;
//! - `diagnostics.rs`: [`diagnostics()`], the mistakes that cost a store money, from the marks
//!   the stores keep at write time (`ports::diagnostics`), not from a scan.
//!
//! What several reports share, each in a sibling file the reports import directly:
//! - `derive.rs`: the write-time [`derive()`] and its [`Derived`], the bits it sets
//!   ([`MATCH_KEYS`], [`LANDING`], [`AUDIENCE_KEYS`]) and the rules behind them (the keys an
//!   event carries, iOS, a landing's campaign), read from [`Row::derived`] or else the row;
//! - `user_data.rs`: the stored `user_data` column parsed, and the visitor it names;
//! - `visitors.rs`: visitors numbered per scan, and per-visitor slots;
//! - `money.rs`: a Purchase's currency and value, and sums per currency;
//! - `figures.rs`: rounding and ratios;
//! - `scan.rs`: one pixel's events in a time range, through [`ReportSource::scan`];
//! - `revenue.rs`: revenue in micros per currency, as the rollups keep it;
//! - `params.rs`: the query parameters and UTC days.
//!
//! `derive.rs` and `user_data.rs` import nothing of the reports (only [`Row`] from the ports, and
//! `derive.rs` from `user_data.rs`), because the store calls [`derive()`] on its write path.
//!
//! [`ReportSource::scan`]: crate::ports::ReportSource::scan
//! [`ReportSource::user_data`]: crate::ports::ReportSource::user_data
//! [`ReportSource::rollup`]: crate::ports::ReportSource::rollup
//! [`Row`]: crate::ports::Row
//! [`Row::derived`]: crate::ports::Row::derived
//! [`Derived`]: crate::ports::Derived

mod aem;
mod attribution;
mod audience;
mod diagnostics;
mod figures;
mod funnel;
mod match_quality;
mod money;
mod params;
mod relay;
mod revenue;
mod scan;
mod summary;
mod timeline;
mod visitors;

pub use aem::aem;
pub use attribution::attribution;
pub use audience::{audience, Audience};
pub use diagnostics::diagnostics;
pub use funnel::{funnel, FUNNEL};
pub use match_quality::match_quality;
pub use params::{format_day, parse_date, AemParams, AudienceParams, DayRange, ReportParams};
pub use relay::relay;
pub use summary::summary;
pub use timeline::timeline;
