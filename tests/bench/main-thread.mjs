// What the pixel costs a store's visitors, measured on the built dist/ in headless Chromium:
//
// - main-thread script time: CDP Performance.getMetrics `ScriptDuration` of the page, minus that of
//   a blank page (the browser's own baseline);
// - navigation to beacon: when the first and the last /tr request is sent, and when the first
//   one is answered, in ms from the document request, all from the browser's own clock (CDP Network
//   events). Resource Timing cannot be used (it does not list `fetch(..., { keepalive: true })` or
//   `sendBeacon`), and the test server's clock shares its event loop with Playwright, so a busy
//   moment there would skew the figures.
//
// Side by side: a blank page, a minimal hand-written image pixel (the floor: a few lines of
// `new Image().src = ...`), and fbevents with Meta's base code, init with advanced matching,
// PageView and Purchase. Each run is a fresh page; one warm-up pass fills the HTTP cache first, and
// the pages are interleaved so drift hits every variant alike. Medians of BENCH_RUNS runs (default
// 15). Not a test: it prints a table and never fails on timings.
//
//   npm run bench            BENCH_RUNS=30 npm run bench
import { startServer, launchBrowser, baseCode, html, param, requireDist, distSizes, fallbackSize } from '../support/index.mjs';
// The tests' shopper: 11 advanced-matching fields, as the README's benchmark describes.
import { PERSONA as USER } from '../support/privacy.mjs';

const RUNS = Math.max(1, Number(process.env.BENCH_RUNS || process.argv[2] || 15));
const SETTLE_MS = 250; // after the last beacon: lets the pixel finish (cookies, timers) before measuring
const PIXEL_ID = '1234567890';
const BODY = '<h1>Order confirmed</h1><p>Thank you for your purchase.</p>';
const PURCHASE = {
  value: 42.5,
  currency: 'USD',
  content_ids: ['tee-classic', 'mug-enamel'],
  contents: [
    { id: 'tee-classic', quantity: 1, item_price: 19 },
    { id: 'mug-enamel', quantity: 1, item_price: 23.5 },
  ],
  content_type: 'product',
  num_items: 2,
};
// The floor: what a store could write by hand with no library at all.
const handWritten = `<script>
(function () {
  function send(ev, cd) {
    var q = 'id=${PIXEL_ID}&ev=' + ev + '&dl=' + encodeURIComponent(location.href) +
      '&rl=' + encodeURIComponent(document.referrer) + '&ts=' + Date.now();
    for (var k in cd || {}) q += '&cd[' + k + ']=' + encodeURIComponent(typeof cd[k] === 'object' ? JSON.stringify(cd[k]) : cd[k]);
    new Image().src = location.origin + '/tr/?' + q;
  }
  send('PageView');
  send('Purchase', ${JSON.stringify(PURCHASE)});
})();
</script>`;

const fbeventsCalls = [
  `fbq('set', 'endpoint', location.origin + '/tr/');`,
  `fbq('init', '${PIXEL_ID}', ${JSON.stringify(USER)});`,
  `fbq('track', 'PageView');`,
  `fbq('track', 'Purchase', ${JSON.stringify(PURCHASE)}, { eventID: 'order-1001' });`,
].join('\n');

const VARIANTS = [
  { name: 'blank', label: 'blank page', head: '', beacons: 0 },
  { name: 'image', label: 'hand-written image pixel', head: handWritten, beacons: 2 },
  { name: 'fbevents', label: 'fbevents (this project)', head: null, beacons: 2 },
  // The same page under a CSP that forbids WebAssembly: the wasm2js engine (dist/fbevents.fallback.js).
  {
    name: 'fallback',
    label: 'fbevents, JavaScript engine (CSP)',
    head: null,
    beacons: 2,
    headers: { 'content-security-policy': "script-src 'self' 'unsafe-inline'; connect-src 'self'" },
  },
];

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (x) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');

requireDist();
const server = await startServer({ cacheControl: 'public, max-age=600' }); // as Meta serves fbevents.js
const chromium = await launchBrowser();
// One context for every run, so the HTTP cache (and V8's code cache) is warm after the warm-up.
const context = await chromium.browser.newContext();
await context.route(
  (url) => !['127.0.0.1', 'localhost'].includes(url.hostname),
  (route) => route.abort('blockedbyclient'),
);

for (const v of VARIANTS) {
  const head = v.head ?? baseCode(server.url('/fbevents.js'), fbeventsCalls);
  server.page(`/bench/${v.name}.html`, html({ title: v.name, head, body: BODY }), { headers: v.headers });
}

