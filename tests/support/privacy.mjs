// The privacy scan every end-to-end file runs in its `after` hook: no plain identifier used
// anywhere in the suite (the test persona, the advanced-matching vectors, in their raw and
// normalised forms) may appear in a recorded beacon (URL, query, body, every parameter name and
// value, decoded or not) nor in the cookies and web storage a test dumped with `dumpStorage`.
// SPEC §6: "Plain values never leave the browser."
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from './server.mjs';

/** The shopper every test that needs advanced matching uses. Plain values: never on the wire. */
export const PERSONA = Object.freeze({
  em: '  John.Doe@Example.COM ',
  ph: '+1 (650) 555-1212',
  fn: 'John',
  ln: "O'Brien",
  ct: 'Menlo Park',
  st: 'California',
  zp: '94025-1234',
  country: 'United States',
  db: '1990-01-31',
  ge: 'Female',
  external_id: 'User-123',
});

/** The vectors file: `../shared/vectors/` next to the repo, else the copy in core's tests. */
export function vectorsPath() {
  const shared = path.resolve(repoRoot, '..', 'shared', 'vectors', 'advanced-matching.json');
  if (fs.existsSync(shared)) return shared;
  return path.join(repoRoot, 'core', 'tests', 'data', 'advanced-matching.json');
}

/** The advanced-matching vectors: [{ key, wire_key, input, normalized, sha256 }]. */
export function loadVectors() {
  const doc = JSON.parse(fs.readFileSync(vectorsPath(), 'utf8'));
  return Array.isArray(doc) ? doc : doc.vectors;
}

// Keys whose values identify a person. Gender, state and country codes are a letter or two and
// would match anything; their long forms are still listed.
const IDENTIFYING = new Set(['em', 'email', 'ph', 'phone', 'fn', 'f_name', 'first_name', 'ln', 'l_name', 'last_name', 'db', 'dob', 'ct', 'city', 'zp', 'zip', 'zip_code', 'external_id', 'st', 'state', 'country']);
const HEX64 = /^[0-9a-f]{64}$/i;

/** Extra plain values a test file uses (beyond the persona and the vectors). */
const extra = new Set([
  'john.doe@example.com',
  '16505551212',
  '6505551212',
  '650-555-1212',
  '(650) 555-1212',
  '+1 (650) 555-1212',
  "O'Brien",
  'obrien',
  'menlopark',
  'Menlo Park',
  'jane@example.com',
]);

/** Adds plain values to look for (e.g. a test's own e-mail address). */
export function addIdentifiers(...values) {
  for (const v of values) extra.add(String(v));
}

/** Every plain identifier the suite uses, lowercased, at least 3 characters, de-duplicated. */
export function plainIdentifiers() {
  const out = new Set();
  const add = (v) => {
    if (v == null) return;
    const s = String(v).trim().toLowerCase();
    if (s.length >= 3 && !HEX64.test(s)) out.add(s);
  };
  for (const v of Object.values(PERSONA)) add(v);
  for (const v of extra) add(v);
  for (const v of loadVectors()) {
    if (!IDENTIFYING.has(v.key) && !IDENTIFYING.has(v.wire_key)) continue;
    add(v.input);
    add(v.normalized);
  }
  return [...out];
}

const ALNUM = /[\p{L}\p{N}]/u;

/** Where `needle` (lowercase) occurs in `hay` as a whole token (not inside a longer word or number). */
function occurs(hay, needle) {
  const h = hay.toLowerCase();
  let i = h.indexOf(needle);
  while (i >= 0) {
    const before = i > 0 ? h[i - 1] : '';
    const after = h[i + needle.length] || '';
    // A value that starts or ends with a letter or digit must not be glued to another one: a
    // zip code inside a millisecond timestamp or a hash is a coincidence, not a leak.
    const okBefore = !ALNUM.test(needle[0]) || !ALNUM.test(before);
    const okAfter = !ALNUM.test(needle[needle.length - 1]) || !ALNUM.test(after);
    if (okBefore && okAfter) return true;
    i = h.indexOf(needle, i + 1);
  }
  return false;
}

function decodings(s) {
  const out = [s];
  try {
    out.push(decodeURIComponent(s.replace(/\+/g, ' ')));
  } catch {}
  try {
    out.push(decodeURIComponent(s));
  } catch {}
  return out;
}

/** The text fields of a beacon, labelled. */
function beaconTexts(b) {
  const texts = [
    ['url', b.url || ''],
    ['query', b.query || ''],
    ['body', b.body || ''],
  ];
  for (const [k, v] of b.params || []) {
    texts.push([`param name ${k}`, k]);
    texts.push([`param ${k}`, v]);
  }
  return texts;
}

/**
 * Scans `beacons` (as recorded by the test server) and `dumps` ({ label, text } from
 * `dumpStorage`) and returns one finding per leak: { where, identifier, excerpt }.
 */
export function scanForPlainIdentifiers(beacons, dumps = []) {
  const ids = plainIdentifiers();
  const findings = [];
  const look = (where, text) => {
    for (const candidate of decodings(String(text))) {
      for (const id of ids) {
        if (occurs(candidate, id)) {
          const at = candidate.toLowerCase().indexOf(id);
          findings.push({ where, identifier: id, excerpt: candidate.slice(Math.max(0, at - 40), at + id.length + 40) });
        }
      }
    }
  };
  for (const b of beacons) {
    for (const [label, text] of beaconTexts(b)) look(`beacon #${b.seq} (${b.method} ${b.path}) ${label}`, text);
  }
  for (const d of dumps) look(d.label, d.text);
  // One line per (where, identifier).
  const seen = new Set();
  return findings.filter((f) => {
    const k = f.where + '\u0000' + f.identifier;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** Throws an assertion-style error listing every leak. */
export function assertNoPlainIdentifiers(beacons, dumps = []) {
  const findings = scanForPlainIdentifiers(beacons, dumps);
  if (findings.length) {
    const lines = findings.slice(0, 50).map((f) => `  ${f.where}: "${f.identifier}" in …${f.excerpt}…`);
    throw new Error(`privacy scan: ${findings.length} plain identifier(s) left the page:\n${lines.join('\n')}`);
  }
  return { beacons: beacons.length, dumps: dumps.length };
}

/**
 * The cookies of a tab's context and its page's localStorage and sessionStorage, as dumps for
 * the scan. Best effort: a closed or crashed page yields what could still be read.
 */
export async function dumpStorage(tab, label = 'tab') {
  const dumps = [];
  try {
    for (const c of await tab.context.cookies()) {
      dumps.push({ label: `${label} cookie ${c.name} (${c.domain})`, text: `${c.name}=${c.value}` });
    }
  } catch {}
  try {
    const storage = await tab.page.evaluate(() => {
      const dump = (s) => {
        const out = [];
        for (let i = 0; i < s.length; i++) out.push([s.key(i), s.getItem(s.key(i))]);
        return out;
      };
      return { local: dump(localStorage), session: dump(sessionStorage) };
    });
    for (const [k, v] of storage.local) dumps.push({ label: `${label} localStorage ${k}`, text: `${k}=${v}` });
    for (const [k, v] of storage.session) dumps.push({ label: `${label} sessionStorage ${k}`, text: `${k}=${v}` });
  } catch {}
  return dumps;
}
