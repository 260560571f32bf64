// The drop-in promise at its smallest: Meta's base code with only the script URL changed sends
// a PageView beacon and throws nothing into the page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, baseCode, html, param, requireDist } from '../support/index.mjs';

let server;
let browser;

before(async () => {
  requireDist();
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

async function visit(path, calls, { server: intercept } = {}) {
  server.clear();
  const url = server.page(path, html({ head: baseCode(server.url('/fbevents.js'), calls) }));
  const tab = await browser.newPage({ server: intercept });
  await tab.page.goto(url);
  return tab;
}

test('base code + init + PageView sends one PageView beacon to Meta\'s endpoint', async () => {
  const tab = await visit('/smoke.html', "fbq('init', '1234567890');\nfbq('track', 'PageView');", { server });
  try {
    const [beacon] = await server.waitForBeacons(1);
    assert.equal(beacon.via, 'intercept');
    assert.equal(param(beacon, 'id'), '1234567890');
    assert.equal(param(beacon, 'ev'), 'PageView');
    assert.equal(param(beacon, 'dl'), server.url('/smoke.html'));
    await tab.page.waitForTimeout(300);
    assert.equal(server.beacons().length, 1, 'exactly one beacon');
    assert.deepEqual(tab.errors.map(String), []);
  } finally {
    await tab.close();
  }
});

test('set endpoint sends the beacon first-party, and nothing to facebook.com', async () => {
  const tab = await visit(
    '/smoke-endpoint.html',
    "fbq('set', 'endpoint', location.origin + '/tr/');\nfbq('init', '1234567890');\nfbq('track', 'PageView');",
  );
  try {
    const [beacon] = await server.waitForBeacons(1);
    assert.equal(beacon.via, 'http');
    assert.equal(beacon.path, '/tr/');
    assert.equal(param(beacon, 'id'), '1234567890');
    assert.equal(param(beacon, 'ev'), 'PageView');
    assert.deepEqual(tab.blocked, []);
    assert.deepEqual(tab.errors.map(String), []);
  } finally {
    await tab.close();
  }
});

test('the library replaces the stub: fbq.version is ours and callMethod is installed', async () => {
  const tab = await visit('/smoke-stub.html', "fbq('init', '1234567890');");
  try {
    await tab.page.waitForFunction(() => typeof window.fbq.callMethod === 'function', null, { timeout: 5000 });
    const { version, alias, queued } = await tab.page.evaluate(() => ({
      version: window.fbq.version,
      alias: window._fbq === window.fbq,
      queued: window.fbq.queue.length,
    }));
    assert.notEqual(version, '2.0');
    assert.ok(alias, 'window._fbq is the same function as window.fbq');
    assert.equal(queued, 0, 'the queue was drained');
    assert.deepEqual(tab.errors.map(String), []);
  } finally {
    await tab.close();
  }
});
