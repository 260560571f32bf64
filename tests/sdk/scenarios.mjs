// What every server client must get from the collector, written once and run with each SDK's
// recipe (node.test.mjs, python.test.mjs). `send(order, { testEventCode, key })` runs the recipe:
// it resolves with the SDK's EventResponse fields, or rejects with the recipe's error.
import assert from 'node:assert/strict';
import { CAPI_TOKEN, HOLD_SECS, WRONG_KEY, assertMerged, list, sha256, sleep } from './harness.mjs';

/** The thank-you page's copy: a different value, currency and e-mail than the order, and keys the server lacks. */
const BROWSER = {
  customData: { value: 99, currency: 'USD', content_ids: ['mug-enamel'], content_type: 'product' },
  userData: { em: 'ada@personal.example', fn: 'Ada', ct: 'London', zp: 'SW1A 1AA' },
  onlyKeys: ['fn', 'ct', 'zp'],
};

/** Asserts the SDK's answer is Meta's success shape for one event. */
function assertReceived(res) {
  assert.equal(res.events_received, 1, JSON.stringify(res));
  assert.deepEqual(res.messages, []);
  assert.equal(typeof res.fbtrace_id, 'string');
  assert.ok(res.fbtrace_id.length > 0);
}

/** The plain e-mail and phone of `order` hashed as the pixel hashes them (for SPEC §6's rules). */
const orderHashes = (order) => ({ em: sha256(order.email.trim().toLowerCase()), ph: sha256(order.phone.replace(/\D/g, '')) });

/** a. The pixel's Purchase first, the server's 1 s later: one event, merged, released on pairing. */
export async function browserThenServer(shop, send) {
  const order = shop.order('browser-first');
  const beacon = await shop.pixelBeacon({ eventID: order.id, customData: BROWSER.customData, userData: BROWSER.userData });
  const first = Date.now();
  await sleep(1000);
  assertReceived(await send(order));
  const { event, seenAt } = await shop.relayedOnce(order.id, { quietFrom: Date.now() });
  assert.ok(seenAt < first + HOLD_SECS * 1000, `relayed when the pair was complete (${seenAt - first} ms after the beacon), not when the ${HOLD_SECS} s hold ended`);
  assertMerged(event, { server: order, beacon, browserOnlyKeys: BROWSER.onlyKeys });
  assert.deepEqual(list(event.user_data.ph), [orderHashes(order).ph]);
}

/** a. The server's Purchase first, the pixel's 1 s later: the same one merged event. */
export async function serverThenBrowser(shop, send) {
  const order = shop.order('server-first');
  assertReceived(await send(order));
  const first = Date.now();
  await sleep(500); // and the page's load: the beacon lands 1–1.5 s after the server copy
  const beacon = await shop.pixelBeacon({ eventID: order.id, customData: BROWSER.customData, userData: BROWSER.userData });
  const { event, seenAt } = await shop.relayedOnce(order.id, { quietFrom: Date.now() });
  assert.ok(seenAt < first + HOLD_SECS * 1000, `relayed when the pair was complete (${seenAt - first} ms after the server copy), not when the ${HOLD_SECS} s hold ended`);
  assertMerged(event, { server: order, beacon, browserOnlyKeys: BROWSER.onlyKeys });
}

/** b. A server Purchase alone waits out the hold, goes once; a beacon after that is not sent again. */
export async function serverOnly(shop, send) {
  const order = shop.order('server-only');
  assertReceived(await send(order));
  await sleep(HOLD_SECS * 1000 - 1000);
  assert.deepEqual(shop.relayed(order.id), [], 'held, waiting for the browser’s copy');
  const { event } = await shop.relayedOnce(order.id, { quietMs: 0 });
  assert.equal(Number(event.custom_data.value), order.value);
  assert.equal(String(event.custom_data.currency).toUpperCase(), order.currency);
  assert.deepEqual(list(event.user_data.em), [orderHashes(order).em]);
  assert.deepEqual(list(event.user_data.ph), [orderHashes(order).ph]);
  assert.equal(event.user_data.fbp, undefined, 'no browser copy, no fbp');

  // The shopper's thank-you page loads late: acknowledged, and Meta, which keeps the first copy of
  // an event ID, is not sent a second one.
  assert.equal(await shop.sendBeacon({ ev: 'Purchase', eid: order.id, 'cd[value]': '99', 'cd[currency]': 'USD', fbp: 'fb.1.1700000000000.42' }), 200);
  const again = await shop.relayedOnce(order.id, { quietFrom: Date.now() });
  assert.deepEqual(again.event, event);
}

/**
 * c. A forged beacon carrying the order's event ID, a wrong value and a wrong e-mail, arrives first;
 * then the real server Purchase. Meta gets the real value and keys.
 */
