//! The read side of the per-person state ([`super::people`]): what the per-person reports ask
//! a store that keeps it. Apart from the state itself so that the report source port can name
//! it without depending on how the state is kept.

use super::types::StoreError;

/// One Purchase as the attribution reads it.
#[derive(Clone, Debug)]
pub struct PurchaseView<'a> {
    pub visitor: &'a str,
    pub time: i64,
    pub amount: Option<(&'a str, f64)>,
    /// Its latest landing at or before it: its age in seconds and its touch (`touch_key`).
    pub landing: Option<(i64, &'a str)>,
}

/// The read side of the per-person state: what the per-person reports ask a store that keeps it
/// ([`ReportSource::people`](super::ReportSource::people)).
pub trait PeopleSource {
    /// Recompute the state from the raw events (what a `rebuild` command calls, through
    /// `store.people()`); returns the number of events read.
    fn rebuild(&self) -> Result<u64, StoreError>;
    /// Every Purchase of `pixel` with `time` in `[from, to)`.
    fn purchases(
        &self,
        pixel: &str,
        from: i64,
        to: i64,
        f: &mut dyn FnMut(&PurchaseView<'_>),
    ) -> Result<(), StoreError>;
    /// Per channel (`people::campaign_key`), the distinct visitors who landed through it on the days
    /// `from_day..=to_day` (a channel may come more than once: the counts add up).
    fn channel_visitors(
        &self,
        pixel: &str,
        from_day: i64,
        to_day: i64,
        f: &mut dyn FnMut(&str, i64),
    ) -> Result<(), StoreError>;
    /// `(ios, set, visitor-days)` of the days `from_day..=to_day`.
    fn aem_sets(
        &self,
        pixel: &str,
        from_day: i64,
        to_day: i64,
        f: &mut dyn FnMut(bool, &str, i64),
    ) -> Result<(), StoreError>;
    /// `(name, n, n_ios)` of the days `from_day..=to_day` (a name may come once per day).
    fn names(
        &self,
        pixel: &str,
        from_day: i64,
        to_day: i64,
        f: &mut dyn FnMut(&str, i64, i64),
    ) -> Result<(), StoreError>;
}
