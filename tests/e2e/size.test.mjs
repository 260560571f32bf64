// Size is a feature: what a store's visitors download (gzip -9 of the built dist/) stays within
// budget, and the script runs under a CSP without 'unsafe-eval'.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { distDir, distSizes, requireDist, fileSize, FALLBACK_FILE, OUTBOX_FILE } from '../support/index.mjs';
import { DIST_FILES, MESSAGES_FILE } from '../support/sizes.mjs';

// Issue #13 set the ceiling at 25,600 bytes gzip -9 for what a page downloads; it may only go
// down: lowered to 25,400 when the pixel reached 25,357 (issues #10 and #13 together). Lower it
// whenever a change makes the pixel smaller; never raise it. (The 20 KB target of the first pixel
// issue is withdrawn: it cannot hold with the matching the product needs.)
//
// Issue #24's URL scrubbing (core/src/scrub.rs, +671 bytes) and the outbox's write-ahead (+37)
// took the pixel to 26,083 and the ceiling to 26,100 for one change, a recorded exception. Issue
// #23 won the bytes back: the console messages' texts left the engine for
// dist/fbevents.messages.js, fetched the first time a page is warned (core/src/console.rs), and
// the pixel is 25,380: the ceiling is 25,400 again.
const CEILING_GZIP = 25_400;

test(`gzip -9 of dist/fbevents.js + dist/fbevents.wasm is at most ${CEILING_GZIP} bytes`, (t) => {
  requireDist();
  const { files, raw, gzip, br } = distSizes();
  for (const f of files) t.diagnostic(`${f.name}: ${f.raw} bytes, ${f.gzip} gzip -9, ${f.br} brotli -q 11`);
  t.diagnostic(`total: ${raw} bytes, ${gzip} gzip -9 (ceiling ${CEILING_GZIP}: ${CEILING_GZIP - gzip} bytes to spare), ${br} brotli`);
  assert.ok(gzip <= CEILING_GZIP, `gzip total ${gzip} bytes is over the ${CEILING_GZIP}-byte ceiling`);
});

test('dist/*.br are brotli copies of the current files (what the collector serves for Accept-Encoding: br)', () => {
  requireDist();
  for (const name of DIST_FILES) {
    const file = path.join(distDir, name);
    assert.ok(fs.existsSync(`${file}.br`), `dist/${name}.br is missing: run scripts/build.sh`);
    const plain = zlib.brotliDecompressSync(fs.readFileSync(`${file}.br`));
    assert.ok(plain.equals(fs.readFileSync(file)), `dist/${name}.br is stale: run scripts/build.sh`);
  }
});

test('dist/fbevents.js has no eval( and no new Function', () => {
  requireDist();
  const js = fs.readFileSync(path.join(distDir, 'fbevents.js'), 'utf8');
  assert.ok(!/\beval\(/.test(js), 'contains eval(');
  assert.ok(!/new Function/.test(js), 'contains new Function');
  assert.ok(!/import\.meta|file:\/\//.test(js), 'a classic script has no import.meta or build path');
});

// What a page downloads instead of the wasm when WebAssembly cannot run (a CSP without
// 'wasm-unsafe-eval'): the wasm2js build of the same engine. Its own ceiling, with a little room
// for the engine to grow; and the outbox's retry half, fetched only after a failed beacon.
const FALLBACK_CEILING_GZIP = 34 * 1024;
const OUTBOX_CEILING_GZIP = 1200;
// The console messages' texts, fetched the first time the engine says something (831 bytes).
const MESSAGES_CEILING_GZIP = 1000;

test(`gzip -9 of dist/${FALLBACK_FILE} is at most ${FALLBACK_CEILING_GZIP} bytes, dist/${OUTBOX_FILE} at most ${OUTBOX_CEILING_GZIP}, dist/${MESSAGES_FILE} at most ${MESSAGES_CEILING_GZIP}`, (t) => {
  requireDist();
  const fallback = fileSize(FALLBACK_FILE);
  const outbox = fileSize(OUTBOX_FILE);
  const messages = fileSize(MESSAGES_FILE);
  for (const f of [fallback, outbox, messages]) t.diagnostic(`${f.name}: ${f.raw} bytes, ${f.gzip} gzip -9`);
  assert.ok(fallback.gzip <= FALLBACK_CEILING_GZIP, `${fallback.gzip} bytes`);
  assert.ok(outbox.gzip <= OUTBOX_CEILING_GZIP, `${outbox.gzip} bytes`);
  assert.ok(messages.gzip <= MESSAGES_CEILING_GZIP, `${messages.gzip} bytes`);
  for (const name of [FALLBACK_FILE, OUTBOX_FILE, MESSAGES_FILE]) {
    const js = fs.readFileSync(path.join(distDir, name), 'utf8');
    assert.ok(!/\beval\(|new Function/.test(js), `${name} has no eval( or new Function`);
    assert.ok(!/^(import|export) /m.test(js), `${name} is a classic script`);
  }
});
