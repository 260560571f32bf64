// What the pixel costs a store's visitors, measured on the built dist/ in headless Chromium
// (issue #23: everything the page pays, not only script time).
//
// - Whole main-thread task time: CDP Performance.getMetrics `TaskDuration` (every task the
//   renderer's main thread ran: script, WebAssembly, native calls such as `fetch`, storage,
//   parsing, style, GC), minus a blank page's; beside it `ScriptDuration` (JavaScript only: it
//   does not count time inside WebAssembly or inside native calls).
// - The breakdown, timed inside the page with performance.now() by wrappers an init script puts
//   around what the pixel calls (the same wrappers on every page, the image pixel's too):
//   network calls (`fetch`, `sendBeacon`, an image's `src`), storage (`localStorage`,
//   `document.cookie`), WebAssembly (the engine's exports, less the network and storage calls it
//   makes from inside them; and the synchronous part of `WebAssembly.instantiate*`). What is left
//   of script time is the loader's JavaScript (with the base code); what is left of task time is
//   the browser's own work for it (compiling and parsing the scripts, the wasm instance, GC).
// - Navigation to beacon: when the first and the last /tr request is sent, and when the first
//   one is answered, in ms from the document request, all from the browser's own clock (CDP
//   Network events). Resource Timing cannot be used (it does not list `fetch(..., { keepalive:
//   true })` or `sendBeacon`), and the test server's clock shares its event loop with Playwright.
// - One tracked event during an interaction: a button whose click handler calls
//   `fbq('track', 'AddToCart', {...})`, timed with performance.now() around the call; click →
//   next animation frame (the event's timeStamp to the next requestAnimationFrame); and the Event
//   Timing API's entries for the clicks (`processingEnd - processingStart`, and `duration`, which
//   the API rounds to 8 ms). Against the same page with an empty handler and no pixel.
//
// Side by side in one run: a blank page, a minimal hand-written image pixel (the floor: a few
// lines of `new Image().src = ...`), this pixel as built in dist/, the same page under a CSP that
// forbids WebAssembly (the wasm2js engine), and, when BENCH_BEFORE names a folder with an older
// build (default target/dist-before, a copy of dist/ made before a change), that build as
// "before". Each run is a fresh page in one browser context (one warm-up pass fills the HTTP
// cache first), the pages interleaved so drift hits every variant alike. Medians of BENCH_RUNS
// runs (default 15). Meta's own fbevents.js cannot be fetched on a machine without network; the
// image pixel is the comparison. Not a test: it prints tables and never fails on timings.
//
//   npm run bench            BENCH_RUNS=30 npm run bench      BENCH_BEFORE=/path/to/dist npm run bench
import fs from 'node:fs';
import path from 'node:path';
import { startServer, launchBrowser, baseCode, html, param, requireDist, distSizes, fallbackSize, repoRoot } from '../support/index.mjs';
// The tests' shopper: 11 advanced-matching fields, as the README's benchmark describes.
import { PERSONA as USER } from '../support/privacy.mjs';

const RUNS = Math.max(1, Number(process.env.BENCH_RUNS || process.argv[2] || 15));
const CLICKS = Math.max(1, Number(process.env.BENCH_CLICKS || 20));
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
const ADD_TO_CART = { content_ids: ['tee-classic'], content_type: 'product', value: 19, currency: 'USD' };
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

// The wrappers that time what a pixel calls, installed before any script of the page runs.
const METER = `(() => {
  const t = window.__cost = { net: 0, storage: 0, wasm: 0, inner: 0, instantiate: 0 };
  let depth = 0; // inside an export of the engine: calls out are also counted as 'inner'
  const timed = (key, f) => function () {
    const s = performance.now();
    try { return f.apply(this, arguments); } finally {
      const d = performance.now() - s;
      t[key] += d;
      if (depth && key !== 'wasm') t.inner += d;
    }
  };
  window.fetch = timed('net', window.fetch);
  Navigator.prototype.sendBeacon = timed('net', Navigator.prototype.sendBeacon);
  const src = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, 'src');
  Object.defineProperty(HTMLImageElement.prototype, 'src', { ...src, set: timed('net', src.set) });
  for (const m of ['getItem', 'setItem', 'removeItem', 'key']) Storage.prototype[m] = timed('storage', Storage.prototype[m]);
  const cookie = Object.getOwnPropertyDescriptor(Document.prototype, 'cookie');
  Object.defineProperty(Document.prototype, 'cookie', { ...cookie, get: timed('storage', cookie.get), set: timed('storage', cookie.set) });
  const wrap = (r) => {
    const x = r.instance.exports, o = {};
    for (const k of Object.keys(x)) {
      o[k] = typeof x[k] !== 'function' ? x[k] : function () {
        const s = performance.now();
        depth++;
        try { return x[k].apply(this, arguments); } finally { depth--; t.wasm += performance.now() - s; }
      };
    }
    return { module: r.module, instance: { exports: o } };
  };
  for (const m of ['instantiate', 'instantiateStreaming']) {
    const f = WebAssembly[m];
    if (f) WebAssembly[m] = function () { return timed('instantiate', f).apply(this, arguments).then(wrap); };
  }
})();`;

