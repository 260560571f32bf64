// Meta's Business SDKs against the real collector: one shop per test file (the collector binary
// with a short Purchase hold, a Graph API stand-in recording what the relay sends, Chromium with
// the built pixel), the README's recipes taken out of README.md as written, and the checks the
// SDK tests share.
//
//   const shop = await openShop('node');      // in before()
//   const beacon = await shop.pixelBeacon({ eventID, customData, userData });
//   await shop.sendBeacon({ ev: 'Purchase', eid, 'cd[value]': '0.01' });   // a bare /tr GET
//   const { event, request } = await shop.relayedOnce(eid, { quietFrom: Date.now() });
//   await shop.close();                       // in after()
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { html, baseCode, launchBrowser, parseParams, repoRoot, requireDist } from '../support/index.mjs';
import { startCollector, startGraph, until } from '../support/collector.mjs';

export const PIXEL = '4455667788';
/** The pixel's Conversions API token (`--pixel ID=TOKEN`): what the relay must send Meta. */
export const CAPI_TOKEN = 'sdk-capi-token-for-meta';
/** A key for the shop's server only (`--server-key ID=KEY`): accepted, never relayed. */
export const SERVER_KEY = 'sdk-server-key-0123456789abcdef';
/** Neither: refused. */
export const WRONG_KEY = 'not-the-key';
/** `--hold-secs`: how long a Purchase waits for its other copy. */
export const HOLD_SECS = 3;

/** The shopper's e-mail and phone as a shop's database holds them: plain, not normalised. */
export const ORDER_EMAIL = ' Ada.Lovelace@Example.org ';
export const ORDER_PHONE = '+44 20 7946 0958';

/** The checkout request's user agent and address, which the shop keeps with the order. */
export const CHECKOUT_UA = 'Mozilla/5.0 (Checkout; recorded with the order) Gecko/20100101';
export const CHECKOUT_IP = '203.0.113.7';

export const sha256 = (s) => crypto.createHash('sha256').update(String(s), 'utf8').digest('hex');
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A user_data value as a list (the relay sends match keys as arrays, Meta takes both). */
export const list = (v) => (v === undefined ? undefined : [].concat(v));

let unique = 0;
/** An order ID no other test (or run) uses. */
export const orderId = (tag) => `${tag}-${process.pid}-${Date.now().toString(36)}-${++unique}`;

/**
 * The fenced code block of `lang` (js, python, sh) in README.md's "Send orders from your server"
 * section: the recipes the tests run, exactly as a reader copies them.
 */
export function recipe(lang) {
  const readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Send orders from your server\n');
  assert.ok(start >= 0, 'README.md has a "## Send orders from your server" section');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const blocks = [...section.matchAll(/^```(\w+)\n([\s\S]*?)^```$/gm)].filter((m) => m[1] === lang);
  assert.equal(blocks.length, 1, `one \`\`\`${lang} block in the section`);
  return blocks[0][2];
}

/**
 * Starts a shop: the Graph stand-in, the collector (pixel PIXEL with CAPI_TOKEN, SERVER_KEY,
 * Purchase held HOLD_SECS) serving a temporary site for the pixel's pages, and Chromium.
 */
