// First-party identity cookies (SPEC §5): _fbp and _fbc values, their attributes (90 days,
// SameSite=Lax, path /, Secure on https), the broadest domain that sticks, reuse and refresh,
// fbclid replacement, and set('firstPartyCookies', false).
//
// Real-looking domains come from Chromium's --host-resolver-rules (every *.example.test name is
// 127.0.0.1); `test` is not on the public suffix list, so the broadest domain Chromium accepts
// for shop.example.test is example.test (subdomain index 1): a cookie on the bare `test` is refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { openSuite, param, byId, byEv, all, byEc, assertNoPageErrors, FBP_VALUE } from '../support/suite.mjs';
import { serveOverHttps } from '../support/https.mjs';

let suite;
before(async () => {
  suite = await openSuite({ hostResolverRules: 'MAP *.example.test 127.0.0.1' });
});
after(async () => {
  await suite?.teardown();
});

const NINETY_DAYS = 90 * 86400;
const fbCookies = async (tab) => (await tab.context.cookies()).filter((c) => c.name.startsWith('_fb'));
const cookie = async (tab, name) => (await tab.context.cookies()).filter((c) => c.name === name);

function assertAttributes(c, { domain, secure = false }) {
  assert.equal(c.domain, domain, `${c.name} domain`);
  assert.equal(c.path, '/', `${c.name} path`);
  assert.equal(c.sameSite, 'Lax', `${c.name} SameSite`);
  assert.equal(c.secure, secure, `${c.name} Secure`);
  assert.equal(c.httpOnly, false, `${c.name} is a document cookie`);
  const want = Date.now() / 1000 + NINETY_DAYS;
  assert.ok(Math.abs(c.expires - want) < 300, `${c.name} expires in 90 days (${c.expires} vs ${want})`);
}

