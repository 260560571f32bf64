// The demo storefront, walked through as a shopper would, against the built dist/: consent
// banner, product view, add to cart, checkout with advanced matching, purchase.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import { startServer, launchBrowser, param, requireDist, repoRoot } from '../support/index.mjs';

let server;
let browser;

before(async () => {
  requireDist();
  server = await startServer({ site: path.join(repoRoot, 'www', 'store') });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

const sha256 = (s) => crypto.createHash('sha256').update(s, 'utf8').digest('hex');
const is = (ev, page) => (b) => param(b, 'ev') === ev && (!page || (param(b, 'dl') || '').includes(page));
const one = async (ev, page) => (await server.waitForBeacons(1, { filter: is(ev, page) }))[0];
const pixelLoaded = (page) =>
  page.waitForFunction(() => window.fbq && typeof window.fbq.callMethod === 'function', null, { timeout: 5000 });

test('a shopper who accepts: PageView after consent, ViewContent, AddToCart, InitiateCheckout, Purchase with matching', async () => {
  server.clear();
  const tab = await browser.newPage();
  const { page } = tab;
  try {
    // Home: the banner asks first, and nothing is sent before the answer.
    await page.goto(server.url('/'));
    await page.locator('#consent').waitFor();
    await pixelLoaded(page);
    await page.waitForTimeout(300);
    assert.deepEqual(server.beacons(), [], 'no beacon before consent');
    await page.click('#consent-accept');
    const home = await one('PageView', '/');
    assert.equal(param(home, 'id'), '1234567890');
    assert.equal(home.path, '/tr/', 'first-party endpoint');

    // Product page: PageView + ViewContent; Add to cart.
    await page.click('a.card[data-sku="mug-enamel"]');
    const view = await one('ViewContent', 'product.html');
    assert.equal(param(view, 'cd[content_ids]'), '["mug-enamel"]');
    assert.equal(param(view, 'cd[content_type]'), 'product');
    assert.equal(param(view, 'cd[value]'), '14.5');
    assert.equal(param(view, 'cd[currency]'), 'USD');
    await page.fill('#quantity', '2');
    await page.click('#add-to-cart');
    const add = await one('AddToCart', 'product.html');
    assert.equal(param(add, 'cd[value]'), '29');
    assert.equal(param(add, 'cd[contents]'), '[{"id":"mug-enamel","quantity":2,"item_price":14.5}]');

    // Cart -> checkout: InitiateCheckout with the whole cart.
    await page.click('a[href="cart.html"]');
    await page.click('#to-checkout');
    const checkout = await one('InitiateCheckout', 'checkout.html');
    assert.equal(param(checkout, 'cd[num_items]'), '2');
    assert.equal(param(checkout, 'cd[value]'), '29');

    // Place the order: AddPaymentInfo fires as the page unloads and must still arrive.
    await page.fill('[name=email]', '  John.Doe@Example.COM ');
    await page.fill('[name=first_name]', 'John');
    await page.fill('[name=last_name]', "O'Brien");
    await page.fill('[name=phone]', '+1 (650) 555-1212');
    await page.fill('[name=city]', 'Menlo Park');
    await page.fill('[name=state]', 'California');
    await page.fill('[name=zip]', '94025-1234');
    await page.selectOption('[name=country]', 'US');
    await page.click('#place-order');
    await page.waitForURL('**/thanks.html');
    await one('AddPaymentInfo', 'checkout.html');

    // Thanks: Purchase with the order ID as event ID and hashed advanced matching.
    const purchase = await one('Purchase', 'thanks.html');
    const orderId = await page.textContent('#order-id');
    assert.equal(param(purchase, 'eid'), orderId);
    assert.equal(param(purchase, 'cd[value]'), '29');
    assert.equal(param(purchase, 'cd[currency]'), 'USD');
    assert.equal(param(purchase, 'cd[num_items]'), '2');
    assert.equal(param(purchase, 'cd[content_ids]'), '["mug-enamel"]');
    assert.equal(param(purchase, 'ud[em]'), sha256('john.doe@example.com'));
    assert.equal(param(purchase, 'ud[ph]'), sha256('16505551212'));
    assert.equal(param(purchase, 'ud[fn]'), sha256('john'));
    assert.equal(param(purchase, 'ud[ln]'), sha256('obrien'));
    // Plain values never leave the browser (each of these has a letter no hex digest or number has).
    const plain = ['john', 'brien', 'example.com', 'menlo', 'california'];
    for (const b of server.beacons()) {
      const leaked = b.params.filter(([, v]) => plain.some((p) => v.toLowerCase().includes(p)));
      assert.deepEqual(leaked, [], 'no plain personal data on the wire');
    }

    // A reload of the thanks page does not count the sale twice.
    await page.reload();
    await one('PageView', 'thanks.html');
    await server.waitForBeacons(2, { filter: is('PageView', 'thanks.html') });
    await page.waitForTimeout(300);
    assert.equal(server.beacons().filter(is('Purchase')).length, 1, 'one Purchase');

    assert.deepEqual(tab.errors.map(String), []);
    assert.deepEqual(tab.blocked, []);
  } finally {
    await tab.close();
  }
});

test('a shopper who declines: no beacon and no _fbp cookie, page after page', async () => {
  server.clear();
  const tab = await browser.newPage();
  const { page } = tab;
  try {
    await page.goto(server.url('/'));
    await page.click('#consent-decline');
    await page.click('a.card[data-sku="tee-classic"]');
    await pixelLoaded(page);
    await page.click('#add-to-cart');
    await page.waitForTimeout(500);
    assert.deepEqual(server.beacons(), []);
    const cookies = await tab.context.cookies();
    assert.ok(!cookies.some((c) => c.name === '_fbp'), 'no _fbp cookie');
    assert.equal(await page.locator('#consent').count(), 0, 'the banner does not come back');
    assert.deepEqual(tab.errors.map(String), []);
  } finally {
    await tab.close();
  }
});
