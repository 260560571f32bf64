//! The shop the seed pretends to be: its catalogue, its visitors' browsers, its campaigns, its
//! traffic over the day and the week, and the rates of its funnel.
//!
//! The rates are set so that 20,000 events over 30 days (the demo's `./run.sh`) come out near
//! the shape of a small real store that the dashboard issue gives as its example — about 4,200
//! ViewContent, 890 AddToCart and 310 Purchase — with about two stored events per session (most
//! visitors leave after the landing page). `tests` in `seed.rs` holds them to that.

/// The store's origin.
pub const STORE: &str = "https://shop.example";

/// SKU, price in USD, popularity (relative).
pub const PRODUCTS: [(&str, f64, u32); 12] = [
    ("tee-classic", 24.0, 30),
    ("hoodie-zip", 59.0, 18),
    ("cap-logo", 19.5, 14),
    ("sneakers-low", 119.0, 12),
    ("jacket-rain", 189.0, 6),
    ("socks-3pack", 9.9, 20),
    ("tee-stripe", 27.0, 12),
    ("beanie", 22.0, 9),
    ("backpack", 79.0, 7),
    ("shorts", 35.0, 10),
    ("sweater-wool", 95.0, 5),
    ("gift-card", 50.0, 4),
];

/// User agent and share (percent).
pub const UAS: [(&str, u32); 5] = [
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", 30),
    ("Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1", 6),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", 32),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", 22),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15", 10),
];

/// A UTM campaign: source, medium, campaign, whether its links carry `fbclid`, its share of
/// campaign sessions, and how much better (or worse) than the average it converts, in percent.
pub struct Campaign {
    pub source: &'static str,
    pub medium: &'static str,
    pub campaign: &'static str,
    pub fbclid: bool,
    pub share: u32,
    pub converts: u32,
}

pub const CAMPAIGNS: [Campaign; 7] = [
    camp("facebook", "paid_social", "black_friday", true, 24, 100),
    camp("facebook", "paid_social", "retargeting", true, 12, 190),
    camp("facebook", "paid_social", "lookalike", true, 14, 55),
    camp("instagram", "paid_social", "stories", true, 12, 70),
    camp("google", "cpc", "brand", false, 16, 160),
    camp("google", "cpc", "shopping", false, 12, 110),
    camp("newsletter", "email", "winter_sale", false, 10, 150),
];

const fn camp(
    source: &'static str,
    medium: &'static str,
    campaign: &'static str,
    fbclid: bool,
    share: u32,
    converts: u32,
) -> Campaign {
    Campaign {
        source,
        medium,
        campaign,
        fbclid,
        share,
        converts,
    }
}

/// Referrers of sessions without a campaign (percent of them; the rest have none).
pub const REFERRERS: [(&str, u32); 3] = [
    ("https://www.google.com/", 34),
    ("https://duckduckgo.com/", 4),
    ("https://l.instagram.com/", 6),
];

/// Meta's messages for the few relayed events it refuses.
pub const META_ERRORS: [&str; 2] = [
    "Invalid parameter (code 100, subcode 2804003): The event has an invalid parameter.",
    "Invalid parameter (code 100, subcode 2804019): event_time is too far in the past.",
];

/// First names and towns of the shoppers (hashed at checkout).
pub const FIRST_NAMES: [&str; 8] = ["alex", "sam", "maria", "jan", "lea", "noah", "emma", "li"];
pub const TOWNS: [(&str, &str, &str, &str); 4] = [
    ("springfield", "il", "62701", "us"),
    ("portland", "or", "97201", "us"),
    ("berlin", "be", "10115", "de"),
    ("lyon", "ara", "69001", "fr"),
];

