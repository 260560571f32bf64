// Advanced matching in the browser (SPEC §6): every published vector in
// ../shared/vectors/advanced-matching.json (or core/tests/data/ when absent) goes through init in
// the built pixel and must arrive as ud[wire_key] = sha256 (or not at all); aliases map onto the
// canonical keys; plain values never leave the page (nor reach the console in debug mode).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { openSuite, param, names, byId, byEv, all, assertParamOrder, assertNoPageErrors, fbqMessages, sha256 } from '../support/suite.mjs';
import { PERSONA, loadVectors, vectorsPath, plainIdentifiers, scanForPlainIdentifiers } from '../support/privacy.mjs';

let suite;
before(async () => {
  suite = await openSuite();
});
after(async () => {
  await suite?.teardown();
});

const VECTORS = loadVectors();
const udOf = (b) => Object.fromEntries(b.params.filter(([k]) => k.startsWith('ud[')).map(([k, v]) => [k.slice(3, -1), v]));

/** The persona, normalised by hand from SPEC §6's rules. */
const PERSONA_NORMALISED = {
  em: 'john.doe@example.com',
  ph: '16505551212',
  fn: 'john',
  ln: 'obrien',
  ct: 'menlopark',
  st: 'ca',
  zp: '94025',
  country: 'us',
  db: '19900131',
  ge: 'f',
  external_id: 'user-123',
};