// A page with a button whose click handler runs `handler` (the pixel's call, or nothing).
const clickBody = (handler) => `<button id="buy" style="width:200px;height:60px">Add to cart</button>
<script>
  window.__clicks = [];
  document.getElementById('buy').addEventListener('click', function (e) {
    var s = performance.now();
    ${handler}
    var spent = performance.now() - s;
    var c = { spent: spent, at: e.timeStamp };
    window.__clicks.push(c);
    requestAnimationFrame(function (frame) { c.frame = frame - c.at; });
  });
  window.__events = [];
  new PerformanceObserver(function (l) {
    l.getEntries().forEach(function (x) { if (x.name === 'click') window.__events.push({ work: x.processingEnd - x.processingStart, duration: x.duration }); });
  }).observe({ type: 'event', buffered: true, durationThreshold: 16 });
</script>`;

const beforeDir = path.resolve(process.env.BENCH_BEFORE || path.join(repoRoot, 'target', 'dist-before'));
const haveBefore = fs.existsSync(path.join(beforeDir, 'fbevents.wasm'));

const VARIANTS = [
  { name: 'blank', label: 'blank page', head: '', beacons: 0 },
  { name: 'image', label: 'hand-written image pixel', head: handWritten, beacons: 2 },
  ...(haveBefore ? [{ name: 'before', label: 'fbevents before (BENCH_BEFORE)', head: null, beacons: 2, before: true }] : []),
  { name: 'fbevents', label: 'fbevents (dist/)', head: null, beacons: 2 },
  // The same page under a CSP that forbids WebAssembly: the wasm2js engine (dist/fbevents.fallback.js).
  {
    name: 'fallback',
    label: 'fbevents, JavaScript engine (CSP)',
    head: null,
    beacons: 2,
    headers: { 'content-security-policy': "script-src 'self' 'unsafe-inline'; connect-src 'self'" },
  },
];
const CLICK_VARIANTS = [
  { name: 'none', label: 'empty handler, no pixel', pixel: false, handler: '' },
  ...(haveBefore ? [{ name: 'before', label: 'fbq track AddToCart, before', pixel: true, before: true }] : []),
  { name: 'fbevents', label: 'fbq track AddToCart (dist/)', pixel: true },
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
const oldServer = haveBefore ? await startServer({ dist: beforeDir, cacheControl: 'public, max-age=600' }) : null;
const serverOf = (v) => (v.before ? oldServer : server);
const chromium = await launchBrowser();
// One context for every run, so the HTTP cache (and V8's code cache) is warm after the warm-up.
const context = await chromium.browser.newContext();
await context.route(
  (url) => !['127.0.0.1', 'localhost'].includes(url.hostname),
  (route) => route.abort('blockedbyclient'),
);
await context.addInitScript(METER);

for (const v of VARIANTS) {
  const s = serverOf(v);
  const head = v.head ?? baseCode(s.url('/fbevents.js'), fbeventsCalls);
  s.page(`/bench/${v.name}.html`, html({ title: v.name, head, body: BODY }), { headers: v.headers });
}
for (const v of CLICK_VARIANTS) {
  const s = serverOf(v);
  const head = v.pixel ? baseCode(s.url('/fbevents.js'), `fbq('set', 'endpoint', location.origin + '/tr/');\nfbq('init', '${PIXEL_ID}', ${JSON.stringify(USER)});\nfbq('track', 'PageView');`) : '';
  const handler = v.pixel ? `fbq('track', 'AddToCart', ${JSON.stringify(ADD_TO_CART)});` : v.handler;
  s.page(`/bench/click-${v.name}.html`, html({ title: v.name, head, body: clickBody(handler) }));
}

async function measure(v, run) {
  const token = `${v.name}-${run}`;
  const s = serverOf(v);
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
      ? s.waitForBeacons(v.beacons, { filter: mine, timeoutMs: 10_000 })
      : Promise.resolve([]);
    await page.goto(s.url(`/bench/${v.name}.html?run=${token}`), { waitUntil: 'load' });
    let beacons = [];
    let missing = null;
    try {
      beacons = await arrived;
    } catch (e) {
      missing = e.message.split('\n')[0];
      beacons = s.beacons().filter(mine);
    }
    await page.waitForTimeout(SETTLE_MS);
    const { metrics } = await cdp.send('Performance.getMetrics');
    const cost = await page.evaluate(() => window.__cost);
    const metric = (name) => (metrics.find((m) => m.name === name) || {}).value;
    const since = (ts) => (ts - navAt) * 1000;
    const sentMs = [...sent.values()].map(since).sort((a, b) => a - b);
    const answeredMs = answered.map(since).sort((a, b) => a - b);
    return {
      scriptMs: metric('ScriptDuration') * 1000,
      taskMs: metric('TaskDuration') * 1000,
      net: cost.net,
      storage: cost.storage,
      wasm: cost.wasm - cost.inner + cost.instantiate,
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

async function clicks(v) {
  const s = serverOf(v);
  const page = await context.newPage();
  try {
    await page.goto(s.url(`/bench/click-${v.name}.html`), { waitUntil: 'load' });
    if (v.pixel) await page.waitForFunction(() => window.fbq && typeof window.fbq.callMethod === 'function');
    // The first call may fetch what a page loads once (nothing, for a valid call); warm it up.
    await page.click('#buy');
    await page.waitForTimeout(100);
    await page.evaluate(() => { window.__clicks = []; window.__events = []; });
    for (let i = 0; i < CLICKS; i++) {
      await page.click('#buy');
      await page.waitForTimeout(50);
    }
    await page.waitForTimeout(200);
    return await page.evaluate(() => ({ clicks: window.__clicks, events: window.__events }));
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
process.stdout.write('\n');
// Clicks: 3 pages per variant, interleaved, CLICKS clicks each.
const clickResults = Object.fromEntries(CLICK_VARIANTS.map((v) => [v.name, { clicks: [], events: [] }]));
process.stdout.write(`clicks: 3 pages x ${CLICKS} clicks of ${CLICK_VARIANTS.length} handlers `);
for (let round = 0; round < 3; round++) {
  for (const v of CLICK_VARIANTS) {
    const r = await clicks(v);
    clickResults[v.name].clicks.push(...r.clicks);
    clickResults[v.name].events.push(...r.events);
  }
  process.stdout.write('.');
}
process.stdout.write('\n\n');

await context.close();
await chromium.close();
await server.close();
if (oldServer) await oldServer.close();

const table = (header, rows) => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => (i ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
};

const m = (name, k) => median(results[name].map((r) => r[k]));
const blankTask = m('blank', 'taskMs');
const blankScript = m('blank', 'scriptMs');
const imageTask = m('image', 'taskMs') - blankTask;
const imageLast = m('image', 'lastSent');
console.log(`medians of ${RUNS} runs; times in ms; a blank page's task and script time subtracted; beacon times from the document request`);
table(
  ['page', 'all tasks', 'vs image', 'script', 'loader JS', 'wasm', 'network calls', 'storage', 'other', '1st beacon', 'last beacon', 'vs image', 'beacons'],
  VARIANTS.filter((v) => v.name !== 'blank').map((v) => {
    const task = m(v.name, 'taskMs') - blankTask;
    const script = m(v.name, 'scriptMs') - blankScript;
    const [net, storage, wasm] = ['net', 'storage', 'wasm'].map((k) => m(v.name, k));
    // Script time does not hold wasm, network and storage time (measured: see the README).
    const loader = script;
    return [
      v.label,
      fmt(task),
      v.name === 'image' ? '-' : `+${fmt(task - imageTask)}`,
      fmt(script),
      fmt(Math.max(0, loader)),
      fmt(wasm),
      fmt(net),
      fmt(storage),
      fmt(task - Math.max(0, loader) - wasm - net - storage),
      fmt(m(v.name, 'firstSent')),
      fmt(m(v.name, 'lastSent')),
      `${(m(v.name, 'lastSent') / imageLast).toFixed(2)}x`,
      `${median(results[v.name].map((r) => r.beacons))}/${v.beacons}`,
    ];
  }),
);
console.log(`blank page itself: ${fmt(blankTask)} ms of tasks, ${fmt(blankScript)} ms of script`);

console.log(`\none tracked event during a click: medians of ${CLICK_VARIANTS.length > 0 ? 3 * CLICKS : 0} clicks; Event Timing lists clicks of 16 ms or more`);
table(
  ['click handler', 'in handler ms', 'click -> next frame', 'Event Timing entries', 'their processing', 'their duration'],
  CLICK_VARIANTS.map((v) => {
    const r = clickResults[v.name];
    return [
      v.label,
      fmt(median(r.clicks.map((c) => c.spent))),
      fmt(median(r.clicks.map((c) => c.frame))),
      `${r.events.length}/${r.clicks.length}`,
      r.events.length ? fmt(median(r.events.map((e) => e.work))) : '-',
      r.events.length ? fmt(median(r.events.map((e) => e.duration))) : '-',
    ];
  }),
);

const { files, raw, gzip } = distSizes();
console.log(`\ndist: ${raw} bytes, ${gzip} gzip -9 (${files.map((f) => f.name).join(' + ')})`);
if (haveBefore) {
  const before = distSizes(beforeDir);
  console.log(`before (${path.relative(repoRoot, beforeDir) || beforeDir}): ${before.raw} bytes, ${before.gzip} gzip -9`);
}
const fb = fallbackSize();
console.log(`under the CSP instead: ${fb.name} ${fb.raw} bytes, ${fb.gzip} gzip -9 (+ dist/fbevents.js)`);
console.log(`chromium ${chromium.browser.version()}, node ${process.version}; Meta's fbevents.js not measured (no network here)`);
if (problems.size) {
  console.log('\nproblems (timings of these runs are incomplete):');
  for (const p of problems) console.log(`  ${p}`);
}
