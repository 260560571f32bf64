// What a store's visitors download: raw and gzip -9 sizes of the built dist/ files. Used by the
// build (which prints them), the size budget test and the benchmark.
//   node tests/support/sizes.mjs     prints the table
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { pathToFileURL } from 'node:url';
import { distDir } from './server.mjs';

/** The files a store downloads. End-to-end tests run against them, never against a dev build. */
export const DIST_FILES = ['fbevents.js', 'fbevents.wasm'];

/** { files: [{ name, raw, gzip }], raw, gzip } with gzip at level 9. */
export function distSizes(dir = distDir) {
  const files = DIST_FILES.map((name) => fileSize(name, dir));
  const sum = (k) => files.reduce((n, f) => n + f[k], 0);
  return { files, raw: sum('raw'), gzip: sum('gzip') };
}

/** What a page downloads instead of fbevents.wasm when WebAssembly cannot run (issue #10). */
export const FALLBACK_FILE = 'fbevents.fallback.js';
/** The outbox's retry half, downloaded only after a first-party beacon failed. */
export const OUTBOX_FILE = 'fbevents.outbox.js';

/** { name, raw, gzip } of one dist/ file. */
export function fileSize(name, dir = distDir) {
  const bytes = fs.readFileSync(path.join(dir, name));
  return { name: `dist/${name}`, raw: bytes.length, gzip: zlib.gzipSync(bytes, { level: 9 }).length };
}
export const fallbackSize = (dir) => fileSize(FALLBACK_FILE, dir);

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const { files, raw, gzip } = distSizes();
  const row = (a, b, c) => console.log(String(a).padEnd(20) + String(b).padStart(10) + String(c).padStart(10));
  row('file', 'raw bytes', 'gzip -9');
  for (const f of files) row(f.name, f.raw, f.gzip);
  row('total', raw, gzip);
  console.log('only when needed (issue #10):');
  for (const name of [OUTBOX_FILE, FALLBACK_FILE]) {
    const f = fileSize(name);
    row(f.name, f.raw, f.gzip);
  }
}
