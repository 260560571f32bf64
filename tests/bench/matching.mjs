// What advanced matching costs per call, measured on the built dist/ in headless Chromium:
// `fbq('set', 'userData', {...11 fields...}, pixelId)` normalises and SHA-256-hashes every field
// once (SPEC §6), synchronously, in the WebAssembly engine. Side by side in the same page: the
// same normalisation written in plain JavaScript with `crypto.subtle.digest('SHA-256')` for the
// 11 fields (awaited with Promise.all), which is what a JavaScript pixel has to do.
//
// To tell the JS-to-wasm boundary from the work itself, the engine is also timed with an empty
// userData object (JSON encoding in the loader, copying the string into wasm memory, JSON parsing,
// dispatch), with the 11 values under unknown keys (parsed, then ignored), and with 11 values that
// are already SHA-256 hashes (the path a store that hashes itself takes: no normalising or hashing,
// but longer JSON). The JavaScript side
// is also timed without hashing.
//
// The page is cross-origin isolated (COOP + COEP), so `performance.now()` has 5 µs resolution
// instead of 100 µs, and each sample times a batch of calls. Variants are interleaved, sample by
// sample, so drift hits them alike. Reported: median, p10 and p90 of µs per call over
// BENCH_SAMPLES samples (default 300) of BENCH_BATCH calls (default 20), after a warm-up. Before
// timing, the hashes the engine sends (in a beacon) are checked against the JavaScript ones.
// Not a test: it prints a table and never fails on timings.
//
//   npm run bench:matching            BENCH_SAMPLES=1000 npm run bench:matching
import { startServer, launchBrowser, baseCode, html, requireDist } from '../support/index.mjs';

const SAMPLES = Math.max(10, Number(process.env.BENCH_SAMPLES || 300));
const BATCH = Math.max(1, Number(process.env.BENCH_BATCH || 20));
const WARMUP = 300;
const PIXEL_ID = '1234567890';
const TARGET_US = 50;

// A full userData object, as a store passes it: every field, typed the way people type them.
const USER = {
  em: '  John.Doe@Example.COM ',
  ph: '+1 (650) 555-1212',
  fn: 'Jöhn-Paul',
  ln: "O'Brien",
  ge: 'Male',
  db: '2/16/1997',
  ct: 'San Francisco',
  st: 'California',
  zp: '94025-1234',
  country: 'United States',
  external_id: 'Cust 1001',
};

