//! A transaction's marks, summed per key before they reach the table, and the table's row.

use super::code::{counted, Code};

/// What one row of the table holds: the key and its sums.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MarkRow {
    pub pixel_id: String,
    /// UTC day of receipt (days since 1970-01-01).
    pub day: i64,
    /// A [`Code`]'s `as_str`, or a [`fact`].
    pub code: String,
    pub event_name: String,
    pub detail: String,
    /// May be negative within a tally (a merge takes a mark off); the stored sum is not.
    pub events: i64,
    /// Receipt times (Unix ms) of the first and last event counted ([`NONE_FIRST`] and
    /// [`NONE_LAST`] when a tally only takes events off).
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    /// One event ID among those counted (empty: none yet).
    pub example_event_id: String,
}

/// The first and last seen of a mark that only takes events off: neutral in `MIN` and `MAX`.
pub const NONE_FIRST: i64 = i64::MAX;
pub const NONE_LAST: i64 = i64::MIN;

/// The marks of one transaction, summed per key (a group commit of 200 PageViews of one pixel
/// is one `_events` upsert). A vector searched from its end: a group commit has a few dozen
/// keys, and a key is found without building an owned copy of it (`loadgen`: an ordered map
/// keyed by owned strings cost 4 allocations per mark).
#[derive(Debug, Default)]
pub struct Tally {
    sums: Vec<(Key, Sum)>,
}

type Key = (String, i64, &'static str, String, String);

#[derive(Clone, Debug)]
struct Sum {
    events: i64,
    first: i64,
    last: i64,
    example: String,
}

impl Tally {
    /// Count `delta` events (`-1`: take one off) of `code` for the event `(pixel, name, id)`
    /// received at `at_ms`, under `detail`.
    pub fn add(&mut self, code: &'static str, m: &Mark<'_>, detail: &str, delta: i64) {
        let day = m.at_ms.div_euclid(86_400_000);
        let found = self.sums.iter().rposition(|((p, d, c, n, x), _)| {
            *d == day && *c == code && p == m.pixel_id && n == m.event_name && x == detail
        });
        let at = match found {
            Some(at) => at,
            None => {
                let key = (
                    m.pixel_id.to_owned(),
                    day,
                    code,
                    m.event_name.to_owned(),
                    detail.to_owned(),
                );
                let sum = Sum {
                    events: 0,
                    first: NONE_FIRST,
                    last: NONE_LAST,
                    example: String::new(),
                };
                self.sums.push((key, sum));
                self.sums.len() - 1
            }
        };
        let Some((_, sum)) = self.sums.get_mut(at) else {
            return;
        };
        sum.events += delta;
        if delta > 0 {
            sum.first = sum.first.min(m.at_ms);
            sum.last = sum.last.max(m.at_ms);
            if sum.example.is_empty() {
                sum.example = m.event_id.to_owned();
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.sums.is_empty()
    }

    /// The rows to add to the table, in key order (the order every transaction locks them in),
    /// without those that sum to nothing. Counts the findings added for `/metrics`.
    pub fn rows(self) -> Vec<MarkRow> {
        let rows = self.into_rows();
        count_rows(&rows);
        rows
    }

    /// [`Tally::rows`] uncounted (a store that learns later which were stored counts those).
    pub fn into_rows(self) -> Vec<MarkRow> {
        let mut sums = self.sums;
        sums.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut out = Vec::with_capacity(sums.len());
        for ((pixel_id, day, code, event_name, detail), s) in sums {
            if s.events == 0 {
                continue;
            }
            out.push(MarkRow {
                pixel_id,
                day,
                code: code.to_owned(),
                event_name,
                detail,
                events: s.events,
                first_seen_ms: s.first,
                last_seen_ms: s.last,
                example_event_id: s.example,
            });
        }
        out
    }
}

/// Which event a mark is about.
#[derive(Clone, Copy, Debug)]
pub struct Mark<'a> {
    pub pixel_id: &'a str,
    pub event_name: &'a str,
    pub event_id: &'a str,
    /// Receipt time of the event (its first copy), Unix ms.
    pub at_ms: i64,
}

/// Count the findings `rows` add.
pub fn count_rows(rows: &[MarkRow]) {
    for r in rows.iter().filter(|r| r.events > 0) {
        if let Some(c) = Code::parse(&r.code) {
            counted(c, usize::try_from(r.events).unwrap_or(0));
        }
    }
}
