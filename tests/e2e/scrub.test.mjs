// URL scrubbing in the browser (issue #24; core/src/scrub.rs): what `dl` and `rl` carry, through
// `fbq`, from a WooCommerce order-received page reached from a newsletter link, toward a
// first-party endpoint and toward Meta's own (intercepted in Chromium; no network).
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

const ORDER = '/checkout/order-received/12/';
const QUERY = '?key=wc_order_abc&utm_source=x&email=a%40b.com&fbclid=IwAR1x&tel=%2B33612345678&id=9#access_token=t&step=2';
const KEPT = '?utm_source=x&fbclid=IwAR1x&id=9#step=2';
const MAIL = '/mail.html?email=a@b.com&token=abc&utm_medium=email&login=bob';

for (const [name, endpoint, id] of [['a first-party endpoint', true, '7700000002401'], ["Meta's endpoint", false, '7700000002402']]) {
  test(`dl and rl lose the order key, e-mail, phone and tokens toward ${name}; utm_*, fbclid and id stay`, async () => {
    // The referrer: a page of the same origin whose URL holds an e-mail address and a token.
    suite.page('/mail.html', '<!doctype html><title>mail</title>');
    const tab = await suite.open(ORDER, { endpoint, calls: `fbq('init', '${id}');\nfbq('track', 'PageView');\nfbq('track', 'Purchase', {value: 1, currency: 'EUR'});`, goto: false });
    await tab.page.goto(suite.url(MAIL));
    await tab.page.evaluate((u) => { location.href = u; }, tab.url + QUERY);
    await suite.ready(tab);
    const beacons = await suite.wait(2, byId(id));
    assert.equal(await tab.page.evaluate(() => location.search), QUERY.split('#')[0], 'the page itself keeps its URL');
    for (const b of beacons) {
      assert.equal(param(b, 'dl'), suite.url(ORDER) + KEPT, `${param(b, 'ev')} dl`);
      assert.equal(param(b, 'rl'), suite.url('/mail.html?utm_medium=email'), `${param(b, 'ev')} rl`);
      assert.ok(!/wc_order|a@b|a%40b|33612345678|access_token|token=|login=/.test(b.raw ?? JSON.stringify(b.params)), 'nothing of it anywhere in the beacon');
    }
    assertNoPageErrors(tab);
    await suite.done(tab);
  });
}

test("consent('limited') still sends dl without any query or fragment", async () => {
  const id = '7700000002403';
  const tab = await suite.open(ORDER, { query: QUERY, calls: `fbq('consent', 'limited');\nfbq('init', '${id}');\nfbq('track', 'PageView');` });
  const [b] = await suite.wait(1, byId(id));
  assert.equal(param(b, 'dl'), suite.url(ORDER));
  await suite.done(tab);
});
