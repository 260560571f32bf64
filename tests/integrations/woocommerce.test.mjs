// The WordPress plugin's server events against a real WooCommerce 6.6.0 store (unpacked by
// scripts/setup-wordpress.sh), the real collector (target/debug/collector) and its stand-in for
// Meta's Graph API: orders placed in headless Chromium through the classic checkout, paid by an
// offline method (cash on delivery moves to processing at once; a cheque order waits on-hold until
// payment_complete()), the plugin's WP-Cron event run as a system cron would (GET /wp-cron.php),
// and what reaches "Meta" checked. The collector holds a Purchase for 3 s (`--hold-secs`) waiting
// for its other copy. Prints how long each phase took.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launchBrowser, requireDist, repoRoot } from '../support/index.mjs';
import { startCollector, startGraph, until } from '../support/collector.mjs';
import { startWordPress } from './wordpress/stack.mjs';
import { recordBeacons, beacon, logIn, checkout } from './wordpress/shop.mjs';

const PIXEL = '4242424242';
const SERVER_KEY = 'wp-server-key-for-tests-0123456789';
const HOLD_SECS = 3;
const ADMIN = { login: 'shopadmin', password: 'admin-pass-for-tests', email: 'owner@shop.example' };
const WOOCOMMERCE = process.env.WOOCOMMERCE_DIR || path.join(repoRoot, '.cache', 'woocommerce-6.6.0', 'woocommerce');
// Inputs from the advanced-matching vectors (../shared/vectors/advanced-matching.json), with the
// normalised forms the pixel and the collector hash.
const BILLING = {
  first_name: 'Mary',
  last_name: "O'Brien",
  address_1: '1 Analytical Row',
  city: 'San Francisco',
  state: 'CA',
  postcode: '94025-1234',
  phone: '+1 (650) 555-1212',
  email: 'John.Doe@Example.COM',
};
const sha256 = (s) => crypto.createHash('sha256').update(s, 'utf8').digest('hex');
const HASHED = {
  em: sha256('john.doe@example.com'),
  ph: sha256('16505551212'),
  fn: sha256('mary'),
  ln: sha256('obrien'),
  ct: sha256('sanfrancisco'),
  st: sha256('ca'),
  zp: sha256('94025'),
  country: sha256('us'),
};

let tmp;
let graph;
let collector;
let wp;
let browser;
let product;
const timings = [];
const startedAt = Date.now();
const collectorArgs = ['--server-key', `${PIXEL}=${SERVER_KEY}`, '--hold-secs', String(HOLD_SECS)];

