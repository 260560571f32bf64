// The click ID of Facebook's and Instagram's in-app browsers (issue #13): a page opened there
// without fbclid asks the app, as Meta's own library does (iOS: the browserProperties message
// handler). Tested with a page that provides that interface under an in-app user agent, with the
// interface but an ordinary browser (not asked), and in-app without the interface (no click ID,
// no wait).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { openSuite, param, byId, assertNoPageErrors } from '../support/suite.mjs';

let suite;
before(async () => {
  suite = await openSuite();
});
after(async () => {
  await suite?.teardown();
});

const INSTAGRAM_IOS = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 330.0.0.0.0';

/** An init script: the user agent `ua`, and (with `clickId`) the iOS app's message handler. */
const page = (ua, clickId) => `
Object.defineProperty(navigator, 'userAgent', { get: () => ${JSON.stringify(ua)} });
window.__asked = [];
${clickId === undefined ? '' : `window.webkit = { messageHandlers: { browserProperties: { postMessage: (m) => { window.__asked.push(m); return Promise.resolve(${JSON.stringify(clickId)}); } } } };`}
`;

const fbcCookie = async (tab) => (await tab.context.cookies()).find((c) => c.name === '_fbc');

test('in an in-app browser without fbclid the app is asked and its click ID becomes fbc and _fbc', async () => {
  const id = '7900000000001';
  const tab = await suite.open('/inapp-ios.html', { initScript: page(INSTAGRAM_IOS, 'IwAR-in_app-42'), calls: `fbq('init', '${id}');\nfbq('track', 'PageView');` });
  try {
    const [b] = await suite.wait(1, byId(id));
    assert.match(param(b, 'fbc') ?? '', /^fb\.0\.\d{13}\.IwAR-in_app-42$/);
    assert.equal((await fbcCookie(tab))?.value, param(b, 'fbc'));
    assert.deepEqual(await tab.page.evaluate(() => window.__asked), ['clickID']);
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('an fbclid in the URL wins, and the app is not asked', async () => {
  const id = '7900000000002';
  const tab = await suite.open('/inapp-url.html', { query: '?fbclid=FromTheUrl', initScript: page(INSTAGRAM_IOS, 'IwAR-in_app-42'), calls: `fbq('init', '${id}');\nfbq('track', 'PageView');` });
  try {
    const [b] = await suite.wait(1, byId(id));
    assert.match(param(b, 'fbc') ?? '', /\.FromTheUrl$/);
    assert.deepEqual(await tab.page.evaluate(() => window.__asked), []);
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('an ordinary browser is not asked even when the page has such an interface', async () => {
  const id = '7900000000003';
  const ua = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';
  const tab = await suite.open('/inapp-plain.html', { initScript: page(ua, 'IwAR-in_app-42'), calls: `fbq('init', '${id}');\nfbq('track', 'PageView');` });
  try {
    const [b] = await suite.wait(1, byId(id));
    assert.equal(param(b, 'fbc'), undefined);
    assert.equal(await fbcCookie(tab), undefined);
    assert.deepEqual(await tab.page.evaluate(() => window.__asked), []);
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('in an in-app browser without the interface: no click ID, and the PageView does not wait', async () => {
  const id = '7900000000004';
  const plain = await suite.open('/inapp-none-ref.html', { calls: `fbq('init', '7900000000005');\nfbq('track', 'PageView');` });
  const t0 = Date.now();
  const [ref] = await suite.wait(1, byId('7900000000005'));
  const ordinary = Date.now() - t0;
  await suite.done(plain);
  const tab = await suite.open('/inapp-none.html', { initScript: page(INSTAGRAM_IOS), calls: `fbq('init', '${id}');\nfbq('track', 'PageView');` });
  try {
    const t1 = Date.now();
    const [b] = await suite.wait(1, byId(id));
    const inApp = Date.now() - t1;
    assert.equal(param(b, 'fbc'), undefined);
    assert.equal(param(ref, 'fbc'), undefined);
    // Generous margin: the point is that nothing waits for an answer that never comes.
    assert.ok(inApp < ordinary + 1000, `in-app ${inApp} ms vs ordinary ${ordinary} ms after the page is ready`);
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});
