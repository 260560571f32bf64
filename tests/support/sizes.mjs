// What a store's visitors download: raw, gzip -9 and brotli (quality 11) sizes of the built dist/
// files. Used by the build (which prints them and writes the .br files), the size budget test and
// the benchmark.
//   node tests/support/sizes.mjs                  prints the table
//   node tests/support/sizes.mjs --write-br DIR   writes DIR/<file>.br for each file first
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { pathToFileURL } from 'node:url';
import { distDir } from './server.mjs';

/** The files a store downloads. End-to-end tests run against them, never against a dev build. */
export const DIST_FILES = ['fbevents.js', 'fbevents.wasm'];

/** Brotli at quality 11, what the collector serves to clients that accept `br`. */
export const brotli = (bytes) => zlib.brotliCompressSync(bytes, {
  params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: bytes.length },
});

/** { files: [{ name, raw, gzip, br }], raw, gzip, br } with gzip at level 9, brotli at 11. */
export function distSizes(dir = distDir) {
  const files = DIST_FILES.map((name) => fileSize(name, dir));
  const sum = (k) => files.reduce((n, f) => n + f[k], 0);
  return { files, raw: sum('raw'), gzip: sum('gzip'), br: sum('br') };
}

/**
 * Writes `<file>.br` beside each of the files in `dir` (the fallback, outbox and in-app scripts
 * too), and `<file>.br` and `<file>.gz` beside the dashboard's script, which the collector would
 * otherwise send uncompressed (it compresses nothing on the fly).
 */
export function writeBrotli(dir) {
  for (const name of [...DIST_FILES, OUTBOX_FILE, INAPP_FILE, MESSAGES_FILE, FALLBACK_FILE, DASHBOARD_FILE]) {
    const p = path.join(dir, name);
    fs.writeFileSync(`${p}.br`, brotli(fs.readFileSync(p)));
  }
  const dashboard = path.join(dir, DASHBOARD_FILE);
  fs.writeFileSync(`${dashboard}.gz`, zlib.gzipSync(fs.readFileSync(dashboard), { level: 9 }));
}

/** The dashboard's script (issue #11): not the pixel's, but a phone downloads it once. */
export const DASHBOARD_FILE = 'dashboard.js';

/** What a page downloads instead of fbevents.wasm when WebAssembly cannot run (issue #10). */
export const FALLBACK_FILE = 'fbevents.fallback.js';
/** The outbox's retry half, downloaded only after a first-party beacon failed. */
export const OUTBOX_FILE = 'fbevents.outbox.js';
/** The in-app browsers' click-ID asker, downloaded only inside Facebook's and Instagram's apps. */
export const INAPP_FILE = 'fbevents.inapp.js';
/** The console messages' texts, downloaded the first time the engine says something. */
export const MESSAGES_FILE = 'fbevents.messages.js';

/** { name, raw, gzip, br } of one dist/ file. */
export function fileSize(name, dir = distDir) {
  const bytes = fs.readFileSync(path.join(dir, name));
  return { name: `dist/${name}`, raw: bytes.length, gzip: zlib.gzipSync(bytes, { level: 9 }).length, br: brotli(bytes).length };
}
export const fallbackSize = (dir) => fileSize(FALLBACK_FILE, dir);

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const at = process.argv.indexOf('--write-br');
  const dir = at > 0 ? process.argv[at + 1] : distDir;
  if (at > 0) writeBrotli(dir);
  const { files, raw, gzip, br } = distSizes(dir);
  const row = (a, b, c, d) => console.log(String(a).padEnd(20) + String(b).padStart(10) + String(c).padStart(10) + String(d).padStart(10));
  row('file', 'raw bytes', 'gzip -9', 'br -q 11');
  for (const f of files) row(f.name, f.raw, f.gzip, f.br);
  row('total', raw, gzip, br);
  console.log('only when needed (issues #10, #13):');
  for (const name of [OUTBOX_FILE, INAPP_FILE, MESSAGES_FILE, FALLBACK_FILE]) {
    const f = fileSize(name, dir);
    row(f.name, f.raw, f.gzip, f.br);
  }
  console.log('the dashboard (issue #11):');
  const d = fileSize(DASHBOARD_FILE, dir);
  row(d.name, d.raw, d.gzip, d.br);
}
