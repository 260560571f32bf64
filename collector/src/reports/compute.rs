//! Each report: one scan of the rows it needs, figures computed here (see the module doc of
//! [`super`] for why not in SQL).

use std::collections::{BTreeMap, HashMap};

use pixel_core::wire::query_pairs;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::params::{format_day, AemParams, AudienceParams, DayRange};
use super::FUNNEL;
use crate::ports::{Columns, RelayStatus, ReportSource, Row, Scan, StoreError};

const SECS_PER_DAY: i64 = 86_400;
/// A range of at most this many days is reported per hour by the timeline.
const HOURLY_UP_TO_DAYS: i64 = 2;
/// The currency of a Purchase value without one (ISO 4217's "no currency").
const NO_CURRENCY: &str = "XXX";

/// The stored user data of one event (canonical keys; values are SHA-256 hex, so never escaped).
#[derive(Default, Deserialize)]
struct Ud<'a> {
    #[serde(borrow)]
    em: Option<&'a str>,
    #[serde(borrow)]
    ph: Option<&'a str>,
    #[serde(borrow, rename = "fn")]
    first_name: Option<&'a str>,
    #[serde(borrow)]
    ln: Option<&'a str>,
    #[serde(borrow)]
    ge: Option<&'a str>,
    #[serde(borrow)]
    db: Option<&'a str>,
    #[serde(borrow)]
    ct: Option<&'a str>,
    #[serde(borrow)]
    st: Option<&'a str>,
    #[serde(borrow)]
    zp: Option<&'a str>,
    #[serde(borrow)]
    country: Option<&'a str>,
    #[serde(borrow)]
    external_id: Option<&'a str>,
}

fn user_data<'a>(row: &Row<'a>) -> Ud<'a> {
    if row.user_data.len() <= 2 || row.derived.is_some_and(|d| d.keys & AUDIENCE_KEYS == 0) {
        return Ud::default();
    }
    parse_user_data(row.user_data)
}

/// A stored `user_data` column (anything that is not an object of strings reads as empty).
fn parse_user_data(s: &str) -> Ud<'_> {
    plain_user_data(s).unwrap_or_else(|| serde_json::from_str(s).unwrap_or_default())
}

/// The user data in the form the store writes it (`{"key":"value",...}`: no whitespace, no
/// escapes, no repeated key) read without serde, with the answer serde would give; `None` for
/// anything else, which serde then reads.
fn plain_user_data(s: &str) -> Option<Ud<'_>> {
    // (A fold, not `all`: no early exit, so it runs over whole words at a time.)
    let plain = |t: &str| {
        t.bytes()
            .fold(true, |ok, b| ok & (b >= 0x20) & (b != b'\\'))
    };
    let mut ud = Ud::default();
    let mut rest = s.strip_prefix('{')?;
    if rest == "}" {
        return Some(ud);
    }
    loop {
        let (key, r) = rest.strip_prefix('"')?.split_once('"')?;
        let (value, r) = r.strip_prefix(":\"")?.split_once('"')?;
        if !plain(key) || !plain(value) {
            return None;
        }
        let slot = match key {
            "em" => Some(&mut ud.em),
            "ph" => Some(&mut ud.ph),
            "fn" => Some(&mut ud.first_name),
            "ln" => Some(&mut ud.ln),
            "ge" => Some(&mut ud.ge),
            "db" => Some(&mut ud.db),
            "ct" => Some(&mut ud.ct),
            "st" => Some(&mut ud.st),
            "zp" => Some(&mut ud.zp),
            "country" => Some(&mut ud.country),
            "external_id" => Some(&mut ud.external_id),
            _ => None,
        };
        // A repeated field: serde refuses the whole object.
        if slot.is_some_and(|slot| slot.replace(value).is_some()) {
            return None;
        }
        if r == "}" {
            return Some(ud);
        }
        rest = r.strip_prefix(',')?;
    }
}

/// `value` and `currency` of a Purchase.
#[derive(Default, Deserialize)]
struct PurchaseData {
    value: Option<Value>,
    currency: Option<String>,
}