test(`every advanced-matching vector (${VECTORS.length} from ${vectorsPath().includes('shared') ? '../shared/vectors' : 'core/tests/data'}) arrives as ud[wire_key] = sha256`, async (t) => {
  assert.ok(VECTORS.length >= 20, 'the vectors file was read');
  const ids = VECTORS.map((_, i) => String(7700000000000 + i));
  const calls = VECTORS.map((v, i) => `fbq('init', '${ids[i]}', ${JSON.stringify({ [v.key]: v.input })});\nfbq('trackSingle', '${ids[i]}', 'Lead');`).join('\n');
  const tab = await suite.open('/am-vectors.html', { calls });
  try {
    await suite.wait(VECTORS.length, (b) => ids.includes(param(b, 'id')) && param(b, 'ev') === 'Lead', 10000);
    for (const [i, v] of VECTORS.entries()) {
      await t.test(`${v.key} ${JSON.stringify(v.input)} → ${v.sha256 === null ? 'not sent' : JSON.stringify(v.normalized)}`, () => {
        if (v.sha256 !== null && v.normalized !== null && !/^[0-9a-f]{64}$/i.test(v.input)) {
          assert.equal(sha256(v.normalized), v.sha256, 'the vector itself is consistent');
        }
        const sent = suite.beacons(all(byId(ids[i]), byEv('Lead')));
        assert.equal(sent.length, 1);
        const ud = udOf(sent[0]);
        if (v.sha256 === null) {
          assert.deepEqual(ud, {}, `ud[${v.wire_key}] must not be sent`);
        } else {
          assert.deepEqual(ud, { [v.wire_key]: v.sha256 });
        }
      });
    }
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

const ALIASES = {
  email: 'em',
  phone: 'ph',
  f_name: 'fn',
  first_name: 'fn',
  l_name: 'ln',
  last_name: 'ln',
  gen: 'ge',
  gender: 'ge',
  dob: 'db',
  city: 'ct',
  state: 'st',
  zip: 'zp',
  zip_code: 'zp',
};

test('aliases (email, phone, first_name, ...) are normalised, hashed and sent under the canonical key', async () => {
  const entries = Object.entries(ALIASES);
  const ids = entries.map((_, i) => String(7710000000000 + i));
  const calls = entries.map(([alias, key], i) => `fbq('init', '${ids[i]}', ${JSON.stringify({ [alias]: PERSONA[key] })});\nfbq('trackSingleCustom', '${ids[i]}', 'Alias');`).join('\n');
  const tab = await suite.open('/am-aliases.html', { calls });
  try {
    await suite.wait(entries.length, (b) => ids.includes(param(b, 'id')), 8000);
    const wrong = [];
    for (const [i, [alias, key]] of entries.entries()) {
      const [b] = suite.beacons(byId(ids[i]));
      const ud = udOf(b);
      const want = { [key]: sha256(PERSONA_NORMALISED[key]) };
      if (JSON.stringify(ud) !== JSON.stringify(want)) wrong.push(`${alias}: got ${JSON.stringify(ud)}, want ${JSON.stringify(want)}`);
    }
    assert.deepEqual(wrong, []);
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('the whole persona at init: all eleven ud[...] hashes on every event, grouped before v', async () => {
  const id = '7720000000001';
  const tab = await suite.open('/am-persona.html', {
    calls: `fbq('init', '${id}', ${JSON.stringify(PERSONA)});\nfbq('track', 'PageView');\nfbq('track', 'Purchase', {value: 1, currency: 'USD'});`,
  });
  try {
    const got = await suite.wait(2, byId(id));
    for (const b of got) {
      const want = Object.fromEntries(Object.entries(PERSONA_NORMALISED).map(([k, v]) => [k, sha256(v)]));
      assert.deepEqual(udOf(b), want);
      assertParamOrder(b);
      for (const [, v] of b.params.filter(([k]) => k.startsWith('ud['))) assert.match(v, /^[0-9a-f]{64}$/);
    }
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('numbers are accepted like strings; unknown keys and invalid fields are dropped, the rest still sent', async () => {
  const [a, b] = ['7720000000002', '7720000000003'];
  const tab = await suite.open('/am-mixed.html', {
    calls: `fbq('init', '${a}', {ph: 16505551212, zp: 94025, external_id: 123});
fbq('init', '${b}', {em: 'not-an-email', fn: 'Mary', favourite_colour: 'teal', ge: 'other', db: '1990-02-30', ct: ''});
fbq('track', 'PageView');`,
  });
  try {
    const got = await suite.wait(2, (x) => byId(a)(x) || byId(b)(x));
    assert.deepEqual(udOf(got.find(byId(a))), { ph: sha256('16505551212'), zp: sha256('94025'), external_id: sha256('123') });
    assert.deepEqual(udOf(got.find(byId(b))), { fn: sha256('mary') });
    assert.ok(!names(got.find(byId(b))).some((k) => k.includes('favourite')), 'unknown key not sent');
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('debug mode: a dropped field gets a console warning that names the field, never the plain value', async () => {
  const id = '7720000000004';
  const tab = await suite.open('/am-debug.html', {
    query: '?fbq_debug=1',
    calls: `fbq('init', '${id}', {em: 'no-at-sign.example.com', ph: ${JSON.stringify(PERSONA.ph)}, fn: ${JSON.stringify(PERSONA.ln)}});
fbq('track', 'PageView');`,
  });
  try {
    const [b] = await suite.wait(1, byId(id));
    assert.deepEqual(Object.keys(udOf(b)).sort(), ['fn', 'ph']);
    await suite.said(tab);
    const warnings = fbqMessages(tab, 'warning');
    assert.ok(warnings.some((w) => /\bem\b/.test(w)), `a console warning (console.warn) about the dropped em field; our console messages were:\n${tab.messages.filter((m) => m.text.startsWith('[fbq] ')).map((m) => `${m.type}: ${m.text.split('\n')[0]}`).join('\n')}`);
    const leaks = scanForPlainIdentifiers([], tab.messages.map((m, i) => ({ label: `console ${m.type} #${i}`, text: m.text })));
    assert.deepEqual(leaks, [], 'no plain identifier on the console, even in debug mode');
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('the privacy scan itself finds a plain identifier, encoded or not, and ignores hashes and look-alike digits', () => {
  const fake = (seq, query, params) => ({ seq, method: 'GET', path: '/tr/', url: '/tr/?' + query, query, body: '', params });
  const leaky = [
    fake(1, 'cd%5Bemail%5D=John.Doe%40Example.com', [['cd[email]', 'John.Doe@Example.com']]),
    fake(2, 'cd%5Bphone%5D=%2B1%20(650)%20555-1212', [['cd[phone]', '+1 (650) 555-1212']]),
    fake(3, 'cd%5Bx%5D=obrien', [['cd[x]', 'obrien']]),
  ];
  const findings = scanForPlainIdentifiers(leaky);
  for (const seq of [1, 2, 3]) assert.ok(findings.some((f) => f.where.startsWith(`beacon #${seq} `)), `beacon ${seq} flagged: ${JSON.stringify(findings)}`);
  const clean = [fake(4, `ud%5Bem%5D=${sha256('john.doe@example.com')}&ts=1794025123456&fbp=fb.0.1700000000000.1650555121299`, [
    ['ud[em]', sha256('john.doe@example.com')],
    ['ts', '1794025123456'],
    ['fbp', 'fb.0.1700000000000.1650555121299'],
  ])];
  assert.deepEqual(scanForPlainIdentifiers(clean), []);
  assert.ok(scanForPlainIdentifiers([], [{ label: 'cookie', text: '_x=fb.1.1.john.doe%40example.com' }]).some((f) => f.identifier === 'john.doe@example.com'), 'dumps are scanned, decoded');
  const ids = plainIdentifiers();
  for (const v of ['john.doe@example.com', '16505551212', '+1 (650) 555-1212', 'obrien', "o'brien", 'john_smith@gmail.com', 'jane@example.com']) {
    assert.ok(ids.includes(v), `the scan looks for ${v}`);
  }
});
