// The pixel never throws into the page (STYLE "The stub never breaks the host page"): hostile or
// malformed calls give console warnings only, the next valid call still sends, and an engine that
// cannot load (404, CSP without 'wasm-unsafe-eval') leaves fbq queueing with one console error.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { distDir } from '../support/index.mjs';
import { openSuite, param, paramsOf, names, byId, byEv, all, assertNoPageErrors, fbqMessages } from '../support/suite.mjs';

let suite;
before(async () => {
  suite = await openSuite();
});
after(async () => {
  await suite?.teardown();
});

// Each case runs `call` (a function body using `fbq`, after the library loaded) and then checks
// the beacons of event `ev` (or that nothing is sent when `sends` is false).
const CASES = [
  { name: 'fbq()', call: 'fbq()', sends: false },
  { name: 'fbq(42)', call: 'fbq(42)', sends: false },
  { name: "fbq('track')", call: "fbq('track')", sends: false },
  { name: "fbq('track', 42)", call: "fbq('track', 42)", sends: false },
  { name: "fbq('track', null)", call: "fbq('track', null, {a: 1})", sends: false },
  { name: 'fbq(undefined, undefined)', call: 'fbq(undefined, undefined)', sends: false },
  { name: 'fbq(Symbol())', call: "fbq(Symbol('x'), Symbol('y'))", sends: false },
  { name: 'fbq({})', call: "fbq({track: 'PageView'})", sends: false },
  { name: 'unknown command', call: "fbq('explode', 'now')", sends: false, warn: /is not a valid fbq command/ },
  { name: "init 'abc'", call: "fbq('init', 'abc'); fbq('trackSingle', 'abc', 'Lead')", sends: false },
  { name: 'string custom data', call: "fbq('track', 'ViewContent', 'not an object')", ev: 'ViewContent', check: (b) => assert.ok(!names(b).some((k) => k.startsWith('cd[')), 'sent without cd') },
  { name: 'array custom data', call: "fbq('trackCustom', 'Arr', [1, 2, 3])", ev: 'Arr', check: (b) => assert.ok(!names(b).some((k) => k.startsWith('cd[')), 'sent without cd') },
  { name: 'number custom data', call: "fbq('trackCustom', 'Num', 5)", ev: 'Num', check: (b) => assert.ok(!names(b).some((k) => k.startsWith('cd[')), 'sent without cd') },
  {
    name: 'circular custom data',
    call: "var o = {keep: 'yes'}; o.self = o; o.list = [o]; fbq('trackCustom', 'Circ', o)",
    ev: 'Circ',
    check: (b) => {
      assert.equal(param(b, 'cd[keep]'), 'yes');
      assert.equal(param(b, 'cd[self]'), undefined);
    },
  },
  {
    name: 'circular event data (4th argument)',
    call: "var e = {eventID: 'circ-eid'}; e.me = e; fbq('trackCustom', 'CircEd', {k: 1}, e)",
    ev: 'CircEd',
    check: (b) => {
      assert.equal(param(b, 'cd[k]'), '1');
      assert.equal(param(b, 'eid'), 'circ-eid');
    },
  },
  {
    name: '1 MB string',
    call: "fbq('trackCustom', 'Mega', {keep: 'yes', big: 'x'.repeat(1 << 20)})",
    ev: 'Mega',
    warn: /big/,
    check: (b) => {
      assert.equal(param(b, 'cd[keep]'), 'yes');
      assert.equal(param(b, 'cd[big]'), undefined, 'the 1 MB value is dropped');
    },
  },
  // Whether a 1 MB event name is sent is not specified; it must only not throw.
  { name: '1 MB event name', call: "fbq('trackCustom', 'E'.repeat(1 << 20))" },
  {
    name: 'Object.create(null) custom data',
    call: "var o = Object.create(null); o.value = 3; o.currency = 'USD'; fbq('track', 'AddToCart', o)",
    ev: 'AddToCart',
    check: (b) => assert.deepEqual([param(b, 'cd[value]'), param(b, 'cd[currency]')], ['3', 'USD']),
  },
  {
    name: 'toString = null',
    call: "var o = {value: 2, currency: 'EUR'}; o.toString = null; o.valueOf = null; fbq('track', 'Lead', o)",
    ev: 'Lead',
    check: (b) => assert.deepEqual([param(b, 'cd[value]'), param(b, 'cd[currency]')], ['2', 'EUR']),
  },
  {
    name: 'toString = null on the event name and pixel id',
    call: "var n = {}; n.toString = null; fbq('track', n); fbq('init', n); fbq('trackSingle', n, 'Lead')",
    sends: false,
  },
  {
    name: 'trackSingle with a pixel id that is not a string or number',
    call: "fbq('trackSingle', null, 'Lead'); fbq('trackSingle', undefined, 'Lead'); fbq('trackSingleCustom', {}, 'Odd'); fbq('trackSingle', ['1'], 'Lead'); fbq('trackSingle', true, 'Lead')",
    sends: false,
  },
  {
    name: 'getter that throws',
    call: "var o = {ok: 1}; Object.defineProperty(o, 'bad', {enumerable: true, get: function () { throw new Error('boom'); }}); fbq('trackCustom', 'Getter', o)",
    ev: 'Getter',
    check: (b) => {
      assert.equal(param(b, 'cd[ok]'), '1');
      assert.equal(param(b, 'cd[bad]'), undefined);
    },
  },
  {
    name: 'toJSON that throws',
    call: "fbq('trackCustom', 'ToJson', {ok: 2, bad: {toJSON: function () { throw new Error('nope'); }}})",
    ev: 'ToJson',
    check: (b) => assert.equal(param(b, 'cd[ok]'), '2'),
  },
  {
    name: 'BigInt values',
    call: "fbq('trackCustom', 'Big', {ok: 3, n: 10n, list: [1n]})",
    ev: 'Big',
    check: (b) => {
      assert.equal(param(b, 'cd[ok]'), '3');
      assert.equal(param(b, 'cd[n]'), undefined);
    },
  },
  {
    name: 'a Proxy whose traps throw',
    call: "var p = new Proxy({}, {get: function () { throw new Error('get'); }, ownKeys: function () { throw new Error('keys'); }, has: function () { throw new Error('has'); }}); fbq('trackCustom', 'Prox', p)",
    ev: 'Prox',
  },
  {
    name: 'functions, symbols, NaN and Infinity as values',
    call: "fbq('trackCustom', 'Odd', {f: function () {}, s: Symbol('s'), nan: NaN, inf: Infinity, ok: 'fine', d: new Date(0)})",
    ev: 'Odd',
    check: (b) => {
      const p = paramsOf(b);
      assert.equal(p['cd[ok]'], 'fine');
      assert.equal(p['cd[d]'], '1970-01-01T00:00:00.000Z', 'a Date goes as JSON.stringify prints it');
    },
  },
  {
    name: 'non-string event ID',
    call: "fbq('trackCustom', 'EidObj', {}, {eventID: {a: 1}}); fbq('trackCustom', 'EidNum', {}, {eventID: 12345})",
    ev: 'EidNum',
    check: (b) => assert.equal(param(b, 'eid'), '12345'),
  },
  {
    name: 'deeply nested custom data',
    call: "var d = {}; var c = d; for (var i = 0; i < 5000; i++) { c.n = {}; c = c.n; } fbq('trackCustom', 'Deep', {ok: 4, deep: d})",
    ev: 'Deep',
    check: (b) => assert.equal(param(b, 'cd[ok]'), '4'),
  },
  {
    name: 'lone surrogates in strings',
    call: "fbq('trackCustom', 'Surr', {s: 'a\\uD800b', t: '\\uDC00'})",
    ev: 'Surr',
  },
  {
    name: 'invalid set / consent / dataProcessingOptions arguments',
    call: "fbq('set'); fbq('set', 'endpoint', 'javascript:alert(1)'); fbq('set', 'endpoint', 42); fbq('set', 'openbridge', 'x', 'y'); fbq('set', 'userData', 'a@b.co'); fbq('set', 'agent'); fbq('consent', 'maybe'); fbq('consent'); fbq('dataProcessingOptions', 'LDU'); fbq('dataProcessingOptions')",
    sends: false,
    anyWarn: true,
  },
];

