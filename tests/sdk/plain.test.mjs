// Plain user data: README.md's curl recipe run as written, and Meta's other request shapes built by
// hand (a form body, a JSON body mixing a hash and plain values). The collector normalises and
// hashes plain values with the pixel's own code, so Meta gets, for each key, the hash the built
// pixel in Chromium sends for the same value.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { CHECKOUT_IP, CHECKOUT_UA, ORDER_EMAIL, ORDER_PHONE, PIXEL, SERVER_KEY, list, openShop, orderId, recipe } from './harness.mjs';

let shop;

before(async () => {
  shop = await openShop('plain');
});

after(() => shop?.close());

/** A US shopper's details as a shop's database holds them. */
const SHOPPER = {
  em: 'Grace.Hopper@Example.COM',
  ph: '+1 (415) 555-0123',
  fn: 'Grace',
  ln: 'Hopper',
  ge: 'Female',
  db: '1906-12-09',
  ct: 'San Francisco',
  st: 'California',
  zp: '94107',
  country: 'United States',
  external_id: 'customer-0042',
};

/** Runs the README's curl recipe with `env`; resolves with its exit code and output. */
function curlRecipe(env) {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', recipe('sh')], { env: { ...process.env, ...shop.env(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

/** POSTs to the collector's Conversions API endpoint. */
async function post(body, headers = {}) {
  const r = await fetch(`${shop.origin}/v24.0/${PIXEL}/events`, { method: 'POST', headers, body });
  return { status: r.status, body: await r.json() };
}

const lead = (eid, userData) => ({
  event_name: 'Lead',
  event_time: Math.floor(Date.now() / 1000),
  event_id: eid,
  action_source: 'website',
  event_source_url: `${shop.origin}/contact.html`,
  user_data: { ...userData, client_user_agent: CHECKOUT_UA, client_ip_address: CHECKOUT_IP },
});

describe('plain user data, hashed by the collector', { concurrency: true }, () => {
  it("curl recipe as written: plain e-mail and phone reach Meta as the pixel's hashes, with the order's value", async () => {
    const pixel = await shop.pixelHashes();
    const id = orderId('curl');
    const { code, out, err } = await curlRecipe({ ORDER_ID: id, EMAIL: ORDER_EMAIL, PHONE: ORDER_PHONE, VALUE: '42.5', USER_AGENT: CHECKOUT_UA, CLIENT_IP: CHECKOUT_IP });
    assert.equal(code, 0, `curl: ${err}${out}`);
    const res = JSON.parse(out);
    assert.equal(res.events_received, 1);
    assert.deepEqual(res.messages, []);
    const { event } = await shop.relayedOnce(id, { quietMs: 0 });
    assert.deepEqual(list(event.user_data.em), [pixel.em]);
    assert.deepEqual(list(event.user_data.ph), [pixel.ph]);
    assert.equal(Number(event.custom_data.value), 42.5);
    assert.equal(event.custom_data.currency, 'EUR');
    assert.deepEqual(event.custom_data.contents, [{ id: 'mug-enamel', quantity: 1, item_price: 42.5 }]);
  });

  it("a form body (data=<json>&access_token=…) with every match key plain: each reaches Meta as the pixel's hash", async () => {
    const beacon = await shop.pixelBeacon({ ev: 'Lead', eventID: orderId('pixel-keys'), userData: SHOPPER });
    const eid = orderId('form');
    const form = new URLSearchParams({ data: JSON.stringify([lead(eid, { ...SHOPPER, em: [SHOPPER.em] })]), access_token: SERVER_KEY });
    const res = await post(form.toString(), { 'content-type': 'application/x-www-form-urlencoded' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.events_received, 1);
    const { event } = await shop.relayedOnce(eid, { quietMs: 500 });
    for (const key of Object.keys(SHOPPER)) {
      assert.match(beacon[`ud[${key}]`] ?? '', /^[0-9a-f]{64}$/, `the pixel sent ud[${key}]`);
      assert.deepEqual(list(event.user_data[key]), [beacon[`ud[${key}]`]], `${key}: the pixel's hash`);
    }
  });

  // facebook-business's EventRequest puts each event in `data` as a JSON string (json.dumps); its
  // own transport form-encodes that list (data=["{…}"]) and Meta's documented custom client posts
  // it as JSON (requests(json=params)). Meta reads both; so must the collector.
  it("data items given as JSON strings, as Meta's Python SDK sends them (its form body, its documented JSON client)", async () => {
    const pixel = await shop.pixelHashes();
    const viaForm = orderId('strings-form');
    const viaJson = orderId('strings-json');
    const item = (eid) => JSON.stringify(lead(eid, { em: [pixel.em], ph: [pixel.ph] }));
    const form = new URLSearchParams({ data: JSON.stringify([item(viaForm)]), access_token: SERVER_KEY });
    const a = await post(form.toString(), { 'content-type': 'application/x-www-form-urlencoded' });
    assert.equal(a.status, 200, JSON.stringify(a.body));
    const b = await post(JSON.stringify({ data: [item(viaJson)], access_token: SERVER_KEY }), { 'content-type': 'application/json' });
    assert.equal(b.status, 200, JSON.stringify(b.body));
    for (const eid of [viaForm, viaJson]) {
      const { event } = await shop.relayedOnce(eid, { quietMs: 500 });
      assert.deepEqual(list(event.user_data.em), [pixel.em]);
    }
  });

  it('a JSON body with Authorization: Bearer, the e-mail already hashed (upper-case hex) and the phone plain', async () => {
    const pixel = await shop.pixelHashes();
    const eid = orderId('mixed');
    const res = await post(JSON.stringify({ data: [lead(eid, { em: [pixel.em.toUpperCase()], ph: ORDER_PHONE })] }), {
      'content-type': 'application/json',
      authorization: `Bearer ${SERVER_KEY}`,
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const { event } = await shop.relayedOnce(eid, { quietMs: 500 });
    assert.deepEqual(list(event.user_data.em), [pixel.em], 'a hash passes through, lower-cased');
    assert.deepEqual(list(event.user_data.ph), [pixel.ph]);
  });
});