// The JavaScript competitor, as a JS pixel would write SPEC §6 (lookup tables trimmed to the
// entries the input needs: a Map lookup costs the same whatever its size).
const PAGE_JS = String.raw`
const REGIONS = new Map([['california', 'ca'], ['newyork', 'ny'], ['texas', 'tx'], ['ontario', 'on'], ['quebec', 'qc']]);
const COUNTRIES = new Map([['unitedstates', 'us'], ['unitedkingdom', 'gb'], ['uk', 'gb'], ['germany', 'de'], ['france', 'fr']]);
const ISO = new Set(['us', 'gb', 'de', 'fr', 'ca', 'es', 'it', 'nl', 'se', 'jp']);
const HASH = /^[0-9a-f]{64}$/i;

function date(v) {
  let m = /^(\d{4})(\d\d)(\d\d)$/.exec(v) || /^(\d{4})-(\d{1,2})-(\d{1,2})$/.exec(v) || /^(\d{4})\/(\d{1,2})\/(\d{1,2})$/.exec(v);
  let y, mo, d;
  if (m) [y, mo, d] = [+m[1], +m[2], +m[3]];
  else if ((m = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(v))) [mo, d, y] = [+m[1], +m[2], +m[3]];
  else return null;
  if (y < 1900 || y > 2100 || mo < 1 || mo > 12 || d < 1 || d > new Date(Date.UTC(y, mo, 0)).getUTCDate()) return null;
  return y + String(mo).padStart(2, '0') + String(d).padStart(2, '0');
}

function normalize(key, raw) {
  const v = String(raw).trim();
  if (!v) return null;
  if (HASH.test(v)) return v.toLowerCase();
  const l = v.toLowerCase();
  switch (key) {
    case 'em': return /^[^\s@]+@(?:[^\s@.]+\.)+[^\s@.]{2,}$/u.test(l) ? l : null;
    case 'ph': return v.replace(/\D+/g, '').replace(/^0+/, '') || null;
    case 'fn': case 'ln': return l.replace(/[\s\p{P}\p{S}\p{C}]+/gu, '') || null;
    case 'ge': return l === 'f' || l === 'female' ? 'f' : l === 'm' || l === 'male' ? 'm' : null;
    case 'db': return date(v);
    case 'ct': return l.replace(/[^\p{L}\p{M}]+/gu, '') || null;
    case 'st': {
      const code = REGIONS.get(l.normalize('NFD').replace(/[^a-z]+/g, ''));
      const two = l.replace(/[^\p{L}]+/gu, '').slice(0, 2);
      return code || (two.length === 2 ? two : null);
    }
    case 'zp': return l.replace(/\s+/gu, '').split('-')[0] || null;
    case 'country': {
      const k = l.normalize('NFD').replace(/[^a-z]+/g, '');
      return (k.length === 2 && ISO.has(k) ? k : COUNTRIES.get(k)) || null;
    }
    case 'external_id': return l.replace(/\s+/gu, '');
    default: return null;
  }
}

const utf8 = new TextEncoder();
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
async function sha256hex(s) {
  const bytes = new Uint8Array(await crypto.subtle.digest('SHA-256', utf8.encode(s)));
  let hex = '';
  for (let i = 0; i < bytes.length; i++) hex += HEX[bytes[i]];
  return hex;
}

window.jsHashUserData = async (ud) => {
  const out = {};
  await Promise.all(Object.keys(ud).map(async (k) => {
    const n = normalize(k, ud[k]);
    if (n !== null) out[k] = HASH.test(n) ? n : await sha256hex(n);
  }));
  return out;
};
window.jsNormalizeUserData = (ud) => {
  const out = {};
  for (const k of Object.keys(ud)) {
    const n = normalize(k, ud[k]);
    if (n !== null) out[k] = n;
  }
  return out;
};

// Interleaved batches: [variant][sample] = µs per call.
window.runBench = async (variants, samples, batch, warmup) => {
  const now = () => performance.now();
  for (const v of variants) for (let i = 0; i < warmup; i++) await v.run();
  const out = variants.map(() => []);
  for (let s = 0; s < samples; s++) {
    for (let j = 0; j < variants.length; j++) {
      const k = (s + j) % variants.length;
      const { run, sync } = variants[k];
      const t0 = now();
      if (sync) for (let i = 0; i < batch; i++) run();
      else for (let i = 0; i < batch; i++) await run();
      out[k].push(((now() - t0) * 1000) / batch);
    }
  }
  return out;
};
`;

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))];
};
const fmt = (x) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');

