// Single-page apps and the PageView rule (SPEC §1-§2): at most one PageView per pixel per URL
// unless fbq.allowDuplicatePageViews; History API navigation (pushState, replaceState, popstate)
// to a new URL sends a PageView per pixel with the new dl, unless fbq.disablePushState.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { openSuite, param, byId, byEv, all, byEc, assertNoPageErrors, UUID_V4 } from '../support/suite.mjs';

let suite;
before(async () => {
  suite = await openSuite();
});
after(async () => {
  await suite?.teardown();
});

const pageViews = (id) => all(byId(id), byEv('PageView'));
const dls = (list) => byEc(list).map((b) => new URL(param(b, 'dl')).pathname + new URL(param(b, 'dl')).search + new URL(param(b, 'dl')).hash);

test('PageView at most once per pixel per URL', async () => {
  const [a, b] = ['3300000000001', '3300000000002'];
  const tab = await suite.open('/spa-once.html', {
    calls: `fbq('init', '${a}');
fbq('track', 'PageView');
fbq('track', 'PageView');
fbq('init', '${b}');
fbq('track', 'PageView');
fbq('trackSingle', '${a}', 'PageView');
fbq('trackCustom', 'Done');`,
  });
  try {
    await suite.wait(2, all((x) => byId(a)(x) || byId(b)(x), byEv('Done')));
    await tab.page.evaluate(() => fbq('track', 'PageView'));
    await suite.settle();
    assert.equal(suite.beacons(pageViews(a)).length, 1, 'pixel a: one PageView');
    assert.equal(suite.beacons(pageViews(b)).length, 1, 'pixel b: one PageView (its first on this URL)');
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('fbq.allowDuplicatePageViews = true on the stub: every PageView goes', async () => {
  const id = '3300000000003';
  const tab = await suite.open('/spa-dups.html', {
    calls: `fbq.allowDuplicatePageViews = true;
fbq('init', '${id}');
fbq('track', 'PageView');
fbq('track', 'PageView');`,
  });
  try {
    await tab.page.evaluate(() => fbq('track', 'PageView'));
    const got = await suite.wait(3, pageViews(id));
    assert.equal((await suite.settle(pageViews(id))).length, 3);
    assert.equal(new Set(got.map((b) => param(b, 'eid'))).size, 3, 'each its own event ID');
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('history.pushState to a new URL sends a PageView per pixel with the new dl', async () => {
  const [a, b] = ['3300000000004', '3300000000005'];
  const tab = await suite.open('/spa-push.html', {
    calls: `fbq('init', '${a}');\nfbq('init', '${b}');\nfbq('track', 'PageView');`,
  });
  try {
    await suite.wait(2, (x) => pageViews(a)(x) || pageViews(b)(x));
    await tab.page.evaluate(() => history.pushState({}, '', '/spa-push/products?page=2'));
    for (const id of [a, b]) {
      const got = await suite.wait(2, pageViews(id));
      assert.deepEqual(dls(got), ['/spa-push.html', '/spa-push/products?page=2']);
      const [, second] = byEc(got);
      assert.equal(param(second, 'ec'), '1');
      assert.match(param(second, 'eid'), UUID_V4);
    }
    // Later events carry the new URL too.
    await tab.page.evaluate(() => fbq('track', 'ViewContent'));
    const [vc] = await suite.wait(1, all(byId(a), byEv('ViewContent')));
    assert.equal(param(vc, 'dl'), suite.url('/spa-push/products?page=2'));
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('history.replaceState to a new URL sends a PageView; to the same URL it does not', async () => {
  const id = '3300000000006';
  const tab = await suite.open('/spa-replace.html', { calls: `fbq('init', '${id}');\nfbq('track', 'PageView');` });
  try {
    await suite.wait(1, pageViews(id));
    await tab.page.evaluate(() => {
      history.replaceState({ x: 1 }, ''); // same URL: state only
      history.pushState({ x: 2 }, '', location.href); // same URL again
      history.replaceState({}, '', '/spa-replace/step-2');
    });
    const got = await suite.wait(2, pageViews(id));
    await suite.settle();
    assert.deepEqual(dls(suite.beacons(pageViews(id))), ['/spa-replace.html', '/spa-replace/step-2']);
    assert.equal(got.length, 2);
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('popstate to a new URL (a fragment navigation, then back) sends a PageView', async () => {
  const id = '3300000000007';
  const tab = await suite.open('/spa-pop.html', { calls: `fbq('init', '${id}');\nfbq('track', 'PageView');` });
  try {
    await suite.wait(1, pageViews(id));
    // A fragment navigation fires popstate (not pushState/replaceState).
    await tab.page.evaluate(() => {
      location.hash = 'reviews';
    });
    await suite.wait(2, pageViews(id));
    assert.deepEqual(dls(suite.beacons(pageViews(id))), ['/spa-pop.html', '/spa-pop.html#reviews']);
    // Back to the first URL: popstate, but that URL already had its PageView.
    await tab.page.evaluate(() => history.back());
    await tab.page.waitForFunction(() => location.hash === '');
    assert.equal((await suite.settle(pageViews(id))).length, 2, 'no second PageView for a URL already seen');
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('popstate with allowDuplicatePageViews: back and forward each send a PageView with the URL returned to', async () => {
  const id = '3300000000008';
  const tab = await suite.open('/spa-back.html', {
    calls: `fbq.allowDuplicatePageViews = true;\nfbq('init', '${id}');\nfbq('track', 'PageView');`,
  });
  try {
    await suite.wait(1, pageViews(id));
    await tab.page.evaluate(() => history.pushState({}, '', '/spa-back/a'));
    await suite.wait(2, pageViews(id));
    await tab.page.evaluate(() => history.back());
    await tab.page.waitForURL('**/spa-back.html');
    await suite.wait(3, pageViews(id));
    await tab.page.evaluate(() => history.forward());
    await tab.page.waitForURL('**/spa-back/a');
    await suite.wait(4, pageViews(id));
    assert.deepEqual(dls(await suite.settle(pageViews(id))), ['/spa-back.html', '/spa-back/a', '/spa-back.html', '/spa-back/a']);
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('fbq.disablePushState = true on the stub: no PageView on History API navigation', async () => {
  const id = '3300000000009';
  const tab = await suite.open('/spa-disabled.html', {
    calls: `fbq.disablePushState = true;\nfbq('init', '${id}');\nfbq('track', 'PageView');`,
  });
  try {
    await suite.wait(1, pageViews(id));
    await tab.page.evaluate(() => {
      history.pushState({}, '', '/spa-disabled/a');
      history.replaceState({}, '', '/spa-disabled/b');
      location.hash = 'c';
    });
    await tab.page.evaluate(() => fbq('trackCustom', 'Marker'));
    const [marker] = await suite.wait(1, all(byId(id), byEv('Marker')));
    assert.equal(param(marker, 'dl'), suite.url('/spa-disabled/b#c'), 'events still carry the current URL');
    assert.deepEqual(dls(await suite.settle(pageViews(id))), ['/spa-disabled.html']);
    // The page can still send its own PageView for the new URL.
    await tab.page.evaluate(() => fbq('track', 'PageView'));
    await suite.wait(2, pageViews(id));
    assert.deepEqual(dls(suite.beacons(pageViews(id))), ['/spa-disabled.html', '/spa-disabled/b#c']);
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('pushState before any PageView or any pixel sends nothing and throws nothing', async () => {
  const id = '3300000000010';
  const tab = await suite.open('/spa-early.html', { calls: '' });
  try {
    const ret = await tab.page.evaluate(() => {
      const r = history.pushState({ k: 1 }, '', '/spa-early/x');
      return { r: r === undefined, state: history.state && history.state.k, path: location.pathname };
    });
    assert.deepEqual(ret, { r: true, state: 1, path: '/spa-early/x' }, 'pushState still behaves as the page expects');
    await tab.page.evaluate((pid) => {
      fbq('init', pid);
      fbq('track', 'PageView');
      history.pushState({}, '', '/spa-early/y');
    }, id);
    await suite.wait(2, pageViews(id));
    assert.deepEqual(dls(await suite.settle(pageViews(id))), ['/spa-early/x', '/spa-early/y']);
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('a pixel initialised after an SPA navigation gets its own PageView for the current URL', async () => {
  const [a, b] = ['3300000000011', '3300000000012'];
  const tab = await suite.open('/spa-late.html', { calls: `fbq('init', '${a}');\nfbq('track', 'PageView');` });
  try {
    await suite.wait(1, pageViews(a));
    await tab.page.evaluate(() => history.pushState({}, '', '/spa-late/2'));
    await suite.wait(2, pageViews(a));
    await tab.page.evaluate((pid) => {
      fbq('init', pid);
      fbq('track', 'PageView');
    }, b);
    const [pb] = await suite.wait(1, pageViews(b));
    assert.equal(param(pb, 'dl'), suite.url('/spa-late/2'));
    assert.equal(param(pb, 'ec'), '0');
    assert.equal((await suite.settle(pageViews(a))).length, 2, 'pixel a already had its PageView for /spa-late/2');
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});
