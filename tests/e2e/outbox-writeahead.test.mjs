// The outbox's write-ahead (issue #24), against the real collector: a first-party beacon is in
// localStorage before it is sent and gone again after its 2xx, so a Purchase fired just before
// the page navigates away while the collector is down is delivered by a later page, exactly once
// in the store; the beacons of a page that finds an earlier page's entries go out once each; and
// a healthy endpoint leaves nothing in storage and loads no outbox module.
//
// The pages and the pixel are served by a small proxy of their own origin (so they load while the
// collector is down); its /tr goes to the collector, or fails on demand, and it counts every /tr
// request by event ID (what went over the wire, which the store's deduplication would hide).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { launchBrowser, requireDist, baseCode, html, distDir } from '../support/index.mjs';
import { startCollector, until, ADMIN_TOKEN as ADMIN } from '../support/collector.mjs';

const PIXEL = '7700000002410';
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };
let tmp;
let collector;
let browser;
let proxy;

before(async () => {
  requireDist();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fbevents-writeahead-'));
  collector = await start();
  proxy = await startProxy();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await proxy?.close();
  await collector?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

function start(port) {
  return startCollector({ tmp, port, pixels: [PIXEL] });
}

/** Event IDs of the stored events named `ev`, one entry per stored row. */
async function stored(ev) {
  const r = await fetch(`${collector.origin}/api/events?pixel=${PIXEL}&event=${ev}&limit=1000`, {
    headers: { authorization: `Bearer ${ADMIN}` },
  });
  return (await r.json()).map((e) => e.event_id);
}

/** Waits until each of `eids` is stored, then asserts each is stored exactly once. */
async function assertStoredOnce(ev, eids, timeoutMs = 40000) {
  await until(`${eids.length} ${ev} stored`, async () => {
    const s = new Set(await stored(ev));
    return eids.every((e) => s.has(e));
  }, timeoutMs);
  await new Promise((r) => setTimeout(r, 1000));
  const mine = (await stored(ev)).filter((e) => eids.includes(e)).sort();
  assert.deepEqual(mine, eids.slice().sort(), 'each event stored exactly once');
}

/**
 * The store's origin: pages from `proxy.pages`, the pixel from dist/, /tr passed to the collector
 * (a network error while it is down) unless `proxy.failure` is a status to answer instead.
 * `proxy.wire`: event ID → /tr requests seen; `proxy.paths`: every other path asked for.
 */
async function startProxy() {
  const p = { failure: null, wire: new Map(), paths: [], pages: new Map() };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (/^\/tr\/?$/.test(url.pathname)) {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const eid = new URLSearchParams(url.search).get('eid') || new URLSearchParams(body.toString()).get('eid');
        p.wire.set(eid, (p.wire.get(eid) || 0) + 1);
        if (p.failure) return res.writeHead(p.failure, { 'content-type': 'text/plain' }).end('down\n');
        const up = http.request(`${collector.origin}${req.url}`, { method: req.method, headers: req.headers }, (r) => {
          res.writeHead(r.statusCode, r.headers);
          r.pipe(res);
        });
        up.on('error', () => res.destroy());
        up.end(body);
      });
      return;
    }
    p.paths.push(url.pathname);
    const page = p.pages.get(url.pathname);
    const file = path.join(distDir, path.basename(url.pathname));
    if (page) return res.writeHead(200, { 'content-type': 'text/html' }).end(page);
    if (url.pathname.startsWith('/fbevents') && fs.existsSync(file)) {
      return res.writeHead(200, { 'content-type': TYPES[path.extname(file)] || 'application/octet-stream' }).end(fs.readFileSync(file));
    }
    res.writeHead(404).end();
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  p.origin = `http://127.0.0.1:${server.address().port}`;
  p.close = () => new Promise((r) => { server.closeAllConnections(); server.close(r); });
  /** A page of the store with these fbq calls (none: a plain page without the pixel). */
  p.page = (name, calls) => {
    const js = `fbq('set', 'endpoint', location.origin + '/tr/');\nfbq('init', '${PIXEL}');\n${calls}`;
    p.pages.set(`/${name}`, calls === undefined ? html({ title: name }) : html({ head: baseCode('/fbevents.js', js) }));
    return `${p.origin}/${name}`;
  };
  return p;
}

async function newTab(initScript) {
  const context = await browser.browser.newContext();
  const page = await context.newPage();
  if (initScript) await page.addInitScript(initScript);
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  return { context, page, errors };
}

const ready = (tab) => tab.page.waitForFunction(() => window.fbq && typeof window.fbq.callMethod === 'function', null, { timeout: 10000 });
const track = (ev, eids) => eids.map((e) => `fbq('track', '${ev}', {content_ids: ['${e}']}, {eventID: '${e}'});`).join('\n');

