// The Shopify custom-pixel recipe (integrations/shopify/custom-pixel.js) in conditions like
// Shopify's: the shop page on one origin (http://shop.example.test:<port>) runs the pixel code in
// an <iframe sandbox="allow-scripts"> from another origin, so the pixel's own document.cookie is
// unusable and its location is the sandbox's. The shop page plays Shopify's side as Shopify
// documents it: `analytics.subscribe(name, callback)` delivering standard events ({id, name,
// timestamp, context, data}) and `browser.cookie.get(name)` / `browser.cookie.set(cookie)`, both
// promises answered by the top frame (here over postMessage). The pixel (built dist/) is served by
// the real collector, and its beacons go there. Not Shopify itself: see README's "Integrations".
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launchBrowser, requireDist, repoRoot, parseParams, startServer, html } from '../support/index.mjs';
import { startCollector, until } from '../support/collector.mjs';

const PIXEL = '5151515151';
const EMAIL = 'Grace.Hopper@Example.net';
const ORDER = 'gid://shopify/OrderIdentity/5550001';
const sha256 = (s) => crypto.createHash('sha256').update(s, 'utf8').digest('hex');

let tmp;
let collector;
let server;
let browser;
let shopOrigin;

// Shopify's side, in the shop's page: the sandbox, its browser.cookie calls, and the events.
const SHOP_JS = `
var frame, ready = false, waiting = [];
function readCookie(name) {
  var all = document.cookie ? document.cookie.split('; ') : [];
  for (var i = 0; i < all.length; i++) if (all[i].indexOf(name + '=') === 0) return all[i].slice(name.length + 1);
  return '';
}
function context() {
  return {
    document: { location: { href: location.href, hostname: location.hostname, pathname: location.pathname, search: location.search },
                referrer: document.referrer, title: document.title, characterSet: 'UTF-8' },
    navigator: { userAgent: navigator.userAgent, language: navigator.language, cookieEnabled: true },
    window: { innerWidth: innerWidth, innerHeight: innerHeight, origin: location.origin },
  };
}
window.cookieCalls = [];
window.addEventListener('message', function (e) {
  if (!frame || e.source !== frame.contentWindow) return;
  var m = e.data || {};
  if (m.ready) { ready = true; waiting.forEach(function (f) { f(); }); return; }
  var result;
  if (m.rpc === 'cookie.get') result = readCookie(m.name);
  if (m.rpc === 'cookie.set') { var c = m.value === undefined ? m.cookie : m.cookie + '=' + m.value; document.cookie = c; result = c; }
  window.cookieCalls.push(m.rpc + ' ' + (m.name || m.cookie));
  frame.contentWindow.postMessage({ id: m.id, result: result }, '*');
});
var seq = 0;
window.publish = function (name, data) {
  var id = 'sh-' + Date.now().toString(36) + '-' + (++seq);
  var send = function () {
    frame.contentWindow.postMessage({ event: { id: id, clientId: 'client-1', name: name, seq: seq, type: 'standard',
      timestamp: new Date().toISOString(), context: context(), data: data || {} } }, '*');
  };
  ready ? send() : waiting.push(send);
  return id;
};
frame = document.createElement('iframe');
frame.setAttribute('sandbox', 'allow-scripts');
frame.src = SANDBOX_URL + '#' + encodeURIComponent(JSON.stringify({ context: context(), data: {} }));
document.body.appendChild(frame);
`;

// What Shopify provides inside the sandbox, as globals: analytics, browser, init.
const SANDBOX_API = `
(function () {
  var pending = {}, n = 0, subs = {};
  function call(msg) {
    return new Promise(function (ok) { msg.id = ++n; pending[msg.id] = ok; parent.postMessage(msg, '*'); });
  }
  window.addEventListener('message', function (e) {
    if (e.source !== parent) return;
    var m = e.data || {};
    if (m.id && pending[m.id]) { pending[m.id](m.result); delete pending[m.id]; }
    if (m.event) (subs[m.event.name] || []).concat(subs.all_events || []).forEach(function (cb) { cb(m.event); });
  });
  window.analytics = { subscribe: function (name, cb) { (subs[name] = subs[name] || []).push(cb); } };
  window.browser = { cookie: {
    get: function (name) { return call({ rpc: 'cookie.get', name: name }); },
    set: function (cookieOrName, value) { return call({ rpc: 'cookie.set', cookie: cookieOrName, value: value }); },
  } };
  window.init = JSON.parse(decodeURIComponent(location.hash.slice(1)));
})();
`;

