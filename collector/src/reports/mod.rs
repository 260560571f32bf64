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
//! [`derive`] makes of it when it is stored ([`Row::derived`]: which keys it carries, iOS or not,
//! landing or not, its visitor without `fbp`) in columns an index can cover, so a scan reads a
//! narrow index instead of whole rows; a store without them passes `None` and the reports derive
//! the same from the row. Visitors are numbered once per scan, so each report keeps integers.

mod compute;
mod params;

pub use compute::{
    aem, attribution, audience, derive, funnel, match_quality, relay, timeline, Audience,
    AUDIENCE_KEYS, LANDING, MATCH_KEYS,
};
pub use params::{format_day, parse_date, AemParams, AudienceParams, DayRange, ReportParams};

/// The funnel steps, in order.
pub const FUNNEL: [&str; 5] = [
    "PageView",
    "ViewContent",
    "AddToCart",
    "InitiateCheckout",
    "Purchase",
];
