// Dashboard speed: `node tests/bench/dashboard.mjs --db /tmp/collector-reports-bench/bench-1000000.db
// [--from 2026-11-01 --to 2026-11-30 --runs 3] [--seed-events 1000000 --days 90]` (build first:
// scripts/build.sh and `cargo build --release -p collector`; the benchmark of the reports seeds
// that database, or `--seed-events N` seeds a missing one with the release `seed`, ending today).
//
// Starts the release collector on the database, opens /dashboard in headless Chromium, types the
// token, and prints what the page downloaded (bytes on the wire, gzip), the time from the token
// being given to the first render of real numbers (the first report fetched and drawn), to every
// report drawn, and each panel's own time (its section's data-ms: from asking to drawn; "absent"
// for a report this collector does not have). Targets (issue #22): first numbers under 1 s, every
// panel under 1.5 s. Printed figures only, no pass/fail.
import { execFileSync, spawn } from 'node:child_process';
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

const binDir = path.join(process.env.CARGO_TARGET_DIR || path.join(repoRoot, 'target'), 'release');
if (!fs.existsSync(db) && args['seed-events']) {
  const n = args['seed-events'];
  console.log(`seeding ${db} with ${n} events over ${args.days || 30} days (target/release/seed)`);
  const t0 = Date.now();
  execFileSync(path.join(binDir, 'seed'), ['--db', db, '--pixel', '1234567890', '--events', n, '--days', args.days || '30'], { stdio: 'inherit' });
  console.log(`seeded in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}
if (!fs.existsSync(db)) {
  console.error(`${db} is missing: run the reports benchmark first (cargo run --release -p collector --example reports_bench), or pass --seed-events N`);
  process.exit(2);
}

const port = await new Promise((resolve) => {
  const s = net.createServer();
  s.listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
const bin = path.join(binDir, 'collector');
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
    const events = await tab.page.textContent('#funnel-total [data-p="events"]');
    const panels = await tab.page.$$eval('[data-panel]', (els) =>
      els.map((e) => `${e.dataset.panel} ${e.dataset.state === 'ready' ? `${e.dataset.ms} ms` : e.dataset.state}`),
    );
    const page = (bytes['/dashboard'] || 0) + (bytes['/dashboard.js'] || 0);
    console.log(
      `run ${run}: ${events} events, ${from} to ${to}: first render of real numbers ${first} ms after the token was given, ` +
        `every report rendered ${every} ms after (${all} ms after navigation start); downloaded: page + script ${(page / 1024).toFixed(1)} KB ` +
        `(/dashboard ${bytes['/dashboard'] || 0} B, /dashboard.js ${bytes['/dashboard.js'] || 0} B, gzip on the wire)`,
    );
    console.log(`  panels: ${panels.join(', ')}`);
    await tab.close();
  }
} finally {
  await browser.close();
  child.kill('SIGTERM');
}