function recipe() {
  const src = fs.readFileSync(path.join(repoRoot, 'integrations', 'shopify', 'custom-pixel.js'), 'utf8');
  const configured = src
    .replace(/^var FBEVENTS_PIXEL_ID = .*$/m, `var FBEVENTS_PIXEL_ID = '${PIXEL}';`)
    .replace(/^var FBEVENTS_ORIGIN = .*$/m, `var FBEVENTS_ORIGIN = '${collector.origin}';`);
  assert.notEqual(configured, src, 'the recipe has the two settings the README names');
  return configured;
}

before(async () => {
  requireDist();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fbevents-shopify-'));
  collector = await startCollector({ tmp, pixels: [PIXEL] });
  server = await startServer();
  const port = new URL(server.url('/')).port;
  shopOrigin = `http://shop.example.test:${port}`;
  server.page('/sandbox.html', html({ head: `<script>${SANDBOX_API}</script>\n<script>\n${recipe()}\n</script>\n<script>parent.postMessage({ ready: true }, '*');</script>` }));
  server.page('/products/mug.html', html({ body: `<script>var SANDBOX_URL = ${JSON.stringify(server.url('/sandbox.html'))};\n${SHOP_JS}</script>` }));
  browser = await launchBrowser({ hostResolverRules: 'MAP *.example.test 127.0.0.1' });
});

