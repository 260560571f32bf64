//! One chunk of the seed's time range (an hour, or less for big seeds): its sessions planned
//! until the chunk's share of the events is reached, then spread over the chunk in time order and
//! turned into the events a store would receive, duplicates and server copies included.
//!
//! A chunk needs nothing from the others (its random numbers come from the seed and its index,
//! returning visitors are drawn by number from earlier chunks), so chunks are generated on as
//! many threads as there are cores and give the same events whichever thread made them.

use fastrand::Rng;
use pixel_core::wire::Dpo;
use serde_json::{Map, Value};

use super::plan::{self, Ctx, Entry, Mode, Plan, Step};
use super::shop::{self, chance, STORE};
use super::visitor::{self, mix, Visitor};
use crate::event::{NewEvent, Origin, ServerFields};

/// A chunk's events, in time order of their sessions.
pub struct Output {
    pub events: Vec<NewEvent>,
    pub new_visitors: u64,
}

/// Generate chunk `k`.
pub fn generate(ctx: &Ctx<'_>, k: usize) -> Output {
    let Some(chunk) = ctx.chunks.get(k).copied() else {
        return Output {
            events: Vec::new(),
            new_visitors: 0,
        };
    };
    let mut rng = Rng::with_seed(mix(ctx.seed, k as u64 + 1));
    let (products, campaigns) = (plan::products(), plan::campaigns());
    // Plan sessions until the quota is reached; the last one is cut there.
    let mut plans = Vec::new();
    let mut planned = 0u64;
    while planned < chunk.quota {
        let mut p = plan::plan(ctx, k, plans.len(), &mut rng, &products, &campaigns);
        let left = usize::try_from(chunk.quota - planned).unwrap_or(usize::MAX);
        p.steps.truncate(left);
        planned += p.steps.len() as u64;
        plans.push(p);
    }
    // Spread them over the chunk, in time order.
    let len = (chunk.end - chunk.start).max(1) as f64;
    let mut starts: Vec<i64> = (0..plans.len())
        .map(|_| chunk.start + (rng.f64() * len) as i64)
        .collect();
    starts.sort_unstable();
    let mut out = Output {
        events: Vec::with_capacity(usize::try_from(chunk.quota).unwrap_or(0) * 9 / 8 + 8),
        new_visitors: plans.iter().filter(|p| p.new).count() as u64,
    };
    let mut seq = 0u64;
    let mut m = Maker {
        ctx,
        rng: &mut rng,
        seq: &mut seq,
        chunk: k as u64,
    };
    for (p, t) in plans.iter().zip(starts) {
        m.session(p, t, &mut out.events);
    }
    out
}

/// Turns plans into events.
struct Maker<'a, 'r> {
    ctx: &'a Ctx<'a>,
    rng: &'r mut Rng,
    seq: &'r mut u64,
    chunk: u64,
}

