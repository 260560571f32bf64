//! A session planned before it has a time: who comes (new, or returning by number), how (a
//! campaign, a bare `fbclid`, direct), in which consent mode, and which steps of the funnel they
//! take, one stored event each. `session` spreads the plans over their chunk and makes the events.

use fastrand::Rng;

use super::shop::{self, chance};
use super::visitor;

/// A stretch of the range and how many events it stores.
#[derive(Clone, Copy, Debug)]
pub struct Chunk {
    /// Unix seconds; sessions start in `start..end`.
    pub start: i64,
    pub end: i64,
    /// Events to store (duplicates and merged copies on top).
    pub quota: u64,
}

/// What every chunk shares.
pub struct Ctx<'a> {
    pub seed: u64,
    pub pixel: &'a str,
    pub relay: bool,
    pub chunks: &'a [Chunk],
}

#[derive(Clone, Copy)]
pub enum Entry {
    Direct(Option<&'static str>),
    Campaign(usize, Option<u64>),
    Fbclid(u64),
}

#[derive(Clone, Copy, PartialEq)]
pub enum Mode {
    Granted,
    /// Limited data use: no cookie, no customer information, URLs without their query.
    Limited,
    /// The first page's events wait for the consent banner: they arrive this many ms later.
    Revoked(i64),
}

/// Each step is one stored event (a Purchase's server copy merges into it, or stands in for it
/// when the browser missed it; a repeated beacon is a duplicate).
#[derive(Clone, Copy)]
pub enum Step {
    Landing,
    ProductPage(usize),
    View(usize),
    Cart(usize),
    Checkout,
    Purchase {
        server: bool,
        browser: bool,
        repeat: bool,
    },
}

pub struct Plan {
    pub visitor: u64,
    pub new: bool,
    pub mode: Mode,
    pub entry: Entry,
    /// A returning visitor who bought before: their customer information from the first page.
    pub known_returning: bool,
    /// A signed-in visitor whose e-mail the store passes from the first page.
    pub signed_in_email: bool,
    pub eur: bool,
    pub steps: Vec<Step>,
}

/// Products weighted by popularity, for [`shop::pick`].
pub fn products() -> [(usize, u32); shop::PRODUCTS.len()] {
    let mut t = [(0, 0); shop::PRODUCTS.len()];
    for (i, p) in shop::PRODUCTS.iter().enumerate() {
        t[i] = (i, p.2);
    }
    t
}

pub fn campaigns() -> [(usize, u32); shop::CAMPAIGNS.len()] {
    let mut t = [(0, 0); shop::CAMPAIGNS.len()];
    for (i, c) in shop::CAMPAIGNS.iter().enumerate() {
        t[i] = (i, c.share);
    }
    t
}

/// Plan session `j` of chunk `k`.
pub fn plan(
    ctx: &Ctx<'_>,
    k: usize,
    j: usize,
    rng: &mut Rng,
    products: &[(usize, u32)],
    campaigns: &[(usize, u32)],
) -> Plan {
    let own = visitor::number(k as u32, j as u32);
    let earlier = chance(rng, shop::RETURNING)
        .then(|| returning(ctx, k, j, rng))
        .flatten();
    let new = earlier.is_none();
    let visitor = earlier.unwrap_or(own);
    let mode = if chance(rng, shop::LDU) {
        Mode::Limited
    } else if new && chance(rng, shop::REVOKED_FIRST) {
        Mode::Revoked(i64::from(rng.u32(4_000..60_000)))
    } else {
        Mode::Granted
    };
    let r = rng.u32(0..1000);
    let entry = if r < shop::CAMPAIGN {
        let c = shop::pick(rng, campaigns);
        let click =
            (shop::CAMPAIGNS[c].fbclid && chance(rng, shop::WITH_FBCLID)).then(|| rng.u64(..));
        Entry::Campaign(c, click)
    } else if r < shop::CAMPAIGN + shop::FBCLID_ONLY {
        Entry::Fbclid(rng.u64(..))
    } else {
        Entry::Direct((rng.u32(0..100) < 44).then(|| shop::pick(rng, &shop::REFERRERS)))
    };
    // How much likelier than average this session buys, in percent.
    let mut converts = match entry {
        Entry::Campaign(c, _) => shop::CAMPAIGNS[c].converts,
        _ => 100,
    };
    if !new {
        converts = converts * shop::RETURNING_CONVERTS / 100;
    }
    let scaled = |base: u32| (base * converts / 100).min(950);
    let known_returning = !new && chance(rng, shop::KNOWN_RETURNING);
    let signed_in_email = chance(rng, 500);
    let mut steps = vec![Step::Landing];
    let mut cart = 0;
    if chance(rng, shop::BROWSE) {
        for n in 0..4 {
            if n > 0 && !chance(rng, shop::ANOTHER_PRODUCT) {
                break;
            }
            let p = shop::pick(rng, products);
            steps.push(Step::ProductPage(p));
            steps.push(Step::View(p));
            if chance(rng, scaled(shop::ADD_TO_CART)) {
                steps.push(Step::Cart(p));
                cart += 1;
            }
        }
    }
    if cart > 0 && chance(rng, shop::CHECKOUT) {
        steps.push(Step::Checkout);
        if chance(rng, scaled(shop::PAY)) {
            let server = chance(rng, shop::SERVER_REPORTED);
            let browser = !(server && chance(rng, shop::BROWSER_MISSED));
            let repeat = browser && chance(rng, shop::REPEATED);
            steps.push(Step::Purchase {
                server,
                browser,
                repeat,
            });
        }
    }
    Plan {
        visitor,
        new,
        mode,
        entry,
        known_returning,
        signed_in_email,
        eur: chance(rng, shop::EUR),
        steps,
    }
}

/// A visitor first seen in an earlier session: mostly within the last week or two.
fn returning(ctx: &Ctx<'_>, k: usize, j: usize, rng: &mut Rng) -> Option<u64> {
    let hours_back = (-(1.0 - rng.f64()).ln() * 200.0) as usize;
    let from = k.checked_sub(hours_back * 3600 / chunk_secs(ctx))?;
    let c = ctx.chunks.get(from)?;
    // Sessions of that chunk, roughly (planned sessions are numbered from 0); in the same chunk,
    // an earlier number.
    let sessions = if from == k {
        j
    } else {
        (c.quota as f64 / shop::EVENTS_PER_SESSION * 0.9) as usize
    };
    (sessions > 0).then(|| visitor::number(from as u32, rng.usize(0..sessions) as u32))
}

fn chunk_secs(ctx: &Ctx<'_>) -> usize {
    ctx.chunks.first().map_or(3600, |c| {
        usize::try_from(c.end - c.start).unwrap_or(3600).max(1)
    })
}