// ---- the funnel, in per mille ----
/// Sessions of a returning visitor (the visitor drawn among the earlier ones).
pub const RETURNING: u32 = 300;
/// Sessions that arrive through a UTM campaign, and through a bare `fbclid` (a shared post).
pub const CAMPAIGN: u32 = 330;
pub const FBCLID_ONLY: u32 = 60;
/// Of the campaign links that can carry `fbclid`, those that do (the rest lost it in an app).
pub const WITH_FBCLID: u32 = 800;
/// Sessions that look at products at all (the others leave after the landing page).
pub const BROWSE: u32 = 285;
/// After a product, another one.
pub const ANOTHER_PRODUCT: u32 = 420;
/// A product viewed, put in the cart.
pub const ADD_TO_CART: u32 = 195;
/// A cart, checked out; a checkout, paid.
pub const CHECKOUT: u32 = 590;
pub const PAY: u32 = 640;
/// Returning visitors convert better: the factor, in percent.
pub const RETURNING_CONVERTS: u32 = 140;
/// Visitors that browse in limited-data-use mode (`dpo=LDU`: no cookie, no customer
/// information, URLs without their query string).
pub const LDU: u32 = 30;
/// New visitors whose first page waits for the consent banner (`consent('revoke')` until they
/// accept): its events arrive when they do, with their original time.
pub const REVOKED_FIRST: u32 = 70;
/// Visitors whose browser keeps no cookie at all (no `fbp`).
pub const NO_COOKIE: u32 = 40;
/// Visitors signed in at the store (a customer ID from the first page), of them with an e-mail
/// the store passes as advanced matching from the first page too.
pub const EXTERNAL_ID: u32 = 200;
/// Returning visitors who bought before, whose customer information the store still passes.
pub const KNOWN_RETURNING: u32 = 350;
/// Purchases also reported by the store's server; of those, missed by the browser (a blocker, a
/// payment redirect); browser beacons sent twice.
pub const SERVER_REPORTED: u32 = 850;
pub const BROWSER_MISSED: u32 = 120;
pub const REPEATED: u32 = 50;
/// Orders paid in EUR (the rest in USD), and the exchange rate used for their prices.
pub const EUR: u32 = 300;
pub const EUR_RATE: f64 = 0.92;
/// Events of the page without a page-provided event ID (an old pixel: derived by the collector).
pub const DERIVED_ID: u32 = 50;

/// Stored events per session, on average, at the rates above (measured over a million events;
/// only used to size the chunks' visitor ranges, so a rough figure does).
pub const EVENTS_PER_SESSION: f64 = 2.0;

/// The traffic of an hour of the week, relative: evenings and Sundays are busy, nights quiet.
pub fn hour_weight(unix_secs: i64) -> f64 {
    const HOURS: [f64; 24] = [
        0.35, 0.25, 0.18, 0.15, 0.15, 0.2, 0.35, 0.55, 0.75, 0.85, 0.9, 0.95, 1.05, 1.0, 0.95,
        0.95, 1.0, 1.1, 1.3, 1.5, 1.6, 1.45, 1.05, 0.6,
    ];
    let hour = unix_secs.rem_euclid(86_400) / 3600;
    // 1970-01-01 was a Thursday: day 3 of a week starting on Monday.
    let weekday = (unix_secs.div_euclid(86_400) + 3).rem_euclid(7);
    let day = match weekday {
        5 => 0.9,  // Saturday
        6 => 1.15, // Sunday
        _ => 1.0,
    };
    HOURS[usize::try_from(hour).unwrap_or(0) % 24] * day
}

/// Draw from a table of weights.
pub fn pick<T: Copy>(rng: &mut fastrand::Rng, table: &[(T, u32)]) -> T {
    let total: u32 = table.iter().map(|(_, w)| w).sum();
    let mut r = rng.u32(0..total.max(1));
    for (x, w) in table {
        if r < *w {
            return *x;
        }
        r -= w;
    }
    table[0].0
}

/// True with probability `per_mille`/1000.
pub fn chance(rng: &mut fastrand::Rng, per_mille: u32) -> bool {
    rng.u32(0..1000) < per_mille
}
