//! Realistic synthetic events for the demo, the dashboard test and the report benchmark (the
//! `seed` command is its command line).
//!
//! Visitor sessions in time order over the given days: a landing PageView (a third with UTM
//! parameters, most Facebook ones with `fbclid`), product views, carts, checkouts and Purchases
//! with the drop-off of a small shop, revenue in USD and EUR, a share of iOS user agents,
//! returning visitors, hashed customer information from the checkout on, most Purchases also
//! reported by the store's server (merged into the beacon; some without a beacon at all), and a
//! few beacons sent twice (the store drops the second as a duplicate). Events go in through
//! [`Store::insert_batch`], as the ingest writer's do; relayed ones are then marked sent or failed
//! with one of two Meta messages, and a share of the newest stay pending.

// Every index here is drawn from `0..len()` of the table it indexes (or is the visitor just
// pushed); the generator has no input to be wrong about.
#![allow(clippy::indexing_slicing)]

use fastrand::Rng;
use pixel_core::matching::{hash_field, Field};
use serde_json::{json, Map, Value};

use crate::event::{NewEvent, Origin, ServerFields};
use crate::ports::{Clock, InsertOutcome, SystemClock};
use crate::store::Store;

/// What to generate.
#[derive(Clone, Debug)]
pub struct Options {
    pub pixel: String,
    /// Events to store (duplicates come on top and are dropped by the store).
    pub events: u64,
    /// The range: `days` UTC days ending on day `end_day` (days since 1970-01-01).
    pub days: i64,
    pub end_day: i64,
    /// The same seed and options give the same events.
    pub seed: u64,
    /// Relayed (then marked sent/failed/pending) or not relayed (a pixel without access token).
    pub relay: bool,
}

/// What was stored.
#[derive(Clone, Copy, Debug)]
pub struct Summary {
    pub stored: u64,
    pub duplicates: u64,
    pub visitors: u64,
}

/// Fill `store`; `progress` is called with the number of events stored after each batch.
pub fn seed(
    store: &dyn Store,
    opts: &Options,
    progress: &mut dyn FnMut(u64),
) -> Result<Summary, String> {
    if !pixel_core::pixel_id::valid_pixel_id(&opts.pixel) {
        return Err("the pixel must be a numeric pixel id".into());
    }
    if opts.days < 1 {
        return Err("days must be at least 1".into());
    }
    let start = (opts.end_day - opts.days + 1) * 86_400;
    let span = opts.days * 86_400;
    // Sessions arrive as a Poisson process whose rate is set, session by session, from the
    // events per session so far, so that the last one starts near the end of the range.
    let end = (start + span - 3600) as f64;
    let (mut sessions, mut generated) = (0u64, 0u64);
    let mut g = Gen {
        rng: Rng::with_seed(opts.seed),
        pixel: opts.pixel.clone(),
        relay: opts.relay,
        visitors: Vec::new(),
        seq: 0,
    };
    let (mut stored, mut duplicates) = (0u64, 0u64);
    let mut t = start as f64;
    let mut batch: Vec<NewEvent> = Vec::with_capacity(BATCH + 32);
    let mut relay_rng = Rng::with_seed(opts.seed ^ 0x5eed);
    while stored < opts.events {
        while batch.len() < BATCH && stored + (batch.len() as u64) < opts.events {
            let per_session = if sessions == 0 {
                3.0
            } else {
                generated as f64 / sessions as f64
            };
            let left = (opts.events.saturating_sub(stored + batch.len() as u64)) as f64;
            let mean_gap = (end - t).max(1.0) / (left / per_session).max(1.0);
            // An hour before the end at the latest, so the session finishes within the range.
            t = (t - mean_gap * (1.0 - g.rng.f64()).ln()).min(end);
            let before = batch.len();
            g.session(t as i64, &mut batch);
            sessions += 1;
            generated += (batch.len() - before) as u64;
        }
        let want = usize::try_from(opts.events - stored).unwrap_or(usize::MAX);
        // Cut at the target, but never between a Purchase and its server copy.
        let mut cut = batch.len().min(want);
        let is_copy = |i: usize| match (batch.get(i.wrapping_sub(1)), batch.get(i)) {
            (Some(a), Some(b)) => a.event_id == b.event_id,
            _ => false,
        };
        while cut < batch.len() && is_copy(cut) {
            cut += 1;
        }
        batch.truncate(cut);
        let outcomes = store.insert_batch(&batch).map_err(|e| e.to_string())?;
        let count = |what| outcomes.iter().filter(|o| **o == what).count() as u64;
        let n = count(InsertOutcome::Stored);
        duplicates += count(InsertOutcome::Duplicate);
        stored += n;
        if g.relay {
            settle(store, &opts.pixel, &mut relay_rng, stored >= opts.events)?;
        }
        progress(stored);
        batch.clear();
    }
    Ok(Summary {
        stored,
        duplicates,
        visitors: g.visitors.len() as u64,
    })
}

