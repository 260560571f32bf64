// Size is a feature: what a store's visitors download (gzip -9 of the built dist/) stays within
// budget, and the script runs under a CSP without 'unsafe-eval'.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { distDir, DIST_FILES, requireDist } from '../support/index.mjs';

const BUDGET_GZIP = 20 * 1024;

test(`gzip -9 of dist/fbevents.js + dist/fbevents.wasm is at most ${BUDGET_GZIP} bytes`, (t) => {
  requireDist();
  let raw = 0;
  let gz = 0;
  for (const f of DIST_FILES) {
    const bytes = fs.readFileSync(path.join(distDir, f));
    const g = zlib.gzipSync(bytes, { level: 9 }).length;
    raw += bytes.length;
    gz += g;
    t.diagnostic(`dist/${f}: ${bytes.length} bytes, ${g} gzip -9`);
  }
  t.diagnostic(`total: ${raw} bytes, ${gz} gzip -9 (budget ${BUDGET_GZIP})`);
  assert.ok(gz <= BUDGET_GZIP, `gzip total ${gz} bytes is over the ${BUDGET_GZIP}-byte budget`);
});

test('dist/fbevents.js has no eval( and no new Function', () => {
  requireDist();
  const js = fs.readFileSync(path.join(distDir, 'fbevents.js'), 'utf8');
  assert.ok(!/\beval\(/.test(js), 'contains eval(');
  assert.ok(!/new Function/.test(js), 'contains new Function');
  assert.ok(!/import\.meta|file:\/\//.test(js), 'a classic script has no import.meta or build path');
});
