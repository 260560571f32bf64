// What each feature costs in the download: the pixel is built once as it is and once per feature
// with that feature cut out (an early return at its entry point, in a scratch copy of the tree),
// and the gzip -9 sizes of the wasm are compared. Printed figures, no pass/fail; the README's
// *Size* section quotes them.
//
//   npm run size:features      (about 30 s per build on 2 cores)
//
// Each build is `scripts/build.sh` itself, so the flags are the shipped ones. A cut whose anchor
// text is no longer in the source stops the run with the anchor named: update the CUTS below
// when the code they point at moves.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { distSizes } from '../support/sizes.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Put `body` right after `anchor` in `file` (an early return, mostly). */
const after = (file, anchor, body) => ({ file, from: anchor, to: `${anchor}\n${body}` });
/** Replace every `from` in `file` with `to`. */
const swap = (file, from, to) => ({ file, from, to });

const CUTS = [
  ['advanced matching, all of it', [
    after('core/src/matching/mod.rs', "pub fn hash_field(field: Field, raw: &str, cx: &Context<'_>) -> Result<String, DropReason> {", 'return Err(DropReason::Empty);'),
  ]],
  ['· the country-name table', [
    after('core/src/matching/countries.rs', 'pub(crate) fn normalize_country(lower: &str) -> Result<String, DropReason> {', 'return Err(DropReason::Empty);'),
  ]],
  ['· white space (Unicode trim and filters)', [
    after('core/src/matching/text.rs', 'pub(crate) fn is_not_white_space(c: char) -> bool {', 'return !c.is_ascii_whitespace();'),
    swap('core/src/matching/mod.rs', 'raw.trim()', 'raw.trim_ascii()'),
  ]],
  ['· SHA-256', [
    after('core/src/matching/mod.rs', 'pub fn sha256_hex(s: &str) -> String {', 'return s.to_owned();'),
  ]],
  ['· US-state and Canadian-province names', [
    after('core/src/matching/regions.rs', 'pub(crate) fn normalize_state(lower: &str) -> Result<String, DropReason> {', 'return Err(DropReason::Empty);'),
  ]],
  ['· dates', [
    after('core/src/matching/date.rs', 'pub(crate) fn normalize_date(trimmed: &str, this_year: u32) -> Result<String, DropReason> {', 'return Err(DropReason::Empty);'),
  ]],
  ['`_fbp`/`_fbc` cookies (domain probe, fbclid)', [
    after('core/src/identity.rs', '    ) -> (Option<String>, Option<String>) {', 'return (None, None);'),
  ]],
  ['console messages (their text)', [
    after('core/src/tracker/console.rs', 'fn warn_msg(parts: &[&str]) -> String {', 'return String::new();'),
  ]],
  ['URL scrubbing of dl and rl (issue #24; limited mode still strips the query)', [
    after('core/src/scrub.rs', 'pub fn scrub(url: &str, all: bool) -> String {', 'if !all { return url.into(); }'),
  ]],
  ['standard-event, value and currency checks', [
    after('core/src/event.rs', 'pub fn check(name: &str, custom: Option<&Value>, standard_call: bool) -> Vec<&\'static str> {', 'return Vec::new();'),
  ]],
];

const COPY = ['Cargo.toml', 'Cargo.lock', 'core', 'src', 'collector/Cargo.toml', 'collector/src',
  'collector/examples', 'www', 'webpack.config.js', 'webpack.dashboard.config.js', 'types', 'scripts',
  'tests/support', 'package.json'];

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'fbevents-sizes-'));
// One target directory for every build, so std and the dependencies compile once.
const targetDir = path.join(root, 'target', 'feature-sizes');

function build(label, edits) {
  const dir = path.join(scratch, String(build.n = (build.n || 0) + 1));
  for (const rel of COPY) {
    if (fs.existsSync(path.join(root, rel))) fs.cpSync(path.join(root, rel), path.join(dir, rel), { recursive: true });
  }
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
  for (const { file, from, to } of edits) {
    const p = path.join(dir, file);
    const text = fs.readFileSync(p, 'utf8');
    if (!text.includes(from)) throw new Error(`${label}: "${from}" is no longer in ${file}; update CUTS`);
    fs.writeFileSync(p, text.split(from).join(to));
  }
  process.stdout.write(`building: ${label} ... `);
  execFileSync('bash', ['scripts/build.sh'], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, CARGO_TARGET_DIR: targetDir },
  });
  const sizes = distSizes(path.join(dir, 'dist'));
  const wasm = sizes.files.find((f) => f.name.endsWith('.wasm')).gzip;
  console.log(`${wasm} B gzip`);
  fs.rmSync(dir, { recursive: true, force: true });
  return { wasm, total: sizes.gzip };
}

try {
  const base = build('the pixel as it is', []);
  const rows = CUTS.map(([label, edits]) => [label, base.wasm - build(label, edits).wasm]);
  console.log(`\npixel: ${base.total} B gzip -9 in total, ${base.wasm} B of it wasm\n`);
  console.log('feature'.padEnd(52) + 'gzip bytes');
  for (const [label, bytes] of rows) console.log(label.padEnd(52) + String(bytes).padStart(10));
  const all = rows[0][1];
  console.log(`\nwithout advanced matching: ${base.total - all} B in total (ceiling 25,600 with it)`);
} finally {
  fs.rmSync(scratch, { recursive: true, force: true });
}
