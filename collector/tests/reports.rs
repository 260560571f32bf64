//! The reports and audiences against a small fixture whose every figure is computed by hand (in
//! the comments next to each assertion), through the router, over a real SQLite file, a real
//! PostgreSQL database and the in-memory twin of the store: [`fixture`] only uses the [`Store`]
//! trait and [`check_all`] only HTTP, so every test runs unchanged on the three (`sqlite::…`,
//! `postgres::…`, `twin::…`; the twin's run needs no file and no socket).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use collector::config::Config;
use collector::event::NewEvent;
use collector::reports::parse_date;
use collector::store::Store;
use collector::{app, AppState};
use common::{backend_tests, Backend};
use http_body_util::BodyExt;
use pixel_core::matching::sha256_hex;
use serde_json::{json, Map, Value};
use tower::ServiceExt;

const PIXEL: &str = "1234567890";
const TOKEN: &str = "reports-admin-token-0123";
const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) Mobile/15E148";
const ANDROID: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) Mobile Safari/537.36";
const DESKTOP: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0.0.0";

/// 2026-11-10 00:00:00 UTC, the first day of the fixture's range (`to` is 2026-11-11).
fn d0() -> i64 {
    parse_date("2026-11-10").unwrap() * 86_400
}
fn at(day: i64, h: i64, m: i64, s: i64) -> i64 {
    d0() + day * 86_400 + h * 3600 + m * 60 + s
}
fn h(s: &str) -> String {
    sha256_hex(s)
}

struct Who {
    fbp: Option<&'static str>,
    ua: Option<&'static str>,
}