impl Maker<'_, '_> {
    fn session(&mut self, p: &Plan, mut t: i64, out: &mut Vec<NewEvent>) {
        let first_ms = self
            .ctx
            .chunks
            .get(visitor::chunk_of(p.visitor))
            .map_or(t, |c| c.start)
            * 1000;
        let v = visitor::visitor(self.ctx.seed, p.visitor, first_ms);
        let limited = p.mode == Mode::Limited;
        let (query, click) = match p.entry {
            Entry::Campaign(c, click) => {
                let c = &shop::CAMPAIGNS[c];
                let mut q = format!(
                    "?utm_source={}&utm_medium={}&utm_campaign={}",
                    c.source, c.medium, c.campaign
                );
                if let Some(id) = click {
                    q.push_str(&format!("&fbclid=IwAR{id}"));
                }
                (q, click)
            }
            Entry::Fbclid(id) => (format!("?fbclid=IwAR{id}"), Some(id)),
            Entry::Direct(_) => (String::new(), None),
        };
        let referrer = match p.entry {
            Entry::Direct(Some(r)) => r,
            Entry::Campaign(c, _) if shop::CAMPAIGNS[c].fbclid => "https://l.facebook.com/",
            Entry::Fbclid(_) => "https://l.facebook.com/",
            _ => "",
        };
        let fbc = click
            .filter(|_| !limited)
            .map(|id| format!("fb.1.{}.IwAR{id}", t * 1000));
        let mut ud = if limited {
            Vec::new()
        } else {
            v.external_id
                .as_deref()
                .and_then(visitor::hashed_external_id)
                .into_iter()
                .collect()
        };
        let identified =
            !limited && (p.known_returning || (v.external_id.is_some() && p.signed_in_email));
        if identified {
            ud.extend(visitor::identity(self.ctx.seed, p.visitor));
        }
        let mut s = Session {
            v: &v,
            mode: p.mode,
            fbc,
            ud,
            identified,
        };
        let mut cart: Vec<usize> = Vec::new();
        let mut total = 0.0;
        let currency = if p.eur { "EUR" } else { "USD" };
        let rate = if p.eur { shop::EUR_RATE } else { 1.0 };
        for (i, step) in p.steps.iter().enumerate() {
            if i > 0 {
                t += i64::from(self.rng.u16(5..180));
            }
            if let (1, Mode::Revoked(delay)) = (i, p.mode) {
                // The visitor accepted the banner before going on.
                t += delay / 1000;
            }
            match *step {
                Step::Landing => {
                    let url = if limited {
                        format!("{STORE}/")
                    } else {
                        format!("{STORE}/{query}")
                    };
                    let mut e = self.event(&s, "PageView", t, url, Map::new());
                    e.referrer_url = referrer.to_owned();
                    if let Mode::Revoked(delay) = p.mode {
                        // Held by the pixel until the banner was accepted, sent with its time.
                        e.received_at_ms += delay;
                    }
                    out.push(e);
                }
                Step::ProductPage(x) => {
                    let url = product_url(x);
                    out.push(self.event(&s, "PageView", t, url, Map::new()));
                }
                Step::View(x) | Step::Cart(x) => {
                    let (sku, price, _) = shop::PRODUCTS[x];
                    let mut cd = Map::new();
                    cd.insert("content_ids".into(), Value::from(vec![sku]));
                    cd.insert("content_type".into(), "product".into());
                    cd.insert("value".into(), price.into());
                    cd.insert("currency".into(), "USD".into());
                    let name = if matches!(step, Step::Cart(_)) {
                        cart.push(x);
                        total += (price * rate * 100.0).round() / 100.0;
                        "AddToCart"
                    } else {
                        "ViewContent"
                    };
                    out.push(self.event(&s, name, t, product_url(x), cd));
                }
                Step::Checkout => {
                    // The shopper types their details: customer information from here on.
                    if !s.identified && !limited {
                        s.ud.extend(visitor::identity(self.ctx.seed, p.visitor));
                        s.identified = true;
                    }
                    let cd = order(&cart, total, currency, None);
                    out.push(self.event(
                        &s,
                        "InitiateCheckout",
                        t,
                        format!("{STORE}/checkout.html"),
                        cd,
                    ));
                }
                Step::Purchase {
                    server,
                    browser,
                    repeat,
                } => {
                    let order_id = format!("order-{}-{}", self.chunk, *self.seq);
                    let cd = order(&cart, total, currency, Some(order_id));
                    let purchase =
                        self.event(&s, "Purchase", t, format!("{STORE}/thanks.html"), cd);
                    // The store's server reports the order a few seconds later (merged into the
                    // beacon, or alone when the browser missed it).
                    let copy = server.then(|| NewEvent {
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
                    if repeat {
                        let mut again = purchase.clone();
                        again.received_at_ms += 1000;
                        out.push(purchase);
                        out.push(again);
                    } else if browser {
                        out.push(purchase);
                    }
                    out.extend(copy);
                }
            }
        }
    }

    fn event(
        &mut self,
        s: &Session<'_>,
        name: &str,
        t: i64,
        source_url: String,
        custom_data: Map<String, Value>,
    ) -> NewEvent {
        *self.seq += 1;
        let derived = chance(self.rng, shop::DERIVED_ID);
        let event_id = if derived {
            format!("d-{:032x}", self.rng.u128(..))
        } else {
            format!(
                "{:08x}-{:04x}-4{:03x}-a{:03x}-{:06x}{:06x}",
                self.rng.u32(..),
                self.rng.u16(..),
                self.rng.u16(..0xfff),
                self.rng.u16(..0xfff),
                self.chunk & 0xff_ffff,
                *self.seq & 0xff_ffff
            )
        };
        let limited = s.mode == Mode::Limited;
        let mut source_url = source_url;
        if limited {
            // The pixel sends the page's URL without its query string in limited mode.
            if let Some(q) = source_url.find('?') {
                source_url.truncate(q);
            }
        }
        let received_at_ms = t * 1000 + i64::from(self.rng.u16(20..900));
        NewEvent {
            pixel_id: self.ctx.pixel.to_owned(),
            event_name: name.to_owned(),
            event_id,
            event_id_derived: derived,
            event_time: t,
            received_at_ms,
            source_url,
            referrer_url: String::new(),
            fbp: if limited { None } else { s.v.fbp.clone() },
            fbc: s.fbc.clone(),
            client_ip: Some(s.v.ip.clone()),
            user_agent: Some(s.v.ua.to_owned()),
            user_data: s.ud.clone(),
            custom_data,
            dpo: limited.then(|| Dpo {
                options: vec!["LDU".into()],
                country: 0,
                state: 0,
            }),
            relay: self.ctx.relay,
            ..NewEvent::default()
        }
    }
}

struct Session<'a> {
    v: &'a Visitor,
    mode: Mode,
    fbc: Option<String>,
    ud: Vec<(String, String)>,
    identified: bool,
}

fn product_url(x: usize) -> String {
    format!("{STORE}/product.html?sku={}", shop::PRODUCTS[x].0)
}

fn order(
    cart: &[usize],
    total: f64,
    currency: &str,
    order_id: Option<String>,
) -> Map<String, Value> {
    let mut cd = Map::new();
    let ids: Vec<&str> = cart.iter().map(|x| shop::PRODUCTS[*x].0).collect();
    cd.insert("content_ids".into(), Value::from(ids));
    cd.insert("content_type".into(), "product".into());
    cd.insert("num_items".into(), cart.len().into());
    cd.insert("value".into(), ((total * 100.0).round() / 100.0).into());
    cd.insert("currency".into(), currency.into());
    if let Some(id) = order_id {
        cd.insert("order_id".into(), id.into());
    }
    cd
}
