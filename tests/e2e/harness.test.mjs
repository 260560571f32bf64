// The harness the other end-to-end tests stand on: the beacon recorder parses what a real browser
// sends, per-page headers reach the browser, mapped domains resolve to the test server, and no
// request leaves the machine. No pixel involved.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, html, baseCode } from '../support/index.mjs';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser({ hostResolverRules: 'MAP *.example.test 127.0.0.1' });
});

after(async () => {
  await browser?.close();
  await server?.close();
});

const PAIRS = [
  ['id', '1234567890'],
  ['ev', 'Pur chase'],
  ['cd[content_ids]', '["a","b&c"]'],
  ['cd[x]', 'é=+%'],
];

test('GET, urlencoded, text/plain and multipart beacons parse to the same ordered pairs', async () => {
  server.clear();
  server.page('/send.html', html({ body: '<p>send</p>' }));
  const tab = await browser.newPage();
  try {
    await tab.page.goto(server.url('/send.html'));
    await tab.page.evaluate((pairs) => {
      const query = pairs.map(([k, v]) => encodeURIComponent(k) + '=' + encodeURIComponent(v)).join('&');
      new Image().src = '/tr/?' + query;
      navigator.sendBeacon('/tr/', new URLSearchParams(pairs));
      navigator.sendBeacon('/tr/', query);
      const form = new FormData();
      for (const [k, v] of pairs) form.append(k, v);
      navigator.sendBeacon('/tr/', form);
    }, PAIRS);
    const got = await server.waitForBeacons(4);
    const byType = Object.fromEntries(got.map((b) => [b.method + ' ' + b.contentType.split(';')[0], b]));
    assert.deepEqual(Object.keys(byType).sort(), [
      'GET ',
      'POST application/x-www-form-urlencoded',
      'POST multipart/form-data',
      'POST text/plain',
    ]);
    for (const b of got) assert.deepEqual(b.params, PAIRS, `${b.method} ${b.contentType}`);
    assert.equal(server.preflights().length, 0, 'no CORS preflight for beacon bodies');
    assert.deepEqual(tab.errors.map(String), []);
  } finally {
    await tab.close();
  }
});

test('per-page response headers reach the browser (a CSP blocks an inline script)', async () => {
  server.page('/csp.html', html({ body: '<script>window.ran = true</script>' }), {
    headers: { 'content-security-policy': "script-src 'self'" },
  });
  const tab = await browser.newPage();
  try {
    await tab.page.goto(server.url('/csp.html'));
    assert.equal(await tab.page.evaluate(() => window.ran === true), false);
  } finally {
    await tab.close();
  }
});

test('*.example.test resolves to the test server, with its port', async () => {
  server.page('/mapped.html', html({ body: '<p>mapped</p>' }));
  const tab = await browser.newPage();
  try {
    const url = `http://shop.example.test:${server.port}/mapped.html`;
    const res = await tab.page.goto(url);
    assert.equal(res.status(), 200);
    await tab.page.evaluate(() => {
      document.cookie = 'probe=1; domain=example.test; path=/';
    });
    const cookies = await tab.context.cookies(url);
    assert.deepEqual(
      cookies.map((c) => [c.name, c.domain]),
      [['probe', '.example.test']],
    );
  } finally {
    await tab.close();
  }
});

test("requests off the machine are blocked; Meta's /tr is answered in the browser and recorded", async () => {
  server.clear();
  // The base code's script points at Meta's CDN: blocked, so fbq stays a queueing stub.
  server.page(
    '/offline.html',
    html({
      head: baseCode('https://connect.facebook.net/en_US/fbevents.js', "fbq('init', '1');"),
      body: '<img src="https://www.facebook.com/tr?id=1&ev=PageView&noscript=1">',
    }),
  );
  const tab = await browser.newPage({ server });
  try {
    await tab.page.goto(server.url('/offline.html'));
    const [b] = await server.waitForBeacons(1);
    assert.equal(b.via, 'intercept');
    assert.deepEqual(b.params, [
      ['id', '1'],
      ['ev', 'PageView'],
      ['noscript', '1'],
    ]);
    assert.deepEqual(tab.blocked, ['https://connect.facebook.net/en_US/fbevents.js']);
    assert.equal(await tab.page.evaluate(() => window.fbq.queue.length), 1);
  } finally {
    await tab.close();
  }
});