#[allow(clippy::too_many_arguments)]
fn ev(
    name: &str,
    t: i64,
    who: &Who,
    url: &str,
    ud: &[(&str, String)],
    cd: Value,
    eid: Option<&str>,
) -> NewEvent {
    let cd = match cd {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    NewEvent {
        pixel_id: PIXEL.into(),
        event_name: name.into(),
        event_id: eid.map_or_else(|| format!("d-{name}-{t}"), str::to_owned),
        event_id_derived: eid.is_none(),
        event_time: t,
        received_at_ms: t * 1000,
        source_url: url.into(),
        referrer_url: String::new(),
        fbp: who.fbp.map(str::to_owned),
        fbc: None,
        client_ip: who.ua.map(|_| "198.51.100.7".to_owned()),
        user_agent: who.ua.map(str::to_owned),
        user_data: ud
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
        custom_data: cd,
        dpo: None,
        relay: true,
        ..Default::default()
    }
}

/// The fixture (times UTC; D0 = 2026-11-10, D1 = 2026-11-11):
///
/// | # | visitor | event | time | notes |
/// |---|---|---|---|---|
/// | e1 | A fbp, iPhone | PageView | D0 09:00 | utm fb/paid/bf + fbclid, fbc; relay expired |
/// | e2 | A | ViewContent | D0 09:01 | |
/// | e3 | A | AddToCart | D0 09:02 | failed "X" |
/// | e4 | A | InitiateCheckout | D0 09:03 | em, ph |
/// | e5 | A | Purchase | D0 09:04 | 100 USD, em, ph, fbc, page event ID; sent; sent twice (1 duplicate) |
/// | e6 | B fbp, Android | PageView | D0 23:59:59 | direct |
/// | e7 | B | ViewContent | D1 00:00:00 | across midnight |
/// | e8 | B | AddToCart | D1 00:00:30 | em; failed "Y"; never buys |
/// | e9 | C no fbp, desktop | PageView | D1 10:00 | external_id; utm news/email |
/// | e10 | C | Purchase | D1 10:05 | 50 EUR, external_id, em, derived ID; failed "X" |
/// | e11 | anonymous | PageView | D1 11:00 | no fbp, no user agent; not relayed |
/// | e12 | anonymous | PageView | D1 11:01 | no fbp, desktop |
/// | e13 | E fbp, iPhone | Purchase | D1 12:00 | 20 USD; landing e14 10 days before |
/// | e14 | E | PageView | D0 − 9 days 12:00 | utm old; outside the range |
/// | e15 | B | PageView | D1 + 1 00:00:00 | outside the range |
/// | e16 | F fbp, desktop | ViewContent | D1 13:00 | em |
pub fn fixture(store: &dyn Store) {
    let a = Who {
        fbp: Some("fb.1.1.A"),
        ua: Some(IPHONE),
    };
    let b = Who {
        fbp: Some("fb.1.1.B"),
        ua: Some(ANDROID),
    };
    let c = Who {
        fbp: None,
        ua: Some(DESKTOP),
    };
    let anon = Who {
        fbp: None,
        ua: None,
    };
    let anon2 = Who {
        fbp: None,
        ua: Some(DESKTOP),
    };
    let e = Who {
        fbp: Some("fb.1.1.E"),
        ua: Some(IPHONE),
    };
    let f = Who {
        fbp: Some("fb.1.1.F"),
        ua: Some(DESKTOP),
    };
    let a_ud = [("em", h("a@x.example")), ("ph", h("15550000001"))];
    let c_ud = [("external_id", h("cust-c")), ("em", h("c@x.example"))];
    let shop = "https://shop.example";
    let mut e1 = ev(
        "PageView",
        at(0, 9, 0, 0),
        &a,
        &format!("{shop}/?utm_source=fb&utm_medium=paid&utm_campaign=bf&fbclid=IwAR1"),
        &[],
        json!({}),
        Some("e1"),
    );
    e1.fbc = Some("fb.1.1.IwAR1".into());
    let mut e5 = ev(
        "Purchase",
        at(0, 9, 4, 0),
        &a,
        &format!("{shop}/thanks"),
        &a_ud,
        json!({"value": 100, "currency": "USD"}),
        Some("e5"),
    );
    e5.fbc = Some("fb.1.1.IwAR1".into());
    let mut e11 = ev(
        "PageView",
        at(1, 11, 0, 0),
        &anon,
        &format!("{shop}/"),
        &[],
        json!({}),
        Some("e11"),
    );
    e11.relay = false;
    let events = vec![
        e1,
        ev(
            "ViewContent",
            at(0, 9, 1, 0),
            &a,
            &format!("{shop}/p"),
            &[],
            json!({}),
            Some("e2"),
        ),
        ev(
            "AddToCart",
            at(0, 9, 2, 0),
            &a,
            &format!("{shop}/p"),
            &[],
            json!({}),
            Some("e3"),
        ),
        ev(
            "InitiateCheckout",
            at(0, 9, 3, 0),
            &a,
            &format!("{shop}/checkout"),
            &a_ud,
            json!({"value": 100, "currency": "USD"}),
            Some("e4"),
        ),
        e5.clone(),
        e5,
        ev(
            "PageView",
            at(0, 23, 59, 59),
            &b,
            &format!("{shop}/"),
            &[],
            json!({}),
            Some("e6"),
        ),
        ev(
            "ViewContent",
            at(1, 0, 0, 0),
            &b,
            &format!("{shop}/p"),
            &[],
            json!({}),
            Some("e7"),
        ),
        ev(
            "AddToCart",
            at(1, 0, 0, 30),
            &b,
            &format!("{shop}/p"),
            &[("em", h("b@x.example"))],
            json!({}),
            Some("e8"),
        ),
        ev(
            "PageView",
            at(1, 10, 0, 0),
            &c,
            &format!("{shop}/?utm_source=news&utm_medium=email"),
            &c_ud[..1],
            json!({}),
            Some("e9"),
        ),
        ev(
            "Purchase",
            at(1, 10, 5, 0),
            &c,
            &format!("{shop}/thanks"),
            &c_ud,
            json!({"value": "50.00", "currency": "eur"}),
            None,
        ),
        e11,
        ev(
            "PageView",
            at(1, 11, 1, 0),
            &anon2,
            &format!("{shop}/"),
            &[],
            json!({}),
            Some("e12"),
        ),
        ev(
            "Purchase",
            at(1, 12, 0, 0),
            &e,
            &format!("{shop}/thanks"),
            &[],
            json!({"value": 20, "currency": "USD"}),
            Some("e13"),
        ),
        ev(
            "PageView",
            at(-9, 12, 0, 0),
            &e,
            &format!("{shop}/?utm_source=old"),
            &[],
            json!({}),
            Some("e14"),
        ),
        ev(
            "PageView",
            at(2, 0, 0, 0),
            &b,
            &format!("{shop}/"),
            &[],
            json!({}),
            Some("e15"),
        ),
        ev(
            "ViewContent",
            at(1, 13, 0, 0),
            &f,
            &format!("{shop}/p"),
            &[("em", h("f@x.example"))],
            json!({}),
            Some("e16"),
        ),
    ];
    let outcomes = store.insert_batch(&events).unwrap();
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == collector::ports::InsertOutcome::Duplicate)
            .count(),
        1
    );
    let id_of = |eid: &str| {
        store
            .list(&collector::ports::EventQuery {
                pixel_id: Some(PIXEL.into()),
                limit: 100,
                ..Default::default()
            })
            .unwrap()
            .into_iter()
            .find(|s| {
                s.event.event_id == eid
                    || (eid == "e10"
                        && s.event.event_id_derived
                        && s.event.event_name == "Purchase")
            })
            .map(|s| s.id)
            .unwrap()
    };
    store.mark_sent(&[id_of("e5")], 1).unwrap();
    store.mark_failed(id_of("e3"), "X", 1).unwrap();
    store.mark_failed(id_of("e10"), "X", 1).unwrap();
    store.mark_failed(id_of("e8"), "Y", 1).unwrap();
    // Expires e1 (D0 09:00:00) and e14, the only pending events before 09:00:30.
    assert_eq!(store.expire(PIXEL, at(0, 9, 0, 30)).unwrap(), 2);
}