test('collector down, Purchase, navigation 0-50 ms later, collector back: 100 of 100 stored once', async (t) => {
  const tab = await newTab();
  const leave = proxy.page('wa-leave.html', '');
  proxy.page('wa-away.html');
  const runs = 100;
  const batch = 25; // the outbox keeps at most 100 entries: each outage leaves 25
  const eids = [];
  const figures = [];
  try {
    for (let from = 0; from < runs; from += batch) {
      await collector.stop('SIGKILL');
      const list = [];
      for (let i = from; i < from + batch; i++) {
        await tab.page.goto(leave);
        await ready(tab);
        list.push(`wa-${i}`);
        await tab.page.evaluate(([eid, ms]) => {
          fbq('track', 'Purchase', { value: 1, currency: 'EUR' }, { eventID: eid });
          setTimeout(() => { location.href = '/wa-away.html'; }, ms);
        }, [`wa-${i}`, i % 51]);
        await tab.page.waitForURL('**/wa-away.html');
      }
      eids.push(...list);
      assert.deepEqual((await stored('Purchase').catch(() => [])).filter((e) => list.includes(e)), [], 'nothing stored while down');
      collector = await start(collector.port);
      const t0 = Date.now();
      // The visitor comes back: the next page of the store finds what waits and sends it.
      await tab.page.goto(proxy.page('wa-back.html', track('PageView', [`wa-back-${from}`])));
      await assertStoredOnce('Purchase', list);
      figures.push(Date.now() - t0);
    }
    const sends = eids.map((e) => proxy.wire.get(e) || 0);
    t.diagnostic(`100/100 Purchases tracked 0-50 ms before navigating away during an outage stored once; ` +
      `delivered ${figures.join(', ')} ms after each restart; /tr requests per Purchase: ` +
      `min ${Math.min(...sends)}, max ${Math.max(...sends)}, total ${sends.reduce((a, b) => a + b, 0)} (failed ones included)`);
    await assertStoredOnce('Purchase', eids, 5000);
    assert.deepEqual(tab.errors, []);
  } finally {
    await tab.context.close();
  }
});

test('503 across two page loads, then a page load with the endpoint up: its own beacons go out once each, and all 20 are stored once', async (t) => {
  const tab = await newTab();
  const old = [];
  try {
    proxy.failure = 503;
    for (const [name, n] of [['wa-down-a', 7], ['wa-down-b', 8]]) {
      const list = Array.from({ length: n }, (_, i) => `${name}-${i}`);
      old.push(...list);
      await tab.page.goto(proxy.page(`${name}.html`, track('ViewContent', list)));
      await until(`${name}: ${n} refused`, () => list.every((e) => proxy.wire.get(e) >= 1));
      await tab.page.waitForTimeout(300);
    }
    proxy.failure = null;
    const fresh = Array.from({ length: 5 }, (_, i) => `wa-up-${i}`);
    await tab.page.goto(proxy.page('wa-up.html', track('ViewContent', fresh)));
    await assertStoredOnce('ViewContent', [...old, ...fresh]);
    await tab.page.waitForTimeout(1000);
    const sends = fresh.map((e) => proxy.wire.get(e));
    t.diagnostic(`the recovered page's 5 beacons: ${sends.join(', ')} request(s) each; the 15 earlier ones: ${old.map((e) => proxy.wire.get(e)).join(',')}`);
    assert.deepEqual(sends, [1, 1, 1, 1, 1], 'each new beacon sent once');
    const left = await tab.page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('_fbq_ob.')).length);
    assert.equal(left, 0, 'the outbox is empty');
    assert.deepEqual(tab.errors, []);
  } finally {
    proxy.failure = null;
    await tab.context.close();
  }
});

test('healthy endpoint: each beacon is written to storage and removed again; nothing stays, no outbox module loads', async (t) => {
  // Every localStorage write and removal of the page, as the page itself could see them.
  const spy = `(() => {
    const log = window.__storage = [];
    const set = Storage.prototype.setItem, rm = Storage.prototype.removeItem;
    Storage.prototype.setItem = function (k, v) { log.push(['set', k, performance.now()]); return set.call(this, k, v); };
    Storage.prototype.removeItem = function (k) { log.push(['remove', k, performance.now()]); return rm.call(this, k); };
  })();`;
  const tab = await newTab(spy);
  const eids = Array.from({ length: 10 }, (_, i) => `wa-ok-${i}`);
  try {
    const paths0 = proxy.paths.length;
    await tab.page.goto(proxy.page('wa-ok.html', track('ViewContent', eids)));
    await assertStoredOnce('ViewContent', eids);
    const log = await tab.page.evaluate(() => window.__storage);
    const sets = log.filter(([op]) => op === 'set').map(([, k]) => k);
    const removes = log.filter(([op]) => op === 'remove').map(([, k]) => k);
    t.diagnostic(`${sets.length} writes, ${removes.length} removals; each entry lived ` +
      `${sets.map((k) => Math.round(log.find(([op, x]) => op === 'remove' && x === k)?.[2] - log.find(([op, x]) => op === 'set' && x === k)[2])).join(', ')} ms`);
    assert.equal(sets.length, eids.length, 'one write a beacon');
    assert.ok(sets.every((k) => k.startsWith('_fbq_ob.')), 'only outbox entries');
    assert.deepEqual(removes.slice().sort(), sets.slice().sort(), 'each entry removed again');
    assert.equal(await tab.page.evaluate(() => localStorage.length), 0, 'nothing left in storage');
    assert.deepEqual(proxy.paths.slice(paths0).filter((p) => p.includes('outbox')), [], 'the outbox module is not loaded');
    assert.equal(eids.filter((e) => proxy.wire.get(e) !== 1).length, 0, 'each beacon sent once');
    assert.deepEqual(tab.errors, []);
  } finally {
    await tab.context.close();
  }
});