/// A Purchase's currency and value.
type Amount = (String, f64);

fn purchase(row: &Row<'_>) -> Option<Amount> {
    if row.purchase_data.len() <= 2 {
        return None;
    }
    let pd: PurchaseData = serde_json::from_str(row.purchase_data).unwrap_or_default();
    let value = match pd.value? {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    if !value.is_finite() {
        return None;
    }
    let currency = pd
        .currency
        .map(|c| c.trim().to_ascii_uppercase())
        .filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_alphabetic()))
        .unwrap_or_else(|| NO_CURRENCY.to_owned());
    Some((currency, value))
}

/// Who did an event without `fbp`: the hashed `external_id`, then `em`, as `x:…` / `e:…`
/// (`None`: an anonymous visitor of its own).
fn named_visitor(ud: &Ud<'_>) -> Option<String> {
    match (ud.external_id, ud.em) {
        (Some(x), _) => Some(format!("x:{x}")),
        (None, Some(em)) => Some(format!("e:{em}")),
        (None, None) => None,
    }
}

/// Bit `i` of [`Derived::keys`] stands for `MATCH_KEYS[i]`; then these two.
const IOS: i64 = 1 << MATCH_KEYS.len();
/// A PageView whose URL is a (non-direct) landing: UTM parameters or `fbclid`.
pub const LANDING: i64 = IOS << 1;
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
    let who = if row.fbp.is_some() {
        None
    } else {
        named_visitor(&ud)
    };
    (keys, who)
}

/// The reports' hash maps: keyed by visitors and days, a million lookups per report.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Visitors numbered 0, 1, 2… in order of first appearance: a visitor is the `fbp`; else the
/// hashed `external_id`, then `em`; else an anonymous visitor of its own (one event).
#[derive(Default)]
struct Visitors {
    by_fbp: FastMap<Box<str>, u32>,
    /// `x:<external_id>` / `e:<em>`.
    by_name: FastMap<Box<str>, u32>,
    count: u32,
}

impl Visitors {
    fn id(&mut self, row: &Row<'_>) -> u32 {
        let (map, key) = if let Some(fbp) = row.fbp {
            (&mut self.by_fbp, fbp)
        } else if let Some(d) = row.derived {
            match d.visitor {
                Some(v) => (&mut self.by_name, v),
                None => return self.fresh(),
            }
        } else {
            let Some(v) = named_visitor(&user_data(row)) else {
                return self.fresh();
            };
            return Self::lookup(&mut self.by_name, &mut self.count, &v);
        };
        Self::lookup(map, &mut self.count, key)
    }

    fn lookup(map: &mut FastMap<Box<str>, u32>, count: &mut u32, key: &str) -> u32 {
        if let Some(id) = map.get(key) {
            return *id;
        }
        let id = *count;
        *count += 1;
        map.insert(key.into(), id);
        id
    }

    fn fresh(&mut self) -> u32 {
        let id = self.count;
        self.count += 1;
        id
    }

    fn len(&self) -> usize {
        self.count as usize
    }
}

/// `slot` of `v` for visitor `id`, growing `v` as new visitors appear.
fn per_visitor<T: Default>(v: &mut Vec<T>, id: u32) -> &mut T {
    let i = id as usize;
    if v.len() <= i {
        v.resize_with(i + 1, T::default);
    }
    // In range: just resized.
    #[allow(clippy::indexing_slicing)]
    &mut v[i]
}

/// `x` rounded to `places` decimals (and never `-0`: an empty `f64` sum is `-0.0`).
fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    let r = (x * f).round() / f;
    if r == 0.0 {
        0.0
    } else {
        r
    }
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| round(part as f64 / whole as f64, 4))
}

/// Sums per currency, as a JSON object of amounts rounded to cents.
#[derive(Clone, Debug, Default)]
struct Money(BTreeMap<String, f64>);