const BATCH: usize = 5000;
const STORE: &str = "https://shop.example";
const PRODUCTS: [(&str, f64); 6] = [
    ("tee", 24.0),
    ("hoodie", 59.0),
    ("cap", 19.5),
    ("sneakers", 119.0),
    ("jacket", 189.0),
    ("socks", 9.9),
];
const UAS: [(&str, u32); 4] = [
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", 30),
    ("Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1", 8),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", 34),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", 28),
];
const CAMPAIGNS: [(&str, &str, &str, bool); 4] = [
    ("facebook", "paid_social", "black_friday", true),
    ("facebook", "paid_social", "retargeting", true),
    ("google", "cpc", "brand", false),
    ("newsletter", "email", "winter_sale", false),
];
const META_ERRORS: [&str; 2] = [
    "Invalid parameter (code 100, subcode 2804003): The event has an invalid parameter.",
    "Invalid parameter (code 100, subcode 2804019): event_time is too far in the past.",
];

/// One returning or new shopper.
struct Visitor {
    fbp: Option<String>,
    ua: &'static str,
    ip: String,
    /// Hashed customer information, known once they have checked out.
    ud: Vec<(String, String)>,
    external_id: Option<String>,
    n: u64,
}

struct Gen {
    rng: Rng,
    pixel: String,
    relay: bool,
    visitors: Vec<Visitor>,
    seq: u64,
}

fn hash(field: Field, raw: &str) -> Option<(String, String)> {
    // The seed's values are plain ASCII and its dates are not hashed: the year does not matter.
    let cx = pixel_core::matching::Context {
        this_year: pixel_core::matching::year_of(u64::try_from(SystemClock.now_ms()).unwrap_or(0)),
        lower: &pixel_core::matching::std_lower,
    };
    hash_field(field, raw, &cx)
        .ok()
        .map(|h| (field.wire_key().to_owned(), h))
}

