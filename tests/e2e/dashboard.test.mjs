// The dashboard (issue #11) in headless Chromium against the real collector binary and a SQLite
// file filled by the real seed command: the token is asked for once per page load and kept in
// the page's memory only (no storage, no cookie, asked again after a reload), every number on the page
// equals the JSON report it comes from, the page works from the keyboard at 360 px, makes no
// request off the collector's origin and logs no error. Screenshots at 1280 and 360 px wide go
// to target/e2e-output/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { launchBrowser, requireDist, repoRoot } from '../support/index.mjs';
import { ADMIN_TOKEN as ADMIN, collectorBinary, startCollector } from '../support/collector.mjs';

const PIXEL = '1234567890';
const RANGE = { from: '2026-11-21', to: '2026-11-30' };
const OUTPUT = path.join(process.env.CARGO_TARGET_DIR || path.join(repoRoot, 'target'), 'e2e-output');

let collector;
let browser;
let tmp;

/** The same formatting as the dashboard's, written again here. */
const FORMAT = {
  int: (n) => (n == null ? '–' : n.toLocaleString('en-US')),
  pct: (x) => (x == null ? '–' : `${(x * 100).toFixed(1)}%`),
  score: (x) => (x == null ? '–' : x.toFixed(1)),
  money: (m) => {
    const c = Object.keys(m || {}).sort();
    return c.length ? c.map((k) => `${m[k].toFixed(2)} ${k}`).join(', ') : '–';
  },
  text: (s) => (s == null ? '–' : String(s)),
};
const at = (obj, p) => p.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj);

async function reports(origin) {
  const q = new URLSearchParams({ pixel: PIXEL, ...RANGE });
  const paths = {
    funnel: `funnel?${q}`,
    timeline: `timeline?${q}`,
    'match-quality': `match-quality?${q}`,
    relay: `relay?${q}`,
    attribution: `attribution?${q}&window_days=7`,
    aem: `aem?${q}`,
  };
  const out = {};
  for (const [k, p] of Object.entries(paths)) {
    const r = await fetch(`${origin}/api/reports/${p}`, { headers: { authorization: `Bearer ${ADMIN}` } });
    assert.equal(r.status, 200, `${k}: ${await r.clone().text()}`);
    out[k] = await r.json();
  }
  return out;
}

before(async () => {
  requireDist();
  assert.ok(fs.existsSync(path.join(repoRoot, 'dist', 'dashboard.js')), 'dist/dashboard.js is missing: run scripts/build.sh');
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fbevents-dashboard-'));
  const db = path.join(tmp, 'collector.db');
  execFileSync(collectorBinary('seed'), ['--db', db, '--pixel', PIXEL, '--events', '4000', '--days', '10', '--end', RANGE.to, '--seed', '11'], { stdio: 'pipe' });
  // The seeded days are fixed (the numbers are reproducible): keep them, however old.
  collector = await startCollector({ db, pixels: [PIXEL], extraArgs: ['--retention-days', '0'] });
  browser = await launchBrowser();
  fs.mkdirSync(OUTPUT, { recursive: true });
});

