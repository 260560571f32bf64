// The outbox against the real collector (issue #10): the first-party endpoint down across page
// loads, the collector killed and restarted mid-session, two tabs of one store offline then
// online. Each event must end up exactly once in the collector's SQLite store.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { launchBrowser, requireDist, baseCode, html } from '../support/index.mjs';
import { startCollector, until, ADMIN_TOKEN as ADMIN } from '../support/collector.mjs';

const PIXEL = '7700000000101';
let tmp;
let collector;
let browser;

before(async () => {
  requireDist();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fbevents-outbox-'));
  fs.mkdirSync(path.join(tmp, 'site'));
  collector = await start();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await collector?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

function start(port) {
  return startCollector({ tmp, port, site: path.join(tmp, 'site'), pixels: [PIXEL] });
}

/** A page of the store (served by the collector from the temporary site) with these fbq calls. */
function page(name, calls) {
  const js = `fbq('set', 'endpoint', location.origin + '/tr/');\nfbq('init', '${PIXEL}');\n${calls}`;
  fs.writeFileSync(path.join(tmp, 'site', name), html({ head: baseCode('/fbevents.js', js) }));
  return `${collector.origin}/${name}`;
}

const track = (eids) => eids.map((e) => `fbq('track', 'ViewContent', {content_ids: ['${e}']}, {eventID: '${e}'});`).join('\n');
const ids = (prefix, n) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

/** Event IDs of the stored ViewContent events, one entry per stored row. */
async function stored() {
  const r = await fetch(`${collector.origin}/api/events?pixel=${PIXEL}&event=ViewContent&limit=1000`, {
    headers: { authorization: `Bearer ${ADMIN}` },
  });
  return (await r.json()).map((e) => e.event_id);
}

async function duplicates() {
  const m = (await fetch(`${collector.origin}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } }).then((r) => r.text())).match(/^collector_events_duplicate_total(?:\{[^}]*\})? (\d+)/m);
  return m ? Number(m[1]) : 0;
}

/** Waits until every one of `eids` is stored, then asserts each is stored exactly once. */
async function assertStoredOnce(eids, timeoutMs = 40000) {
  await until(`${eids.length} events stored`, async () => {
    const s = new Set(await stored());
    return eids.every((e) => s.has(e));
  }, timeoutMs);
  await new Promise((r) => setTimeout(r, 1000));
  const mine = (await stored()).filter((e) => eids.includes(e)).sort();
  assert.deepEqual(mine, eids.slice().sort(), 'each event stored exactly once');
}

async function newTab(context) {
  const ctx = context || (await browser.browser.newContext());
  const p = await ctx.newPage();
  const errors = [];
  p.on('pageerror', (e) => errors.push(String(e)));
  return { context: ctx, page: p, errors };
}

/**
 * A reverse proxy in front of the collector, on an origin of its own, whose /tr fails on demand:
 * `proxy.failure` = 503 answers 503, 'reset' drops the connection. Everything else (the pages,
 * the pixel) passes through, so the pages keep loading during the outage.
 */
async function startProxy() {
  const proxy = { failure: null, failed: 0 };
  const server = http.createServer((req, res) => {
    if (proxy.failure && /^\/tr\/?(\?|$)/.test(req.url)) {
      proxy.failed++;
      if (proxy.failure === 'reset') return req.socket.destroy();
      return res.writeHead(503, { 'content-type': 'text/plain' }).end('down\n');
    }
    const up = http.request(`${collector.origin}${req.url}`, { method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  proxy.origin = `http://127.0.0.1:${server.address().port}`;
  proxy.close = () => new Promise((r) => { server.closeAllConnections(); server.close(r); });
  return proxy;
}

test('the endpoint answers 503, then drops connections, across three page loads; then up: 20 events, each once at the collector and in its store', async (t) => {
  const proxy = await startProxy();
  const tab = await newTab();
  const eids = [];
  try {
    for (const [name, n, failure] of [['down-a', 7, 503], ['down-b', 7, 503], ['down-c', 6, 'reset']]) {
      proxy.failure = failure;
      const before = proxy.failed;
      const list = ids(name, n);
      eids.push(...list);
      page(`${name}.html`, track(list));
      await tab.page.goto(`${proxy.origin}/${name}.html`);
      await until(`${name}: ${n} failed`, () => proxy.failed - before >= n);
      await tab.page.waitForTimeout(300);
    }
    assert.deepEqual((await stored()).filter((e) => eids.includes(e)), [], 'nothing stored during the outage');
    const dup0 = await duplicates();
    proxy.failure = null;
    await assertStoredOnce(eids);
    const dup = (await duplicates()) - dup0;
    t.diagnostic(`20/20 stored once; ${proxy.failed} failed attempts during the outage; ${dup} duplicate arrivals after it`);
    assert.equal(dup, 0, 'each event reached the collector once');
    assert.deepEqual(tab.errors, []);
  } finally {
    await tab.context.close();
    await proxy.close();
  }
});

test('the collector killed (SIGKILL) and restarted mid-session: what failed is delivered, exactly once in the store', async (t) => {
  const tab = await newTab();
  try {
    const early = ids('kill-early', 3);
    await tab.page.goto(page('kill.html', track(early)));
    await assertStoredOnce(early, 10000);
    await collector.stop('SIGKILL');
    const during = ids('kill-during', 8);
    await tab.page.evaluate((js) => Function(js)(), track(during));
    await tab.page.waitForTimeout(1500);
    const t0 = Date.now();
    collector = await start(collector.port);
    await assertStoredOnce([...early, ...during]);
    t.diagnostic(`8/8 events fired while the collector was down stored once, ${Date.now() - t0} ms after the restart`);
    assert.deepEqual(tab.errors, []);
  } finally {
    await tab.context.close();
  }
});

test('two tabs of the store offline, then online: no event stored twice, none lost', async (t) => {
  const context = await browser.browser.newContext();
  const a = await newTab(context);
  const b = await newTab(context);
  try {
    await a.page.goto(page('tab-a.html', ''));
    await b.page.goto(page('tab-b.html', ''));
    await a.page.waitForFunction(() => typeof fbq.callMethod === 'function');
    await b.page.waitForFunction(() => typeof fbq.callMethod === 'function');
    await context.setOffline(true);
    const ea = ids('tab-a', 6);
    const eb = ids('tab-b', 6);
    await a.page.evaluate((js) => Function(js)(), track(ea));
    await b.page.evaluate((js) => Function(js)(), track(eb));
    await until('12 entries in the shared outbox', () =>
      a.page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('_fbq_ob.')).length === 12), 5000);
    const dup0 = await duplicates();
    await context.setOffline(false);
    await assertStoredOnce([...ea, ...eb]);
    t.diagnostic(`12/12 stored once; ${(await duplicates()) - dup0} duplicate arrivals at the collector (deduplicated by event ID)`);
    assert.deepEqual([...a.errors, ...b.errors], []);
  } finally {
    await context.close();
  }
});
