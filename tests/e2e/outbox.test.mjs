// The outbox (issue #10; src/host.js and www/outbox.js): first-party beacons that the endpoint did
// not acknowledge are kept in localStorage and retried — across page loads, on `online`, honouring
// Retry-After, dropping a 4xx, bounded, expiring after 7 days, never while consent is revoked —
// each arriving once. Against the test server's /tr, made to fail on demand (tests/support/server.mjs).
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { openSuite, param, byId, byEv, all, assertNoPageErrors, fbqMessages } from '../support/suite.mjs';
import { until } from '../support/collector.mjs';

let suite;
before(async () => {
  suite = await openSuite();
});
afterEach(() => suite.server.failBeacons(null));
after(async () => {
  await suite?.teardown();
});

const KEY = '_fbq_ob.';
const outboxKeys = (tab) => tab.page.evaluate((k) => Object.keys(localStorage).filter((x) => x.startsWith(k)), KEY);
const refusedFor = (id) => suite.server.refused().filter((r) => r.url.includes(`id=${id}&`) || r.url === '/tr/');
const track = (n, prefix) =>
  Array.from({ length: n }, (_, i) => `fbq('track', 'ViewContent', {content_ids: ['${prefix}-${i}']}, {eventID: '${prefix}-${i}'});`).join('\n');

/** Asserts that every event ID in `eids` arrived exactly once for pixel `id`, and nothing else. */
async function assertEachOnce(id, eids, timeoutMs = 30000) {
  const got = await suite.wait(eids.length, all(byId(id), byEv('ViewContent')), timeoutMs);
  await suite.settle(() => true, 1500); // a late duplicate would show up here
  const seen = suite.beacons(all(byId(id), byEv('ViewContent'))).map((b) => param(b, 'eid')).sort();
  assert.deepEqual(seen, eids.slice().sort(), `each event once (${got.length} arrived)`);
}

test('endpoint down (503, then connection dropped) across three page loads, 20 events, then up: all 20 arrive, each once', async (t) => {
  const id = '7700000000001';
  const eids = [];
  suite.server.failBeacons({ status: 503 });
  let tab;
  const loads = [['a', 7, { status: 503 }], ['b', 7, { status: 503 }], ['c', 6, { reset: true }]];
  for (const [prefix, n, failure] of loads) {
    suite.server.failBeacons(failure);
    const before = suite.server.refused().length;
    tab = await suite.open(`/ob-down-${prefix}.html`, { tab, calls: `fbq('init', '${id}');\n${track(n, `down-${prefix}`)}` });
    for (let i = 0; i < n; i++) eids.push(`down-${prefix}-${i}`);
    await until(`page ${prefix}'s ${n} events refused`, () => suite.server.refused().length - before >= n);
    await tab.page.waitForTimeout(300); // the outbox records the failures
  }
  assert.equal(suite.beacons(byId(id)).length, 0, 'nothing acknowledged during the outage');
  assert.equal((await outboxKeys(tab)).length, 20, 'the 20 events wait in localStorage');
  const t0 = Date.now();
  suite.server.failBeacons(null);
  await assertEachOnce(id, eids);
  t.diagnostic(`20/20 delivered once each, ${Date.now() - t0} ms after the endpoint came back; ${refusedFor(id).length} failed attempts before`);
  await until('the outbox empty', async () => (await outboxKeys(tab)).length === 0, 5000);
  assertNoPageErrors(tab);
  await suite.done(tab);
});