impl Gen {
    fn pick_ua(&mut self) -> &'static str {
        let mut r = self.rng.u32(0..100);
        for (ua, w) in UAS {
            if r < w {
                return ua;
            }
            r -= w;
        }
        UAS[0].0
    }

    fn visitor(&mut self, t: i64) -> usize {
        if !self.visitors.is_empty() && self.rng.u32(0..100) < 25 {
            return self.rng.usize(0..self.visitors.len());
        }
        let n = self.visitors.len() as u64;
        let fbp = (self.rng.u32(0..100) >= 4).then(|| {
            format!(
                "fb.1.{}.{}",
                t * 1000,
                self.rng.u64(1_000_000_000..9_999_999_999)
            )
        });
        let external_id = (self.rng.u32(0..100) < 20).then(|| format!("customer-{n}"));
        let ua = self.pick_ua();
        let ip = format!("203.0.113.{}", self.rng.u8(1..255));
        self.visitors.push(Visitor {
            fbp,
            ua,
            ip,
            ud: Vec::new(),
            external_id,
            n,
        });
        self.visitors.len() - 1
    }

    fn event(
        &mut self,
        v: usize,
        name: &str,
        t: i64,
        url: &str,
        cd: Map<String, Value>,
    ) -> NewEvent {
        self.seq += 1;
        let vis = &self.visitors[v];
        let mut ud = vis.ud.clone();
        if let Some(x) = &vis.external_id {
            ud.extend(hash(Field::ExternalId, x));
        }
        let derived = self.rng.u32(0..100) < 6;
        let event_id = if derived {
            format!("d-{:032x}", self.rng.u128(..))
        } else {
            format!(
                "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
                self.rng.u32(..),
                self.rng.u16(..),
                self.rng.u16(..0xfff),
                self.rng.u16(..0xfff),
                self.seq
            )
        };
        NewEvent {
            pixel_id: self.pixel.clone(),
            event_name: name.to_owned(),
            event_id,
            event_id_derived: derived,
            event_time: t,
            received_at_ms: t * 1000 + i64::from(self.rng.u16(0..900)),
            source_url: url.to_owned(),
            referrer_url: String::new(),
            fbp: vis.fbp.clone(),
            fbc: None,
            client_ip: Some(vis.ip.clone()),
            user_agent: Some(vis.ua.to_owned()),
            user_data: ud,
            custom_data: cd,
            dpo: None,
            relay: self.relay,
            ..NewEvent::default()
        }
    }

    /// One session starting at `t`: its events, in order (duplicates included).
    fn session(&mut self, mut t: i64, out: &mut Vec<NewEvent>) {
        let v = self.visitor(t);
        let r = self.rng.u32(0..100);
        let (query, fbc) = if r < 35 {
            let (s, m, c, fb) = CAMPAIGNS[self.rng.usize(0..CAMPAIGNS.len())];
            let click = fb && self.rng.u32(0..100) < 80;
            let id = format!("IwAR{}", self.rng.u64(..));
            let q = format!(
                "?utm_source={s}&utm_medium={m}&utm_campaign={c}{}",
                if click {
                    format!("&fbclid={id}")
                } else {
                    String::new()
                }
            );
            (q, click.then(|| format!("fb.1.{}.{id}", t * 1000)))
        } else if r < 43 {
            let id = format!("IwAR{}", self.rng.u64(..));
            (
                format!("?fbclid={id}"),
                Some(format!("fb.1.{}.{id}", t * 1000)),
            )
        } else {
            (String::new(), None)
        };
        let mut landing = self.event(v, "PageView", t, &format!("{STORE}/{query}"), Map::new());
        landing.fbc = fbc.clone();
        out.push(landing);
        let step = |rng: &mut Rng, t: &mut i64| *t += i64::from(rng.u16(5..240));
        if self.rng.u32(0..100) >= 62 {
            return;
        }
        let mut cart: Vec<(&str, f64)> = Vec::new();
        for _ in 0..self.rng.u32(1..4) {
            let (sku, price) = PRODUCTS[self.rng.usize(0..PRODUCTS.len())];
            step(&mut self.rng, &mut t);
            let url = format!("{STORE}/product.html?sku={sku}");
            let mut pv = self.event(v, "PageView", t, &url, Map::new());
            pv.fbc = fbc.clone();
            out.push(pv);
            let cd = json!({"content_ids": [sku], "content_type": "product", "value": price, "currency": "USD"});
            let mut vc = self.event(v, "ViewContent", t, &url, obj(cd));
            vc.fbc = fbc.clone();
            out.push(vc);
            if self.rng.u32(0..100) < 30 {
                step(&mut self.rng, &mut t);
                let cd = json!({"content_ids": [sku], "content_type": "product", "value": price, "currency": "USD"});
                let mut ac = self.event(v, "AddToCart", t, &url, obj(cd));
                ac.fbc = fbc.clone();
                out.push(ac);
                cart.push((sku, price));
            }
        }
        if cart.is_empty() || self.rng.u32(0..100) >= 60 {
            return;
        }
        // Checkout: the shopper types their details, so customer information from here on.
        if self.visitors[v].ud.is_empty() {
            let n = self.visitors[v].n;
            let mut ud = Vec::new();
            ud.extend(hash(Field::Em, &format!("shopper{n}@mail.example")));
            if self.rng.u32(0..100) < 70 {
                ud.extend(hash(Field::Ph, &format!("+1 650 555 {:04}", n % 10_000)));
            }
            ud.extend(hash(Field::Fn, "alex"));
            ud.extend(hash(Field::Ln, &format!("shopper{n}")));
            if self.rng.u32(0..100) < 60 {
                ud.extend(hash(Field::Ct, "springfield"));
                ud.extend(hash(Field::St, "il"));
                ud.extend(hash(Field::Zp, "62701"));
                ud.extend(hash(Field::Country, "us"));
            }
            self.visitors[v].ud = ud;
        }
        let eur = self.rng.u32(0..100) < 30;
        let rate = if eur { 0.92 } else { 1.0 };
        let total: f64 = cart
            .iter()
            .map(|(_, p)| (p * rate * 100.0).round() / 100.0)
            .sum();
        let currency = if eur { "EUR" } else { "USD" };
        let ids: Vec<&str> = cart.iter().map(|(s, _)| *s).collect();
        step(&mut self.rng, &mut t);
        let cd = json!({"content_ids": ids, "num_items": cart.len(), "value": total, "currency": currency});
        let url = format!("{STORE}/checkout.html");
        out.push(self.event(v, "InitiateCheckout", t, &url, obj(cd.clone())));
        if self.rng.u32(0..100) >= 65 {
            return;
        }
        step(&mut self.rng, &mut t);
        let mut cd = cd;
        cd["order_id"] = json!(format!("order-{}", self.seq));
        let purchase = self.event(v, "Purchase", t, &format!("{STORE}/thanks.html"), obj(cd));
        // Most orders are also reported by the store's server, a few seconds later (merged into
        // the beacon); some of those never had a beacon (a content blocker, a payment redirect);
        // a few beacons are sent twice (a duplicate).
        let reported = self.rng.u32(0..100) < 85;
        let server = reported.then(|| NewEvent {
            origin: Origin::SERVER,
            fbp: None,
            fbc: None,
            user_agent: None,
            received_at_ms: purchase.received_at_ms + 3000,
            server: Some(Box::new(ServerFields {
                action_source: "website".into(),
                ..ServerFields::default()
            })),
            ..purchase.clone()
        });
        let browser_missed = reported && self.rng.u32(0..100) < 18;
        let repeat = (!browser_missed && self.rng.u32(0..100) < 5).then(|| {
            let mut c = purchase.clone();
            c.received_at_ms += 1000;
            c
        });
        if !browser_missed {
            out.push(purchase);
        }
        out.extend(repeat);
        out.extend(server);
    }
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Give the relayed events of the last batch their journey: most sent, some failed with Meta's
/// message; in the newest batch a share is still pending.
fn settle(store: &dyn Store, pixel: &str, rng: &mut Rng, newest: bool) -> Result<(), String> {
    let now = SystemClock.now_ms();
    let pending = store.pending(pixel, BATCH * 2).map_err(|e| e.to_string())?;
    let mut sent = Vec::with_capacity(pending.len());
    for e in &pending {
        match rng.u32(0..1000) {
            0..=14 => store
                .mark_failed(e.id, META_ERRORS[usize::from(rng.bool())], now)
                .map_err(|e| e.to_string())?,
            15..=299 if newest => {}
            _ => sent.push(e.id),
        }
    }
    store.mark_sent(&sent, now).map_err(|e| e.to_string())
}
