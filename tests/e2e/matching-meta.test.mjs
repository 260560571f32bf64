// Meta's own normalisation, end to end (issue #13): every input of
// ../shared/vectors/meta-param-builder.json (the unit tests of Meta's Conversions API Parameter
// Builder, with the value Meta's library gives; core/tests/data/ when the shared folder is absent)
// goes through fbq('set', 'userData', {...}) in the built pixel and must arrive as
// ud[field] = the hash of Meta's value, or not at all when Meta drops it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openSuite, param, byId, byEv, all, assertNoPageErrors, sha256 } from '../support/suite.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const shared = path.resolve(root, '..', 'shared', 'vectors', 'meta-param-builder.json');
const file = fs.existsSync(shared) ? shared : path.join(root, 'core', 'tests', 'data', 'meta-param-builder.json');
const VECTORS = JSON.parse(fs.readFileSync(file, 'utf8')).vectors;
const HASHED = /^[0-9a-f]{64}$/i;

let suite;
before(async () => {
  suite = await openSuite();
});
after(async () => {
  await suite?.teardown();
});

const udOf = (b) => Object.fromEntries(b.params.filter(([k]) => k.startsWith('ud[')).map(([k, v]) => [k.slice(3, -1), v]));

test(`Meta's Parameter Builder vectors (${VECTORS.length}) through fbq('set', 'userData', ...) arrive as Meta's hash`, async () => {
  assert.ok(VECTORS.length >= 329, `the vectors file was read: ${VECTORS.length}`);
  const ids = VECTORS.map((_, i) => String(7800000000000 + i));
  // Pages of 100 vectors (300 calls): the stub's queue holds a few hundred calls before the engine
  // has loaded.
  for (let from = 0; from < VECTORS.length; from += 100) {
    const page = VECTORS.slice(from, from + 100);
    const calls = page.map((v, j) => `fbq('init', '${ids[from + j]}');
fbq('set', 'userData', ${JSON.stringify({ [v.field]: v.input })}, '${ids[from + j]}');
fbq('trackSingle', '${ids[from + j]}', 'Lead');`).join('\n');
    const tab = await suite.open(`/am-meta-vectors-${from}.html`, { calls });
    try {
      const mine = ids.slice(from, from + 100);
      await suite.wait(page.length, (b) => mine.includes(param(b, 'id')) && param(b, 'ev') === 'Lead', 15000);
      assertNoPageErrors(tab);
    } finally {
      await suite.done(tab);
    }
  }
  {
    const wrong = [];
    for (const [i, v] of VECTORS.entries()) {
      if (v.sha256 !== null && !HASHED.test(v.input.trim())) {
        assert.equal(sha256(v.normalized), v.sha256, `the vector itself is consistent: ${v.field} ${JSON.stringify(v.input)}`);
      }
      const sent = suite.beacons(all(byId(ids[i]), byEv('Lead')));
      assert.equal(sent.length, 1, `one Lead for vector ${i}`);
      const want = v.sha256 === null ? {} : { [v.field]: v.sha256 };
      const got = udOf(sent[0]);
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        wrong.push(`${v.field} ${JSON.stringify(v.input)}: sent ${JSON.stringify(got)}, Meta ${JSON.stringify(v.normalized)} → ${JSON.stringify(want)}`);
      }
    }
    assert.deepEqual(wrong, [], `${wrong.length} of ${VECTORS.length} differ from Meta's library`);
  }
});