CASES.forEach((c, i) => {
  test(`never throws: ${c.name}`, async () => {
    const id = String(4400000000000 + i);
    const tab = await suite.open(`/rb-${i}.html`, { calls: `fbq('init', '${id}');` });
    try {
      // Calls made after load, and the same calls queued through the stub before load, must both
      // stay inside the pixel.
      const thrown = await tab.page.evaluate((src) => {
        try {
          new Function(src)();
          return null;
        } catch (e) {
          return String(e && e.stack ? e.stack : e);
        }
      }, c.call);
      assert.equal(thrown, null, 'fbq threw into the page');
      await tab.page.evaluate(() => fbq('trackCustom', 'NextValid', { ok: 1 }));
      const [next] = await suite.wait(1, all(byId(id), byEv('NextValid')));
      assert.equal(param(next, 'cd[ok]'), '1', 'the next valid call still sends');
      const mine = await suite.settle(byId(id), 200);
      const others = mine.filter((b) => param(b, 'ev') !== 'NextValid');
      if (c.sends === false) {
        assert.deepEqual(others.map((b) => b.url || b.body), [], 'nothing sent');
      } else if (c.ev) {
        const sent = others.filter(byEv(c.ev));
        assert.ok(sent.length >= 1, `the ${c.ev} event is still sent`);
        if (c.check) c.check(sent.at(-1));
      }
      await suite.said(tab);
      const warnings = fbqMessages(tab, 'warning');
      if (c.warn) assert.ok(warnings.some((w) => c.warn.test(w)), `a warning matching ${c.warn}:\n${warnings.join('\n')}`);
      if (c.sends === false) assert.ok(warnings.length >= 1, 'a console warning says why nothing was sent');
      if (c.anyWarn) assert.ok(warnings.length >= 1, 'a console warning');
      assert.ok(warnings.every((w) => w.length < 2000), 'warnings stay short (no 1 MB echo)');
      assertNoPageErrors(tab);
      assert.deepEqual(fbqMessages(tab, 'error'), [], 'no console errors of ours');
    } finally {
      await suite.done(tab);
    }
  });
});