struct Api {
    app: Router,
    _dir: tempfile::TempDir,
}

/// Where a test's events are stored: a backend's database, or the in-memory twin.
#[derive(Clone, Copy)]
enum Source {
    Db(Backend),
    Twin,
}

impl From<Backend> for Source {
    fn from(b: Backend) -> Source {
        Source::Db(b)
    }
}

impl Api {
    /// The fixture in a new database of `backend` (or the twin), and the app on it.
    fn on(source: impl Into<Source>) -> Api {
        Api::with(source, |_| {})
    }

    /// [`Api::on`], with `more` stored after the fixture.
    fn with(source: impl Into<Source>, more: fn(&dyn Store)) -> Api {
        let source: Source = source.into();
        let dir = tempfile::tempdir().unwrap();
        let db = match source {
            Source::Db(backend) => backend.db(dir.path()).arg(),
            Source::Twin => dir.path().join("unused.db").to_str().unwrap().to_owned(),
        };
        let config = Config::parse_from([
            "collector",
            "--db",
            &db,
            "--pixel",
            PIXEL,
            "--admin-token",
            TOKEN,
        ])
        .unwrap_or_else(|e| panic!("{e:?}"));
        let store: std::sync::Arc<dyn Store> = match source {
            Source::Db(_) => collector::store::open(&config).unwrap(),
            Source::Twin => std::sync::Arc::new(collector::store::memory::MemoryStore::new()),
        };
        fixture(&*store);
        more(&*store);
        Api {
            app: app(AppState::new(config, store).unwrap()),
            _dir: dir,
        }
    }

    async fn call(&self, uri: &str, token: Option<&str>) -> (StatusCode, String, Bytes) {
        let mut req = Request::get(uri);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let mut req = req.body(Body::empty()).unwrap();
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let ct = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        (
            status,
            ct,
            resp.into_body().collect().await.unwrap().to_bytes(),
        )
    }

    async fn json(&self, path: &str) -> Value {
        let (status, ct, body) = self.call(path, Some(TOKEN)).await;
        let text = String::from_utf8_lossy(&body);
        assert_eq!(status, StatusCode::OK, "{path}: {text}");
        assert_eq!(ct, "application/json");
        serde_json::from_slice(&body).unwrap()
    }

    async fn report(&self, name: &str, extra: &str) -> Value {
        self.json(&format!(
            "/api/reports/{name}?pixel={PIXEL}&from=2026-11-10&to=2026-11-11{extra}"
        ))
        .await
    }

