// The TypeScript types shipped in dist/ (types/fbevents.d.ts, copied by scripts/build.sh) and named
// by package.json's "types": `tsc --noEmit --strict` compiles a sample that uses every overload, a
// file written in @types/facebook-pixel's style, and a file of misuses that must each be an error
// (`// @ts-expect-error`); and it refuses a misspelt standard event through `track`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../support/index.mjs';

const run = promisify(execFile);
const TSC = path.join(repoRoot, 'node_modules', '.bin', 'tsc');
const samples = (...names) => names.map((n) => path.join(repoRoot, 'tests', 'types', n));

/** The declaration file package.json points at, which must be the built one in dist/. */
function shippedTypes() {
  const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8'));
  assert.equal(pkg.types, 'dist/fbevents.d.ts', 'package.json "types"');
  const file = path.join(repoRoot, pkg.types);
  assert.ok(fs.existsSync(file), `${pkg.types} is missing: run scripts/build.sh`);
  assert.equal(fs.readFileSync(file, 'utf8'), fs.readFileSync(path.join(repoRoot, 'types', 'fbevents.d.ts'), 'utf8'), 'dist/ holds the current types');
  return file;
}

/** tsc over the given files; resolves with { code, output }. */
async function tsc(files) {
  assert.ok(fs.existsSync(TSC), 'node_modules/.bin/tsc is missing: run scripts/setup.sh (npm ci)');
  const args = ['--noEmit', '--strict', '--noUncheckedIndexedAccess', '--exactOptionalPropertyTypes', '--target', 'es2020', '--lib', 'es2020,dom', '--pretty', 'false', shippedTypes(), ...files];
  try {
    const { stdout, stderr } = await run(TSC, args, { cwd: repoRoot });
    return { code: 0, output: stdout + stderr };
  } catch (e) {
    if (typeof e.code !== 'number') throw e;
    return { code: e.code, output: String(e.stdout) + String(e.stderr) };
  }
}

test('tsc: every overload, @types/facebook-pixel-style code, and every misuse an error', async () => {
  const { code, output } = await tsc(samples('every-command.ts', 'facebook-pixel-style.ts', 'misuses.ts'));
  assert.equal(code, 0, `tsc failed:\n${output}`);
  // The misuses file holds one @ts-expect-error per mistake: a line the types let through would
  // be "Unused '@ts-expect-error' directive" (TS2578), a failure above.
  const expected = fs.readFileSync(samples('misuses.ts')[0], 'utf8').match(/@ts-expect-error/g).length;
  assert.ok(expected >= 15, `misuses.ts has ${expected} cases`);
});

test('tsc: a misspelt standard event through track does not compile', async () => {
  const { code, output } = await tsc(samples('must-fail.ts'));
  assert.notEqual(code, 0, 'tsc accepted fbq("track", "Purchse")');
  const errors = output.split('\n').filter((l) => /error TS\d+/.test(l));
  assert.equal(errors.length, 1, output);
  assert.match(errors[0], /must-fail\.ts\(3,\d+\): error TS2769: No overload matches this call/);
});
