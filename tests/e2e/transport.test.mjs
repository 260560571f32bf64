// How beacons travel (SPEC §4 "Transport"): a GET (fetch keepalive, rqm=FGET) while the URL is
// under 2048 characters, else a POST through navigator.sendBeacon with a form body (rqm=SB),
// falling back to a fetch POST with a text/plain body; never a CORS preflight; a 16 KB cap per
// custom-data value; and a Purchase tracked right before leaving the page still arrives.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  openSuite, param, paramsOf, names, byId, byEv, all, byEc, assertParamOrder, assertNoPageErrors, fbqMessages,
} from '../support/suite.mjs';

let suite;
before(async () => {
  // *.example.test is 127.0.0.1 too: another origin on the same test server.
  suite = await openSuite({ hostResolverRules: 'MAP *.example.test 127.0.0.1' });
});
after(async () => {
  await suite?.teardown();
});

const FORM = /^application\/x-www-form-urlencoded(;|$)/i;

test('a small event is a GET with the parameters in the query string (rqm=FGET)', async () => {
  const id = '2200000000001';
  const tab = await suite.open('/tx-get.html', { calls: `fbq('init', '${id}');\nfbq('track', 'PageView');` });
  try {
    const [b] = await suite.wait(1, byId(id));
    assert.equal(b.method, 'GET');
    assert.equal(b.body, '');
    assert.equal(param(b, 'rqm'), 'FGET');
    assert.equal(b.query.split('&').at(-1), 'rqm=FGET', 'rqm is the last parameter');
    assert.ok((suite.url('/tr/') + '?' + b.query).length < 2048);
    assert.equal(b.url, '/tr/?' + b.query);
    assertParamOrder(b);
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('the 2048-character boundary: endpoint?query of 2047 characters is a GET, 2048 a POST', async () => {
  const id = '2200000000002';
  const tab = await suite.open('/tx-edge.html', {
    calls: `fbq('init', '${id}');\nfbq('trackCustom', 'Edge', {pad: 'a'}, {eventID: 'probe-00'});`,
  });
  try {
    const [probe] = await suite.wait(1, all(byId(id), byEv('Edge')));
    assert.equal(probe.method, 'GET');
    // Everything but cd[pad] and ec keeps its length from one event to the next (same page,
    // same cookie, 13-digit times, eventIDs of the same length, ec a single digit).
    const probeLength = suite.url('/tr/').length + 1 + probe.query.length;
    const pad = (total) => 'a'.repeat(1 + total - probeLength);
    await tab.page.evaluate(([p2047, p2048]) => {
      fbq('trackCustom', 'Edge', { pad: p2047 }, { eventID: 'under-00' });
      fbq('trackCustom', 'Edge', { pad: p2048 }, { eventID: 'at2048-0' });
    }, [pad(2047), pad(2048)]);
    const got = byEc(await suite.wait(3, all(byId(id), byEv('Edge'))));
    const [, under, at] = got;
    assert.equal(param(under, 'eid'), 'under-00');
    assert.equal(under.method, 'GET', '2047 characters: GET');
    assert.equal(suite.url('/tr/').length + 1 + under.query.length, 2047, 'the probe measured the URL exactly');
    assert.equal(param(under, 'rqm'), 'FGET');
    assert.equal(param(at, 'eid'), 'at2048-0');
    assert.equal(at.method, 'POST', '2048 characters: POST');
    assert.equal(param(at, 'rqm'), 'SB');
    assert.equal(param(at, 'cd[pad]'), pad(2048), 'the long value arrived whole');
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('a long event is a sendBeacon POST with an application/x-www-form-urlencoded body (rqm=SB), whole and in order', async () => {
  const id = '2200000000003';
  const long = 'lorem ipsum & dolor=sit ü '.repeat(200); // ~5 KB, with characters that need encoding
  const tab = await suite.open('/tx-post.html', {
    calls: `fbq('init', '${id}');
fbq('track', 'ViewContent', {content_name: ${JSON.stringify(long)}, content_ids: ['a', 'b'], value: 4.2, currency: 'EUR'}, {eventID: 'long-1'});`,
  });
  try {
    const [b] = await suite.wait(1, byId(id));
    assert.equal(b.method, 'POST');
    assert.match(b.contentType, FORM);
    assert.equal(b.query, '', 'nothing in the query string');
    const p = paramsOf(b);
    assert.equal(p['cd[content_name]'], long);
    assert.equal(p['cd[content_ids]'], '["a","b"]');
    assert.equal(p['cd[value]'], '4.2');
    assert.equal(p.eid, 'long-1');
    assert.equal(p.rqm, 'SB');
    assert.equal(p.ev, 'ViewContent');
    assertParamOrder(b);
    assert.deepEqual(names(b).slice(0, 6), ['id', 'ev', 'dl', 'rl', 'if', 'ts']);
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

for (const [label, script] of [
  ['returns false', 'Navigator.prototype.sendBeacon = function () { return false; };'],
  ['throws', "Navigator.prototype.sendBeacon = function () { throw new TypeError('nope'); };"],
  ['is missing', 'delete Navigator.prototype.sendBeacon;'],
]) {
  // On another origin: a first-party endpoint goes through the outbox's fetch, not sendBeacon.
  test(`when sendBeacon ${label}, a long event to another origin falls back to a fetch POST with a text/plain body`, async () => {
    const id = label === 'returns false' ? '2200000000004' : label === 'throws' ? '2200000000005' : '2200000000006';
    const long = 'x'.repeat(3000);
    const endpoint = `http://collect.example.test:${suite.server.port}/tr/`;
    const tab = await suite.open(`/tx-fallback-${id}.html`, {
      initScript: script,
      endpoint: false,
      calls: `fbq('set', 'endpoint', ${JSON.stringify(endpoint)});\nfbq('init', '${id}');\nfbq('trackCustom', 'Big', {blob: '${long}', n: 7}, {eventID: 'fb-${id}'});`,
    });
    try {
      const [b] = await suite.wait(1, byId(id));
      assert.equal(b.method, 'POST');
      assert.match(b.contentType, /^text\/plain(;|$)/i, `content-type ${b.contentType}`);
      const p = paramsOf(b);
      assert.equal(p['cd[blob]'], long);
      assert.equal(p['cd[n]'], '7');
      assert.equal(p.eid, `fb-${id}`);
      assert.ok(p.rqm, 'rqm says which transport');
      assertParamOrder(b);
      assert.equal(suite.beacons(byId(id)).length, 1, 'sent once');
      assertNoPageErrors(tab);
    } finally {
      await suite.done(tab);
    }
  });
}

test('cross-origin endpoint: GET and POST beacons arrive without any CORS preflight', async () => {
  const id = '2200000000007';
  // The page is on 127.0.0.1, the collector on collect.example.test: another origin.
  const endpoint = `http://collect.example.test:${suite.server.port}/tr/`;
  const before = suite.server.preflights().length;
  const tab = await suite.open('/tx-cors.html', {
    endpoint: false,
    calls: `fbq('set', 'endpoint', ${JSON.stringify(endpoint)});
fbq('init', '${id}');
fbq('track', 'PageView');
fbq('trackCustom', 'Big', {blob: '${'y'.repeat(4000)}'});`,
  });
  try {
    const got = await suite.wait(2, byId(id));
    assert.deepEqual(got.map((b) => [param(b, 'ev'), b.method]).sort(), [['Big', 'POST'], ['PageView', 'GET']]);
    for (const b of got) assert.equal(param(b, 'dl'), suite.url('/tx-cors.html'));
    await suite.settle();
    assert.equal(suite.server.preflights().length - before, 0, 'no OPTIONS preflight');
    assert.deepEqual(tab.blocked, []);
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('a custom-data value over 16 KB is dropped with a warning; the event and its other values still go', async () => {
  const id = '2200000000008';
  const tab = await suite.open('/tx-16k.html', {
    calls: `fbq('init', '${id}');
fbq('trackCustom', 'Over', {keep: 'yes', huge: 'h'.repeat(16 * 1024 + 1), after: 1});
fbq('trackCustom', 'Exact', {keep: 'yes', edge: 'e'.repeat(16 * 1024)});`,
  });
  try {
    const [over] = await suite.wait(1, all(byId(id), byEv('Over')));
    const p = paramsOf(over);
    assert.equal(p['cd[keep]'], 'yes');
    assert.equal(p['cd[after]'], '1');
    assert.ok(!('cd[huge]' in p), 'the 16 KB + 1 value is dropped');
    await suite.said(tab);
    const warnings = fbqMessages(tab, 'warning').filter((w) => w.includes('huge'));
    assert.equal(warnings.length, 1, fbqMessages(tab).join('\n'));
    assert.ok(!warnings[0].includes('hhhhhhhh'), 'the warning does not print the value');
    const [exact] = await suite.wait(1, all(byId(id), byEv('Exact')));
    assert.equal(param(exact, 'cd[edge]'), 'e'.repeat(16 * 1024), 'exactly 16 KB is kept');
    assert.equal(exact.method, 'POST');
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('an event bigger than sendBeacon\'s 64 KB budget still arrives whole', async () => {
  const id = '2200000000009';
  const tab = await suite.open('/tx-huge.html', {
    calls: `fbq('init', '${id}');
var cd = {};
for (var i = 0; i < 6; i++) cd['part' + i] = String(i).repeat(15000);
fbq('trackCustom', 'Huge', cd, {eventID: 'huge-1'});`,
  });
  try {
    const [b] = await suite.wait(1, byId(id), 8000);
    assert.equal(b.method, 'POST');
    const p = paramsOf(b);
    for (let i = 0; i < 6; i++) assert.equal(p[`cd[part${i}]`], String(i).repeat(15000), `cd[part${i}] whole`);
    assert.equal(p.eid, 'huge-1');
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

for (const size of ['small', 'large']) {
  test(`a ${size} Purchase tracked right before location.href = another page still arrives`, async () => {
    const id = size === 'small' ? '2200000000010' : '2200000000011';
    const extra = size === 'large' ? `, note: '${'n'.repeat(5000)}'` : '';
    suite.page(`/tx-next-${size}.html`, '<!doctype html><title>next</title><p>thanks</p>');
    const tab = await suite.open(`/tx-leave-${size}.html`, {
      calls: `fbq('init', '${id}');`,
      body: `<button id="buy" onclick="fbq('track', 'Purchase', {value: 99.5, currency: 'USD'${extra}}, {eventID: 'leave-${size}'}); location.href = '/tx-next-${size}.html';">buy</button>`,
    });
    try {
      await Promise.all([tab.page.waitForURL(`**/tx-next-${size}.html`), tab.page.click('#buy')]);
      const [b] = await suite.wait(1, all(byId(id), byEv('Purchase')));
      assert.equal(param(b, 'eid'), `leave-${size}`);
      assert.equal(param(b, 'cd[value]'), '99.5');
      assert.equal(b.method, size === 'small' ? 'GET' : 'POST');
      if (size === 'large') assert.equal(param(b, 'cd[note]'), 'n'.repeat(5000));
      assertNoPageErrors(tab);
    } finally {
      await suite.done(tab);
    }
  });
}

test('a Purchase tracked in the same task as a cross-origin navigation still arrives', async () => {
  const id = '2200000000012';
  // Leaving for another origin tears the page down at once; only a keepalive request survives.
  const away = `http://away.example.test:${suite.server.port}/tx-away.html`;
  suite.page('/tx-away.html', '<!doctype html><title>away</title>');
  const tab = await suite.open('/tx-leave-cross.html', { calls: `fbq('init', '${id}');` });
  try {
    await tab.page.evaluate((url) => {
      fbq('track', 'Purchase', { value: 1, currency: 'USD' }, { eventID: 'cross-leave' });
      location.replace(url);
    }, away);
    await tab.page.waitForURL(away);
    const [b] = await suite.wait(1, all(byId(id), byEv('Purchase')));
    assert.equal(param(b, 'eid'), 'cross-leave');
  } finally {
    await suite.done(tab);
  }
});

// Issue #23: a `fetch` costs the main thread 1-2 ms, which inside a click handler lands in the
// interaction's Interaction to Next Paint. Inside an event's handler the engine does its work
// (event, cookies) at once, and the request goes after the next frame.
const COUNT_CALLS = `(() => {
  const n = window.__calls = { fetch: 0, beacon: 0, storage: 0 };
  const count = (k, f) => function () { n[k]++; return f.apply(this, arguments); };
  window.fetch = count('fetch', window.fetch);
  Navigator.prototype.sendBeacon = count('beacon', Navigator.prototype.sendBeacon);
  Storage.prototype.setItem = count('storage', Storage.prototype.setItem);
})();`;
for (const where of ['first-party', 'cross-origin']) {
  test(`inside a click handler (${where} endpoint), fbq('track') makes no network or storage call; the beacon follows`, async () => {
    const id = where === 'first-party' ? '2200000000016' : '2200000000017';
    const endpoint = where === 'first-party' ? '' : `fbq('set', 'endpoint', 'http://other.example.test:${suite.server.port}/tr/');\n`;
    const tab = await suite.open(`/tx-click-${where}.html`, {
      calls: `${endpoint}fbq('init', '${id}');`,
      initScript: COUNT_CALLS,
      body: `<button id="buy">Add to cart</button><script>
        document.getElementById('buy').addEventListener('click', function () {
          var before = JSON.stringify(window.__calls);
          fbq('track', 'AddToCart', { value: 3, currency: 'USD' }, { eventID: 'click-${where}' });
          window.__inHandler = [before, JSON.stringify(window.__calls)];
        });
      </script>`,
    });
    try {
      await tab.page.click('#buy');
      const [b] = await suite.wait(1, all(byId(id), byEv('AddToCart')));
      assert.equal(param(b, 'eid'), `click-${where}`);
      const [before, after] = await tab.page.evaluate(() => window.__inHandler);
      assert.equal(after, before, 'no fetch, sendBeacon or setItem inside the handler');
      assertNoPageErrors(tab);
    } finally {
      await suite.done(tab);
    }
  });
}

test('a Purchase tracked in a link\'s click handler, then the link leaves for another origin: 20 of 20 arrive', async (t) => {
  const id = '2200000000018';
  const away = `http://away.example.test:${suite.server.port}/tx-away.html`;
  suite.page('/tx-away.html', '<!doctype html><title>away</title>');
  const tab = await suite.open('/tx-link.html', {
    calls: `fbq('init', '${id}');`,
    goto: false,
    body: `<a id="go" href="${away}">Pay</a><script>
      document.getElementById('go').addEventListener('click', function () {
        fbq('track', 'Purchase', { value: 1, currency: 'USD' }, { eventID: 'link-' + location.hash.slice(1) });
      });
    </script>`,
  });
  const runs = 20;
  try {
    for (let i = 0; i < runs; i++) {
      await tab.page.goto(`${tab.url}#${i}`);
      await suite.ready(tab);
      await tab.page.click('#go');
      await tab.page.waitForURL(away);
    }
    await suite.wait(runs, all(byId(id), byEv('Purchase')), 10000).catch(() => {});
    const eids = new Set(suite.beacons(all(byId(id), byEv('Purchase'))).map((b) => param(b, 'eid')));
    t.diagnostic(`delivered ${eids.size}/${runs}; missing: ${[...Array(runs).keys()].filter((i) => !eids.has(`link-${i}`)).join(", ")}`);
    assert.equal(eids.size, runs);
  } finally {
    await suite.done(tab);
  }
});

// Discriminating version: six requests that never finish fill the connection pool of the page's
// origin, so the beacon waits in the page's queue; closing the page then cancels every request
// that is not keepalive. Only a keepalive fetch (or sendBeacon) survives to reach the server.
for (const size of ['small', 'large']) {
  test(`a ${size} Purchase queued behind a busy connection pool survives the page closing (keepalive)`, async () => {
    const id = size === 'small' ? '2200000000014' : '2200000000015';
    const hung = [];
    suite.server.route(`/tx-hang-${size}`, (req, res) => hung.push(res));
    const tab = await suite.open(`/tx-close-${size}.html`, { calls: `fbq('init', '${id}');` });
    try {
      await tab.page.evaluate(async (path) => {
        for (let i = 0; i < 6; i++) fetch(path + '?' + i).catch(() => {});
        await new Promise((r) => setTimeout(r, 300));
      }, `/tx-hang-${size}`);
      assert.equal(hung.length, 6, 'the pool is busy');
      await tab.page.evaluate((extra) => {
        fbq('track', 'Purchase', { value: 5, currency: 'USD', note: extra }, { eventID: 'closing' });
      }, size === 'large' ? 'q'.repeat(4000) : 'short');
      await tab.page.close();
      const [b] = await suite.wait(1, all(byId(id), byEv('Purchase')));
      assert.equal(param(b, 'eid'), 'closing');
      assert.equal(b.method, size === 'small' ? 'GET' : 'POST');
    } finally {
      for (const res of hung) res.end();
      await suite.done(tab);
    }
  });
}

test('Meta\'s default endpoint: GET to https://www.facebook.com/tr/ and POST for long events', async () => {
  const id = '2200000000013';
  const tab = await suite.open('/tx-meta.html', {
    endpoint: false,
    calls: `fbq('init', '${id}');
fbq('track', 'PageView');
fbq('trackCustom', 'Long', {blob: '${'z'.repeat(3000)}'});`,
  });
  try {
    const got = await suite.wait(2, byId(id));
    const pv = got.find(byEv('PageView'));
    const long = got.find(byEv('Long'));
    assert.equal(pv.via, 'intercept');
    assert.equal(pv.path, '/tr/');
    assert.equal(pv.method, 'GET');
    assert.equal(long.via, 'intercept');
    assert.equal(long.path, '/tr/');
    assert.equal(long.method, 'POST');
    assert.match(long.contentType, FORM);
    assert.equal(param(long, 'cd[blob]'), 'z'.repeat(3000));
    assert.deepEqual(tab.blocked, [], 'nothing else left the machine');
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});