after(async () => {
  await browser?.close().catch(() => {});
  await server?.close();
  await collector?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** The beacons any frame of the tab sends to the collector, as objects of their parameters. */
function recordBeacons(tab) {
  const list = [];
  tab.context.on('request', (req) => {
    const u = new URL(req.url());
    if (u.origin === collector.origin && /^\/tr\/?$/.test(u.pathname)) {
      const raw = req.method() === 'GET' ? u.search.slice(1) : req.postData() || '';
      list.push({ raw: decodeURIComponent(raw), ...Object.fromEntries(parseParams(raw, req.headers()['content-type'] || '')) });
    }
  });
  return list;
}

const sandboxFrame = (tab) => until('the sandbox frame', () => tab.page.frames().find((f) => f.url().includes('/sandbox.html')));

test('Shopify standard events in a sandboxed cross-origin iframe reach the collector, _fbp/_fbc through browser.cookie', async () => {
  const tab = await browser.newPage();
  const beacons = recordBeacons(tab);
  try {
    const shopUrl = `${shopOrigin}/products/mug.html?fbclid=IwAR-shopify.test_1`;
    await tab.page.goto(shopUrl);
    const frame = await sandboxFrame(tab);
    // The premise: in the sandbox the pixel has no cookies of its own, and another origin.
    assert.equal(await frame.evaluate(() => { try { return document.cookie; } catch (e) { return e.name; } }), 'SecurityError');
    assert.equal(await frame.evaluate(() => self.origin), 'null', 'an opaque origin, as in a sandbox without allow-same-origin');

    const pub = (name, data) => tab.page.evaluate(([n, d]) => window.publish(n, d), [name, data]);
    const variant = { id: '4470001', title: 'Red / Large', price: { amount: 19.5, currencyCode: 'EUR' }, product: { id: '447', title: 'Enamel mug', type: 'Mug' } };
    const lineItems = [{ quantity: 2, title: 'Enamel mug', variant }, { quantity: 1, title: 'Spoon', variant: { ...variant, id: '4470002' } }];
    const checkout = {
      currencyCode: 'EUR', email: EMAIL, phone: '+1 650 555 0100', totalPrice: { amount: 58.5, currencyCode: 'EUR' }, lineItems,
      billingAddress: { firstName: 'Grace', lastName: 'Hopper', city: 'Arlington', provinceCode: 'VA', zip: '22201', countryCode: 'US' },
    };
    const ids = {
      PageView: await pub('page_viewed', {}),
      ViewContent: await pub('product_viewed', { productVariant: variant }),
      AddToCart: await pub('product_added_to_cart', { cartLine: { quantity: 2, merchandise: variant, cost: { totalAmount: { amount: 39, currencyCode: 'EUR' } } } }),
      InitiateCheckout: await pub('checkout_started', { checkout }),
    };
    await pub('checkout_completed', { checkout: { ...checkout, order: { id: ORDER } } });

    await until('five beacons', () => beacons.length >= 5 && beacons);
    const by = Object.fromEntries(beacons.map((b) => [b.ev, b]));
    assert.deepEqual(Object.keys(by).sort(), ['AddToCart', 'InitiateCheckout', 'PageView', 'Purchase', 'ViewContent']);
    for (const [ev, id] of Object.entries(ids)) assert.equal(by[ev].eid, id, `${ev} carries Shopify's event.id`);
    assert.equal(by.Purchase.eid, ORDER, 'the Purchase carries the order ID');
    for (const b of beacons) {
      assert.equal(b.id, PIXEL);
      assert.equal(b.dl, shopUrl, 'the page URL is the shop\'s, not the sandbox\'s');
      assert.equal(b.if, 'true');
    }
    assert.equal(by.ViewContent['cd[content_ids]'], '["4470001"]');
    assert.equal(Number(by.ViewContent['cd[value]']), 19.5);
    assert.equal(by.AddToCart['cd[contents]'], '[{"id":"4470001","quantity":2}]');
    assert.equal(by.InitiateCheckout['cd[num_items]'], '3');
    assert.equal(Number(by.Purchase['cd[value]']), 58.5);
    assert.equal(by.Purchase['cd[currency]'], 'EUR');
    assert.equal(by.Purchase['cd[order_id]'], ORDER);
    assert.equal(by.Purchase['ud[em]'], sha256(EMAIL.toLowerCase()));
    assert.equal(by.Purchase['ud[fn]'], sha256('grace'));
    for (const b of beacons) for (const plain of [EMAIL, EMAIL.toLowerCase(), 'Hopper', '22201']) assert.ok(!b.raw.includes(plain), `${plain} not on the wire`);

    // _fbp and _fbc were written on the shop's page, on its broadest domain, and are the ones sent.
    const cookies = Object.fromEntries((await tab.context.cookies(shopOrigin)).map((c) => [c.name, c]));
    assert.match(cookies._fbp?.value || '', /^fb\.1\.\d{13}\.\d+$/);
    assert.equal(cookies._fbp.domain, '.example.test');
    assert.equal(cookies._fbc?.value, by.PageView.fbc);
    assert.match(cookies._fbc.value, /^fb\.1\.\d{13}\.IwAR-shopify\.test_1$/);
    assert.ok(!cookies._fbp_probe, 'the domain probe is gone');
    for (const b of beacons) assert.equal(b.fbp, cookies._fbp.value);
    const calls = await tab.page.evaluate(() => window.cookieCalls);
    assert.ok(calls.includes('cookie.get _fbp') && calls.some((c) => c.startsWith('cookie.set _fbp=')), calls.join('\n'));

    // The collector stored the Purchase under the order ID, with the same _fbp.
    const stored = await until('the Purchase at the collector', async () =>
      (await collector.events({ pixel: PIXEL, event: 'Purchase' })).find((e) => e.event_id === ORDER));
    assert.equal(stored.fbp, cookies._fbp.value);
    assert.equal(stored.user_data.em, sha256(EMAIL.toLowerCase()));

    // A returning visitor: a new page (a new sandbox) reads the same _fbp through browser.cookie.
    beacons.length = 0;
    await tab.page.goto(`${shopOrigin}/products/mug.html`);
    await sandboxFrame(tab);
    await tab.page.evaluate(() => window.publish('page_viewed', {}));
    const again = await until('the second PageView', () => beacons.find((b) => b.ev === 'PageView'));
    assert.equal(again.fbp, cookies._fbp.value, 'same browser id on the next page');
    assert.equal(again.fbc, cookies._fbc.value);
    assert.deepEqual(tab.errors, []);
  } finally {
    await tab.close();
  }
});