test('never throws: every bad call queued through the stub before the library loads', async () => {
  const id = '4400000000900';
  const calls = CASES.map((c) => `try { (function () { ${c.call}; })(); } catch (e) { (window.__stubThrew = window.__stubThrew || []).push(String(e)); }`).join('\n');
  const tab = await suite.open('/rb-queued.html', {
    calls: `fbq('init', '${id}');\n${calls}\nfbq('trackCustom', 'NextValid', {ok: 1});`,
  });
  try {
    const [next] = await suite.wait(1, all(byId(id), byEv('NextValid')), 10000);
    assert.equal(param(next, 'cd[ok]'), '1');
    assert.equal(await tab.page.evaluate(() => window.__stubThrew || null), null, 'the stub never throws');
    // The page logs nothing itself: every console message here is ours and says so.
    assert.ok(tab.messages.length >= CASES.filter((c) => c.sends === false).length, 'the bad calls were reported');
    const unprefixed = tab.messages.filter((m) => !m.text.startsWith('[fbq] ')).map((m) => `${m.type}: ${m.text.slice(0, 200)}`);
    assert.deepEqual(unprefixed, [], 'every console message of ours starts with "[fbq] "');
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('fbq(...) before init and an init with a bad id, then valid calls: the valid ones still send', async () => {
  const id = '4400000000901';
  const tab = await suite.open('/rb-order.html', {
    calls: `fbq('track', 'PageView');
fbq('init', 'abc');
fbq('init', '${id}');
fbq('track', 'PageView');`,
  });
  try {
    const [pv] = await suite.wait(1, byId(id));
    assert.equal(param(pv, 'ev'), 'PageView');
    assert.equal(param(pv, 'ec'), '0');
    assert.deepEqual(suite.beacons(byId('abc')), []);
    await suite.said(tab);
    assert.ok(fbqMessages(tab, 'warning').length >= 2, 'warned about the early track and the bad id');
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('the script included twice: one engine, one PageView, the stub kept', async () => {
  const id = '4400000000902';
  const tab = await suite.open('/rb-twice.html', {
    calls: `fbq('init', '${id}');\nfbq('track', 'PageView');`,
    head: `<script async src="/fbevents.js"></script>\n<script src="/fbevents.js"></script>`,
  });
  try {
    await suite.wait(1, byId(id));
    await tab.page.evaluate(() => fbq('trackCustom', 'Once'));
    await suite.settle(byId(id), 600);
    assert.equal(suite.beacons(all(byId(id), byEv('PageView'))).length, 1);
    assert.equal(suite.beacons(all(byId(id), byEv('Once'))).length, 1, 'one engine handles each call');
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

/** Asserts the engine-could-not-load state: one [fbq] console.error, fbq queues, nothing sent. */
async function assertEngineDown(tab, id) {
  await tab.page.waitForFunction(() => window.fbq && window.fbq.queue && window.fbq.queue.length >= 2, null, { timeout: 5000 });
  // Give the engine every chance to load (it must not).
  await tab.page.waitForTimeout(800);
  const before = await tab.page.evaluate(() => ({ n: fbq.queue.length, version: fbq.version }));
  assert.equal(before.version, '2.0', 'the engine did not take over');
  const thrown = await tab.page.evaluate(() => {
    try {
      fbq('track', 'Lead');
      fbq('trackCustom', 'More', { a: 1 });
      fbq();
      return null;
    } catch (e) {
      return String(e);
    }
  });
  assert.equal(thrown, null);
  const after = await tab.page.evaluate(() => fbq.queue.length);
  assert.equal(after, before.n + 3, 'fbq.queue grows, up to its cap (tests/e2e/outbox-loader.test.mjs)');
  const errors = fbqMessages(tab, 'error');
  assert.equal(errors.length, 1, `exactly one console.error of ours:\n${tab.messages.map((m) => `${m.type}: ${m.text}`).join('\n')}`);
  assert.match(errors[0], /engine|could not load/i);
  assert.match(errors[0], /could not load/i);
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(suite.beacons(byId(id)).map((b) => b.url), [], 'nothing sent');
  assertNoPageErrors(tab);
}

// The console messages' texts (dist/fbevents.messages.js) are fetched only when the engine first
// says something; if they cannot load, the warning still appears, as its number and arguments.
test('a page that is never warned does not download the messages; one that is, does, once', async () => {
  const id = '4400000000905';
  const tab = await suite.open('/rb-quiet.html', { calls: `fbq('init', '${id}');\nfbq('track', 'PageView');` });
  const fetched = () => tab.page.evaluate(() => performance.getEntriesByType('resource').filter((e) => /fbevents\.messages\.js/.test(e.name)).length);
  try {
    await suite.wait(1, byId(id));
    await suite.settle(byId(id), 300);
    assert.equal(await fetched(), 0, 'no fbevents.messages.js on a page without warnings');
    await tab.page.evaluate(() => { fbq('trak'); fbq('trakk'); });
    await suite.said(tab);
    assert.equal(await fetched(), 1, 'fetched once for two warnings');
    const warnings = fbqMessages(tab, 'warning');
    assert.deepEqual(warnings, ['[fbq] "trak" is not a valid fbq command; ignored.', '[fbq] "trakk" is not a valid fbq command; ignored.']);
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('the messages 404: the warning still appears, as its number and arguments', async () => {
  const id = '4400000000906';
  // The loader and the engine at /nomsg/, without fbevents.messages.js beside them.
  for (const file of ['fbevents.js', 'fbevents.wasm']) {
    const bytes = fs.readFileSync(path.join(distDir, file));
    suite.server.route(`/nomsg/${file}`, (req, res) => {
      res.writeHead(200, { 'content-type': file.endsWith('.js') ? 'text/javascript' : 'application/wasm', 'cache-control': 'no-store' });
      res.end(bytes);
    });
  }
  const tab = await suite.open('/rb-nomsg.html', {
    scriptUrl: suite.url('/nomsg/fbevents.js'),
    calls: `fbq('init', '${id}');\nfbq('trak', 'x');\nfbq('track', 'PageView');`,
  });
  try {
    await suite.wait(1, byId(id));
    let warnings = [];
    for (let i = 0; i < 50 && !warnings.length; i++) {
      await new Promise((r) => setTimeout(r, 100));
      warnings = fbqMessages(tab, 'warning');
    }
    assert.deepEqual(warnings, ['[fbq] #4 trak'], 'Msg::NotACommand (4) with its argument');
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('the wasm 404s: one console.error, fbq keeps queueing, nothing thrown or sent', async () => {
  const id = '4400000000903';
  // The loader alone at /broken/: its fbevents.wasm next to it does not exist.
  const loader = fs.readFileSync(path.join(distDir, 'fbevents.js'));
  suite.server.route('/broken/fbevents.js', (req, res) => {
    res.writeHead(200, { 'content-type': 'text/javascript', 'cache-control': 'no-store' });
    res.end(loader);
  });
  const tab = await suite.open('/rb-404.html', {
    wait: false,
    scriptUrl: suite.url('/broken/fbevents.js'),
    calls: `fbq('init', '${id}');\nfbq('track', 'PageView');`,
  });
  try {
    await assertEngineDown(tab, id);
  } finally {
    await suite.done(tab);
  }
});

test('a CSP without \'wasm-unsafe-eval\' and no fallback beside the loader: one console.error, fbq keeps queueing, nothing thrown or sent', async () => {
  const id = '4400000000904';
  // The loader alone at /broken/ (see the 404 test): no fbevents.fallback.js next to it. With
  // the fallback, the page works: tests/e2e/csp.test.mjs.
  const tab = await suite.open('/rb-csp.html', {
    wait: false,
    scriptUrl: suite.url('/broken/fbevents.js'),
    headers: { 'content-security-policy': "script-src 'self' 'unsafe-inline'" },
    calls: `fbq('init', '${id}');\nfbq('track', 'PageView');`,
  });
  try {
    await assertEngineDown(tab, id);
    assert.match(fbqMessages(tab, 'error')[0], /wasm-unsafe-eval/, 'the error says what the CSP needs');
  } finally {
    await suite.done(tab);
  }
});

test('a strict CSP with \'wasm-unsafe-eval\' and a nonce: the pixel works', async () => {
  const id = '4400000000905';
  const tab = await suite.open('/rb-csp-ok.html', {
    nonce: 'n0nce',
    headers: { 'content-security-policy': "script-src 'nonce-n0nce' 'strict-dynamic' 'wasm-unsafe-eval'; connect-src 'self'; default-src 'self'" },
    calls: `fbq('init', '${id}');\nfbq('track', 'PageView');`,
  });
  try {
    const [b] = await suite.wait(1, byId(id));
    assert.equal(param(b, 'ev'), 'PageView');
    assertNoPageErrors(tab);
    assert.deepEqual(fbqMessages(tab, 'error'), []);
  } finally {
    await suite.done(tab);
  }
});