impl Money {
    fn add(&mut self, currency: &str, value: f64) {
        *self.0.entry(currency.to_owned()).or_insert(0.0) += value;
    }
    fn json(&self) -> Value {
        Value::Object(
            self.0
                .iter()
                .map(|(c, v)| (c.clone(), json!(round(*v, 2))))
                .collect(),
        )
    }
}

fn scan(
    src: &dyn ReportSource,
    pixel: &str,
    from_secs: i64,
    to_secs: i64,
    names: Option<&[String]>,
    columns: Columns,
    f: &mut dyn FnMut(&Row<'_>),
) -> Result<(), StoreError> {
    src.scan(
        &Scan {
            pixel_id: pixel,
            from_secs,
            to_secs,
            names,
            columns,
        },
        f,
    )
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|n| (*n).to_owned()).collect()
}

/// `/api/reports/funnel`.
pub fn funnel(src: &dyn ReportSource, pixel: &str, range: DayRange) -> Result<Value, StoreError> {
    let mut events = [0u64; FUNNEL.len()];
    // Per visitor: bit `i` set when they did step `i`.
    let mut did: Vec<u8> = Vec::new();
    let mut visitors = Visitors::default();
    let mut all_events = 0u64;
    let cols = Columns {
        user_data: true,
        ..Columns::default()
    };
    scan(
        src,
        pixel,
        range.from_secs(),
        range.to_secs(),
        None,
        cols,
        &mut |row| {
            let who = per_visitor(&mut did, visitors.id(row));
            all_events += 1;
            if let Some(i) = FUNNEL.iter().position(|s| *s == row.event_name) {
                if let Some(n) = events.get_mut(i) {
                    *n += 1;
                    *who |= 1 << i;
                }
            }
        },
    )?;
    let mut steps = Vec::with_capacity(FUNNEL.len());
    let mut previous: Option<u64> = None;
    for (i, (name, n)) in FUNNEL.iter().zip(events).enumerate() {
        let v = did.iter().filter(|d| *d & (1 << i) != 0).count() as u64;
        steps.push(json!({
            "event": name,
            "events": n,
            "visitors": v,
            "rate_from_previous": previous.and_then(|p| ratio(v, p)),
        }));
        previous = Some(v);
    }
    Ok(json!({
        "events": all_events,
        "visitors": visitors.len(),
        "steps": steps,
    }))
}

/// `/api/reports/timeline`: per day, or per hour for a range of at most 2 days.
pub fn timeline(src: &dyn ReportSource, pixel: &str, range: DayRange) -> Result<Value, StoreError> {
    let hourly = range.days() <= HOURLY_UP_TO_DAYS;
    let step = if hourly { 3600 } else { SECS_PER_DAY };
    let start = range.from_secs();
    let buckets = usize::try_from((range.to_secs() - start) / step).unwrap_or(0);
    let mut counts: Vec<BTreeMap<String, u64>> = vec![BTreeMap::new(); buckets];
    let mut revenue: Vec<Money> = vec![Money::default(); buckets];
    let cols = Columns {
        purchase_data: true,
        ..Columns::default()
    };
    scan(src, pixel, start, range.to_secs(), None, cols, &mut |row| {
        let Ok(i) = usize::try_from((row.event_time - start) / step) else {
            return;
        };
        if let Some(c) = counts.get_mut(i) {
            match c.get_mut(row.event_name) {
                Some(n) => *n += 1,
                None => {
                    c.insert(row.event_name.to_owned(), 1);
                }
            }
        }
        if row.event_name == "Purchase" {
            if let (Some((cur, v)), Some(m)) = (purchase(row), revenue.get_mut(i)) {
                m.add(&cur, v);
            }
        }
    })?;
    let points: Vec<Value> = counts
        .iter()
        .zip(&revenue)
        .enumerate()
        .map(|(i, (c, m))| {
            let t = start + i as i64 * step;
            let label = if hourly {
                format!(
                    "{}T{:02}:00Z",
                    format_day(t.div_euclid(SECS_PER_DAY)),
                    t.rem_euclid(SECS_PER_DAY) / 3600
                )
            } else {
                format_day(t.div_euclid(SECS_PER_DAY))
            };
            json!({"start": label, "events": c, "revenue": m.json()})
        })
        .collect();
    let mut total_events: BTreeMap<&str, u64> = BTreeMap::new();
    let mut total_revenue = Money::default();
    for (c, m) in counts.iter().zip(&revenue) {
        for (name, n) in c {
            *total_events.entry(name).or_insert(0) += n;
        }
        for (cur, v) in &m.0 {
            total_revenue.add(cur, *v);
        }
    }
    Ok(json!({
        "bucket": if hourly { "hour" } else { "day" },
        "totals": {"events": total_events, "revenue": total_revenue.json()},
        "points": points,
    }))
}

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

