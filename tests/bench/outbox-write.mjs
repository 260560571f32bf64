// The main-thread cost of the outbox's write-ahead (issue #24; src/host.js `outbox`): what each
// first-party beacon now does before and after its request, one localStorage.setItem of the
// entry as JSON and one removeItem on its 2xx, measured in headless Chromium on beacons of the
// size the main-thread benchmark's Purchase sends (its query, about 1.6 KB, advanced matching
// included) and of a large one (16 KB). Baseline: the same loop without the two storage calls
// (the entry object built and sent as before). Medians of BENCH_RUNS rounds of 200 beacons.
// Not a test: it prints figures and never fails on timings.
//
//   node tests/bench/outbox-write.mjs         BENCH_RUNS=30 node tests/bench/outbox-write.mjs
import { startServer, launchBrowser, html, requireDist } from '../support/index.mjs';

const RUNS = Math.max(1, Number(process.env.BENCH_RUNS || process.argv[2] || 15));
const PER_ROUND = 200;

requireDist();
const server = await startServer();
const browser = await launchBrowser();
try {
  server.page('/bench-outbox.html', html({ title: 'outbox write-ahead' }));
  const tab = await browser.newPage();
  await tab.page.goto(server.url('/bench-outbox.html'));
  const rows = [];
  for (const size of [1600, 16000]) {
    const r = await tab.page.evaluate(({ size, runs, n }) => {
      const KEY = '_fbq_ob.';
      const body = 'id=1234567890&ev=Purchase&' + 'x'.repeat(size - 26);
      const url = location.origin + '/tr/';
      const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
      const round = (write) => {
        const t0 = performance.now();
        for (let i = 0; i < n; i++) {
          const t = Date.now();
          const e = { k: KEY + t + Math.random(), u: url, b: body, p: 0, t, c: t + 1e4 };
          if (write) {
            localStorage.setItem(e.k, JSON.stringify(e));
            localStorage.removeItem(e.k);
          }
        }
        return ((performance.now() - t0) * 1000) / n;
      };
      const base = [];
      const wa = [];
      round(true); // warm-up
      for (let j = 0; j < runs; j++) {
        base.push(round(false));
        wa.push(round(true));
      }
      return { base: median(base), wa: median(wa) };
    }, { size, runs: RUNS, n: PER_ROUND });
    rows.push({ size, ...r });
  }
  console.log(`medians of ${RUNS} rounds of ${PER_ROUND} beacons; µs of main-thread time per beacon`);
  console.log('beacon body   without write-ahead   with (setItem + removeItem)   extra');
  for (const { size, base, wa } of rows) {
    console.log(`${String(size).padStart(8)} B   ${base.toFixed(2).padStart(19)}   ${wa.toFixed(2).padStart(27)}   ${(wa - base).toFixed(2).padStart(5)}`);
  }
  const v = await tab.page.evaluate(() => navigator.userAgent.match(/Chrome\/[\d.]+/)?.[0]);
  console.log(`${v}, node ${process.version}`);
} finally {
  await browser.close();
  await server.close();
}
