// Dashboard speed: `node tests/bench/dashboard.mjs --db /tmp/collector-reports-bench/bench-1000000.db
// [--from 2026-11-01 --to 2026-11-30 --runs 3]` (build first: scripts/build.sh and
// `cargo build --release -p collector`; the benchmark of the reports seeds that database).
//
// Starts the release collector on the database, opens /dashboard in headless Chromium, types the
// token, and prints what the page downloaded (bytes on the wire, gzip) and the time from the
// token being given to the first render of real numbers (the first of the six reports fetched and
// drawn) and to the last report drawn (all six in; polled every 10 ms). Printed figures only, no
// pass/fail.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { launchBrowser, repoRoot } from '../support/index.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, v, i, all) => (i % 2 ? acc : [...acc, [v.replace(/^--/, ''), all[i + 1]]]), []),
);
const db = args.db || '/tmp/collector-reports-bench/bench-1000000.db';
const from = args.from || '2026-11-01';
const to = args.to || '2026-11-30';
const runs = Number(args.runs || 3);
const ADMIN = 'bench-admin-token-0123456';
const PIXEL = '1234567890';

if (!fs.existsSync(db)) {
  console.error(`${db} is missing: run the reports benchmark first (cargo run --release -p collector --example reports_bench)`);
  process.exit(2);
}

const port = await new Promise((resolve) => {
  const s = net.createServer();
  s.listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
const bin = path.join(process.env.CARGO_TARGET_DIR || path.join(repoRoot, 'target'), 'release', 'collector');
const child = spawn(bin, ['--listen', `127.0.0.1:${port}`, '--db', db, '--dist', path.join(repoRoot, 'dist'), '--pixel', PIXEL, '--admin-token', ADMIN, '--retention-days', '0'], { stdio: 'ignore' });
const origin = `http://127.0.0.1:${port}`;
for (let i = 0; i < 100; i++) {
  try {
    if ((await fetch(`${origin}/healthz`)).ok) break;
  } catch {}
  await new Promise((r) => setTimeout(r, 100));
}

const browser = await launchBrowser();
try {
  for (let run = 1; run <= runs; run++) {
    const tab = await browser.newPage({ context: { viewport: { width: 390, height: 844 } } });
    const bytes = {};
    const cdp = await tab.context.newCDPSession(tab.page);
    await cdp.send('Network.enable');
    const urls = {};
    cdp.on('Network.responseReceived', (e) => (urls[e.requestId] = new URL(e.response.url).pathname));
    cdp.on('Network.loadingFinished', (e) => (bytes[urls[e.requestId]] = (bytes[urls[e.requestId]] || 0) + e.encodedDataLength));
    await tab.page.goto(`${origin}/dashboard?pixel=${PIXEL}&from=${from}&to=${to}`);
    await tab.page.fill('#token', ADMIN);
    const asked = await tab.page.evaluate(() => performance.now());
    await tab.page.press('#token', 'Enter');
    await tab.page.waitForFunction(() => document.body.dataset.loaded === '1', null, { timeout: 120000, polling: 10 });
    const every = Math.round((await tab.page.evaluate(() => performance.now())) - asked);
    const first = await tab.page.evaluate(() => Number(document.body.dataset.firstRenderMs));
    const all = await tab.page.evaluate(() => Math.round(performance.now()));
    const events = await tab.page.textContent('#headline [data-p="events"]');
    const page = (bytes['/dashboard'] || 0) + (bytes['/dashboard.js'] || 0);
    console.log(
      `run ${run}: ${events} events, ${from} to ${to}: first render of real numbers ${first} ms after the token was given, ` +
        `every report rendered ${every} ms after (${all} ms after navigation start); downloaded: page + script ${(page / 1024).toFixed(1)} KB ` +
        `(/dashboard ${bytes['/dashboard'] || 0} B, /dashboard.js ${bytes['/dashboard.js'] || 0} B, gzip on the wire)`,
    );
    await tab.close();
  }
} finally {
  await browser.close();
  child.kill('SIGTERM');
}