test('offline while the page stays loaded (context.setOffline), then back online: all arrive once', async (t) => {
  const id = '7700000000002';
  const tab = await suite.open('/ob-offline.html', { calls: `fbq('init', '${id}');` });
  try {
    await tab.context.setOffline(true);
    await tab.page.evaluate((js) => Function(js)(), track(10, 'off'));
    await until('10 entries in the outbox', async () => (await outboxKeys(tab)).length === 10, 5000);
    await tab.page.waitForTimeout(1500); // retries fail meanwhile
    assert.equal(suite.beacons(byId(id)).length, 0);
    const t0 = Date.now();
    await tab.context.setOffline(false);
    await assertEachOnce(id, Array.from({ length: 10 }, (_, i) => `off-${i}`));
    t.diagnostic(`10/10 delivered once each, ${Date.now() - t0} ms after going back online`);
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('consent revoked: nothing stored, nothing sent, even by the outbox; grant: held events go out, and only then the outbox is used', async () => {
  const id = '7700000000003';
  suite.server.failBeacons({ status: 503 });
  const tab = await suite.open('/ob-consent.html', {
    calls: `fbq('consent', 'revoke');\nfbq('init', '${id}');\n${track(4, 'held')}`,
  });
  try {
    await tab.page.waitForTimeout(1000);
    const storage = () => tab.page.evaluate(() => [localStorage.length, sessionStorage.length]);
    assert.deepEqual(await storage(), [0, 0], 'no storage while revoked');
    assert.equal(refusedFor(id).length + suite.beacons(byId(id)).length, 0, 'no request while revoked');

    await tab.page.evaluate(() => fbq('consent', 'grant'));
    await until('the 4 held events tried', () => refusedFor(id).length >= 4, 5000);
    await until('the outbox in use after grant', async () => (await outboxKeys(tab)).length === 4, 5000);

    // Revoked again with events waiting: the outbox neither sends nor writes.
    await tab.page.evaluate(() => fbq('consent', 'revoke'));
    const snapshot = await tab.page.evaluate(() => JSON.stringify(Object.entries(localStorage).sort()));
    suite.server.failBeacons(null);
    await tab.page.evaluate(() => window.dispatchEvent(new Event('online')));
    await tab.page.waitForTimeout(2500);
    assert.equal(suite.beacons(byId(id)).length, 0, 'nothing sent while revoked');
    assert.equal(await tab.page.evaluate(() => JSON.stringify(Object.entries(localStorage).sort())), snapshot, 'storage untouched while revoked');

    // A call after the grant sends a beacon, which wakes the outbox.
    await tab.page.evaluate(() => {
      fbq('consent', 'grant');
      fbq('track', 'ViewContent', {}, { eventID: 'held-4' });
    });
    await assertEachOnce(id, ['held-0', 'held-1', 'held-2', 'held-3', 'held-4']);
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('consent limited: failed events are retried from memory, nothing is written to storage', async () => {
  const id = '7700000000004';
  suite.server.failBeacons({ status: 503 });
  const tab = await suite.open('/ob-limited.html', { calls: `fbq('consent', 'limited');\nfbq('init', '${id}');\n${track(3, 'lim')}` });
  try {
    await until('3 refused', () => refusedFor(id).length >= 3, 5000);
    await tab.page.waitForTimeout(500);
    assert.deepEqual(await tab.page.evaluate(() => [localStorage.length, sessionStorage.length]), [0, 0]);
    suite.server.failBeacons(null);
    await assertEachOnce(id, ['lim-0', 'lim-1', 'lim-2']);
    for (const b of suite.beacons(byId(id))) assert.equal(param(b, 'dpo'), 'LDU');
    assert.equal(await tab.page.evaluate(() => localStorage.length), 0);
  } finally {
    await suite.done(tab);
  }
});

test('Retry-After is honoured; a 4xx other than 408/429 is final (dropped with a warning)', async (t) => {
  const id = '7700000000005';
  suite.server.failBeacons({ status: 503, retryAfter: 3 });
  const tab = await suite.open('/ob-retry-after.html', { calls: `fbq('init', '${id}');\n${track(1, 'ra')}` });
  try {
    await until('the first attempt', () => refusedFor(id).length >= 1, 5000);
    const first = refusedFor(id)[0].receivedAt;
    await tab.page.waitForTimeout(200);
    suite.server.failBeacons(null);
    const [b] = await suite.wait(1, byId(id), 10000);
    const waited = b.receivedAt - first;
    t.diagnostic(`retried ${Math.round(waited)} ms after a 503 with Retry-After: 3`);
    assert.ok(waited >= 2900, `retried after ${waited} ms, before the Retry-After of 3 s`);

    suite.server.failBeacons({ status: 400 });
    const before = refusedFor(id).length;
    await tab.page.evaluate(() => fbq('track', 'ViewContent', {}, { eventID: 'bad-1' }));
    await until('the 400', () => refusedFor(id).length > before, 5000);
    await tab.page.waitForTimeout(2500);
    assert.equal(refusedFor(id).length - before, 1, 'a 400 is not retried');
    assert.deepEqual(await outboxKeys(tab), [], 'and not kept');
    assert.ok(fbqMessages(tab, 'warning').some((m) => /refused an event \(HTTP 400\)/.test(m)), 'a warning says so');
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('the outbox is bounded (oldest dropped, with a warning) and entries expire after 7 days', async () => {
  const id = '7700000000006';
  const origin = suite.url('/');
  const day = 864e5;
  // Two entries an earlier page left: one 8 days old, one 1 day old.
  const left = (name, age) => {
    const k = `${KEY}${name}`;
    const b = `id=${id}&ev=ViewContent&dl=${encodeURIComponent(origin)}&ts=${Date.now() - age}&eid=${name}`;
    return [k, JSON.stringify({ k, u: `${origin}tr/`, b, p: 0, t: Date.now() - age, a: 3, w: 0, c: 0 })];
  };
  const entries = [left('old-8d', 8 * day), left('kept-1d', day)];
  const tab = await suite.open('/ob-bounds.html', {
    initScript: `if (!sessionStorage.seeded) { sessionStorage.seeded = 1; for (const [k, v] of ${JSON.stringify(entries)}) localStorage.setItem(k, v); }`,
    calls: `fbq('init', '${id}');\nfbq('track', 'ViewContent', {}, {eventID: 'fresh'});`,
  });
  try {
    // The next page load sends what is left, except what is over 7 days old.
    await assertEachOnce(id, ['kept-1d', 'fresh'], 10000);
    assert.deepEqual(await outboxKeys(tab), [], 'the expired entry is gone too');

    suite.server.failBeacons({ status: 503 });
    await tab.page.evaluate((js) => Function(js)(), track(130, 'many'));
    await until('at most 100 entries kept', async () => (await outboxKeys(tab)).length === 100, 10000);
    assert.ok(fbqMessages(tab, 'warning').some((m) => /outbox full: \d+ oldest event\(s\) dropped/.test(m)), 'a warning says so');
    suite.server.failBeacons(null);
    const got = await suite.wait(100, all(byId(id), (b) => param(b, 'eid').startsWith('many-')), 30000);
    const kept = got.map((b) => Number(param(b, 'eid').slice(5))).sort((a, b) => a - b);
    assert.equal(kept[0], 30, 'the 30 oldest were dropped');
    assert.equal(kept.at(-1), 129);
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('100 runs of "track Purchase, navigate away within 50 ms": every Purchase arrives, no unload listener', async (t) => {
  const id = '7700000000007';
  suite.page('/ob-away.html', '<!doctype html><title>away</title>');
  const watch = `(() => { const add = EventTarget.prototype.addEventListener;
    EventTarget.prototype.addEventListener = function (type) {
      if (type === 'unload' || type === 'beforeunload') (window.__unload = window.__unload || []).push(type);
      return add.apply(this, arguments);
    }; })();`;
  const tab = await suite.open('/ob-leave.html', { calls: `fbq('init', '${id}');`, initScript: watch, goto: false });
  const runs = 100;
  try {
    for (let i = 0; i < runs; i++) {
      await tab.page.goto(tab.url);
      await suite.ready(tab);
      assert.equal(await tab.page.evaluate(() => window.__unload), undefined, 'no unload/beforeunload listener');
      await tab.page.evaluate((n) => {
        fbq('track', 'Purchase', { value: n, currency: 'USD' }, { eventID: `leave-${n}` });
        setTimeout(() => { location.href = '/ob-away.html'; }, n % 50);
      }, i);
      await tab.page.waitForURL('**/ob-away.html');
    }
    await suite.wait(runs, all(byId(id), byEv('Purchase')), 15000).catch(() => {});
    const eids = new Set(suite.beacons(all(byId(id), byEv('Purchase'))).map((b) => param(b, 'eid')));
    const dup = suite.beacons(all(byId(id), byEv('Purchase'))).length - eids.size;
    t.diagnostic(`delivered ${eids.size}/${runs} Purchases tracked 0-49 ms before navigating away (${dup} duplicate arrivals)`);
    assert.equal(eids.size, runs);
  } finally {
    await suite.done(tab);
  }
});

test('late retries: an entry that may have arrived is replayed within the 48-hour dedup window only; one only ever refused for all 7 days', async () => {
  const id = '7700000000008';
  const origin = suite.url('/');
  const hour = 36e5;
  // Entries an earlier page left. `m`: a send of it got no answer (a network error, or its page
  // went: a claim that ran out), so the collector may have stored it already.
  const left = (name, age, more) => {
    const k = `${KEY}${name}`;
    const b = `id=${id}&ev=ViewContent&dl=${encodeURIComponent(origin)}&ts=${Date.now() - age}&eid=${name}`;
    return [k, JSON.stringify({ k, u: `${origin}tr/`, b, p: 0, t: Date.now() - age, a: 2, w: 0, c: 0, ...more })];
  };
  const entries = [
    left('maybe-50h', 50 * hour, { m: 1 }), // dropped: a replay could be stored twice
    left('cut-off-50h', 50 * hour, { c: Date.now() - 40 * hour }), // its page went: dropped too
    left('maybe-40h', 40 * hour, { m: 1 }), // still within the window: replayed
    left('refused-3d', 72 * hour, {}), // every send refused: replayed
  ];
  const tab = await suite.open('/ob-late.html', {
    initScript: `if (!sessionStorage.seeded) { sessionStorage.seeded = 1; for (const [k, v] of ${JSON.stringify(entries)}) localStorage.setItem(k, v); }`,
    calls: `fbq('init', '${id}');\nfbq('track', 'ViewContent', {}, {eventID: 'late-fresh'});`,
  });
  try {
    await assertEachOnce(id, ['maybe-40h', 'refused-3d', 'late-fresh'], 10000);
    assert.deepEqual(await outboxKeys(tab), [], 'the late entries are gone too');
    assert.ok(fbqMessages(tab, 'warning').some((m) => /outbox: 2 event\(s\) first sent over 47 h ago, which may have arrived, dropped/.test(m)), 'a warning says so');
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});
