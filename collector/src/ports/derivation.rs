//! What the reports need from an event that never changes once it is stored, and the rules that
//! decide it: which of [`MATCH_KEYS`] it carries, whether its user agent is iOS (`ios`),
//! whether it is a landing ([`LANDING`], by `touch`), and who it is without `fbp`.
//!
//! [`derive()`] computes it when an event is stored (the write path keeps it in `report_keys` and
//! `report_visitor`); it is all the reports read of the client's IP and user agent
//! ([`FROM_CLIENT`]), which the stores clear once the event leaves the relay queue; the row-level readers here (`user_data`, `carried`, `ios`) take it
//! from [`Row::derived`] when the store kept it and compute the same from the row when it did not.
//! It reads [`Row`] and [`super::user_data`], nothing of the reports, so the stores call it on the
//! write path and the reports on the read path: one owner of each rule.

use pixel_core::wire::query_pairs;

use super::report_source::Row;
use super::user_data::{named_visitor, parse_user_data, Ud};
use crate::event::Origin;

/// The keys match quality looks at, with their weights (they add up to 10: an event carrying all
/// of them scores 10). The reasoning is in the README ("Match quality score").
pub const MATCH_KEYS: [(&str, f64); 14] = [
    ("em", 3.0),
    ("ph", 2.0),
    ("external_id", 1.0),
    ("fbc", 1.0),
    ("fbp", 0.75),
    ("ip_ua", 0.75),
    ("fn", 0.25),
    ("ln", 0.25),
    ("zp", 0.25),
    ("ct", 0.15),
    ("st", 0.15),
    ("country", 0.15),
    ("db", 0.15),
    ("ge", 0.15),
];

/// Bit `i` of [`Derived::keys`](crate::ports::Derived::keys) stands for `MATCH_KEYS[i]`; then these two.
const IOS: i64 = 1 << MATCH_KEYS.len();
/// The bits derived from the client's IP and user agent (`ip_ua`: it had both; iOS): all
/// the reports ever read of them. The stores clear both columns once an event leaves the relay
/// queue (sent, failed, expired), and keep these bits of a late copy's ([`crate::ports::merge`]).
pub const FROM_CLIENT: i64 = (1 << 5) | IOS; // `MATCH_KEYS[5]` is `ip_ua`
/// A PageView whose URL is a (non-direct) landing: UTM parameters or `fbclid`.
pub const LANDING: i64 = IOS << 1;
/// Which copies the event is made of: [`Origin`]'s three bits, shifted above [`LANDING`], kept
/// here so the reports read them from the index.
const ORIGIN_SHIFT: u32 = LANDING.trailing_zeros() + 1;
/// The bits of the keys an audience exports (every user data key but `db` and `ge`).
pub const AUDIENCE_KEYS: i64 = 0b00_1111_1100_0111;

/// What a store keeps beside an event for the reports (`report_keys`, `report_visitor`): `row`
/// holds the event's columns as stored (its `id`, relay fields and `derived` are not read). The
/// reports compute the same from the columns of a row without it, so either way the answers are
/// the same.
pub fn derive(row: &Row<'_>) -> (i64, Option<String>) {
    let row = Row {
        derived: None,
        ..row.clone()
    };
    let ud = user_data(&row);
    let mut keys = 0i64;
    for (i, has) in carried(&row, &ud).into_iter().enumerate() {
        keys |= i64::from(has) << i;
    }
    if is_ios(row.user_agent) {
        keys |= IOS;
    }
    if row.event_name == "PageView" && touch(row.source_url).is_some() {
        keys |= LANDING;
    }
    keys |= i64::from(Origin::from_bits(row.origin.into()).0) << ORIGIN_SHIFT;
    let who = if row.fbp.is_some() {
        None
    } else {
        named_visitor(&ud)
    };
    (keys, who)
}

/// Which copies `row` is made of: from [`Row::derived`], else from [`Row::origin`] (a scan with
/// [`Columns::origin`](super::Columns::origin)). A row stored before the origin bits existed
/// reads as a browser's ([`Origin::from_bits`]).
pub fn origin(row: &Row<'_>) -> Origin {
    Origin::from_bits(match row.derived {
        Some(d) => (d.keys >> ORIGIN_SHIFT) & 7,
        None => row.origin.into(),
    })
}