test('on 127.0.0.1: a host-only _fbp = fb.0.<ms>.<digits>, equal to fbp, 90 days, Lax, path /, stable across pages', async () => {
  const id = '6600000000001';
  const t0 = Date.now();
  const tab = await suite.open('/ck-ip.html', { calls: `fbq('init', '${id}');\nfbq('track', 'PageView');\nfbq('trackCustom', 'Second');` });
  try {
    const got = byEc(await suite.wait(2, byId(id)));
    const jar = await cookie(tab, '_fbp');
    assert.equal(jar.length, 1, 'exactly one _fbp');
    const [c] = jar;
    assertAttributes(c, { domain: '127.0.0.1' });
    const m = FBP_VALUE.exec(c.value);
    assert.ok(m, `_fbp value ${c.value}`);
    assert.equal(m[1], '0', 'subdomain index 0 on an IP address');
    assert.ok(Number(m[2]) >= t0 - 1000 && Number(m[2]) <= Date.now(), 'creation time in ms');
    for (const b of got) assert.equal(param(b, 'fbp'), c.value, 'fbp is the cookie');
    assert.equal(param(got[0], 'fbc'), undefined, 'no fbc without fbclid');
    assert.deepEqual((await fbCookies(tab)).map((x) => x.name), ['_fbp'], 'no _fbc without fbclid');
    // Another page of the same site: the same browser ID.
    await suite.open('/ck-ip-2.html', { tab, calls: `fbq('init', '${id}');\nfbq('trackCustom', 'NextPage');` });
    const [next] = await suite.wait(1, all(byId(id), byEv('NextPage')));
    assert.equal(param(next, 'fbp'), c.value);
    assert.equal((await cookie(tab, '_fbp')).length, 1);
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('an existing _fbp is reused and rewritten with a fresh 90-day expiry', async () => {
  const id = '6600000000002';
  const tab = await suite.open('/ck-reuse.html', { goto: false, calls: `fbq('init', '${id}');\nfbq('track', 'PageView');` });
  try {
    const old = 'fb.0.1600000000000.987654321';
    await tab.context.addCookies([{ name: '_fbp', value: old, url: suite.url('/'), expires: Math.floor(Date.now() / 1000) + 86400, sameSite: 'Lax' }]);
    await tab.page.goto(tab.url);
    const [b] = await suite.wait(1, byId(id));
    assert.equal(param(b, 'fbp'), old);
    const jar = await cookie(tab, '_fbp');
    assert.equal(jar.length, 1);
    assert.equal(jar[0].value, old);
    assertAttributes(jar[0], { domain: '127.0.0.1' });
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('?fbclid=X: _fbc = fb.0.<ms>.X equal to fbc; the same fbclid keeps it; a different one replaces it; none keeps it', async () => {
  const id = '6600000000003';
  const calls = `fbq('init', '${id}');\nfbq('trackCustom', 'Visit', {n: location.pathname});`;
  const t0 = Date.now();
  const tab = await suite.open('/ck-fbc-1.html', { query: '?fbclid=IwAR-AbC_123xyz&utm_source=fb', calls });
  try {
    const [first] = await suite.wait(1, all(byId(id), (b) => param(b, 'cd[n]') === '/ck-fbc-1.html'));
    let [c] = await cookie(tab, '_fbc');
    assert.ok(c, '_fbc written');
    const m = /^fb\.0\.(\d{13})\.IwAR-AbC_123xyz$/.exec(c.value);
    assert.ok(m, `_fbc value ${c.value} keeps the fbclid as is`);
    assert.ok(Number(m[1]) >= t0 - 1000 && Number(m[1]) <= Date.now());
    assert.equal(param(first, 'fbc'), c.value);
    assertAttributes(c, { domain: '127.0.0.1' });
    const firstValue = c.value;

    // Same fbclid again (e.g. a reload): unchanged, creation time kept.
    await new Promise((r) => setTimeout(r, 20));
    await suite.open('/ck-fbc-2.html', { tab, query: '?fbclid=IwAR-AbC_123xyz', calls });
    const [same] = await suite.wait(1, all(byId(id), (b) => param(b, 'cd[n]') === '/ck-fbc-2.html'));
    assert.equal(param(same, 'fbc'), firstValue);
    [c] = await cookie(tab, '_fbc');
    assert.equal(c.value, firstValue);

    // A new click: replaced.
    await suite.open('/ck-fbc-3.html', { tab, query: '?fbclid=SecondClick777', calls });
    const [third] = await suite.wait(1, all(byId(id), (b) => param(b, 'cd[n]') === '/ck-fbc-3.html'));
    [c] = await cookie(tab, '_fbc');
    assert.match(c.value, /^fb\.0\.\d{13}\.SecondClick777$/);
    assert.equal(param(third, 'fbc'), c.value);
    assert.equal((await cookie(tab, '_fbc')).length, 1, 'one _fbc');

    // No fbclid: the stored click ID keeps going out.
    await suite.open('/ck-fbc-4.html', { tab, calls });
    const [fourth] = await suite.wait(1, all(byId(id), (b) => param(b, 'cd[n]') === '/ck-fbc-4.html'));
    assert.equal(param(fourth, 'fbc'), c.value);
    // The browser ID never changed on the way.
    const fbps = new Set([first, same, third, fourth].map((b) => param(b, 'fbp')));
    assert.equal(fbps.size, 1);
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('an fbclid over 500 characters is ignored', async () => {
  const id = '6600000000004';
  const tab = await suite.open('/ck-long-fbclid.html', { query: `?fbclid=${'L'.repeat(501)}`, calls: `fbq('init', '${id}');\nfbq('track', 'PageView');` });
  try {
    const [b] = await suite.wait(1, byId(id));
    assert.equal(param(b, 'fbc'), undefined);
    assert.deepEqual(await cookie(tab, '_fbc'), []);
    assert.match(param(b, 'fbp'), FBP_VALUE);
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('shop.example.test: both cookies on .example.test with subdomain index 1, shared with www.example.test', async () => {
  const id = '6600000000005';
  const shop = `http://shop.example.test:${suite.server.port}`;
  const www = `http://www.example.test:${suite.server.port}`;
  const calls = `fbq('init', '${id}');\nfbq('trackCustom', 'Host', {h: location.hostname});`;
  const tab = await suite.open('/ck-domain.html', { origin: shop, query: '?fbclid=DomainClick1', calls });
  try {
    const [b] = await suite.wait(1, all(byId(id), (x) => param(x, 'cd[h]') === 'shop.example.test'));
    const jar = await fbCookies(tab);
    assert.deepEqual(jar.map((c) => `${c.name}@${c.domain}`).sort(), ['_fbc@.example.test', '_fbp@.example.test'], 'only on the broadest domain that sticks (no host-only or probe leftovers)');
    const fbp = jar.find((c) => c.name === '_fbp');
    const fbc = jar.find((c) => c.name === '_fbc');
    assertAttributes(fbp, { domain: '.example.test' });
    assertAttributes(fbc, { domain: '.example.test' });
    assert.match(fbp.value, /^fb\.1\.\d{13}\.\d+$/);
    assert.match(fbc.value, /^fb\.1\.\d{13}\.DomainClick1$/);
    assert.equal(param(b, 'fbp'), fbp.value);
    assert.equal(param(b, 'fbc'), fbc.value);
    // Another subdomain of the same site reads the same cookies.
    await suite.open('/ck-domain.html', { tab, origin: www, calls });
    const [w] = await suite.wait(1, all(byId(id), (x) => param(x, 'cd[h]') === 'www.example.test'));
    assert.equal(param(w, 'fbp'), fbp.value, 'same browser ID on www.example.test');
    assert.equal(param(w, 'fbc'), fbc.value);
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('a deeper host (a.b.shop.example.test) also lands on .example.test with index 1', async () => {
  const id = '6600000000006';
  const tab = await suite.open('/ck-deep.html', { origin: `http://a.b.shop.example.test:${suite.server.port}`, calls: `fbq('init', '${id}');\nfbq('track', 'PageView');` });
  try {
    const [b] = await suite.wait(1, byId(id));
    const jar = await fbCookies(tab);
    assert.deepEqual(jar.map((c) => `${c.name}@${c.domain}`), ['_fbp@.example.test']);
    assert.match(jar[0].value, /^fb\.1\./);
    assert.equal(param(b, 'fbp'), jar[0].value);
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('on https: the cookies are Secure (and still Lax, path /, 90 days, on .example.test)', async () => {
  const id = '6600000000007';
  const tab = await suite.open('/ck-https.html', {
    goto: false,
    origin: 'https://secure.example.test',
    query: '?fbclid=SecureClick5',
    calls: `fbq('init', '${id}');\nfbq('track', 'PageView');`,
  });
  try {
    await serveOverHttps(tab.context, suite.server, 'secure.example.test');
    await tab.page.goto(tab.url);
    await suite.ready(tab);
    assert.equal(await tab.page.evaluate(() => location.protocol + isSecureContext), 'https:true');
    const [b] = await suite.wait(1, byId(id));
    assert.equal(param(b, 'dl'), 'https://secure.example.test/ck-https.html?fbclid=SecureClick5');
    const jar = await fbCookies(tab);
    assert.deepEqual(jar.map((c) => c.name).sort(), ['_fbc', '_fbp']);
    for (const c of jar) assertAttributes(c, { domain: '.example.test', secure: true });
    assert.equal(param(b, 'fbp'), jar.find((c) => c.name === '_fbp').value);
    assert.match(param(b, 'fbc'), /^fb\.1\.\d{13}\.SecureClick5$/);
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test("set('firstPartyCookies', false): no _fb* cookie, no fbp or fbc parameter", async () => {
  const id = '6600000000008';
  const tab = await suite.open('/ck-off.html', {
    query: '?fbclid=OffClick',
    calls: `fbq('set', 'firstPartyCookies', false);\nfbq('init', '${id}');\nfbq('track', 'PageView');\nfbq('trackCustom', 'More');`,
  });
  try {
    const got = await suite.wait(2, byId(id));
    for (const b of got) {
      assert.equal(param(b, 'fbp'), undefined);
      assert.equal(param(b, 'fbc'), undefined);
    }
    await suite.settle(() => false, 200);
    assert.deepEqual(await fbCookies(tab), []);
    assert.equal(await tab.page.evaluate(() => document.cookie), '');
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test("set('firstPartyCookies', false, id): only that pixel goes without fbp/fbc", async () => {
  const [a, b] = ['6600000000009', '6600000000010'];
  const tab = await suite.open('/ck-off-one.html', {
    query: '?fbclid=OneClick',
    calls: `fbq('init', '${a}');\nfbq('init', '${b}');\nfbq('set', 'firstPartyCookies', false, '${a}');\nfbq('track', 'PageView');`,
  });
  try {
    const got = await suite.wait(2, (x) => byId(a)(x) || byId(b)(x));
    const pa = got.find(byId(a));
    const pb = got.find(byId(b));
    assert.equal(param(pa, 'fbp'), undefined);
    assert.equal(param(pa, 'fbc'), undefined);
    const [fbp] = await cookie(tab, '_fbp');
    assert.ok(fbp, 'the other pixel still has its cookie');
    assert.equal(param(pb, 'fbp'), fbp.value);
    assert.match(param(pb, 'fbc'), /\.OneClick$/);
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});
