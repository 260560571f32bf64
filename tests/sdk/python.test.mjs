// Meta's Python Business SDK (facebook-business, in the project's .venv from scripts/setup.sh test)
// as a real client of the collector: README.md's Python recipe, run as written (taken out of
// README.md into a file) by tests/sdk/python/send_purchase.py, its HttpServiceInterface posting
// the SDK's own parameters to /v26.0/PIXEL/events on the collector.
import { describe, it, before, after } from 'node:test';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../support/index.mjs';
import { SERVER_KEY, openShop, recipe } from './harness.mjs';
import { scenarios } from './scenarios.mjs';

const PYTHON = path.join(repoRoot, '.venv', 'bin', 'python');
const DRIVER = path.join(repoRoot, 'tests', 'sdk', 'python', 'send_purchase.py');

let shop;
let recipeFile;

before(async () => {
  if (!fs.existsSync(PYTHON)) throw new Error('.venv/bin/python is missing: run `bash scripts/setup.sh test` (./test.sh does)');
  shop = await openShop('python');
  recipeFile = path.join(shop.tmp, 'purchase.py');
  fs.writeFileSync(recipeFile, recipe('python'));
});

after(() => shop?.close());

/** One Python process per order, as a shop's worker would send it. */
function send(order, { testEventCode, key = SERVER_KEY } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [DRIVER, recipeFile], {
      env: { ...process.env, ...shop.env(key), PYTHONDONTWRITEBYTECODE: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      let res;
      try {
        res = JSON.parse(out);
      } catch {
        return reject(new Error(`send_purchase.py exited ${code} without JSON: ${out}${err}`));
      }
      if (code !== 0 || res.error) reject(new Error(res.error || `exit ${code}: ${err}`));
      else resolve(res);
    });
    child.stdin.end(JSON.stringify({ order: snakeCase(order), test_event_code: testEventCode ?? null }));
  });
}

/** The recipe's order keys are Python's (`user_agent`), the same values. */
const snakeCase = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), v]));

describe('the Python SDK through the README recipe', { concurrency: true }, () => {
  scenarios(it, 'Python SDK', () => shop, send);
});
