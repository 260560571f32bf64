//! `/api/audiences/{name}.csv`: the hashed identifiers of the purchasers, cart abandoners or
//! viewers, as a Meta customer list.

use std::collections::BTreeMap;

use super::figures::round;
use super::money::purchase;
use super::params::{AudienceParams, DayRange, SECS_PER_DAY};
use super::scan::{names, scan};
use super::visitors::{per_visitor, FastMap, Visitors};
use crate::ports::derivation::{origin, user_data, MATCH_KEYS};
use crate::ports::user_data::{parse_user_data, Ud};
use crate::ports::{Columns, ReportSource, Scan, StoreError};

/// Which audience `/api/audiences/{name}.csv` exports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    /// Purchased in the range; `value` is their total purchase value.
    Purchasers,
    /// AddToCart or InitiateCheckout in the range and no Purchase within the window after it.
    CartAbandoners,
    /// ViewContent in the range and no AddToCart in it.
    Viewers,
}

impl Audience {
    pub fn parse(name: &str) -> Option<Audience> {
        match name {
            "purchasers.csv" => Some(Audience::Purchasers),
            "cart_abandoners.csv" => Some(Audience::CartAbandoners),
            "viewers.csv" => Some(Audience::Viewers),
            _ => None,
        }
    }
}

/// The CSV columns, as Meta's customer-list upload names them, and the stored key of each.
const AUDIENCE_COLUMNS: [(&str, &str); 9] = [
    ("email", "em"),
    ("phone", "ph"),
    ("fn", "fn"),
    ("ln", "ln"),
    ("ct", "ct"),
    ("st", "st"),
    ("zip", "zp"),
    ("country", "country"),
    ("external_id", "external_id"),
];

/// Per column: the newest event carrying its key (`event_time`, `id`) and, when the scan read
/// that event's user data (a row stored without derived keys), its hash; the other hashes are
/// read at the end, of the people exported only.
type Ids = [Option<(i64, i64, Option<String>)>; AUDIENCE_COLUMNS.len()];

/// The bit of [`Derived::keys`](crate::ports::Derived::keys) that stands for each of
/// [`AUDIENCE_COLUMNS`].
fn audience_bits() -> [i64; AUDIENCE_COLUMNS.len()] {
    AUDIENCE_COLUMNS.map(|(_, key)| {
        MATCH_KEYS
            .iter()
            .position(|(k, _)| *k == key)
            .map_or(0, |i| 1 << i)
    })
}

/// The hashes of `ud` in the order of [`AUDIENCE_COLUMNS`].
fn audience_values<'a>(ud: &Ud<'a>) -> [Option<&'a str>; AUDIENCE_COLUMNS.len()] {
    [
        ud.em,
        ud.ph,
        ud.first_name,
        ud.ln,
        ud.ct,
        ud.st,
        ud.zp,
        ud.country,
        ud.external_id,
    ]
}

/// A Purchase's time, currency and value, and whether a server copy verified it.
type Bought = (i64, Option<(String, f64)>, bool);

#[derive(Default)]
struct Person {
    ids: Option<Box<Ids>>,
    purchases: Vec<Bought>,
    last_cart: Option<i64>,
    viewed: bool,
    carted: bool,
}