after(async () => {
  await browser?.close();
  await collector?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test('the dashboard asks for the token once and shows exactly the numbers of the JSON reports', async (t) => {
  const tab = await browser.newPage({ context: { viewport: { width: 1280, height: 900 }, acceptDownloads: true } });
  const { page } = tab;
  const offOrigin = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(collector.origin) && !r.url().startsWith('blob:')) offOrigin.push(r.url());
  });
  try {
    // The old report page redirects here and drops the token from the URL.
    await page.goto(`${collector.origin}/report?pixel=${PIXEL}&token=${ADMIN}`);
    assert.equal(new URL(page.url()).pathname, '/dashboard');
    assert.equal(new URL(page.url()).search, `?pixel=${PIXEL}`);
    const doc = await page.goto(`${collector.origin}/dashboard?pixel=${PIXEL}&from=${RANGE.from}&to=${RANGE.to}`);
    // Its own browsing-context group, and nothing of its URL in a Referer.
    assert.equal(doc.headers()['cross-origin-opener-policy'], 'same-origin');
    assert.equal(doc.headers()['referrer-policy'], 'no-referrer');

    // A wrong token is refused and asked for again.
    let refusals = 0;
    page.on('response', (r) => (refusals += r.status() === 401 ? 1 : 0));
    await page.waitForSelector('#token', { state: 'visible' });
    await page.fill('#token', 'wrong');
    await page.press('#token', 'Enter');
    await page.waitForFunction(() => document.getElementById('login-error').textContent.includes('refused'));
    // All six report requests were answered 401 (and Chromium has logged each).
    for (let i = 0; i < 100 && refusals < 6; i++) await page.waitForTimeout(50);
    assert.equal(refusals, 6);
    await page.waitForTimeout(100);
    assert.equal(await page.evaluate(() => sessionStorage.length), 1, 'the pixel ID only');
    // Chromium logs the refused requests themselves; nothing else may be an error.
    const refused = tab.messages.splice(0).filter((m) => m.type === 'error');
    assert.ok(refused.every((m) => /status of 401/.test(m.text)), JSON.stringify(refused));

    await page.fill('#token', ADMIN);
    await page.press('#token', 'Enter');
    await page.waitForFunction(() => document.body.dataset.loaded === '1', null, { timeout: 20000 });
    const firstRenderMs = Number(await page.evaluate(() => document.body.dataset.firstRenderMs));
    t.diagnostic(`time to first render of real numbers (4,000 events): ${firstRenderMs} ms`);

    const json = await reports(collector.origin);
    assert.ok(json.funnel.events > 2000, `the seed stored events in the range (${json.funnel.events})`);
    const shown = await page.$$eval('[data-r]', (els) => els.map((e) => ({ r: e.dataset.r, p: e.dataset.p, f: e.dataset.f, text: e.textContent })));
    assert.ok(shown.length >= 80, `${shown.length} numbers bound to reports`);
    for (const s of shown) {
      assert.equal(s.text, FORMAT[s.f](at(json[s.r], s.p)), `${s.r} ${s.p}`);
    }
    // Every report is on the page, and the key figures in particular.
    assert.deepEqual([...new Set(shown.map((s) => s.r))].sort(), Object.keys(json).sort());
    const text = (sel) => page.textContent(sel);
    assert.equal(await text('#headline [data-p="events"]'), json.funnel.events.toLocaleString('en-US'));
    assert.equal(await text('#headline [data-p="totals.revenue"]'), FORMAT.money(json.timeline.totals.revenue));
    assert.ok(json.timeline.totals.revenue.USD > 0 && json.timeline.totals.revenue.EUR > 0, 'two currencies');
    assert.equal(await page.$$eval('#funnel tbody tr', (r) => r.length), 5);
    assert.equal(await page.$$eval('#attribution tbody tr', (r) => r.length), json.attribution.campaigns.length);
    // The charts were drawn.
    for (const id of ['funnel-chart', 'timeline-chart']) {
      assert.ok(await page.$eval(`#${id}`, (c) => c.width > 100 && c.height > 100), id);
    }
    // The live list shows the newest events, hashes only.
    await page.waitForFunction(() => document.querySelectorAll('#live tbody tr').length === 15);
    const live = await page.textContent('#live');
    assert.ok(!/@|springfield|alex/i.test(live), 'no plain identifier in the live list');

    await page.screenshot({ path: path.join(OUTPUT, 'dashboard-1280.png'), fullPage: true });

    // The token lives in the page's memory only: in no storage a script of the same origin could
    // read after the dashboard is left, no cookie; a reload asks for it again.
    const stored = await page.evaluate(() => [...Object.values(sessionStorage), ...Object.values(localStorage)]);
    assert.ok(!stored.some((v) => v.includes(ADMIN)), JSON.stringify(stored));
    assert.equal(await page.evaluate(() => localStorage.length), 0);
    assert.deepEqual(await tab.context.cookies(), []);
    await page.reload();
    await page.waitForSelector('#token', { state: 'visible' });
    assert.equal(await page.isVisible('#app'), false);
    await page.fill('#token', ADMIN);
    await page.press('#token', 'Enter');
    await page.waitForFunction(() => document.body.dataset.loaded === '1');
    assert.equal(await page.isVisible('#login'), false);

    // Keyboard only: Tab to the purchasers button, Enter downloads the same CSV as the API.
    await page.focus('#pixel');
    let focused = '';
    for (let i = 0; i < 60 && focused !== 'purchasers'; i++) {
      await page.keyboard.press('Tab');
      focused = await page.evaluate(() => document.activeElement?.dataset?.audience || '');
    }
    assert.equal(focused, 'purchasers', 'the download button is reachable with Tab');
    const [download] = await Promise.all([page.waitForEvent('download'), page.keyboard.press('Enter')]);
    const csv = fs.readFileSync(await download.path(), 'utf8');
    const api = await fetch(`${collector.origin}/api/audiences/purchasers.csv?${new URLSearchParams({ pixel: PIXEL, ...RANGE })}`, {
      headers: { authorization: `Bearer ${ADMIN}` },
    }).then((r) => r.text());
    assert.equal(csv, api);
    assert.match(csv.split('\n')[0], /^email,phone,fn,ln,ct,st,zip,country,external_id,value$/);
    assert.ok(csv.split('\n').length > 10, 'purchasers with identifiers');
    assert.ok(csv.split('\n').slice(1, -1).every((l) => /^([0-9a-f]{64})?(,([0-9a-f]{64})?){8},[0-9.]+$/.test(l)), 'hashes and a value only');

    // 360 px: nothing wider than the screen (tables scroll inside their own box).
    await page.setViewportSize({ width: 360, height: 780 });
    await page.waitForFunction(() => document.documentElement.scrollWidth <= 360, null, { timeout: 3000 }).catch(() => {});
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
    const wide = await page.evaluate(() =>
      [...document.querySelectorAll('body *')]
        .filter((e) => e.getBoundingClientRect().right > 361 && !e.closest('.scroll'))
        .map((e) => `${e.tagName}#${e.id}.${e.className}:${Math.round(e.getBoundingClientRect().right)}`)
        .slice(0, 8),
    );
    assert.ok(overflow <= 360, `page is ${overflow} px wide at 360: ${wide.join(' ')}`);
    await page.screenshot({ path: path.join(OUTPUT, 'dashboard-360.png'), fullPage: true });
    t.diagnostic(`screenshots: ${path.join(OUTPUT, 'dashboard-1280.png')}, ${path.join(OUTPUT, 'dashboard-360.png')}`);

    assert.deepEqual(tab.errors, []);
    assert.deepEqual(tab.messages.filter((m) => m.type === 'error'), []);
    assert.deepEqual(tab.blocked, []);
    assert.deepEqual(offOrigin, []);
  } finally {
    await tab.close();
  }
});

test('the dashboard script is served compressed (precompressed dist/dashboard.js.br and .gz)', async () => {
  for (const [encoding, ceiling] of [['br', 60_000], ['gzip', 70_000]]) {
    const r = await new Promise((resolve, reject) => {
      http.get(`${collector.origin}/dashboard.js`, { headers: { 'accept-encoding': encoding } }, (res) => {
        let n = 0;
        res.on('data', (c) => { n += c.length; });
        res.on('end', () => resolve({ status: res.statusCode, encoding: res.headers['content-encoding'], bytes: n }));
      }).on('error', reject);
    });
    assert.equal(r.status, 200);
    assert.equal(r.encoding, encoding, `dashboard.js without Content-Encoding: ${encoding}`);
    assert.ok(r.bytes < ceiling, `dashboard.js is ${r.bytes} bytes on the wire as ${encoding}`);
  }
});
