// Size is a feature: what a store's visitors download (gzip -9 of the built dist/) stays within
// budget, and the script runs under a CSP without 'unsafe-eval'.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { distDir, distSizes, requireDist } from '../support/index.mjs';

const BUDGET_GZIP = 20 * 1024;

test(`gzip -9 of dist/fbevents.js + dist/fbevents.wasm is at most ${BUDGET_GZIP} bytes`, (t) => {
  requireDist();
  const { files, raw, gzip } = distSizes();
  for (const f of files) t.diagnostic(`${f.name}: ${f.raw} bytes, ${f.gzip} gzip -9`);
  t.diagnostic(`total: ${raw} bytes, ${gzip} gzip -9 (budget ${BUDGET_GZIP})`);
  assert.ok(gzip <= BUDGET_GZIP, `gzip total ${gzip} bytes is over the ${BUDGET_GZIP}-byte budget`);
});

test('dist/fbevents.js has no eval( and no new Function', () => {
  requireDist();
  const js = fs.readFileSync(path.join(distDir, 'fbevents.js'), 'utf8');
  assert.ok(!/\beval\(/.test(js), 'contains eval(');
  assert.ok(!/new Function/.test(js), 'contains new Function');
  assert.ok(!/import\.meta|file:\/\//.test(js), 'a classic script has no import.meta or build path');
});