async function measure(v, run) {
  const token = `${v.name}-${run}`;
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  try {
    const cdp = await context.newCDPSession(page);
    await cdp.send('Performance.enable');
    // Browser-clock timestamps (seconds) of the document request and of each /tr request.
    let navAt = NaN;
    const sent = new Map();
    const answered = [];
    cdp.on('Network.requestWillBeSent', (e) => {
      if (e.type === 'Document' && Number.isNaN(navAt)) navAt = e.timestamp;
      else if (/^\/tr\/?$/.test(new URL(e.request.url).pathname)) sent.set(e.requestId, e.timestamp);
    });
    cdp.on('Network.responseReceived', (e) => {
      if (sent.has(e.requestId)) answered.push(e.timestamp);
    });
    await cdp.send('Network.enable');
    const mine = (b) => (param(b, 'dl') || '').includes(`run=${token}`);
    const arrived = v.beacons
      ? server.waitForBeacons(v.beacons, { filter: mine, timeoutMs: 10_000 })
      : Promise.resolve([]);
    await page.goto(server.url(`/bench/${v.name}.html?run=${token}`), { waitUntil: 'load' });
    let beacons = [];
    let missing = null;
    try {
      beacons = await arrived;
    } catch (e) {
      missing = e.message.split('\n')[0];
      beacons = server.beacons().filter(mine);
    }
    await page.waitForTimeout(SETTLE_MS);
    const { metrics } = await cdp.send('Performance.getMetrics');
    const metric = (name) => (metrics.find((m) => m.name === name) || {}).value;
    const since = (ts) => (ts - navAt) * 1000;
    const sentMs = [...sent.values()].map(since).sort((a, b) => a - b);
    const answeredMs = answered.map(since).sort((a, b) => a - b);
    return {
      scriptMs: metric('ScriptDuration') * 1000,
      taskMs: metric('TaskDuration') * 1000,
      firstSent: sentMs.length ? sentMs[0] : NaN,
      lastSent: v.beacons && sentMs.length >= v.beacons ? sentMs[sentMs.length - 1] : NaN,
      firstAnswered: answeredMs.length ? answeredMs[0] : NaN,
      beacons: beacons.length,
      missing,
      errors,
    };
  } finally {
    await page.close();
  }
}

const results = Object.fromEntries(VARIANTS.map((v) => [v.name, []]));
const problems = new Set();
process.stdout.write(`warm-up + ${RUNS} runs of ${VARIANTS.length} pages `);
for (let run = 0; run <= RUNS; run++) {
  for (const v of VARIANTS) {
    const r = await measure(v, run);
    if (r.missing) problems.add(`${v.label}: ${r.missing}`);
    for (const e of r.errors) problems.add(`${v.label}: page error: ${e}`);
    if (run > 0) results[v.name].push(r); // run 0 is the warm-up (cold cache)
  }
  process.stdout.write('.');
}
process.stdout.write('\n\n');

await context.close();
await chromium.close();
await server.close();

const blank = median(results.blank.map((r) => r.scriptMs));
const rows = VARIANTS.map((v) => {
  const rs = results[v.name];
  const m = (k) => median(rs.map((r) => r[k]));
  const script = m('scriptMs');
  return [
    v.label,
    fmt(script),
    v.name === 'blank' ? '-' : fmt(script - blank),
    fmt(m('taskMs')),
    v.beacons ? fmt(m('firstSent')) : '-',
    v.beacons ? fmt(m('lastSent')) : '-',
    v.beacons ? fmt(m('firstAnswered')) : '-',
    v.beacons ? `${median(rs.map((r) => r.beacons))}/${v.beacons}` : '-',
  ];
});
const header = [
  'page',
  'script ms',
  'script - blank',
  'all tasks ms',
  '1st beacon sent',
  'last sent',
  '1st answered',
  'beacons',
];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells) => cells.map((c, i) => (i ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
console.log(`medians of ${RUNS} runs; times in ms; beacon times from the document request`);
console.log(line(header));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const r of rows) console.log(line(r));

const { files, raw, gzip } = distSizes();
console.log(`\ndist: ${raw} bytes, ${gzip} gzip -9 (${files.map((f) => f.name).join(' + ')})`);
const fb = fallbackSize();
console.log(`under the CSP instead: ${fb.name} ${fb.raw} bytes, ${fb.gzip} gzip -9 (+ dist/fbevents.js)`);
console.log(`chromium ${chromium.browser.version()}, node ${process.version}`);
if (problems.size) {
  console.log('\nproblems (timings of these runs are incomplete):');
  for (const p of problems) console.log(`  ${p}`);
}