export async function forgedBeaconFirst(shop, send) {
  // The shop's server sends the _fbp and _fbc cookies of the checkout request, as the recipes do.
  const order = { ...shop.order('forged'), fbp: `fb.1.${Date.now() - 60000}.1234567890`, fbc: `fb.1.${Date.now() - 60000}.IwAR-real-click` };
  const forged = {
    ev: 'Purchase',
    eid: order.id,
    'cd[value]': '0.01',
    'cd[currency]': 'USD',
    'cd[contents]': JSON.stringify([{ id: 'gift-card', quantity: 50 }]),
    'ud[em]': sha256('attacker@evil.example'),
    'ud[ph]': sha256('15550000000'),
    fbp: 'fb.1.1700000000000.666',
    fbc: 'fb.1.1700000000000.IwAR-forged-click',
  };
  assert.equal(await shop.sendBeacon(forged), 200, 'a beacon cannot be told from a real one: acknowledged');
  await sleep(1000);
  assertReceived(await send(order));
  const { event } = await shop.relayedOnce(order.id, { quietFrom: Date.now() });
  assert.equal(Number(event.custom_data.value), order.value, 'the server’s value, not the forged 0.01');
  assert.equal(String(event.custom_data.currency).toUpperCase(), order.currency);
  assert.deepEqual(event.custom_data.contents.map((c) => String(c.id)), order.items.map((i) => i.sku));
  assert.deepEqual(list(event.user_data.em), [orderHashes(order).em], 'the order’s e-mail, not the forged one');
  assert.deepEqual(list(event.user_data.ph), [orderHashes(order).ph], 'the order’s phone, not the forged one');
  assert.equal(event.user_data.fbp, order.fbp, 'the checkout’s fbp, not the forged one');
  assert.equal(event.user_data.fbc, order.fbc, 'the checkout’s click ID, not the forged one');
}

/**
 * d. Plain e-mail and phone through the SDK, which normalises and hashes them itself: Meta gets the
 * hashes the pixel gives for the same plain values (`pixel`: its `ud[em]`, `ud[ph]`).
 */
export async function sdkHashesAsThePixel(shop, send, pixel) {
  const order = shop.order('hashes');
  assert.deepEqual(pixel, orderHashes(order), 'the pixel’s hashes are SHA-256 of SPEC §6’s normal form');
  assertReceived(await send(order));
  const { event } = await shop.relayedOnce(order.id, { quietMs: 0 });
  assert.deepEqual(list(event.user_data.em), [pixel.em]);
  assert.deepEqual(list(event.user_data.ph), [pixel.ph]);
}

/** e. The SDK's test_event_code reaches the Graph stand-in with the event (and only with it). */
export async function testEventCode(shop, send) {
  const order = shop.order('test-code');
  assertReceived(await send(order, { testEventCode: 'TEST48213' }));
  const { event } = await shop.relayedOnce(order.id, { quietMs: 0, testEventCode: 'TEST48213' });
  assert.equal(Number(event.custom_data.value), order.value);
}

/**
 * The recipe's credential: the pixel's CAPI token works as well as the server key; a wrong key is
 * refused in Meta's error shape, which the recipe turns into an error, and nothing is relayed.
 */
export async function credentials(shop, send) {
  const withToken = shop.order('capi-token');
  assertReceived(await send(withToken, { key: CAPI_TOKEN }));
  const wrong = shop.order('wrong-key');
  await assert.rejects(send(wrong, { key: WRONG_KEY }), /collector: \S/);
  await shop.relayedOnce(withToken.id, { quietMs: 0 });
  await sleep(1500);
  assert.deepEqual(shop.relayed(wrong.id), [], 'a refused request stores nothing');
}

/** Registers every scenario under `describe`'s `it`, named after `sdk`. */
export function scenarios(it, sdk, shop, send) {
  it(`${sdk}: the pixel's Purchase, then the SDK's 1 s later → one event: server value, currency and contents, both copies' keys, the browser's fbp`, () =>
    browserThenServer(shop(), send));
  it(`${sdk}: the SDK's Purchase, then the pixel's 1 s later → the same one merged event`, () => serverThenBrowser(shop(), send));
  it(`${sdk}: a server Purchase alone goes once, after the hold; a late beacon with its ID is not sent again`, () => serverOnly(shop(), send));
  it(`${sdk}: a forged beacon with the order's event ID arriving first does not change the value or keys Meta gets`, () =>
    forgedBeaconFirst(shop(), send));
  it(`${sdk}: plain em/ph hashed by the SDK reach Meta as the pixel's hashes`, async () => sdkHashesAsThePixel(shop(), send, await shop().pixelHashes()));
  it(`${sdk}: test_event_code reaches the Graph stand-in with the event`, () => testEventCode(shop(), send));
  it(`${sdk}: the pixel's CAPI token works as the key; a wrong key is refused in Meta's shape and nothing is relayed`, () => credentials(shop(), send));
}