requireDist();
const server = await startServer();
const chromium = await launchBrowser();
try {
  const isolated = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };
  const calls = `fbq('set', 'endpoint', location.origin + '/tr/');\nfbq('init', '${PIXEL_ID}');`;
  const url = server.page(
    '/bench/matching.html',
    html({ title: 'matching bench', head: `${baseCode(server.url('/fbevents.js'), calls)}\n<script>${PAGE_JS}</script>` }),
    { headers: isolated },
  );
  const { page, errors, close } = await chromium.newPage();
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForFunction(() => typeof window.fbq.callMethod === 'function', null, { timeout: 10_000 });
  const env = await page.evaluate(() => ({
    isolated: self.crossOriginIsolated,
    ua: navigator.userAgent.match(/Chrom(?:e|ium)\/[\d.]+/)?.[0] ?? navigator.userAgent,
  }));

  // Both sides must compute the same hashes, or the comparison is meaningless.
  const jsHashes = await page.evaluate((ud) => window.jsHashUserData(ud), USER);
  await page.evaluate(
    ([ud, id]) => {
      fbq('set', 'userData', ud, id);
      fbq('trackSingle', id, 'Lead');
    },
    [USER, PIXEL_ID],
  );
  const [beacon] = await server.waitForBeacons(1, { filter: (b) => b.params.some(([k, v]) => k === 'ev' && v === 'Lead') });
  const sent = Object.fromEntries(beacon.params.filter(([k]) => k.startsWith('ud[')).map(([k, v]) => [k.slice(3, -1), v]));
  const fields = Object.keys(USER);
  const agree = fields.filter((k) => sent[k] && sent[k] === jsHashes[k]);
  const disagree = fields.filter((k) => !agree.includes(k));

  const prehashed = Object.fromEntries(fields.map((k) => [k, jsHashes[k]]));
  const results = await page.evaluate(
    async ([ud, pre, id, samples, batch, warmup]) => {
      const unknown = Object.fromEntries(Object.entries(ud).map(([k, v]) => ['x_' + k, v]));
      const variants = [
        { sync: true, run: () => fbq('set', 'userData', ud, id) },
        { sync: true, run: () => fbq('set', 'userData', {}, id) },
        { sync: true, run: () => fbq('set', 'userData', pre, id) },
        { sync: true, run: () => fbq('set', 'userData', unknown, id) },
        { sync: true, run: () => JSON.stringify(['set', 'userData', ud, id]) },
        { sync: false, run: () => window.jsHashUserData(ud) },
        { sync: true, run: () => window.jsNormalizeUserData(ud) },
      ];
      return window.runBench(variants, samples, batch, warmup);
    },
    [USER, prehashed, PIXEL_ID, SAMPLES, BATCH, WARMUP],
  );
  if (errors.length) console.log(`page errors: ${errors.map(String).join('; ')}`);
  await close();

  const labels = [
    'wasm: fbq set userData, 11 fields (normalise + SHA-256)',
    'wasm: fbq set userData, {} (boundary + JSON only)',
    'wasm: fbq set userData, 11 pre-hashed values (no hashing)',
    'wasm: the 11 plain values under unknown keys (JSON only)',
    'js:   JSON.stringify of the call (part of the boundary)',
    'js:   normalise + crypto.subtle SHA-256 x11, Promise.all',
    'js:   normalise only, no hashing',
  ];
  const rows = results.map((xs, i) => [labels[i], fmt(quantile(xs, 0.5)), fmt(quantile(xs, 0.1)), fmt(quantile(xs, 0.9))]);
  const header = ['µs per call', 'median', 'p10', 'p90'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => (i ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');

  console.log(`${env.ua}, crossOriginIsolated: ${env.isolated}; ${SAMPLES} samples of ${BATCH} calls each, after ${WARMUP} warm-up calls`);
  console.log(`hashes agree (engine beacon vs JavaScript): ${agree.length}/${fields.length}${disagree.length ? ` (differ: ${disagree.join(', ')})` : ''}`);
  console.log();
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));

  const med = results.map((xs) => quantile(xs, 0.5));
  const [full, empty, pre, unknown, , js, jsNorm] = med;
  console.log();
  console.log(`engine, per call: boundary + dispatch ≈ ${fmt(empty)} µs; moving and parsing the 11 values as JSON ≈ ${fmt(unknown - empty)} µs; normalise + SHA-256 of 11 fields ≈ ${fmt(full - unknown)} µs (11 pre-hashed values instead: ${fmt(pre)} µs in all)`);
  console.log(`JavaScript, per call: normalising ≈ ${fmt(jsNorm)} µs; crypto.subtle and its promises ≈ ${fmt(js - jsNorm)} µs`);
  console.log(`wasm vs JavaScript: ${fmt(full)} µs vs ${fmt(js)} µs (${full < js ? `${fmt(js / full)}x faster` : `${fmt(full / js)}x slower`}); target < ${TARGET_US} µs: ${full < TARGET_US ? 'met' : 'NOT met'}`);
} finally {
  await chromium.close();
  await server.close();
}