before(async () => {
  requireDist();
  if (!fs.existsSync(path.join(WOOCOMMERCE, 'woocommerce.php'))) {
    throw new Error(`${WOOCOMMERCE} is missing: run scripts/setup-wordpress.sh (test.sh's WordPress section does)`);
  }
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fbevents-woocommerce-'));
  let t = Date.now();
  graph = await startGraph();
  collector = await startCollector({ tmp, graphUrl: graph.url, pixels: [`${PIXEL}=graph-token-for-tests`], extraArgs: collectorArgs });
  timings.push(['collector and Graph stand-in', Date.now() - t]);
  wp = await startWordPress({
    tmp,
    pluginDir: path.join(repoRoot, 'integrations', 'wordpress'),
    plugins: { woocommerce: WOOCOMMERCE },
    muPlugins: [path.join(repoRoot, 'tests', 'integrations', 'wordpress', 'test-shop.php')],
    admin: ADMIN,
    collectorOrigin: collector.origin,
    timings,
  });
  t = Date.now();
  const store = JSON.parse(await wp.php(`require ${JSON.stringify(path.join(repoRoot, 'tests', 'integrations', 'wordpress', 'woocommerce-store.php'))};`));
  assert.equal(store.version, '6.6.0');
  product = store.product;
  const again = JSON.parse(await wp.php(`require ${JSON.stringify(path.join(repoRoot, 'tests', 'integrations', 'wordpress', 'woocommerce-store.php'))};`));
  assert.equal(again.product, product, 'setting the store up again changes nothing');
  const activated = await wp.php(`require_once ABSPATH . 'wp-admin/includes/plugin.php'; $r = activate_plugin( 'fbevents-pixel/fbevents-pixel.php' ); echo is_wp_error( $r ) ? $r->get_error_message() : 'ok';`);
  assert.equal(activated.trim(), 'ok');
  timings.push(['WooCommerce activated, store set up, plugin activated', Date.now() - t]);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close().catch(() => {});
  await wp?.stop();
  await collector?.stop();
  await graph?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  timings.push(['whole file', Date.now() - startedAt]);
  console.log(`# WooCommerce test timings:\n${timings.map(([w, ms]) => `#   ${w}: ${(ms / 1000).toFixed(1)} s`).join('\n')}`);
});

async function newTab({ blockPixel = false } = {}) {
  const tab = recordBeacons(await browser.newPage(), wp.origin);
  // As uBlock Origin does: the pixel's script never loads, so the page sends nothing.
  if (blockPixel) await tab.context.route(/\/fbevents\.js(\?|$)/, (route) => route.abort('blockedbyclient'));
  return tab;
}

/** Changes some settings directly in the option (the settings page itself is tested once). */
function setSettings(values) {
  return wp.php(`$o = get_option( 'fbevents_pixel' ); $o = array_merge( is_array( $o ) ? $o : array(), json_decode( base64_decode( '${Buffer.from(JSON.stringify(values)).toString('base64')}' ), true ) ); update_option( 'fbevents_pixel', $o ); echo 'ok';`);
}

/** The order as the plugin left it: status, server-event state, attempts, event ID, notes, browser meta. */
async function order(id) {
  return JSON.parse(
    await wp.php(`$o = wc_get_order( ${Number(id)} );
echo wp_json_encode( array(
	'status'   => $o->get_status(),
	'state'    => $o->get_meta( '_fbevents_server_state' ),
	'attempts' => (int) $o->get_meta( '_fbevents_server_attempts' ),
	'sent_at'  => (int) $o->get_meta( '_fbevents_server_sent_at' ),
	'event_id' => Fbevents_Pixel_Order_Event::event_id( $o ),
	'browser'  => $o->get_meta( '_fbevents_browser' ),
	'notes'    => array_map( static fn ( $n ) => $n->content, wc_get_order_notes( array( 'order_id' => $o->get_id() ) ) ),
	'scheduled' => (bool) wp_next_scheduled( 'fbevents_pixel_send_purchase', array( $o->get_id() ) ),
) );`),
  );
}

/** Runs PHP on the order (`$o`), e.g. `$o->payment_complete();`, as a payment gateway's callback would. */
function onOrder(id, code) {
  return wp.php(`$o = wc_get_order( ${Number(id)} ); ${code} echo 'ok';`);
}

/** Purchases with this event ID that the Graph stand-in has received. */
const atMeta = (eventId) => graph.events().filter((e) => e.event_name === 'Purchase' && e.event_id === eventId);

/** Waits for the first Purchase of `eventId` at Meta, then past the hold, and returns every copy. */
async function deliveredToMeta(eventId) {
  await until(`the Purchase ${eventId} at the Graph stand-in`, () => atMeta(eventId).length > 0, 20000);
  await new Promise((r) => setTimeout(r, (HOLD_SECS + 1) * 1000)); // a second copy would be out by now
  return atMeta(eventId);
}

test('the administrator turns on server events: the key is stored and never printed back', async () => {
  const t = Date.now();
  const tab = await newTab();
  try {
    await logIn(tab, wp.origin, ADMIN);
    const { page } = tab;
    await page.goto(`${wp.origin}/wp-admin/options-general.php?page=fbevents-pixel`);
    await page.fill('#fbevents_pixel_pixel_id', PIXEL);
    await page.fill('#fbevents_pixel_collector_url', `${wp.origin}/tr/`);
    await page.fill('#fbevents_pixel_server_key', SERVER_KEY);
    await page.selectOption('#fbevents_pixel_refused_mode', 'none');
    await Promise.all([page.waitForURL(/settings-updated=true/), page.click('#submit')]);
    assert.match(await page.textContent('.wrap'), /Settings saved/);
    assert.equal(await page.inputValue('#fbevents_pixel_server_key'), '', 'the key is not in the form');
    assert.ok(!(await page.content()).includes(SERVER_KEY), 'nor anywhere on the page');
    assert.match(await page.getAttribute('#fbevents_pixel_server_key', 'placeholder'), /key is stored/);

    // Saving again with the field empty keeps it.
    await Promise.all([page.waitForURL(/settings-updated=true/), page.click('#submit')]);
    const stored = await wp.php(`echo get_option( 'fbevents_pixel' )['server_key'];`);
    assert.equal(stored, SERVER_KEY);
  } finally {
    await tab.close();
  }
  timings.push(['server events configured in the admin', Date.now() - t]);
});

test('cash on delivery: exactly one merged Purchase reaches Meta, with the billing details hashed and the browser\'s fbp and fbc', async () => {
  const t = Date.now();
  const tab = await newTab();
  let placed;
  try {
    placed = await checkout(tab, wp.origin, { product, billing: BILLING, payment: 'cod', landing: 'fbclid=IwAR-test-click' });
    const cookies = Object.fromEntries((await tab.context.cookies()).map((c) => [c.name, c.value]));
    assert.match(cookies._fbp, /^fb\.0\.\d{13}\.\d+$/);
    assert.match(cookies._fbc, /^fb\.0\.\d{13}\.IwAR-test-click$/);

    // The thank-you page's browser Purchase carries the order's event ID: not its number.
    const browserCopy = await beacon(tab, 'Purchase');
    const o = await order(placed.id);
    assert.equal(o.status, 'processing', 'cash on delivery moves the order to processing');
    assert.match(o.event_id, /^[0-9a-f]{32}$/);
    assert.equal(browserCopy.params.eid, o.event_id);
    assert.notEqual(browserCopy.params.eid, String(placed.id));
    assert.equal(Number(browserCopy.params['cd[value]']), 25);
    assert.equal(browserCopy.params['cd[currency]'], 'USD');
    assert.deepEqual(JSON.parse(browserCopy.params['cd[contents]']), [{ id: String(product), quantity: 2, item_price: 12.5 }]);

    // At checkout the order got what only the browser knew.
    assert.equal(o.browser.consent, 'granted');
    assert.equal(o.browser.fbp, cookies._fbp);
    assert.equal(o.browser.fbc, cookies._fbc);
    assert.equal(o.browser.url, `${wp.origin}/checkout/`);
    assert.match(o.browser.ua, /HeadlessChrome/);
    assert.equal(o.state, '', 'nothing sent during the page: it waits for WP-Cron');
    assert.ok(o.scheduled);

    await wp.cron();
    const copies = await deliveredToMeta(o.event_id);
    assert.equal(copies.length, 1, `one Purchase at Meta, not ${copies.length}: ${JSON.stringify(copies)}`);
    const [event] = copies;
    for (const [key, hash] of Object.entries(HASHED)) assert.deepEqual(event.user_data[key], [hash], `user_data.${key} in ${JSON.stringify(event)}`);
    assert.equal(event.user_data.fbp, cookies._fbp, "the browser's fbp");
    assert.equal(event.user_data.fbc, cookies._fbc, "the browser's fbc");
    assert.match(event.user_data.client_user_agent, /HeadlessChrome/);
    assert.equal(event.custom_data.value, 25);
    assert.equal(event.custom_data.currency, 'USD');
    assert.equal(event.custom_data.order_id, String(placed.id));
    assert.deepEqual(event.custom_data.contents, [{ id: String(product), quantity: 2, item_price: 12.5 }]);
    assert.equal(event.action_source, 'website');
    for (const plain of ['john.doe@example.com', 'Mary', '16505551212', 'San Francisco']) {
      assert.ok(!JSON.stringify(event).toLowerCase().includes(plain.toLowerCase()), `${plain} never reaches Meta in plain`);
    }

    const sent = await order(placed.id);
    assert.equal(sent.state, 'sent');
    assert.equal(sent.attempts, 1);
    assert.ok(sent.notes.some((n) => n.includes(o.event_id)), 'an order note says it was sent');

    // Completing the order fires the hook again: nothing more is sent.
    await onOrder(placed.id, "$o->update_status( 'completed' );");
    await wp.cron();
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal((await order(placed.id)).attempts, 1, 'sent once');
    assert.equal(atMeta(o.event_id).length, 1);
  } finally {
    await tab.close();
  }
  timings.push(['cash on delivery, merged Purchase', Date.now() - t]);
});

test('the pixel blocked (as uBlock does), paid by cheque: one server-only Purchase reaches Meta after the hold', async () => {
  const t = Date.now();
  const tab = await newTab({ blockPixel: true });
  try {
    const placed = await checkout(tab, wp.origin, { product, billing: BILLING, payment: 'cheque' });
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(tab.beacons, [], 'the blocked pixel sent nothing');
    let o = await order(placed.id);
    assert.equal(o.status, 'on-hold', 'a cheque order waits for the shop');
    assert.equal(o.browser.fbp, undefined, 'no pixel, no _fbp');
    assert.equal(o.scheduled, false, 'not paid: nothing queued');

    // The shop receives the cheque: the gateway's documented call.
    await onOrder(placed.id, '$o->payment_complete();');
    o = await order(placed.id);
    assert.equal(o.status, 'processing');
    assert.ok(o.scheduled);
    await wp.cron();
    const copies = await deliveredToMeta(o.event_id);
    assert.equal(copies.length, 1);
    assert.deepEqual(copies[0].user_data.em, [HASHED.em]);
    assert.equal(copies[0].user_data.fbp, undefined);
    assert.equal(copies[0].custom_data.value, 25);
    assert.equal((await order(placed.id)).state, 'sent');
  } finally {
    await tab.close();
  }
  timings.push(['pixel blocked, server-only Purchase', Date.now() - t]);
});

test('the collector down at payment: WP-Cron retries with backoff, and the Purchase arrives once when it is back', async () => {
  const t = Date.now();
  // Straight to the collector (not through the shop's proxy), so "down" is a refused connection.
  await setSettings({ server_url: collector.origin });
  const tab = await newTab({ blockPixel: true });
  try {
    const placed = await checkout(tab, wp.origin, { product, billing: BILLING, payment: 'cheque' });
    await collector.stop();
    await onOrder(placed.id, '$o->payment_complete();');

    for (let attempt = 1; attempt <= 2; attempt++) {
      await wp.cron();
      const o = await order(placed.id);
      assert.equal(o.attempts, attempt);
      assert.equal(o.state, 'retrying');
      assert.ok(o.scheduled, 'the next attempt is scheduled');
      await new Promise((r) => setTimeout(r, 1100)); // the test's backoff is 1 s
    }
    const log = fs.readdirSync(path.join(wp.root, 'wp-content', 'uploads', 'wc-logs')).filter((f) => f.startsWith('fbevents-pixel'));
    assert.ok(log.length > 0, 'failures are logged in WooCommerce → Status → Logs');
    const lines = fs.readFileSync(path.join(wp.root, 'wp-content', 'uploads', 'wc-logs', log[0]), 'utf8');
    assert.match(lines, new RegExp(`order ${placed.id}: attempt 2 failed`));
    assert.ok(!lines.includes(SERVER_KEY) && !lines.toLowerCase().includes('john.doe'), 'no key and no customer detail in the log');

    collector = await startCollector({ tmp, db: collector.db, port: collector.port, graphUrl: graph.url, pixels: [`${PIXEL}=graph-token-for-tests`], extraArgs: collectorArgs });
    await wp.cron();
    const o = await order(placed.id);
    assert.equal(o.state, 'sent');
    assert.equal(o.attempts, 3);
    const copies = await deliveredToMeta(o.event_id);
    assert.equal(copies.length, 1, 'delivered once');
    await wp.cron();
    assert.equal((await order(placed.id)).attempts, 3, 'nothing more to send');
  } finally {
    await tab.close();
    await setSettings({ server_url: '' });
  }
  timings.push(['collector down, retried, delivered once', Date.now() - t]);
});

test('backoff: 60 s doubling per attempt, a Retry-After when longer, 408 and 429 retried too', async () => {
  // The collector's answers played through WordPress's own pre_http_request filter, in one PHP
  // run with the real delays (the test shop's 1 s filter removed).
  const out = await wp.php(`remove_all_filters( 'fbevents_pixel_retry_delay' );
$o = wc_create_order();
$o->add_product( wc_get_product( ${product} ), 1 );
$o->set_billing_email( 'someone@example.org' );
$o->calculate_totals();
$o->save();
$id = $o->get_id();
$answers = array(
	array( 500, array() ),
	array( 503, array( 'retry-after' => '600' ) ),
	array( 429, array() ),
	array( 408, array( 'retry-after' => gmdate( 'D, d M Y H:i:s', time() + 1800 ) . ' GMT' ) ),
);
$seen = array();
foreach ( $answers as $answer ) {
	$filter = static fn () => array( 'headers' => $answer[1], 'body' => '{"error":{"message":"busy"}}', 'response' => array( 'code' => $answer[0], 'message' => '' ), 'cookies' => array() );
	add_filter( 'pre_http_request', $filter );
	wp_unschedule_hook( 'fbevents_pixel_send_purchase' );
	do_action( 'fbevents_pixel_send_purchase', $id );
	remove_filter( 'pre_http_request', $filter );
	$o = wc_get_order( $id );
	$seen[] = array( $o->get_meta( '_fbevents_server_state' ), (int) $o->get_meta( '_fbevents_server_attempts' ), wp_next_scheduled( 'fbevents_pixel_send_purchase', array( $id ) ) - time() );
}
wp_unschedule_hook( 'fbevents_pixel_send_purchase' );
echo wp_json_encode( $seen );`);
  const seen = JSON.parse(out);
  const within = (d, lo, hi) => d >= lo - 1 && d <= hi;
  assert.deepEqual(seen.map(([state, attempts]) => [state, attempts]), [['retrying', 1], ['retrying', 2], ['retrying', 3], ['retrying', 4]]);
  assert.ok(within(seen[0][2], 60, 66), `500: first retry after 60 s (+10%), was ${seen[0][2]}`);
  assert.ok(within(seen[1][2], 600, 600), `503 with Retry-After: 600 (longer than 120 s), was ${seen[1][2]}`);
  assert.ok(within(seen[2][2], 240, 264), `429: 240 s, was ${seen[2][2]}`);
  assert.ok(within(seen[3][2], 1799, 1800), `408 with an HTTP-date Retry-After in 30 min, was ${seen[3][2]}`);
});

test('a refused key (a 4xx) is logged on the order and never retried', async () => {
  await setSettings({ server_key: 'not-the-collectors-key-000' });
  try {
    // An order as the checkout would leave it, made in PHP: this case needs no browser.
    const made = await wp.php(`$o = wc_create_order();
$o->add_product( wc_get_product( ${product} ), 1 );
$o->set_billing_email( 'someone@example.org' );
$o->calculate_totals();
$o->save();
$o->update_status( 'processing' );
echo $o->get_id();`);
    const id = Number(made.trim());
    await wp.cron();
    const o = await order(id);
    assert.equal(o.state, 'rejected');
    assert.equal(o.attempts, 1);
    assert.equal(o.scheduled, false, 'no retry scheduled');
    assert.ok(o.notes.some((n) => /refused the Purchase \(HTTP 4\d\d/.test(n)), o.notes.join(' | '));
    await wp.cron();
    assert.equal((await order(id)).attempts, 1);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(atMeta(o.event_id).length, 0);
  } finally {
    await setSettings({ server_key: SERVER_KEY });
  }
});

test('consent: refused means no server event, or one with LDU and no identifiers as the setting says; a banner\'s grant is recorded', async () => {
  const t = Date.now();
  await setSettings({ consent_mode: 'revoke', refused_mode: 'none' });
  try {
    // Nobody answered the banner: the pixel holds everything, and the server sends nothing.
    let tab = await newTab();
    let placed;
    try {
      placed = await checkout(tab, wp.origin, { product, billing: BILLING, payment: 'cod' });
      assert.deepEqual(tab.beacons, [], 'the browser sent nothing');
    } finally {
      await tab.close();
    }
    let o = await order(placed.id);
    assert.equal(o.browser.consent, 'refused');
    assert.equal(o.browser.fbp, undefined);
    await wp.cron();
    o = await order(placed.id);
    assert.equal(o.state, 'skipped');
    assert.equal(o.attempts, 0, 'no request made');
    await new Promise((r) => setTimeout(r, (HOLD_SECS + 1) * 1000));
    assert.equal(atMeta(o.event_id).length, 0, 'nothing at Meta');

    // The LDU setting: a Purchase with Limited Data Use, no customer detail and no browser ID.
    await setSettings({ refused_mode: 'ldu' });
    tab = await newTab();
    try {
      placed = await checkout(tab, wp.origin, { product, billing: BILLING, payment: 'cod', landing: 'fbclid=IwAR-refused' });
    } finally {
      await tab.close();
    }
    await wp.cron();
    o = await order(placed.id);
    assert.equal(o.state, 'sent');
    const [ldu, ...more] = await deliveredToMeta(o.event_id);
    assert.equal(more.length, 0);
    assert.deepEqual(ldu.data_processing_options, ['LDU']);
    assert.equal(ldu.data_processing_options_country, 0);
    assert.equal(ldu.data_processing_options_state, 0);
    for (const key of [...Object.keys(HASHED), 'fbp', 'fbc', 'external_id']) assert.equal(ldu.user_data[key], undefined, `no ${key}`);
    assert.equal(ldu.custom_data.value, 25);

    // A visitor who agreed: their banner calls fbq('consent', 'grant') on every page before the
    // library loads (the test shop's stand-in banner); the checkout records it and the Purchase is
    // a full one, merged with the browser's.
    tab = await newTab();
    try {
      await tab.context.addCookies([{ name: 'test_banner', value: 'granted', url: wp.origin }]);
      placed = await checkout(tab, wp.origin, { product, billing: BILLING, payment: 'cod' });
      const cookies = Object.fromEntries((await tab.context.cookies()).map((c) => [c.name, c.value]));
      assert.equal(cookies.fbevents_consent, 'granted', "the banner's decision is recorded");
      o = await order(placed.id);
      assert.equal(o.browser.consent, 'granted');
      assert.equal(o.browser.fbp, cookies._fbp);
      await beacon(tab, 'Purchase', (b) => b.params.eid === o.event_id);
      // A call after the library has loaded is recorded too.
      await tab.page.evaluate(() => window.fbq('consent', 'limited'));
      const after = Object.fromEntries((await tab.context.cookies()).map((c) => [c.name, c.value]));
      assert.equal(after.fbevents_consent, 'limited');
    } finally {
      await tab.close();
    }
    await wp.cron();
    const [full, ...others] = await deliveredToMeta(o.event_id);
    assert.equal(others.length, 0);
    assert.deepEqual(full.user_data.em, [HASHED.em]);
    assert.equal(full.data_processing_options, undefined);
  } finally {
    await setSettings({ consent_mode: 'none', refused_mode: 'none' });
  }
  assert.ok(!/PHP (Fatal|Warning|Notice).*fbevents-pixel/.test(wp.debugLog()), 'the plugin raised no PHP warning');
  timings.push(['consent: refused, LDU, granted', Date.now() - t]);
});