    async fn csv(&self, name: &str, extra: &str) -> Vec<String> {
        let (status, ct, body) = self
            .call(
                &format!(
                    "/api/audiences/{name}.csv?pixel={PIXEL}&from=2026-11-10&to=2026-11-11{extra}"
                ),
                Some(TOKEN),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(ct, "text/csv; charset=utf-8");
        String::from_utf8(body.to_vec())
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

fn step(events: u64, visitors: u64, rate: Option<f64>, name: &str) -> Value {
    json!({"event": name, "events": events, "visitors": visitors, "rate_from_previous": rate})
}

async fn check_all(api: &Api) {
    // Funnel: PageView e1 e6 e9 e11 e12 (A, B, C by external_id, two anonymous); ViewContent e2
    // e7 e16 (A B F); AddToCart e3 e8 (A B); InitiateCheckout e4 (A); Purchase e5 e10 e13
    // (A C E). 14 events, 7 visitors (A B C E F and the two anonymous).
    assert_eq!(
        api.report("funnel", "").await,
        json!({"events": 14, "visitors": 7, "steps": [
            step(5, 5, None, "PageView"),
            step(3, 3, Some(0.6), "ViewContent"),
            step(2, 2, Some(0.6667), "AddToCart"),
            step(1, 1, Some(0.5), "InitiateCheckout"),
            step(3, 3, Some(3.0), "Purchase"),
        ]})
    );

    // Timeline over 2 days: per hour, 48 points; e6 and e7 either side of midnight.
    let t = api.report("timeline", "").await;
    assert_eq!(t["bucket"], "hour");
    let points = t["points"].as_array().unwrap();
    assert_eq!(points.len(), 48);
    let point = |label: &str| points.iter().find(|p| p["start"] == label).unwrap().clone();
    assert_eq!(
        point("2026-11-10T09:00Z"),
        json!({"start": "2026-11-10T09:00Z", "revenue": {"USD": 100.0}, "events": {
            "PageView": 1, "ViewContent": 1, "AddToCart": 1, "InitiateCheckout": 1, "Purchase": 1}})
    );
    assert_eq!(point("2026-11-10T23:00Z")["events"], json!({"PageView": 1}));
    assert_eq!(
        point("2026-11-11T00:00Z")["events"],
        json!({"ViewContent": 1, "AddToCart": 1})
    );
    assert_eq!(point("2026-11-11T10:00Z")["revenue"], json!({"EUR": 50.0}));
    assert_eq!(point("2026-11-11T05:00Z")["events"], json!({}));
    assert_eq!(
        t["totals"],
        json!({"events": {"PageView": 5, "ViewContent": 3, "AddToCart": 2, "InitiateCheckout": 1,
            "Purchase": 3}, "revenue": {"EUR": 50.0, "USD": 120.0}})
    );
    // Three days: per day; D0 has e1-e5 and e6, D1 the rest, D2 (2026-11-12) e15.
    let t = api
        .json(&format!(
            "/api/reports/timeline?pixel={PIXEL}&from=2026-11-10&to=2026-11-12"
        ))
        .await;
    assert_eq!(t["bucket"], "day");
    assert_eq!(
        t["points"],
        json!([
            {"start": "2026-11-10", "revenue": {"USD": 100.0}, "events": {"PageView": 2,
                "ViewContent": 1, "AddToCart": 1, "InitiateCheckout": 1, "Purchase": 1}},
            {"start": "2026-11-11", "revenue": {"EUR": 50.0, "USD": 20.0}, "events": {"PageView": 3,
                "ViewContent": 2, "AddToCart": 1, "Purchase": 2}},
            {"start": "2026-11-12", "revenue": {}, "events": {"PageView": 1}},
        ])
    );

    // Match quality. Purchase (e5 e10 e13): em 2/3, ph 1/3, external_id 1/3, fbc 1/3, fbp 2/3,
    // ip_ua 3/3: 3·⅔ + 2·⅓ + 1·⅓ + 1·⅓ + 0.75·⅔ + 0.75 = 4.583 → 4.6; adding ph gains 2·⅔ = 1.3.
    let mq = api.report("match-quality", "").await;
    let of = |name: &str| {
        mq["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["event"] == name)
            .unwrap()
            .clone()
    };
    let p = of("Purchase");
    assert_eq!(p["events"], 3);
    assert_eq!(p["score"], 4.6);
    assert_eq!(p["add"], json!({"key": "ph", "score_gain": 1.3}));
    assert_eq!(p["shares"]["em"], 0.6667);
    assert_eq!(p["shares"]["ph"], 0.3333);
    assert_eq!(p["shares"]["ip_ua"], 1.0);
    assert_eq!(p["shares"]["zp"], 0.0);
    // PageView (e1 e6 e9 e11 e12): fbp 2/5, fbc 1/5, external_id 1/5, ip_ua 4/5:
    // 0.75·0.4 + 1·0.2 + 1·0.2 + 0.75·0.8 = 1.3; em missing everywhere gains 3.0.
    let pv = of("PageView");
    assert_eq!(pv["score"], 1.3);
    assert_eq!(pv["add"], json!({"key": "em", "score_gain": 3.0}));
    // ViewContent (e2 e7 e16): fbp 1, ip_ua 1, em 1/3 → 2.5; em and ph both gain 2.0: em first.
    assert_eq!(of("ViewContent")["score"], 2.5);
    assert_eq!(
        of("ViewContent")["add"],
        json!({"key": "em", "score_gain": 2.0})
    );
    assert_eq!(mq["events"].as_array().unwrap().len(), 5);

    // Relay: 14 stored + 1 duplicate; e5 sent; e3 e10 failed X, e8 failed Y; e11 not relayed;
    // e1 expired; 8 pending; Purchases e5 e13 carry the page's event ID, e10 does not.
    assert_eq!(
        api.report("relay", "").await,
        json!({"received": 15, "duplicates": 1, "stored": 14, "relayed": 1, "pending": 8,
            "failed": 3, "expired": 1, "not_relayed": 1,
            "errors": [{"message": "X", "count": 2}, {"message": "Y", "count": 1}],
            "purchases": 3, "purchases_with_event_id": 2, "purchase_event_id_share": 0.6667,
            "provenance": {"browser": 14, "server": 0, "both": 0, "late": 0},
            "capture": {"verified_purchases": 0, "both": 0, "server_only": 0, "browser_only": 3,
                "browser_capture_rate": null}})
    );

    // Attribution, 7 days: e5 ← e1 (fb/paid/bf, fbclid); e10 ← e9 (news/email); e13's landing
    // e14 is 10 days old: direct.
    assert_eq!(
        api.report("attribution", "").await,
        json!({"window_days": 7, "purchases": 3, "campaigns": [
            {"source": "(direct)", "medium": null, "campaign": null, "purchases": 1, "revenue": {"USD": 20.0},
                "visitors": 0, "purchasers": 1, "conversion_rate": 0.0, "aov": {"USD": 20.0}},
            {"source": "fb", "medium": "paid", "campaign": "bf", "purchases": 1, "revenue": {"USD": 100.0},
                "visitors": 1, "purchasers": 1, "conversion_rate": 1.0, "aov": {"USD": 100.0}},
            {"source": "news", "medium": "email", "campaign": null, "purchases": 1, "revenue": {"EUR": 50.0},
                "visitors": 1, "purchasers": 1, "conversion_rate": 1.0, "aov": {"EUR": 50.0}},
        ], "fbclid": [
            {"has_fbclid": true, "purchases": 1, "revenue": {"USD": 100.0}},
            {"has_fbclid": false, "purchases": 2, "revenue": {"EUR": 50.0, "USD": 20.0}},
        ]})
    );
    // With 10 days, e14 (exactly 10 days before e13) is within the window.
    let a10 = api.report("attribution", "&window_days=10").await;
    assert!(a10["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["source"] == "old" && c["purchases"] == 1));
    assert!(!a10["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["source"] == "(direct)"));

    // AEM, default priority. Per visitor and day: A·D0 Purchase; B·D0 PageView; B·D1 AddToCart;
    // C·D1 Purchase; two anonymous PageViews; E·D1 Purchase; F·D1 ViewContent.
    // iOS (A, E): all 5 of A's events and e13; AEM keeps A·D0 and E·D1 Purchases.
    let row = |e: &str, p: u64, all: u64, aem: u64, ios: u64, ios_aem: u64| {
        json!({"event": e, "priority": p, "events": all, "aem_events": aem, "ios_events": ios,
            "ios_aem_events": ios_aem})
    };
    assert_eq!(
        api.report("aem", "").await,
        json!({"priority": ["Purchase", "InitiateCheckout", "AddToCart", "ViewContent", "PageView"],
        "events": [
            row("Purchase", 1, 3, 3, 2, 2),
            row("InitiateCheckout", 2, 1, 0, 1, 0),
            row("AddToCart", 3, 2, 1, 1, 0),
            row("ViewContent", 4, 3, 1, 1, 0),
            row("PageView", 5, 5, 3, 1, 0),
        ]})
    );
    // PageView first: every visitor-day with a PageView counts it (A·D0, B·D0, C·D1 and the
    // two anonymous); only E·D1 keeps a Purchase.
    assert_eq!(
        api.report("aem", "&priority=PageView,Purchase").await["events"],
        json!([
            row("PageView", 1, 5, 5, 1, 1),
            row("Purchase", 2, 3, 1, 2, 1)
        ])
    );

    // Audiences. A (em, ph) bought 100 USD; C (external_id, em) 50 EUR; E bought but has no
    // identifier. USD is the most used currency.
    let header = "email,phone,fn,ln,ct,st,zip,country,external_id";
    let a_row = format!("{},{},,,,,,,", h("a@x.example"), h("15550000001"));
    let c_row = format!("{},,,,,,,,{}", h("c@x.example"), h("cust-c"));
    let mut expected = vec![format!("{a_row},100"), format!("{c_row},0")];
    expected.sort();
    expected.insert(0, format!("{header},value"));
    assert_eq!(api.csv("purchasers", "").await, expected);
    let mut expected = vec![format!("{a_row},0"), format!("{c_row},50")];
    expected.sort();
    expected.insert(0, format!("{header},value"));
    assert_eq!(api.csv("purchasers", "&currency=eur").await, expected);
    // Cart abandoners: A bought a minute after the checkout; B never did.
    assert_eq!(
        api.csv("cart_abandoners", "").await,
        vec![header.to_owned(), format!("{},,,,,,,,", h("b@x.example"))]
    );
    // Viewers: A and B added to cart; F only viewed.
    assert_eq!(
        api.csv("viewers", "").await,
        vec![header.to_owned(), format!("{},,,,,,,,", h("f@x.example"))]
    );
}

async fn every_report_matches_the_hand_computed_fixture(backend: impl Into<Source>) {
    check_all(&Api::on(backend)).await;
}

async fn an_empty_range_and_a_range_of_one_event(backend: impl Into<Source>) {
    let api = Api::on(backend);
    let empty =
        |name: &str| format!("/api/reports/{name}?pixel={PIXEL}&from=2026-01-01&to=2026-01-01");
    let f = api.json(&empty("funnel")).await;
    assert_eq!(f["events"], 0);
    assert!(f["steps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["events"] == 0 && s["visitors"] == 0 && s["rate_from_previous"].is_null()));
    let t = api.json(&empty("timeline")).await;
    assert_eq!(t["points"].as_array().unwrap().len(), 24);
    assert_eq!(t["totals"], json!({"events": {}, "revenue": {}}));
    assert_eq!(api.json(&empty("match-quality")).await["events"], json!([]));
    let r = api.json(&empty("relay")).await;
    assert_eq!(
        (r["received"].clone(), r["purchase_event_id_share"].clone()),
        (json!(0), Value::Null)
    );
    let a = api.json(&empty("attribution")).await;
    assert_eq!(
        (a["purchases"].clone(), a["campaigns"].clone()),
        (json!(0), json!([]))
    );
    assert!(api.json(&empty("aem")).await["events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["events"] == 0 && e["aem_events"] == 0));
    let (status, _, body) = api
        .call(
            &format!("/api/audiences/purchasers.csv?pixel={PIXEL}&from=2026-01-01&to=2026-01-01"),
            Some(TOKEN),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        String::from_utf8_lossy(&body),
        "email,phone,fn,ln,ct,st,zip,country,external_id,value\n"
    );
    // 2026-11-01 holds e14 only: one event, one visitor.
    let one = api
        .json(&format!(
            "/api/reports/funnel?pixel={PIXEL}&from=2026-11-01&to=2026-11-01"
        ))
        .await;
    assert_eq!(one["events"], 1);
    assert_eq!(one["steps"][0], step(1, 1, None, "PageView"));
    assert_eq!(one["steps"][1], step(0, 0, Some(0.0), "ViewContent"));
    // Another pixel sees nothing of this one's.
    let other = api
        .json("/api/reports/funnel?pixel=555&from=2026-11-10&to=2026-11-11")
        .await;
    assert_eq!(other["events"], 0);
}

async fn every_route_refuses_without_the_token_and_bad_parameters_say_what_is_wrong(
    backend: impl Into<Source>,
) {
    let api = Api::on(backend);
    let q = format!("?pixel={PIXEL}&from=2026-11-10&to=2026-11-11");
    let routes = [
        "/api/reports/funnel",
        "/api/reports/timeline",
        "/api/reports/match-quality",
        "/api/reports/relay",
        "/api/reports/attribution",
        "/api/reports/aem",
        "/api/reports/nonexistent",
        "/api/audiences/purchasers.csv",
        "/api/audiences/cart_abandoners.csv",
        "/api/audiences/viewers.csv",
    ];
    for route in routes {
        for token in [None, Some("wrong"), Some("")] {
            let (status, _, body) = api.call(&format!("{route}{q}"), token).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{route} {token:?}");
            assert!(!String::from_utf8_lossy(&body).contains("PageView"));
        }
        // Not even a bad query gets past the token.
        let (status, _, _) = api.call(&format!("{route}?pixel=x"), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let bad = [
        (
            "/api/reports/funnel?from=2026-11-10&to=2026-11-11",
            "pixel is missing (pixel=<id>)",
        ),
        (
            "/api/reports/funnel?pixel=12a&from=2026-11-10&to=2026-11-11",
            "pixel must be a numeric pixel id",
        ),
        (
            "/api/reports/funnel?pixel=1&to=2026-11-11",
            "from is missing (from=YYYY-MM-DD)",
        ),
        (
            "/api/reports/timeline?pixel=1&from=2026-11-10",
            "to is missing (to=YYYY-MM-DD)",
        ),
        (
            "/api/reports/relay?pixel=1&from=2026-02-30&to=2026-11-11",
            "from must be a date as YYYY-MM-DD (a UTC day)",
        ),
        (
            "/api/reports/relay?pixel=1&from=2026-11-10&to=11/12/2026",
            "to must be a date as YYYY-MM-DD (a UTC day, inclusive)",
        ),
        (
            "/api/reports/relay?pixel=1&from=2026-11-12&to=2026-11-11",
            "to must not be before from",
        ),
        (
            "/api/reports/relay?pixel=1&from=2024-01-01&to=2026-11-11",
            "the range from..to is longer than 400 days",
        ),
        (
            "/api/reports/attribution?pixel=1&from=2026-11-10&to=2026-11-11&window_days=0",
            "window_days must be a whole number of days from 1 to 90",
        ),
        (
            "/api/reports/aem?pixel=1&from=2026-11-10&to=2026-11-11&priority=A,B,C,D,E,F,G,H,I",
            "priority lists more than 8 events: Aggregated Event Measurement allows 8 per domain",
        ),
        (
            "/api/reports/aem?pixel=1&from=2026-11-10&to=2026-11-11&priority=A,,B",
            "priority must be a comma-separated list of event names of 1 to 100 characters",
        ),
        (
            "/api/reports/aem?pixel=1&from=2026-11-10&to=2026-11-11&priority=A,A",
            "priority names an event twice",
        ),
        (
            "/api/audiences/purchasers.csv?pixel=1&from=2026-11-10&to=2026-11-11&currency=dollars",
            "currency must be a three-letter ISO 4217 code",
        ),
        (
            "/api/reports/funnel?pixel=1&from=2026-11-10&to=2026-11-11&x=%zz",
            "malformed query string",
        ),
    ];
    for (uri, message) in bad {
        let (status, _, body) = api.call(uri, Some(TOKEN)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(String::from_utf8_lossy(&body).trim(), message, "{uri}");
    }
    // Eight names are allowed.
    let (status, _, _) = api
        .call(
            &format!("/api/reports/aem{q}&priority=A,B,C,D,E,F,G,H"),
            Some(TOKEN),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for uri in ["/api/reports/nonexistent", "/api/audiences/everyone.csv"] {
        let (status, _, _) = api.call(&format!("{uri}{q}"), Some(TOKEN)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
    }
}

async fn report_redirects_to_the_dashboard_without_the_token(backend: impl Into<Source>) {
    let api = Api::on(backend);
    let mut req = Request::get(format!("/report?pixel={PIXEL}&token=secret"))
        .body(Body::empty())
        .unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    let resp = api.app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        resp.headers()[header::LOCATION],
        format!("/dashboard?pixel={PIXEL}").as_str()
    );
    let (status, ct, body) = api.call("/dashboard", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ct, "text/html; charset=utf-8");
    let html = String::from_utf8_lossy(&body);
    assert!(html.contains("<script src=\"/dashboard.js\" defer></script>"));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external request"
    );
}

/// Orders reported by the store's server on D1: `s1` server only, `s2` from both (the browser's
/// copy first), `s3` from both, the server's after the browser's was relayed (late).
fn server_orders(store: &dyn Store) {
    use collector::event::Origin;
    let buy = |eid: &str, person: &str, value: f64, origin: Origin| NewEvent {
        origin,
        // A visitor each (the server copies carry no cookie).
        fbp: None,
        ..ev(
            "Purchase",
            at(1, 12, 0, 0),
            &Who {
                fbp: None,
                ua: Some(DESKTOP),
            },
            "https://shop.example/thanks",
            &[("em", h(person))],
            json!({"value": value, "currency": "EUR"}),
            Some(eid),
        )
    };
    store
        .insert_batch(&[
            buy("s1", "x@x.example", 10.0, Origin::SERVER),
            buy("s2", "y@x.example", 20.0, Origin::BROWSER),
            buy("s3", "z@x.example", 30.0, Origin::BROWSER),
        ])
        .unwrap();
    let s3 = store
        .list(&collector::ports::EventQuery {
            event_name: Some("Purchase".into()),
            limit: 100,
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .find(|e| e.event.event_id == "s3")
        .unwrap();
    store.mark_sent(&[s3.id], 1).unwrap();
    let outcomes = store
        .insert_batch(&[
            buy("s2", "y@x.example", 20.0, Origin::SERVER),
            buy("s3", "z@x.example", 30.0, Origin::SERVER),
        ])
        .unwrap();
    assert_eq!(outcomes, [collector::ports::InsertOutcome::Merged; 2]);
}

async fn server_copies_show_in_the_relay_report_and_only_verified_orders_make_purchasers(
    backend: impl Into<Source>,
) {
    let api = Api::with(backend, server_orders);
    let r = api.report("relay", "").await;
    assert_eq!(
        r["provenance"],
        json!({"browser": 14, "server": 1, "both": 2, "late": 1})
    );
    // Verified Purchases s1 s2 s3, two of them also from a browser; e5 e10 e13 browser only.
    assert_eq!(
        r["capture"],
        json!({"verified_purchases": 3, "both": 2, "server_only": 1, "browser_only": 3,
            "browser_capture_rate": 0.6667})
    );
    // Purchasers: the verified orders' people only (the fixture's browser-only buyers are not).
    let csv = api.csv("purchasers", "").await;
    let mut people: Vec<String> = csv
        .iter()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_owned())
        .collect();
    people.sort();
    let mut expected: Vec<String> = ["x@x.example", "y@x.example", "z@x.example"]
        .iter()
        .map(|p| h(p))
        .collect();
    expected.sort();
    assert_eq!(people, expected, "{csv:?}");
}

/// `/api/reports/summary` over the fixture, by hand. Visitors of D0..D1: A, B, C (by
/// external_id), E, F and the two anonymous = 7; E's PageView e14 is 9 days before the range, so
/// E is returning and the other 6 are new. Orders: e5 (its repeat dropped), e10, e13 = 3, by A, C
/// and E: 3 purchasers, 3 / 7 = 0.4286. Revenue: USD 100 (e5) + 20 (e13), EUR 50 (e10, "50.00"
/// "eur"); AOV: USD 120 / 2 = 60, EUR 50 / 1.
async fn the_summary_matches_the_hand_computed_fixture(backend: impl Into<Source>) {
    let api = Api::on(backend);
    assert_eq!(
        api.report("summary", "").await,
        json!({
            "visitors": 7, "new_visitors": 6, "returning_visitors": 1,
            "orders": 3, "purchasers": 3, "conversion_rate": 0.4286,
            "revenue": {"EUR": 50.0, "USD": 120.0}, "aov": {"EUR": 50.0, "USD": 60.0},
        })
    );
    // D1 alone: B (seen on D0), C, E (seen before), F and the two anonymous = 6, of whom B and E
    // return; orders e10 and e13 by C and E: 2 of 6 = 0.3333.
    let d1 = api
        .json(&format!(
            "/api/reports/summary?pixel={PIXEL}&from=2026-11-11&to=2026-11-11"
        ))
        .await;
    assert_eq!(
        d1,
        json!({
            "visitors": 6, "new_visitors": 4, "returning_visitors": 2,
            "orders": 2, "purchasers": 2, "conversion_rate": 0.3333,
            "revenue": {"EUR": 50.0, "USD": 20.0}, "aov": {"EUR": 50.0, "USD": 20.0},
        })
    );
    // Nothing: zeros, and a conversion rate of 0.
    let empty = api
        .json(&format!(
            "/api/reports/summary?pixel={PIXEL}&from=2026-01-01&to=2026-01-01"
        ))
        .await;
    assert_eq!(
        empty,
        json!({
            "visitors": 0, "new_visitors": 0, "returning_visitors": 0,
            "orders": 0, "purchasers": 0, "conversion_rate": 0.0,
            "revenue": {}, "aov": {},
        })
    );
}

backend_tests! {
    the_summary_matches_the_hand_computed_fixture,
    server_copies_show_in_the_relay_report_and_only_verified_orders_make_purchasers,
    every_report_matches_the_hand_computed_fixture,
    an_empty_range_and_a_range_of_one_event,
    every_route_refuses_without_the_token_and_bad_parameters_say_what_is_wrong,
    report_redirects_to_the_dashboard_without_the_token,
}

/// The same on the in-memory twin: the reports' logic without a file or a socket.
mod twin {
    use super::Source::Twin;

    #[tokio::test]
    async fn every_report_matches_the_hand_computed_fixture() {
        super::every_report_matches_the_hand_computed_fixture(Twin).await
    }

    #[tokio::test]
    async fn an_empty_range_and_a_range_of_one_event() {
        super::an_empty_range_and_a_range_of_one_event(Twin).await
    }

    #[tokio::test]
    async fn the_summary_matches_the_hand_computed_fixture() {
        super::the_summary_matches_the_hand_computed_fixture(Twin).await
    }

    #[tokio::test]
    async fn server_copies_show_in_the_relay_report_and_only_verified_orders_make_purchasers() {
        super::server_copies_show_in_the_relay_report_and_only_verified_orders_make_purchasers(Twin)
            .await
    }

    #[tokio::test]
    async fn every_route_refuses_without_the_token_and_bad_parameters_say_what_is_wrong() {
        super::every_route_refuses_without_the_token_and_bad_parameters_say_what_is_wrong(Twin)
            .await
    }
}