fn carried(row: &Row<'_>, ud: &Ud<'_>) -> [bool; MATCH_KEYS.len()] {
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

/// `/api/reports/match-quality`: per event name, the share of events carrying each key, the
/// score (the weighted share, 0 to 10) and the missing key that would raise it most.
pub fn match_quality(
    src: &dyn ReportSource,
    pixel: &str,
    range: DayRange,
) -> Result<Value, StoreError> {
    let mut per_event: BTreeMap<String, (u64, [u64; MATCH_KEYS.len()])> = BTreeMap::new();
    let cols = Columns {
        user_data: true,
        user_agent: true,
        ..Columns::default()
    };
    scan(
        src,
        pixel,
        range.from_secs(),
        range.to_secs(),
        None,
        cols,
        &mut |row| {
            let ud = user_data(row);
            let has = carried(row, &ud);
            let entry = match per_event.get_mut(row.event_name) {
                Some(e) => e,
                None => per_event
                    .entry(row.event_name.to_owned())
                    .or_insert((0, [0; MATCH_KEYS.len()])),
            };
            entry.0 += 1;
            for (n, h) in entry.1.iter_mut().zip(has) {
                *n += u64::from(h);
            }
        },
    )?;
    let events: Vec<Value> = per_event
        .iter()
        .map(|(name, (n, with))| {
            let mut shares = Map::new();
            let mut score = 0.0;
            let mut best: Option<(&str, f64)> = None;
            for ((key, weight), k) in MATCH_KEYS.iter().zip(with) {
                let share = *k as f64 / *n as f64;
                shares.insert((*key).to_owned(), json!(round(share, 4)));
                score += weight * share;
                let gain = weight * (1.0 - share);
                if gain > 1e-9 && best.is_none_or(|(_, g)| gain > g + 1e-9) {
                    best = Some((key, gain));
                }
            }
            json!({
                "event": name,
                "events": n,
                "shares": shares,
                "score": round(score, 1),
                "add": best.map(|(key, gain)| json!({"key": key, "score_gain": round(gain, 1)})),
            })
        })
        .collect();
    let weights: Map<String, Value> = MATCH_KEYS
        .iter()
        .map(|(k, w)| ((*k).to_owned(), json!(w)))
        .collect();
    Ok(json!({"weights": weights, "events": events}))
}

/// `/api/reports/relay`: received, duplicates, each relay status, Meta's messages grouped and
/// the share of Purchases with the page's own event ID.
pub fn relay(src: &dyn ReportSource, pixel: &str, range: DayRange) -> Result<Value, StoreError> {
    let mut by_status: HashMap<RelayStatus, u64> = HashMap::new();
    let mut errors: HashMap<String, u64> = HashMap::new();
    let (mut stored, mut purchases, mut purchases_with_id) = (0u64, 0u64, 0u64);
    let cols = Columns {
        relay: true,
        ..Columns::default()
    };
    scan(
        src,
        pixel,
        range.from_secs(),
        range.to_secs(),
        None,
        cols,
        &mut |row| {
            stored += 1;
            if let Some(s) = row.relay_status {
                *by_status.entry(s).or_insert(0) += 1;
                if s == RelayStatus::Failed {
                    let msg = row.relay_error.unwrap_or("(no message)");
                    match errors.get_mut(msg) {
                        Some(n) => *n += 1,
                        None => {
                            errors.insert(msg.to_owned(), 1);
                        }
                    }
                }
            }
            if row.event_name == "Purchase" {
                purchases += 1;
                purchases_with_id += u64::from(!row.event_id_derived);
            }
        },
    )?;
    let duplicates = src.duplicates(pixel, range.from_day, range.to_day)?;
    let mut errors: Vec<(String, u64)> = errors.into_iter().collect();
    errors.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let status = |s| by_status.get(&s).copied().unwrap_or(0);
    Ok(json!({
        "received": stored + duplicates,
        "duplicates": duplicates,
        "stored": stored,
        "relayed": status(RelayStatus::Sent),
        "pending": status(RelayStatus::Pending),
        "failed": status(RelayStatus::Failed),
        "expired": status(RelayStatus::Expired),
        "not_relayed": status(RelayStatus::NotRelayed),
        "errors": errors.iter().map(|(m, n)| json!({"message": m, "count": n})).collect::<Vec<_>>(),
        "purchases": purchases,
        "purchases_with_event_id": purchases_with_id,
        "purchase_event_id_share": ratio(purchases_with_id, purchases),
    }))
}

/// The campaign of a landing page: `utm_source / utm_medium / utm_campaign` and whether it
/// carries `fbclid`. `None` for a page that is no (non-direct) landing.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Touch {
    source: Option<String>,
    medium: Option<String>,
    campaign: Option<String>,
    fbclid: bool,
}

