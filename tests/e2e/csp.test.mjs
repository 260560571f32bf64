// The same engine without WebAssembly (issue #10): under a CSP without 'wasm-unsafe-eval', or with
// WebAssembly missing, the loader runs dist/fbevents.fallback.js (wasm2js of fbevents.wasm) and
// every feature works; a page that can run WebAssembly downloads exactly what it did before. And
// the loader's bounds: a capped queue after a load failure, no throw from an unusable script
// URL, and no silent weak randomness.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  openSuite, param, byId, byEv, all, assertNoPageErrors, fbqMessages, sha256, UUID_V4, FBP_VALUE,
} from '../support/suite.mjs';
import { PERSONA } from '../support/privacy.mjs';
import { distDir } from '../support/index.mjs';

let suite;
before(async () => {
  suite = await openSuite();
});
after(async () => {
  await suite?.teardown();
});

const CSP = "script-src 'self' 'unsafe-inline'; connect-src 'self'";

/** The paths of the same-origin files the tab requested. */
function watchFiles(tab) {
  const files = [];
  tab.page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.origin === suite.server.origin && /\.(js|wasm)$/.test(u.pathname)) files.push(u.pathname);
  });
  return files;
}

const shopper = (id) => `fbq('init', '${id}', {em: ${JSON.stringify(PERSONA.em)}});
fbq('track', 'PageView');
fbq('track', 'AddToCart', {content_ids: ['mug'], value: 12.5, currency: 'EUR'}, {eventID: 'atc-${id}'});`;

async function assertShopperArrived(id) {
  const got = await suite.wait(2, byId(id), 10000);
  const pv = got.find(byEv('PageView'));
  const atc = got.find(byEv('AddToCart'));
  assert.ok(pv && atc, 'PageView and AddToCart arrived');
  assert.equal(param(atc, 'ud[em]'), sha256(PERSONA.em.trim().toLowerCase()), 'ud[em] is the SHA-256 of the normalised email');
  assert.equal(param(atc, 'eid'), `atc-${id}`);
  assert.equal(param(atc, 'cd[value]'), '12.5');
  assert.match(param(pv, 'fbp'), FBP_VALUE, 'the _fbp cookie works');
  return got;
}