/// The user data of `row`, empty without reading it when [`Row::derived`] says it carries none
/// of [`AUDIENCE_KEYS`].
pub(crate) fn user_data<'a>(row: &Row<'a>) -> Ud<'a> {
    if row.user_data.len() <= 2 || row.derived.is_some_and(|d| d.keys & AUDIENCE_KEYS == 0) {
        return Ud::default();
    }
    parse_user_data(row.user_data)
}

/// Which of [`MATCH_KEYS`] `row` carries (`ud`: its [`user_data`]).
pub(crate) fn carried(row: &Row<'_>, ud: &Ud<'_>) -> [bool; MATCH_KEYS.len()] {
    if let Some(d) = row.derived {
        return std::array::from_fn(|i| d.keys & (1 << i) != 0);
    }
    [
        ud.em.is_some(),
        ud.ph.is_some(),
        ud.external_id.is_some(),
        row.has_fbc,
        row.fbp.is_some(),
        row.has_client_ip && row.user_agent.is_some(),
        ud.first_name.is_some(),
        ud.ln.is_some(),
        ud.zp.is_some(),
        ud.ct.is_some(),
        ud.st.is_some(),
        ud.country.is_some(),
        ud.db.is_some(),
        ud.ge.is_some(),
    ]
}

/// An iPhone, iPad or iPod user agent. (iPadOS 13 and later may present a desktop Safari user
/// agent, which no server can tell from a Mac.)
fn is_ios(ua: Option<&str>) -> bool {
    ua.is_some_and(|ua| ua.contains("iPhone") || ua.contains("iPad") || ua.contains("iPod"))
}

/// Whether `row` came from iOS, by [`Row::derived`] or else its user agent.
pub(crate) fn ios(row: &Row<'_>) -> bool {
    match row.derived {
        Some(d) => d.keys & IOS != 0,
        None => is_ios(row.user_agent),
    }
}

/// The campaign of a landing page: `utm_source / utm_medium / utm_campaign` and whether it
/// carries `fbclid`. `None` for a page that is no (non-direct) landing.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Touch {
    pub(crate) source: Option<String>,
    pub(crate) medium: Option<String>,
    pub(crate) campaign: Option<String>,
    pub(crate) fbclid: bool,
}

/// The [`Touch`] of a page URL, `None` when it is no landing.
pub(crate) fn touch(url: &str) -> Option<Touch> {
    let query = url.split_once('?')?.1;
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    let pairs = query_pairs(query).ok()?;
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, v)| n == k && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_owned())
    };
    let t = Touch {
        source: get("utm_source"),
        medium: get("utm_medium"),
        campaign: get("utm_campaign"),
        fbclid: get("fbclid").is_some(),
    };
    (t.source.is_some() || t.medium.is_some() || t.campaign.is_some() || t.fbclid).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn landing_pages_and_ios() {
        assert_eq!(touch("https://s.example/"), None);
        assert_eq!(touch("https://s.example/?q=1#utm_source=x"), None);
        assert_eq!(
            touch("https://s.example/p?utm_source=fb&utm_campaign=bf%20sale#x"),
            Some(Touch {
                source: Some("fb".into()),
                medium: None,
                campaign: Some("bf sale".into()),
                fbclid: false
            })
        );
        assert!(touch("https://s.example/?fbclid=IwAR1").is_some_and(|t| t.fbclid));
        assert!(is_ios(Some(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)"
        )));
        assert!(!is_ios(Some("Mozilla/5.0 (Linux; Android 14)")));
        assert!(!is_ios(None));
    }

    #[test]
    fn weights_add_up_to_ten() {
        let sum: f64 = MATCH_KEYS.iter().map(|(_, w)| w).sum();
        assert!((sum - 10.0).abs() < 1e-9, "{sum}");
    }

    #[test]
    fn from_client_is_ip_ua_and_ios() {
        assert_eq!(MATCH_KEYS.get(5).map(|k| k.0), Some("ip_ua"));
        assert_eq!(FROM_CLIENT & !IOS, 1 << 5);
    }
}