fn touch(url: &str) -> Option<Touch> {
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

/// `/api/reports/attribution`: each Purchase in the range credited to its visitor's most recent
/// landing PageView with UTM parameters or `fbclid` at most `window_days` before it (last
/// non-direct touch); the rest are `(direct)`.
pub fn attribution(
    src: &dyn ReportSource,
    pixel: &str,
    range: DayRange,
    window_days: i64,
) -> Result<Value, StoreError> {
    let window = window_days * SECS_PER_DAY;
    // Per visitor: landings (time, id, touch) and purchases (time, value).
    let mut visitors = Visitors::default();
    let mut landings: Vec<Vec<(i64, i64, Touch)>> = Vec::new();
    let mut purchases: Vec<(u32, i64, Option<Amount>)> = Vec::new();
    let cols = Columns {
        user_data: true,
        purchase_data: true,
        source_url: true,
        ..Columns::default()
    };
    let wanted = names(&["PageView", "Purchase"]);
    let (from, to) = (range.from_secs(), range.to_secs());
    scan(
        src,
        pixel,
        from - window,
        to,
        Some(&wanted),
        cols,
        &mut |row| {
            if row.event_name == "PageView" {
                if row.derived.is_some_and(|d| d.keys & LANDING == 0) {
                    return;
                }
                if let Some(t) = touch(row.source_url) {
                    per_visitor(&mut landings, visitors.id(row)).push((row.event_time, row.id, t));
                }
            } else if row.event_time >= from {
                purchases.push((visitors.id(row), row.event_time, purchase(row)));
            }
        },
    )?;
    for l in landings.iter_mut() {
        l.sort_by_key(|(t, id, _)| (*t, *id));
    }
    let mut by_touch: BTreeMap<Option<Touch>, (u64, Money)> = BTreeMap::new();
    for (who, at, value) in &purchases {
        let credited = landings.get(*who as usize).and_then(|l| {
            l.iter()
                .rev()
                .find(|(t, _, _)| *t <= *at && at - t <= window)
                .map(|(_, _, touch)| touch.clone())
        });
        let entry = by_touch.entry(credited).or_default();
        entry.0 += 1;
        if let Some((cur, v)) = value {
            entry.1.add(cur, *v);
        }
    }
    type Campaign = (String, Option<String>, Option<String>);
    let mut campaigns: BTreeMap<Campaign, (u64, Money)> = BTreeMap::new();
    let mut fbclid: BTreeMap<bool, (u64, Money)> = BTreeMap::new();
    for (t, (n, money)) in &by_touch {
        let key = match t {
            Some(t) => (
                t.source.clone().unwrap_or_else(|| "(not set)".to_owned()),
                t.medium.clone(),
                t.campaign.clone(),
            ),
            None => ("(direct)".to_owned(), None, None),
        };
        for (slot_n, slot_m) in [
            campaigns.entry(key).or_default(),
            fbclid
                .entry(t.as_ref().is_some_and(|t| t.fbclid))
                .or_default(),
        ] {
            *slot_n += n;
            for (c, v) in &money.0 {
                slot_m.add(c, *v);
            }
        }
    }
    let fbclid: Vec<Value> = [true, false]
        .iter()
        .map(|has| {
            let (n, money) = fbclid.get(has).cloned().unwrap_or_default();
            json!({"has_fbclid": has, "purchases": n, "revenue": money.json()})
        })
        .collect();
    let mut rows: Vec<_> = campaigns.into_iter().collect();
    rows.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then_with(|| a.0.cmp(&b.0)));
    Ok(json!({
        "window_days": window_days,
        "purchases": purchases.len(),
        "campaigns": rows.iter().map(|((s, m, c), (n, money))| json!({
            "source": s, "medium": m, "campaign": c, "purchases": n, "revenue": money.json(),
        })).collect::<Vec<_>>(),
        "fbclid": fbclid,
    }))
}