export async function openShop(name) {
  requireDist();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `fbevents-sdk-${name}-`));
  fs.mkdirSync(path.join(tmp, 'site'));
  const graph = await startGraph();
  const collector = await startCollector({
    tmp,
    graphUrl: graph.url,
    pixels: [`${PIXEL}=${CAPI_TOKEN}`],
    site: path.join(tmp, 'site'),
    extraArgs: ['--server-key', `${PIXEL}=${SERVER_KEY}`, '--hold', 'Purchase', '--hold-secs', String(HOLD_SECS)],
  });
  const browser = await launchBrowser();
  let pages = 0;
  let hashes;

  const shop = {
    tmp,
    graph,
    collector,
    origin: collector.origin,
    /** A paid order, as the recipes take it. */
    order: (tag) => ({
      id: orderId(tag),
      email: ORDER_EMAIL,
      phone: ORDER_PHONE,
      value: 129.9,
      currency: 'EUR',
      items: [
        { sku: 'mug-enamel', quantity: 2, price: 14.5 },
        { sku: 'teapot-cast-iron', quantity: 1, price: 100.9 },
      ],
      url: `${collector.origin}/thanks.html`,
      userAgent: CHECKOUT_UA,
      ip: CHECKOUT_IP,
    }),

    /** What the recipes read from the environment. */
    env: (key = SERVER_KEY) => ({ COLLECTOR_URL: collector.origin, PIXEL_ID: PIXEL, COLLECTOR_KEY: key }),

    /** Every event the stand-in received with this event ID. */
    relayed: (eid) => graph.events().filter((e) => e.event_id === eid),

    /** The request to the stand-in that carried `event`. */
    requestOf: (event) => graph.requests.find((r) => r.json?.data?.includes(event)),

    /**
     * Waits for the event with ID `eid` at the stand-in (until `timeoutMs`), then until `quietMs`
     * after `quietFrom` (the last copy sent), and asserts it came exactly once. Returns the event,
     * its request, and when it was first seen.
     */
    async relayedOnce(eid, { quietFrom = Date.now(), quietMs = (HOLD_SECS + 1.5) * 1000, timeoutMs = (HOLD_SECS + 10) * 1000, testEventCode } = {}) {
      const event = await until(`event ${eid} at the Graph stand-in`, () => shop.relayed(eid)[0], timeoutMs);
      const seenAt = Date.now();
      const wait = quietFrom + quietMs - Date.now();
      if (wait > 0) await sleep(wait);
      const all = shop.relayed(eid);
      assert.equal(all.length, 1, `exactly one event ${eid} relayed: ${JSON.stringify(all)}`);
      const request = shop.requestOf(event);
      assert.equal(request.path, `/v26.0/${PIXEL}/events`);
      assert.equal(request.json.access_token, CAPI_TOKEN, 'relayed with the pixel’s CAPI token, never the server key');
      assert.equal(request.json.test_event_code, testEventCode, 'test_event_code as the server copy gave it');
      return { event, request, seenAt };
    },

    /** A beacon as a bare GET /tr (what a forger, or a replayed URL, sends). Resolves with the status. */
    async sendBeacon(params) {
      const q = new URLSearchParams({ id: PIXEL, dl: `${collector.origin}/thanks.html`, ts: String(Date.now()), ...params });
      const r = await fetch(`${collector.origin}/tr/?${q}`, { headers: { 'user-agent': 'forger/1.0' } });
      await r.arrayBuffer();
      return r.status;
    },

    /**
     * The real pixel (dist/ in Chromium) on a thank-you page of the shop: `fbq('init', PIXEL,
     * userData)` then `fbq('track', ev, customData, {eventID})`. Resolves with the beacon's
     * parameters once the collector acknowledged it.
     */
    async pixelBeacon({ eventID, ev = 'Purchase', customData = {}, userData = {} }) {
      const file = `thanks-${++pages}.html`;
      const calls =
        `fbq('set', 'endpoint', location.origin + '/tr/');\n` +
        `fbq('init', ${JSON.stringify(PIXEL)}, ${JSON.stringify(userData)});\n` +
        `fbq('track', ${JSON.stringify(ev)}, ${JSON.stringify(customData)}, {eventID: ${JSON.stringify(eventID)}});`;
      fs.writeFileSync(path.join(tmp, 'site', file), html({ head: baseCode('/fbevents.js', calls) }));
      const tab = await browser.newPage();
      try {
        const acked = tab.page.waitForResponse((res) => {
          const u = new URL(res.url());
          return u.origin === collector.origin && /^\/tr\/?$/.test(u.pathname) && beaconOf(res.request()).eid === eventID;
        });
        await tab.page.goto(`${collector.origin}/${file}`);
        const res = await acked;
        assert.ok(res.ok(), `the collector acknowledged the beacon: ${res.status()}`);
        assert.deepEqual(tab.errors.map(String), []);
        return beaconOf(res.request());
      } finally {
        await tab.close();
      }
    },

    /** The pixel's `ud[em]` and `ud[ph]` for ORDER_EMAIL and ORDER_PHONE (from a Lead beacon, once). */
    pixelHashes() {
      hashes ||= shop
        .pixelBeacon({ ev: 'Lead', eventID: orderId('reference'), userData: { em: ORDER_EMAIL, ph: ORDER_PHONE } })
        .then((b) => ({ em: b['ud[em]'], ph: b['ud[ph]'] }));
      return hashes;
    },

    async close() {
      await browser.close();
      await collector.stop();
      await graph.close();
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
  return shop;
}

function beaconOf(req) {
  const u = new URL(req.url());
  const raw = req.method() === 'GET' ? u.search.slice(1) : req.postData() || '';
  return Object.fromEntries(parseParams(raw, req.headers()['content-type'] || ''));
}

/**
 * Asserts the stand-in's event is the merge of a browser beacon and a server copy: the server's
 * custom data, the union of match keys with the server's where both have one, the browser's fbp
 * (the server copy has none), the server's user agent and IP.
 */
export function assertMerged(event, { server, beacon, browserOnlyKeys }) {
  assert.equal(event.event_name, 'Purchase');
  assert.equal(Number(event.custom_data.value), server.value, 'the server’s value');
  assert.equal(String(event.custom_data.currency).toUpperCase(), server.currency, 'the server’s currency');
  assert.deepEqual(
    event.custom_data.contents.map((c) => ({ id: String(c.id), quantity: Number(c.quantity), item_price: Number(c.item_price) })),
    server.items.map((i) => ({ id: i.sku, quantity: i.quantity, item_price: i.price })),
    'the server’s contents',
  );
  assert.deepEqual(list(event.user_data.em), [sha256(server.email.trim().toLowerCase())], 'the server’s em wins over the browser’s');
  assert.ok(event.user_data.ph, 'ph from the server');
  for (const k of browserOnlyKeys) {
    assert.deepEqual(list(event.user_data[k]), [beacon[`ud[${k}]`]], `${k} from the browser`);
  }
  assert.equal(event.user_data.fbp, beacon.fbp, 'the browser’s fbp');
  assert.match(event.user_data.fbp, /^fb\.\d\.\d{13}\.\d+$/);
  assert.equal(event.user_data.client_user_agent, server.userAgent, 'the server’s user agent (Meta requires one on a website event)');
  assert.equal(event.user_data.client_ip_address, server.ip, 'the server’s IP address');
}
