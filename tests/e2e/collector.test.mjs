// The whole product, end to end: the demo storefront served by the real collector binary, the
// built pixel in headless Chromium sending first-party beacons to it, and the collector relaying
// them to a local stand-in for Meta's Graph API. The Purchase's event ID on the browser beacon must
// be the event_id Meta receives from the server, so Meta keeps one copy.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launchBrowser, requireDist, repoRoot, parseParams } from '../support/index.mjs';
import { buyMug } from '../support/shopper.mjs';
import { ADMIN_TOKEN as ADMIN, startCollector as start, startGraph, until } from '../support/collector.mjs';

const PIXEL = '1234567890';
const TOKEN = 'test-access-token';
const sha256 = (s) => crypto.createHash('sha256').update(s, 'utf8').digest('hex');

let graph;
let collector;
let browser;
let tmp;

const startCollector = (graphUrl) =>
  // The Purchase waits for a server copy that never comes here: a short hold, not the default 10 minutes.
  start({ tmp, graphUrl, pixels: [`${PIXEL}=${TOKEN}`], site: path.join(repoRoot, 'www', 'store'), extraArgs: ['--hold-secs', '2'] });

before(async () => {
  requireDist();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fbevents-e2e-'));
  graph = await startGraph();
  collector = await startCollector(graph.url);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await collector?.stop();
  await graph?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test('storefront → pixel → collector → Conversions API: the Purchase keeps its event ID, identifiers stay hashed', async () => {
  const tab = await browser.newPage();
  const { page } = tab;
  const beacons = [];
  page.on('request', (req) => {
    const u = new URL(req.url());
    if (u.origin === collector.origin && /^\/tr\/?$/.test(u.pathname)) {
      const raw = req.method() === 'GET' ? u.search.slice(1) : req.postData() || '';
      beacons.push(Object.fromEntries(parseParams(raw, req.headers()['content-type'] || '')));
    }
  });
  try {
    const orderId = await buyMug(page, collector.origin, { email: 'Ada.Lovelace@Example.org' });

    const purchase = await until('the Purchase beacon', () => beacons.find((b) => b.ev === 'Purchase'));
    assert.equal(purchase.eid, orderId, 'the page gave the order ID as event ID');

    // Meta receives the same event from the server, with the same event_id.
    const relayed = await until('the relayed Purchase', () => graph.events().find((e) => e.event_name === 'Purchase'));
    const request = graph.requests.find((r) => r.json?.data?.includes(relayed));
    assert.equal(request.path, `/v26.0/${PIXEL}/events`);
    // The access token travels in the body, never in the URL.
    assert.equal(request.json.access_token, TOKEN);
    assert.deepEqual(request.query, {});
    assert.equal(relayed.event_id, purchase.eid);
    assert.equal(relayed.event_time, Math.floor(Number(purchase.ts) / 1000));
    assert.equal(relayed.action_source, 'website');
    assert.equal(relayed.event_source_url, purchase.dl);
    assert.equal(relayed.custom_data.currency, 'USD');
    assert.equal(Number(relayed.custom_data.value), Number(purchase['cd[value]']));
    assert.deepEqual(relayed.custom_data.content_ids, JSON.parse(purchase['cd[content_ids]']));
    assert.deepEqual(relayed.user_data.em, [sha256('ada.lovelace@example.org')]);
    assert.deepEqual(relayed.user_data.ph, [sha256('442079460958')]);
    assert.deepEqual(relayed.user_data.zp, [sha256('sw1a 1aa')]); // SPEC §6 (#13): the inner space stays
    assert.equal(relayed.user_data.fbp, purchase.fbp);
    assert.match(relayed.user_data.fbp, /^fb\.0\.\d{13}\.\d+$/);
    assert.ok(relayed.user_data.client_user_agent.includes('Chrome'), 'user agent from the beacon request');
    assert.equal(relayed.user_data.client_ip_address, '127.0.0.1');

    // Every event the shopper produced is relayed exactly once, under the browser's event ID. A
    // beacon may go twice: one sent as the page navigates away (a click's deferred request,
    // issue #23) gets no answer the page can see, so the outbox sends it again from the next
    // page; the collector drops the repeat (same event ID), and Meta gets it once.
    const sent = [...new Set(beacons.map((b) => `${b.ev}/${b.eid}`))].sort();
    await until('every event relayed', () => graph.events().length >= sent.length);
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(graph.events().map((e) => `${e.event_name}/${e.event_id}`).sort(), sent);

    // The store owner sees it too.
    const api = await fetch(`${collector.origin}/api/events?pixel=${PIXEL}&event=Purchase`, {
      headers: { authorization: `Bearer ${ADMIN}` },
    }).then((r) => r.json());
    assert.equal(api.length, 1);
    assert.equal(api[0].event_id, orderId);
    assert.equal(api[0].relay_status, 'sent');
    assert.equal(api[0].user_data.em, sha256('ada.lovelace@example.org'));

    // The collector's database never holds the plain identifiers.
    const stored = ['', '-wal']
      .map((s) => collector.db + s)
      .filter((f) => fs.existsSync(f))
      .map((f) => fs.readFileSync(f).toString('latin1').toLowerCase())
      .join('\n');
    assert.ok(stored.includes(orderId.toLowerCase()), 'the scan reads the stored events');
    for (const plain of ['ada.lovelace', 'lovelace', '442079460958', '7946 0958', 'sw1a']) {
      assert.ok(!stored.includes(plain), `plain "${plain}" stored`);
    }
    assert.deepEqual(tab.errors.map(String), []);
  } finally {
    await tab.close();
  }
});

test('a repeated beacon is acknowledged and deduplicated: Meta gets the event once', async () => {
  const eid = `dup-${Date.now()}`;
  const q = new URLSearchParams({ id: PIXEL, ev: 'Lead', dl: `${collector.origin}/lead`, ts: String(Date.now()), eid });
  for (let i = 0; i < 3; i++) {
    const r = await fetch(`${collector.origin}/tr/?${q}`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'image/gif');
  }
  await until('the Lead relayed', () => graph.events().some((e) => e.event_id === eid));
  await new Promise((r) => setTimeout(r, 700));
  assert.equal(graph.events().filter((e) => e.event_id === eid).length, 1);
  const metrics = await fetch(`${collector.origin}/metrics`, { headers: { Authorization: `Bearer ${ADMIN}` } }).then((r) => r.text());
  const dup = metrics.match(/^collector_events_duplicate_total(?:\{[^}]*\})? (\d+)/m);
  assert.ok(dup && Number(dup[1]) >= 2, `duplicates counted: ${dup && dup[0]}`);
});

test('bad beacons get a 4xx with a reason, and the next good one is stored', async () => {
  const cases = [
    [`/tr/?ev=PageView`, 400],
    [`/tr/?id=${PIXEL}`, 400],
    [`/tr/?id=999&ev=PageView`, 403],
    [`/tr/?id=${PIXEL}&ev=PageView&ts=soon`, 400],
  ];
  for (const [url, status] of cases) {
    const r = await fetch(collector.origin + url);
    assert.equal(r.status, status, url);
    assert.ok((await r.text()).length > 0, `a reason for ${url}`);
  }
  const eid = `after-bad-${Date.now()}`;
  const r = await fetch(`${collector.origin}/tr/`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ id: PIXEL, ev: 'Contact', eid, ts: String(Date.now()) }).toString(),
  });
  assert.equal(r.status, 204);
  await until('the good beacon relayed', () => graph.events().some((e) => e.event_id === eid));
});