/// An iPhone, iPad or iPod user agent. (iPadOS 13 and later may present a desktop Safari user
/// agent, which no server can tell from a Mac.)
fn is_ios(ua: Option<&str>) -> bool {
    ua.is_some_and(|ua| ua.contains("iPhone") || ua.contains("iPad") || ua.contains("iPod"))
}

fn ios(row: &Row<'_>) -> bool {
    match row.derived {
        Some(d) => d.keys & IOS != 0,
        None => is_ios(row.user_agent),
    }
}

/// `/api/reports/aem`: per prioritised name, every event, and what Aggregated Event Measurement
/// would count (per visitor and UTC day, only the highest-priority event), overall and for iOS.
pub fn aem(
    src: &dyn ReportSource,
    pixel: &str,
    range: DayRange,
    params: &AemParams,
) -> Result<Value, StoreError> {
    let k = params.priority.len();
    let (mut all, mut ios_all) = (vec![0u64; k], vec![0u64; k]);
    // (visitor, day) → best (lowest) priority index; the second map for iOS events only.
    let mut visitors = Visitors::default();
    let mut best: FastMap<(u32, i64), usize> = FastMap::default();
    let mut ios_best: FastMap<(u32, i64), usize> = FastMap::default();
    let cols = Columns {
        user_data: true,
        user_agent: true,
        ..Columns::default()
    };
    let lift = |map: &mut FastMap<(u32, i64), usize>, key: (u32, i64), p: usize| {
        let slot = map.entry(key).or_insert(p);
        *slot = (*slot).min(p);
    };
    scan(
        src,
        pixel,
        range.from_secs(),
        range.to_secs(),
        Some(&params.priority),
        cols,
        &mut |row| {
            let Some(p) = params.priority.iter().position(|n| n == row.event_name) else {
                return;
            };
            let key = (visitors.id(row), row.event_time.div_euclid(SECS_PER_DAY));
            if let Some(n) = all.get_mut(p) {
                *n += 1;
            }
            if ios(row) {
                if let Some(n) = ios_all.get_mut(p) {
                    *n += 1;
                }
                lift(&mut ios_best, key, p);
            }
            lift(&mut best, key, p);
        },
    )?;
    let tally = |map: &FastMap<(u32, i64), usize>| {
        let mut out = vec![0u64; k];
        for p in map.values() {
            if let Some(n) = out.get_mut(*p) {
                *n += 1;
            }
        }
        out
    };
    let (aem_n, ios_aem_n) = (tally(&best), tally(&ios_best));
    let events: Vec<Value> = params
        .priority
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let at = |v: &[u64]| v.get(i).copied().unwrap_or(0);
            json!({
                "event": name,
                "priority": i + 1,
                "events": at(&all),
                "aem_events": at(&aem_n),
                "ios_events": at(&ios_all),
                "ios_aem_events": at(&ios_aem_n),
            })
        })
        .collect();
    Ok(json!({"priority": params.priority, "events": events}))
}

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