/// `/api/audiences/{name}.csv`: one row per person with at least one hashed identifier.
///
/// One scan of the events that decide who is in (the names below) and of those that carry a
/// hashed identifier, reading of the latter only which keys they carry ([`Row::derived`](crate::ports::Row::derived)); then
/// the hashes of the newest event per person and key, for the people exported only.
pub fn audience(
    src: &dyn ReportSource,
    pixel: &str,
    range: DayRange,
    which: Audience,
    params: &AudienceParams,
) -> Result<String, StoreError> {
    let window = params.window_days * SECS_PER_DAY;
    let (from, to) = (range.from_secs(), range.to_secs());
    let scan_to = if which == Audience::CartAbandoners {
        to + window
    } else {
        to
    };
    let deciding = names(match which {
        Audience::Purchasers => &["Purchase"],
        Audience::CartAbandoners => &["AddToCart", "InitiateCheckout", "Purchase"],
        Audience::Viewers => &["ViewContent", "AddToCart"],
    });
    let bits = audience_bits();
    let mut visitors = Visitors::default();
    let mut people: Vec<Person> = Vec::new();
    let mut currencies: BTreeMap<String, u64> = BTreeMap::new();
    // When the store reports its orders from its server, only verified Purchases put people in
    // the purchasers (a forged beacon cannot); before that, every Purchase does.
    let mut any_verified = false;
    let cols = Columns {
        user_data: true,
        purchase_data: which == Audience::Purchasers,
        origin: which == Audience::Purchasers,
        keyed_rows: true,
        ..Columns::default()
    };
    scan(
        src,
        pixel,
        from,
        scan_to,
        Some(&deciding),
        cols,
        &mut |row| {
            let (carries, hashes) = match row.derived {
                Some(d) => (bits.map(|b| d.keys & b != 0), Default::default()),
                None => {
                    let v = audience_values(&user_data(row));
                    (v.map(|h| h.is_some()), v)
                }
            };
            let keyed = carries.iter().any(|c| *c);
            if !keyed && !deciding.iter().any(|n| n == row.event_name) {
                return;
            }
            let person = per_visitor(&mut people, visitors.id(row));
            if keyed {
                let ids = person.ids.get_or_insert_with(Default::default);
                for ((slot, carried), hash) in ids.iter_mut().zip(carries).zip(hashes) {
                    let newer = slot
                        .as_ref()
                        .is_none_or(|(t, id, _)| (row.event_time, row.id) > (*t, *id));
                    if carried && newer {
                        *slot = Some((row.event_time, row.id, hash.map(str::to_owned)));
                    }
                }
            }
            let in_range = row.event_time < to;
            match row.event_name {
                "Purchase" => {
                    let p = purchase(row);
                    let verified = origin(row).verified();
                    if in_range {
                        if let Some((c, _)) = &p {
                            *currencies.entry(c.clone()).or_insert(0) += 1;
                        }
                        any_verified |= verified;
                    }
                    person.purchases.push((row.event_time, p, verified));
                }
                "AddToCart" | "InitiateCheckout" if in_range => {
                    person.last_cart = person.last_cart.max(Some(row.event_time));
                    person.carted |= row.event_name == "AddToCart";
                }
                "ViewContent" if in_range => person.viewed = true,
                _ => {}
            }
        },
    )?;
    let currency = params.currency.clone().or_else(|| {
        currencies
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
            .map(|(c, _)| c.clone())
    });
    // Who is exported, with their value.
    let mut chosen: Vec<(&Ids, Option<f64>)> = Vec::new();
    for person in &people {
        let Some(ids) = &person.ids else {
            continue;
        };
        let value = match which {
            Audience::Purchasers => {
                let bought: Vec<_> = person
                    .purchases
                    .iter()
                    .filter(|(t, _, verified)| *t < to && (*verified || !any_verified))
                    .collect();
                if bought.is_empty() {
                    continue;
                }
                let total: f64 = bought
                    .iter()
                    .filter_map(|(_, p, _)| p.as_ref())
                    .filter(|(c, _)| Some(c) == currency.as_ref())
                    .map(|(_, v)| v)
                    .sum();
                Some(round(total, 2))
            }
            Audience::CartAbandoners => {
                let Some(cart) = person.last_cart else {
                    continue;
                };
                if person
                    .purchases
                    .iter()
                    .any(|(t, _, _)| *t >= cart && *t <= cart + window)
                {
                    continue;
                }
                None
            }
            Audience::Viewers => {
                if !person.viewed || person.carted {
                    continue;
                }
                None
            }
        };
        chosen.push((ids, value));
    }
    // Their hashes not read yet: one read per event, however many keys it gives.
    let mut unread: Vec<i64> = chosen
        .iter()
        .flat_map(|(ids, _)| ids.iter().flatten())
        .filter(|(_, _, hash)| hash.is_none())
        .map(|(_, id, _)| *id)
        .collect();
    unread.sort_unstable();
    unread.dedup();
    let mut read: FastMap<i64, [Option<String>; AUDIENCE_COLUMNS.len()]> = FastMap::default();
    read.reserve(unread.len());
    let range_scan = Scan {
        pixel_id: pixel,
        from_secs: from,
        to_secs: scan_to,
        names: None,
        columns: Columns::default(),
    };
    src.user_data(&range_scan, &unread, &mut |id, ud| {
        let values = audience_values(&parse_user_data(ud));
        read.insert(id, values.map(|h| h.map(str::to_owned)));
    })?;
    let mut rows: Vec<String> = Vec::with_capacity(chosen.len());
    for (ids, value) in chosen {
        let hashes: Vec<&str> = ids
            .iter()
            .enumerate()
            .map(|(i, slot)| {
                slot.as_ref()
                    .and_then(|(_, id, hash)| match hash {
                        Some(h) => Some(h.as_str()),
                        None => read.get(id).and_then(|v| v.get(i)?.as_deref()),
                    })
                    .unwrap_or("")
            })
            .collect();
        // Its events gone since the scan (the retention purge): no identifier left to export.
        if hashes.iter().all(|h| h.is_empty()) {
            continue;
        }
        let mut line = hashes.join(",");
        if let Some(v) = value {
            line.push(',');
            line.push_str(&v.to_string());
        }
        rows.push(line);
    }
    rows.sort_unstable();
    let mut header: Vec<&str> = AUDIENCE_COLUMNS.iter().map(|(c, _)| *c).collect();
    if which == Audience::Purchasers {
        header.push("value");
    }
    let mut out = header.join(",");
    out.push('\n');
    for r in rows {
        out.push_str(&r);
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::derivation::AUDIENCE_KEYS;

    #[test]
    fn audience_columns_are_the_audience_keys() {
        assert_eq!(audience_bits().iter().fold(0, |a, b| a | b), AUDIENCE_KEYS);
        assert_eq!(
            audience_bits().iter().map(|b| b.count_ones()).sum::<u32>(),
            9
        );
    }
}