test(`a real "Content-Security-Policy: ${CSP}" header: the JavaScript engine sends PageView and AddToCart with ud[em], one console message, no page error`, async () => {
  const id = '8800000000001';
  const tab = await suite.open('/csp-fallback.html', { goto: false, headers: { 'content-security-policy': CSP }, calls: shopper(id) });
  const files = watchFiles(tab);
  try {
    await tab.page.goto(tab.url);
    await suite.ready(tab);
    await assertShopperArrived(id);
    const ours = fbqMessages(tab);
    assert.equal(ours.length, 1, `one [fbq] message: ${JSON.stringify(ours)}`);
    assert.match(ours[0], /no WebAssembly \(.*\): on the JavaScript engine/);
    // The wasm is fetched, refused by the CSP when compiled, and then the JavaScript engine.
    assert.deepEqual(files, ['/fbevents.js', '/fbevents.wasm', '/fbevents.fallback.js']);
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('the same page without the CSP downloads exactly what it did before: fbevents.js and fbevents.wasm', async () => {
  const id = '8800000000002';
  const tab = await suite.open('/csp-none.html', { goto: false, calls: shopper(id) });
  const files = watchFiles(tab);
  try {
    await tab.page.goto(tab.url);
    await suite.ready(tab);
    await assertShopperArrived(id);
    await suite.settle(() => true, 300);
    assert.deepEqual(files, ['/fbevents.js', '/fbevents.wasm']);
    assert.deepEqual(fbqMessages(tab), []);
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('WebAssembly missing: the JavaScript engine, with consent and the outbox', async () => {
  const id = '8800000000003';
  suite.server.failBeacons({ status: 503 });
  const tab = await suite.open('/csp-nowasm.html', {
    initScript: 'delete window.WebAssembly;',
    calls: `fbq('consent', 'revoke');\n${shopper(id)}`,
  });
  try {
    await tab.page.waitForTimeout(500);
    assert.equal(suite.server.refused().filter((r) => r.url.includes(id)).length, 0, 'held while revoked');
    assert.equal(await tab.page.evaluate(() => localStorage.length), 0);
    await tab.page.evaluate(() => fbq('consent', 'grant'));
    await tab.page.waitForFunction(() => Object.keys(localStorage).some((k) => k.startsWith('_fbq_ob.')), null, { timeout: 5000 });
    suite.server.failBeacons(null);
    await assertShopperArrived(id);
    assert.match(fbqMessages(tab, 'warning')[0], /no WebAssembly \(ReferenceError/);
    assertNoPageErrors(tab);
  } finally {
    suite.server.failBeacons(null);
    await suite.done(tab);
  }
});

test('no engine at all (wasm and fallback missing): 10,000 calls leave fbq.queue at 100, nothing thrown', async () => {
  const id = '8800000000004';
  const loader = fs.readFileSync(path.join(distDir, 'fbevents.js'));
  suite.server.route('/nowhere/fbevents.js', (req, res) => {
    res.writeHead(200, { 'content-type': 'text/javascript', 'cache-control': 'no-store' });
    res.end(loader);
  });
  const tab = await suite.open('/csp-bounded.html', { wait: false, scriptUrl: suite.url('/nowhere/fbevents.js'), calls: `fbq('init', '${id}');` });
  try {
    await tab.page.waitForFunction(() => typeof fbq.callMethod === 'function', null, { timeout: 5000 });
    const n = await tab.page.evaluate(() => {
      for (let i = 0; i < 10000; i++) fbq('track', 'ViewContent', { i });
      return fbq.queue.length;
    });
    assert.equal(n, 100);
    const errors = fbqMessages(tab, 'error');
    assert.equal(errors.length, 1);
    assert.match(errors[0], /could not load \(.*\/nowhere\/fbevents\.fallback\.js\)/);
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('a loader whose script URL is unusable (inline on about:blank) does not throw', async () => {
  const tab = await suite.browser.newPage();
  try {
    await tab.page.goto('about:blank');
    await tab.page.addScriptTag({ content: fs.readFileSync(path.join(distDir, 'fbevents.js'), 'utf8') });
    await tab.page.waitForTimeout(500);
    const state = await tab.page.evaluate(() => {
      try {
        fbq('init', '8800000000005');
        fbq('track', 'PageView');
        return { queue: fbq.queue.length, version: fbq.version };
      } catch (e) {
        return String(e);
      }
    });
    assert.deepEqual(state, { queue: 2, version: '2.0' });
    const errors = tab.messages.filter((m) => m.type === 'error').map((m) => m.text);
    assert.equal(errors.length, 1, JSON.stringify(errors));
    assert.match(errors[0], /could not load/);
    assertNoPageErrors(tab);
  } finally {
    await tab.close();
  }
});

test('crypto.getRandomValues throwing: one console warning, events still go with UUIDs', async () => {
  const id = '8800000000006';
  const tab = await suite.open('/csp-weak.html', {
    initScript: "Crypto.prototype.getRandomValues = function () { throw new Error('broken'); };",
    calls: `fbq('init', '${id}');\nfbq('track', 'PageView');\nfbq('track', 'ViewContent');`,
  });
  try {
    const got = await suite.wait(2, byId(id));
    for (const b of got) assert.match(param(b, 'eid'), UUID_V4);
    assert.notEqual(param(got[0], 'eid'), param(got[1], 'eid'));
    const weak = fbqMessages(tab, 'warning').filter((m) => /Math\.random\(\)/.test(m));
    assert.equal(weak.length, 1, 'said once');
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});
