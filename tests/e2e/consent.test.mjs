// Consent and Limited Data Use (SPEC §2, consent state in core/src/consent.rs): revoke holds every
// call with no request, no cookie and no storage; grant replays them in order with their original
// time, page and event ID; 'limited' (or honorGPC with Global Privacy Control) sends events with no
// identifiers; dataProcessingOptions sets dpo/dpoco/dpost.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  openSuite, param, paramsOf, names, byId, byEv, all, byEc, assertNoPageErrors, fbqMessages, sha256, UUID_V4, FBP_VALUE,
} from '../support/suite.mjs';
import { PERSONA } from '../support/privacy.mjs';

let suite;
before(async () => {
  suite = await openSuite();
});
after(async () => {
  await suite?.teardown();
});

const GPC = "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true, configurable: true });";

/** Records every request the page makes that could be a beacon. */
function watchRequests(tab) {
  const seen = [];
  tab.page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.pathname === '/tr' || u.pathname === '/tr/' || u.hostname.endsWith('facebook.com')) seen.push(`${r.method()} ${u.href}`);
  });
  return seen;
}

/** Calls `fbq(...args)` in the page and returns [before, after] Date.now() around it. */
const timedCall = (tab, args) =>
  tab.page.evaluate((a) => {
    const t0 = Date.now();
    window.fbq(...a);
    return [t0, Date.now()];
  }, args);

const cookieNames = async (tab) => (await tab.context.cookies()).map((c) => c.name).filter((n) => n.startsWith('_fb'));
const storageSizes = (tab) => tab.page.evaluate(() => [localStorage.length, sessionStorage.length]);

