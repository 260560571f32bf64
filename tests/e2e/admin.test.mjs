// The admin token never appears in a URL, a log or the database, after a full end-to-end run on
// one origin (the worst case: the admin pages beside the store, as `./run.sh` serves them): a
// purchase in the demo storefront through the built pixel, the events page and the dashboard
// with the token typed at their prompt, and the way back to the store from each (where the
// pixel's `rl` and the browser's `Referer` would carry a URL that held the token). Checked: every
// request Chromium made (URL, `Referer`, body: the `dl`/`rl` of every beacon), the collector's log
// at debug level, the SQLite file and its WAL, and the pages' storage. Then the same pages on a
// separate `--admin-listen` origin, with the public one answering 404 for them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launchBrowser, requireDist, repoRoot, parseParams } from '../support/index.mjs';
import { buyMug } from '../support/shopper.mjs';
import { ADMIN_TOKEN as ADMIN, freePort, startCollector, until } from '../support/collector.mjs';

const PIXEL = '1234567890';
const SITE = path.join(repoRoot, 'www', 'store');

let browser;
let tmp;

before(async () => {
  requireDist();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fbevents-admin-'));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** Every request of the context: URL, headers and body, the beacons' parameters decoded. */
function record(context) {
  const seen = [];
  context.on('request', (req) => {
    const u = new URL(req.url());
    const body = req.postData() || '';
    const entry = { url: req.url(), headers: req.headers(), body, params: null };
    if (/^\/tr\/?$/.test(u.pathname)) {
      const raw = req.method() === 'GET' ? u.search.slice(1) : body;
      entry.params = Object.fromEntries(parseParams(raw, req.headers()['content-type'] || ''));
    }
    seen.push(entry);
  });
  return seen;
}

/** The token, and its URL-encoded form, nowhere in `text`. */
function assertAbsent(text, where) {
  for (const needle of [ADMIN, encodeURIComponent(ADMIN)]) {
    assert.ok(!text.includes(needle), `the admin token in ${where}`);
  }
}

async function typeToken(page) {
  await page.waitForSelector('#token', { state: 'visible' });
  await page.fill('#token', ADMIN);
  await page.press('#token', 'Enter');
}

test('after a purchase, the events page and the dashboard, the admin token is in no URL, Referer, beacon, log, database or storage', async () => {
  const collector = await startCollector({
    tmp,
    db: path.join(tmp, 'one-origin.db'),
    pixels: [PIXEL],
    site: SITE,
    extraArgs: ['--log', 'debug'],
  });
  const tab = await browser.newPage();
  const { page, context } = tab;
  const requests = record(context);
  try {
    // A shopper's purchase through the pixel.
    const orderId = await buyMug(page, collector.origin);

    // The store owner, in the same tab: the events page asks for the token once and lists the
    // Purchase; its isolation headers are there.
    const eventsDoc = await page.goto(`${collector.origin}/events.html`);
    assert.equal(eventsDoc.headers()['cross-origin-opener-policy'], 'same-origin');
    assert.equal(eventsDoc.headers()['referrer-policy'], 'no-referrer');
    await typeToken(page);
    await page.waitForFunction(
      (id) => [...document.querySelectorAll('#events tr.beacon')].some((r) => r.textContent.includes(id)),
      orderId,
    );
    assert.equal(new URL(page.url()).search, '', 'the events page URL holds nothing');
    // Back to the store from it: the pixel's PageView carries the page it came from as `rl`.
    const eventsAt = requests.length;
    await page.click('a.brand');
    await page.waitForURL(`${collector.origin}/`);
    const back = await until('the PageView after the events page', () => requests.slice(eventsAt).find((r) => r.params?.ev === 'PageView'));
    // The events page's no-referrer: the store's page does not learn where it came from at all.
    assert.ok(!(back.params.rl || '').includes('events.html'), `rl: ${back.params.rl}`);
    assert.ok(!(back.headers.referer || '').includes('events.html'), `Referer: ${back.headers.referer}`);

    // The dashboard, the token typed at its prompt; then the store again.
    const dashDoc = await page.goto(`${collector.origin}/dashboard?pixel=${PIXEL}`);
    assert.equal(dashDoc.headers()['cross-origin-opener-policy'], 'same-origin');
    await typeToken(page);
    await page.waitForFunction(() => document.body.dataset.loaded === '1', null, { timeout: 20000 });
    const dashAt = requests.length;
    await page.goto(`${collector.origin}/product.html?sku=mug-enamel`);
    await until('a beacon after the dashboard', () => requests.slice(dashAt).find((r) => r.params?.ev === 'PageView'));

    // The store's pages saw no trace of it in storage or cookies.
    const storage = await page.evaluate(() => JSON.stringify([{ ...sessionStorage }, { ...localStorage }, document.cookie]));
    assertAbsent(storage, 'storage or cookies of the store');

    // Every request: its URL, its Referer, its body; every beacon's dl and rl.
    const beacons = requests.filter((r) => r.params);
    assert.ok(beacons.length >= 6, `${beacons.length} beacons`);
    assert.ok(beacons.some((b) => b.params.ev === 'Purchase' && b.params.eid === orderId));
    assert.ok(beacons.some((b) => (b.params.rl || '').startsWith(collector.origin)), 'rl is sent (the store pages have referrers)');
    const withToken = requests.filter((r) => r.headers.authorization === `Bearer ${ADMIN}`);
    assert.ok(withToken.length >= 7, 'the token travelled, as a header, to the API');
    for (const r of requests) {
      assertAbsent(r.url, `a request URL (${r.url})`);
      assertAbsent(r.headers.referer || '', `the Referer of ${r.url}`);
      assertAbsent(r.body, `the body of ${r.url}`);
      if (r.params) {
        assertAbsent(r.params.dl || '', 'a beacon dl');
        assertAbsent(r.params.rl || '', 'a beacon rl');
      }
    }
    assert.ok(requests.every((r) => !/[?&]token=/.test(r.url)), 'no token= parameter anywhere');

    // The stored events and the collector's log.
    await until('the last PageView stored', async () => (await collector.events({ pixel: PIXEL })).length >= beacons.length - 1);
    const log = collector.log();
    assert.ok(log.includes('collector listening'), 'the log was captured');
    assertAbsent(log, 'the collector log');
    await collector.stop();
    const stored = ['', '-wal']
      .map((s) => collector.db + s)
      .filter((f) => fs.existsSync(f))
      .map((f) => fs.readFileSync(f).toString('latin1'))
      .join('\n');
    assert.ok(stored.includes(orderId), 'the scan reads the stored events');
    assertAbsent(stored, 'the SQLite file or its WAL');
    assert.deepEqual(tab.errors.map(String), []);
  } finally {
    await tab.close();
    await collector.stop();
  }
});

test('with --admin-listen, the events page and the dashboard work on their own origin and the store origin answers 404 for them', async () => {
  const adminPort = await freePort();
  const collector = await startCollector({
    tmp,
    db: path.join(tmp, 'two-origins.db'),
    pixels: [PIXEL],
    site: SITE,
    extraArgs: ['--admin-listen', `127.0.0.1:${adminPort}`],
  });
  const admin = `http://127.0.0.1:${adminPort}`;
  const tab = await browser.newPage();
  const { page } = tab;
  try {
    await page.goto(`${collector.origin}/`);
    await page.click('#consent-accept');
    await until('the PageView stored', async () => (await fetch(`${admin}/api/events`, { headers: { authorization: `Bearer ${ADMIN}` } }).then((r) => r.json())).length > 0);
    for (const p of ['/dashboard', '/events.html', '/api/events', '/metrics', '/report']) {
      const r = await fetch(`${collector.origin}${p}`, { headers: { authorization: `Bearer ${ADMIN}` }, redirect: 'manual' });
      assert.equal(r.status, 404, `${p} on the store's origin`);
    }
    await page.goto(`${admin}/events.html`);
    await typeToken(page);
    await page.waitForFunction(() => document.querySelectorAll('#events tr.beacon').length > 0);
    await page.goto(`${admin}/dashboard?pixel=${PIXEL}`);
    await typeToken(page);
    await page.waitForFunction(() => document.body.dataset.loaded === '1', null, { timeout: 20000 });
    assert.equal(await page.isVisible('#login'), false);
    assert.deepEqual(tab.errors.map(String), []);
  } finally {
    await tab.close();
    await collector.stop();
  }
});