/// The bit of [`Derived::keys`] that stands for each of [`AUDIENCE_COLUMNS`].
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

#[derive(Default)]
struct Person {
    ids: Option<Box<Ids>>,
    purchases: Vec<(i64, Option<(String, f64)>)>,
    last_cart: Option<i64>,
    viewed: bool,
    carted: bool,
}

/// `/api/audiences/{name}.csv`: one row per person with at least one hashed identifier.
///
/// One scan of the events that decide who is in (the names below) and of those that carry a
/// hashed identifier, reading of the latter only which keys they carry ([`Row::derived`]); then
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
    let cols = Columns {
        user_data: true,
        purchase_data: which == Audience::Purchasers,
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
                    if in_range {
                        if let Some((c, _)) = &p {
                            *currencies.entry(c.clone()).or_insert(0) += 1;
                        }
                    }
                    person.purchases.push((row.event_time, p));
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
                let bought: Vec<_> = person.purchases.iter().filter(|(t, _)| *t < to).collect();
                if bought.is_empty() {
                    continue;
                }
                let total: f64 = bought
                    .iter()
                    .filter_map(|(_, p)| p.as_ref())
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
                    .any(|(t, _)| *t >= cart && *t <= cart + window)
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

    /// The fast reading of stored user data gives serde's answer, or leaves it to serde.
    #[test]
    fn plain_user_data_reads_as_serde_does() {
        let h = "a".repeat(64);
        let cases = [
            "{}".to_owned(),
            format!(r#"{{"em":"{h}"}}"#),
            format!(r#"{{"country":"{h}","em":"{h}","external_id":"x1","zz":"q"}}"#),
            format!(r#"{{"em":"{h}","em":"b"}}"#),
            format!(r#"{{"zz":"1","zz":"2","ph":"{h}"}}"#),
            r#"{"em":"a\"b"}"#.to_owned(),
            r#"{"em":"a\u0041"}"#.to_owned(),
            "{\"em\":\"a\nb\"}".to_owned(),
            format!(r#"{{ "em":"{h}"}}"#),
            r#"{"em":1}"#.to_owned(),
            r#"{"zz":1,"em":"x"}"#.to_owned(),
            r#"{"em":"x",}"#.to_owned(),
            r#"{"em":"x"}junk"#.to_owned(),
            r#"not json"#.to_owned(),
        ];
        let fields = |u: &Ud<'_>| {
            [
                u.em,
                u.ph,
                u.first_name,
                u.ln,
                u.ge,
                u.db,
                u.ct,
                u.st,
                u.zp,
                u.country,
                u.external_id,
            ]
            .map(|v| v.map(str::to_owned))
        };
        for case in &cases {
            let by_serde: Ud<'_> = serde_json::from_str(case).unwrap_or_default();
            if let Some(fast) = plain_user_data(case) {
                assert_eq!(fields(&fast), fields(&by_serde), "{case}");
            }
        }
        // The stored form takes the fast path.
        assert!(plain_user_data(&cases[2]).is_some_and(|u| u.external_id == Some("x1")));
        assert!(plain_user_data(&cases[3]).is_none());
    }

    #[test]
    fn audience_columns_are_the_audience_keys() {
        assert_eq!(audience_bits().iter().fold(0, |a, b| a | b), AUDIENCE_KEYS);
        assert_eq!(
            audience_bits().iter().map(|b| b.count_ones()).sum::<u32>(),
            9
        );
    }

    #[test]
    fn weights_add_up_to_ten() {
        let sum: f64 = MATCH_KEYS.iter().map(|(_, w)| w).sum();
        assert!((sum - 10.0).abs() < 1e-9, "{sum}");
    }
}