test('revoke before init: every call is held — no request, no _fb* cookie, no storage for 2 s; grant replays in order with original ts, dl and eventIDs', async () => {
  const id = '5500000000001';
  const tab = await suite.open('/consent-held.html', {
    goto: false,
    query: '?fbclid=HeldClick123',
    calls: `fbq('consent', 'revoke');
fbq('init', '${id}', {em: ${JSON.stringify(PERSONA.em)}, ph: ${JSON.stringify(PERSONA.ph)}});
fbq('track', 'PageView');`,
  });
  const requests = watchRequests(tab);
  try {
    await tab.page.goto(tab.url);
    await suite.ready(tab);
    const calls = [
      ['track', 'ViewContent', { content_ids: ['sku-1'] }, { eventID: 'held-vc' }],
      ['track', 'AddToCart', { value: 5, currency: 'USD' }],
      ['trackCustom', 'Wished', { n: 1 }, { event_id: 'held-wish' }],
      ['trackSingle', id, 'Lead'],
    ];
    const windows = [];
    for (const c of calls) {
      windows.push(await timedCall(tab, c));
      await tab.page.waitForTimeout(30);
    }
    // An SPA navigation while revoked: its PageView is held too, with its own URL.
    await tab.page.evaluate(() => history.pushState({}, '', '/consent-held/step-2'));
    await tab.page.waitForTimeout(2000);
    assert.deepEqual(suite.beacons(byId(id)).map((b) => b.url), [], 'no beacon while revoked');
    assert.deepEqual(requests, [], 'no request to any /tr endpoint while revoked');
    assert.deepEqual(await cookieNames(tab), [], 'no _fb* cookie while revoked');
    assert.deepEqual(await storageSizes(tab), [0, 0], 'no localStorage or sessionStorage entry');
    assert.equal(await tab.page.evaluate(() => document.cookie), '', 'document.cookie is empty');

    const [grantAt] = await timedCall(tab, ['consent', 'grant']);
    const got = byEc(await suite.wait(6, byId(id)));
    assert.deepEqual(got.map((b) => param(b, 'ev')), ['PageView', 'ViewContent', 'AddToCart', 'Wished', 'Lead', 'PageView'], 'replayed in call order');
    assert.deepEqual(got.map((b) => param(b, 'ec')), ['0', '1', '2', '3', '4', '5']);
    // Original call times, not the grant time.
    for (let i = 0; i < calls.length; i++) {
      const ts = Number(param(got[i + 1], 'ts'));
      assert.ok(ts >= windows[i][0] && ts <= windows[i][1], `${calls[i][1]}: ts ${ts} is its call time [${windows[i]}], not the grant time ${grantAt}`);
      assert.ok(grantAt - ts >= 2000);
    }
    assert.ok(grantAt - Number(param(got[0], 'ts')) >= 2000, 'the held PageView keeps its time');
    assert.equal(param(got[1], 'eid'), 'held-vc');
    assert.equal(param(got[3], 'eid'), 'held-wish');
    for (const i of [0, 2, 4, 5]) assert.match(param(got[i], 'eid'), UUID_V4);
    assert.equal(param(got[4], 'tm'), '1');
    // Each held call keeps the page it was made on.
    assert.deepEqual(got.map((b) => new URL(param(b, 'dl')).pathname), ['/consent-held.html', '/consent-held.html', '/consent-held.html', '/consent-held.html', '/consent-held.html', '/consent-held/step-2']);
    // Identity comes with consent: advanced matching, and the cookies written now.
    assert.equal(param(got[0], 'ud[em]'), sha256('john.doe@example.com'));
    const cookies = await tab.context.cookies();
    const fbp = cookies.find((c) => c.name === '_fbp');
    const fbc = cookies.find((c) => c.name === '_fbc');
    assert.ok(fbp && fbc, `cookies after grant: ${cookies.map((c) => c.name)}`);
    assert.equal(param(got[0], 'fbp'), fbp.value);
    assert.match(fbp.value, FBP_VALUE);
    assert.equal(param(got[0], 'fbc'), fbc.value);
    assert.match(fbc.value, /^fb\.0\.\d{13}\.HeldClick123$/);
    // After grant, calls go at once.
    await tab.page.evaluate(() => fbq('trackCustom', 'AfterGrant'));
    const [ag] = await suite.wait(1, all(byId(id), byEv('AfterGrant')));
    assert.equal(param(ag, 'ec'), '6');
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('revoke after events were sent: later calls are held until grant, then sent in order', async () => {
  const id = '5500000000002';
  const tab = await suite.open('/consent-later.html', { calls: `fbq('init', '${id}');\nfbq('track', 'PageView');` });
  try {
    await suite.wait(1, byId(id));
    await tab.page.evaluate(() => {
      fbq('consent', 'revoke');
      fbq('trackCustom', 'H1');
      fbq('trackCustom', 'H2');
    });
    assert.equal((await suite.settle(byId(id), 800)).length, 1, 'nothing after revoke');
    await tab.page.evaluate(() => {
      fbq('consent', 'grant');
      fbq('trackCustom', 'Now');
    });
    const got = byEc(await suite.wait(4, byId(id)));
    assert.deepEqual(got.map((b) => param(b, 'ev')), ['PageView', 'H1', 'H2', 'Now']);
    // Revoke again: held again.
    await tab.page.evaluate(() => {
      fbq('consent', 'revoke');
      fbq('trackCustom', 'H3');
    });
    assert.equal((await suite.settle(byId(id), 500)).length, 4);
    await tab.page.evaluate(() => fbq('consent', 'grant'));
    await suite.wait(5, byId(id));
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('consent with an unknown action warns and changes nothing', async () => {
  const id = '5500000000003';
  const tab = await suite.open('/consent-bad.html', {
    calls: `fbq('consent', 'revoke');\nfbq('init', '${id}');\nfbq('consent', 'yes please');\nfbq('track', 'PageView');`,
  });
  try {
    assert.deepEqual(await suite.settle(byId(id), 600), [], 'still revoked');
    assert.ok(fbqMessages(tab, 'warning').some((w) => /consent/.test(w)), fbqMessages(tab).join('\n'));
    await tab.page.evaluate(() => fbq('consent', 'grant'));
    await suite.wait(1, byId(id));
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

/** Opens `path` by following a link from a page whose URL has a query string, with an old _fbp. */
async function openLimited(path, id, calls, { query = '?fbclid=LimitedClick9&utm=x#section', initScript } = {}) {
  const tab = await suite.open(path, { goto: false, query, calls, initScript });
  const from = suite.page(`${path}-from`, `<!doctype html><title>from</title><a id="go" href="${path}${query}">go</a>`);
  const expires = Math.floor(Date.now() / 1000) + 10 * 86400;
  await tab.context.addCookies([{ name: '_fbp', value: 'fb.0.1700000000000.123456789', url: suite.url('/'), expires, sameSite: 'Lax' }]);
  await tab.page.goto(from + '?from=1&secret=2#frag');
  await tab.page.click('#go');
  await suite.ready(tab);
  return { tab, expires, from };
}

/** Asserts a beacon and the cookie jar are what limited mode allows. */
async function assertLimited(tab, b, { expires, from, path, dpoco = '0', dpost = '0' }) {
  const p = paramsOf(b);
  assert.equal(p.fbp, undefined, 'no fbp');
  assert.equal(p.fbc, undefined, 'no fbc');
  assert.deepEqual(names(b).filter((k) => k.startsWith('ud[')), [], 'no ud[...]');
  assert.equal(p.dl, suite.url(path), 'dl without query string or fragment');
  if (from) assert.equal(p.rl, from, 'rl without query string or fragment');
  assert.equal(p.dpo, 'LDU');
  assert.equal(p.dpoco, dpoco);
  assert.equal(p.dpost, dpost);
  const cookies = await tab.context.cookies();
  assert.deepEqual(cookies.filter((c) => c.name === '_fbc'), [], 'no _fbc written');
  const fbp = cookies.filter((c) => c.name === '_fbp');
  assert.equal(fbp.length, 1);
  assert.equal(fbp[0].value, 'fb.0.1700000000000.123456789', '_fbp not rewritten');
  assert.ok(Math.abs(fbp[0].expires - expires) < 5, `_fbp expiry untouched (${fbp[0].expires} vs ${expires})`);
}

test("consent('limited'): no fbp, fbc or ud; dl/rl without query or fragment; dpo=LDU&dpoco=0&dpost=0; no cookie read or written", async () => {
  const id = '5500000000004';
  const path = '/consent-limited.html';
  const { tab, expires, from } = await openLimited(path, id, `fbq('consent', 'limited');
fbq('init', '${id}', {em: ${JSON.stringify(PERSONA.em)}, fn: ${JSON.stringify(PERSONA.fn)}});
fbq('track', 'PageView');
fbq('track', 'Purchase', {value: 20, currency: 'USD'}, {eventID: 'lim-1'});`);
  try {
    const got = byEc(await suite.wait(2, byId(id)));
    for (const b of got) await assertLimited(tab, b, { expires, from, path });
    assert.equal(param(got[1], 'eid'), 'lim-1', 'event IDs still go');
    assert.equal(param(got[1], 'cd[value]'), '20', 'custom data still goes');
    // Granting later restores identifiers.
    await tab.page.evaluate(() => {
      fbq('consent', 'grant');
      fbq('trackCustom', 'Full');
    });
    const [full] = await suite.wait(1, all(byId(id), byEv('Full')));
    assert.equal(param(full, 'fbp'), 'fb.0.1700000000000.123456789', 'the existing _fbp is read once granted');
    assert.equal(param(full, 'ud[em]'), sha256('john.doe@example.com'));
    assert.equal(param(full, 'dpo'), undefined, 'no dpo once granted (never set by the page)');
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test("consent('limited') with dataProcessingOptions(['LDU'], 1, 1000): dpoco=1, dpost=1000", async () => {
  const id = '5500000000005';
  const path = '/consent-limited-geo.html';
  const { tab, expires, from } = await openLimited(path, id, `fbq('dataProcessingOptions', ['LDU'], 1, 1000);
fbq('consent', 'limited');
fbq('init', '${id}');
fbq('track', 'PageView');`);
  try {
    const [b] = await suite.wait(1, byId(id));
    await assertLimited(tab, b, { expires, from, path, dpoco: '1', dpost: '1000' });
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test("consent('limited') after dataProcessingOptions([]): still dpo=LDU&dpoco=0&dpost=0", async () => {
  const id = '5500000000008';
  const path = '/consent-limited-off.html';
  const { tab, expires, from } = await openLimited(path, id, `fbq('dataProcessingOptions', []);
fbq('consent', 'limited');
fbq('init', '${id}');
fbq('track', 'PageView');`);
  try {
    const [b] = await suite.wait(1, byId(id));
    await assertLimited(tab, b, { expires, from, path });
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test("revoke, then 'limited': the held calls replay in limited mode", async () => {
  const id = '5500000000006';
  const path = '/consent-revoke-limited.html';
  const { tab, expires, from } = await openLimited(path, id, `fbq('consent', 'revoke');
fbq('init', '${id}', {ph: ${JSON.stringify(PERSONA.ph)}});
fbq('track', 'PageView');`);
  try {
    assert.deepEqual(await suite.settle(byId(id), 500), []);
    await tab.page.evaluate(() => fbq('consent', 'limited'));
    const [b] = await suite.wait(1, byId(id));
    assert.equal(param(b, 'ev'), 'PageView');
    await assertLimited(tab, b, { expires, from, path });
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

for (const [honor, gpc, limited] of [[true, true, true], [false, true, false], [true, false, false]]) {
  test(`honorGPC ${honor ? 'set' : 'not set'}, navigator.globalPrivacyControl ${gpc}: ${limited ? 'limited' : 'full'} events`, async () => {
    const id = `55000000001${honor ? 1 : 0}${gpc ? 1 : 0}`;
    const path = `/consent-gpc-${honor}-${gpc}.html`;
    const { tab, expires, from } = await openLimited(path, id, `${honor ? "fbq('set', 'honorGPC', true);\n" : ''}fbq('init', '${id}', {em: ${JSON.stringify(PERSONA.em)}});
fbq('track', 'PageView');`, { initScript: gpc ? GPC : undefined });
    try {
      assert.equal(await tab.page.evaluate(() => navigator.globalPrivacyControl === true), gpc);
      const [b] = await suite.wait(1, byId(id));
      if (limited) {
        await assertLimited(tab, b, { expires, from, path });
      } else {
        assert.equal(param(b, 'fbp'), 'fb.0.1700000000000.123456789');
        assert.match(param(b, 'fbc'), /\.LimitedClick9$/);
        assert.equal(param(b, 'ud[em]'), sha256('john.doe@example.com'));
        assert.match(param(b, 'dl'), /\?fbclid=LimitedClick9&utm=x#section$/);
        assert.equal(param(b, 'dpo'), undefined);
      }
      assertNoPageErrors(tab);
    } finally {
      await suite.done(tab);
    }
  });
}

test('dataProcessingOptions: LDU with country/state, LDU alone (geolocate), [] (explicitly off), and none', async () => {
  const id = '5500000000007';
  const tab = await suite.open('/consent-dpo.html', {
    calls: `fbq('init', '${id}');
fbq('trackCustom', 'None');
fbq('dataProcessingOptions', ['LDU'], 1, 1000);
fbq('trackCustom', 'Geo');
fbq('dataProcessingOptions', ['LDU']);
fbq('trackCustom', 'Locate');
fbq('dataProcessingOptions', []);
fbq('trackCustom', 'Off');
fbq('dataProcessingOptions', ['LDU'], '1', '1000');
fbq('trackCustom', 'Strings');`,
  });
  try {
    const got = byEc(await suite.wait(5, byId(id)));
    const dpo = (b) => names(b).filter((k) => k.startsWith('dpo')).map((k) => `${k}=${param(b, k)}`).join('&');
    assert.deepEqual(got.map((b) => [param(b, 'ev'), dpo(b)]), [
      ['None', ''],
      ['Geo', 'dpo=LDU&dpoco=1&dpost=1000'],
      ['Locate', 'dpo=LDU&dpoco=0&dpost=0'],
      ['Off', 'dpo='],
      ['Strings', 'dpo=LDU&dpoco=1&dpost=1000'],
    ]);
    // On the wire, exactly: `dpo=` with an empty value, and the three in a row after `it`.
    assert.match(got[3].query, /&dpo=&eid=/);
    assert.match(got[1].query, /&it=\d+&dpo=LDU&dpoco=1&dpost=1000&eid=/);
    // Cookies are unaffected by LDU (only by consent).
    assert.match(param(got[1], 'fbp'), FBP_VALUE);
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});
