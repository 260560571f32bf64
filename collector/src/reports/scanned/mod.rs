//! The count-like reports computed from a scan of the events, as before the rollups: what a
//! store that keeps no rollups answers (PostgreSQL, until it keeps them:
//! [`ReportSource::keeps_rollups`](crate::ports::ReportSource::keeps_rollups)), one narrow scan
//! per report, so that such a store is not slowed by them. The same figures as the reports read
//! from the rollups (the fixture of `tests/reports.rs` holds both to the same answers).

pub(super) mod funnel;
pub(super) mod match_quality;
pub(super) mod relay;
pub(super) mod timeline;
