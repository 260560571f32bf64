// The WordPress plugin (integrations/wordpress/) against a real WordPress: Debian's WordPress 6.1 on
// PHP's built-in server and a throwaway MariaDB (tests/integrations/wordpress/stack.mjs), the built
// dist/ served by the real collector, headless Chromium as the administrator and the shoppers.
// Needs scripts/setup-wordpress.sh (test.sh's WordPress section runs it) and `cargo build -p
// collector`. Prints how long each phase took.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launchBrowser, requireDist, repoRoot } from '../support/index.mjs';
import { startCollector, until } from '../support/collector.mjs';
import { startWordPress } from './wordpress/stack.mjs';
import { recordBeacons as record, beacon, logIn as logInAt } from './wordpress/shop.mjs';

const PIXEL = '4242424242';
const OTHER_PIXEL = '999';
const ADMIN = { login: 'shopadmin', password: 'admin-pass-for-tests', email: 'owner@shop.example' };
const CUSTOMER = { login: 'ada', password: 'customer-pass-for-tests', email: 'Ada.Lovelace@Example.org', first: 'Ada', last: "O'Brien</script>" };
const sha256 = (s) => crypto.createHash('sha256').update(s, 'utf8').digest('hex');

let tmp;
let collector;
let wp;
let browser;
let adminTab;
const timings = [];
const startedAt = Date.now();

const recordBeacons = (tab) => record(tab, wp.origin);
const logIn = (tab, who) => logInAt(tab, wp.origin, who);

async function newTab() {
  return recordBeacons(await browser.newPage());
}

before(async () => {
  requireDist();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fbevents-wordpress-'));
  let t = Date.now();
  collector = await startCollector({ tmp, pixels: [PIXEL, OTHER_PIXEL] });
  timings.push(['collector', Date.now() - t]);
  wp = await startWordPress({
    tmp,
    pluginDir: path.join(repoRoot, 'integrations', 'wordpress'),
    muPlugins: [path.join(repoRoot, 'tests', 'integrations', 'wordpress', 'purchase-action-fixture.php')],
    admin: ADMIN,
    collectorOrigin: collector.origin,
    timings,
  });
  t = Date.now();
  // The customer, as WooCommerce's registration would create them (a subscriber with a profile).
  // WordPress strips tags from names it is given; the last name is then set as an importer or
  // another plugin could, so the page has to escape a `'` and a `</script>` in it.
  const made = await wp.php(`$id = wp_insert_user( ${phpArray({
    user_login: CUSTOMER.login,
    user_pass: CUSTOMER.password,
    user_email: CUSTOMER.email,
    first_name: CUSTOMER.first,
    role: 'subscriber',
  })} );
if ( $id instanceof WP_Error ) { echo $id->get_error_message(); exit( 1 ); }
update_user_meta( $id, 'last_name', base64_decode( '${Buffer.from(CUSTOMER.last).toString('base64')}' ) );
echo 'ok';`);
  assert.equal(made.trim(), 'ok', 'the customer account was created');
  browser = await launchBrowser();
  adminTab = await newTab();
  await logIn(adminTab, ADMIN);
  timings.push(['customer account, browser, administrator logged in', Date.now() - t]);
});

/** A PHP array literal of strings. */
function phpArray(o) {
  return `array( ${Object.entries(o).map(([k, v]) => `'${k}' => base64_decode( '${Buffer.from(v).toString('base64')}' )`).join(', ')} )`;
}

after(async () => {
  await browser?.close().catch(() => {});
  await wp?.stop();
  await collector?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  timings.push(['whole file', Date.now() - startedAt]);
  console.log(`# WordPress test timings:\n${timings.map(([w, ms]) => `#   ${w}: ${(ms / 1000).toFixed(1)} s`).join('\n')}`);
});

test('the administrator activates the plugin and configures it on its settings page', async () => {
  const t = Date.now();
  const { page } = adminTab;
  await page.goto(`${wp.origin}/wp-admin/plugins.php`);
  await Promise.all([page.waitForURL(/plugins\.php\?.*activate=true/), page.click('#activate-fbevents-pixel')]);
  assert.match(await page.textContent('#message'), /Plugin activated/);

  // Not configured yet: the front end gets nothing.
  const bare = await fetch(`${wp.origin}/`).then((r) => r.text());
  assert.ok(!bare.includes('fbq('), 'no pixel code before a pixel ID is set');

  await page.goto(`${wp.origin}/wp-admin/options-general.php?page=fbevents-pixel`);
  // A pixel ID that is not 1-26 digits is refused with a message and not stored.
  await page.fill('#fbevents_pixel_pixel_id', '12ab');
  await Promise.all([page.waitForURL(/settings-updated=true/), page.click('#submit')]);
  assert.match(await page.textContent('.wrap'), /The pixel ID must be 1 to 26 digits/);
  assert.equal(await page.inputValue('#fbevents_pixel_pixel_id'), '');

  await page.fill('#fbevents_pixel_pixel_id', PIXEL);
  await page.fill('#fbevents_pixel_collector_url', `${wp.origin}/tr/`);
  await page.check('#fbevents_pixel_advanced_matching');
  await page.selectOption('#fbevents_pixel_consent_mode', 'none');
  await Promise.all([page.waitForURL(/settings-updated=true/), page.click('#submit')]);
  assert.match(await page.textContent('.wrap'), /Settings saved/);
  assert.equal(await page.inputValue('#fbevents_pixel_pixel_id'), PIXEL);
  assert.ok(await page.isChecked('#fbevents_pixel_advanced_matching'));
  timings.push(['activate and configure in the admin', Date.now() - t]);
});

test('a visitor who is not logged in: PageView at the collector with our pixel, no identifier anywhere', async () => {
  const tab = await newTab();
  try {
    const response = await tab.page.goto(`${wp.origin}/`);
    const html = await response.text();
    const b = await beacon(tab, 'PageView');
    assert.equal(b.params.id, PIXEL);
    assert.equal(b.params.dl, `${wp.origin}/`);
    assert.deepEqual(Object.keys(b.params).filter((k) => k.startsWith('ud[')), [], 'no advanced matching for a visitor');
    assert.match(b.params.fbp, /^fb\.0\.\d{13}\.\d+$/, 'first-party cookie set on the shop');
    // The script came from the collector's origin (the plugin's default script URL).
    assert.ok(html.includes(JSON.stringify(`${wp.origin}/fbevents.js`)), 'script URL printed');
    assert.ok(html.includes(`fbq('init','${PIXEL}');`), 'init without user data');
    for (const plain of [CUSTOMER.email, CUSTOMER.email.toLowerCase(), ADMIN.email]) assert.ok(!html.toLowerCase().includes(plain.toLowerCase()));
    assert.doesNotMatch(response.headers()['cache-control'] || '', /no-store/, 'a visitor page stays cacheable');

    const stored = await until('the PageView stored by the collector', async () =>
      (await collector.events({ pixel: PIXEL, event: 'PageView' })).find((e) => e.fbp === b.params.fbp));
    assert.equal(stored.event_id, b.params.eid);
    assert.deepEqual(stored.user_data, {});
  } finally {
    await tab.close();
  }
});

test('a logged-in customer: ud[em] is the hash of their e-mail, only on their own uncached page', async () => {
  const tab = await newTab();
  try {
    await logIn(tab, CUSTOMER);
    tab.beacons.length = 0;
    const response = await tab.page.goto(`${wp.origin}/?p=1`);
    const cache = response.headers()['cache-control'] || '';
    assert.match(cache, /no-store/, 'the page with their identifiers must not be cached');
    assert.match(cache, /private/);
    const b = await beacon(tab, 'PageView');
    assert.equal(b.params.id, PIXEL);
    assert.equal(b.params['ud[em]'], sha256(CUSTOMER.email.toLowerCase()));
    assert.equal(b.params['ud[fn]'], sha256('ada'));
    assert.equal(b.params['ud[ln]'], sha256('obrienscript'), 'the last name arrived whole, quote and </script> included');
    for (const plain of [CUSTOMER.email, CUSTOMER.email.toLowerCase(), 'Lovelace', "O'Brien"]) {
      assert.ok(!b.raw.includes(plain), `${plain} is not on the wire`);
    }
    assert.equal(await tab.page.evaluate(() => window.injected), undefined, 'nothing in the profile broke out of the script');

    const stored = await until('their PageView at the collector', async () =>
      (await collector.events({ pixel: PIXEL, event: 'PageView' })).find((e) => e.event_id === b.params.eid));
    assert.equal(stored.user_data.em, sha256(CUSTOMER.email.toLowerCase()));

    // The same URL fetched without their cookies carries none of it.
    const anonymous = await fetch(`${wp.origin}/?p=1`).then((r) => r.text());
    assert.ok(!anonymous.toLowerCase().includes(CUSTOMER.email.toLowerCase()));
  } finally {
    await tab.close();
  }
});

test('Purchase from the PHP action (a shop that is not WooCommerce) and the JS hook: eventID is the order number', async () => {
  const tab = await newTab();
  try {
    await tab.page.goto(`${wp.origin}/?test_order=1001`);
    const p = await beacon(tab, 'Purchase');
    assert.equal(p.params.eid, '1001');
    assert.equal(p.params.id, PIXEL);
    assert.equal(Number(p.params['cd[value]']), 25.5);
    assert.equal(p.params['cd[currency]'], 'EUR');
    assert.equal(p.params['cd[content_ids]'], '["sku-1","sku-2"]');
    assert.equal(p.params['cd[content_name]'], '</script><script>window.injected=1</script>"\'&', 'custom data arrives exactly');
    assert.equal(await tab.page.evaluate(() => window.injected), undefined, 'and was never markup');

    // Fired before wp_head: printed after the base code.
    await tab.page.goto(`${wp.origin}/?test_early_order=A-77`);
    const early = await beacon(tab, 'Purchase', (b) => b.params.eid === 'A-77');
    assert.equal(early.params['cd[currency]'], 'USD');

    // The JS hook, as a function and as a DOM event.
    await tab.page.evaluate(() => window.fbeventsPixel.purchase(1002, { value: 9.99, currency: 'USD' }));
    await tab.page.evaluate(() =>
      document.dispatchEvent(new CustomEvent('fbevents-pixel:purchase', { detail: { order: '1003', value: 5, currency: 'GBP' } })));
    const js = await beacon(tab, 'Purchase', (b) => b.params.eid === '1002');
    assert.equal(Number(js.params['cd[value]']), 9.99);
    const dom = await beacon(tab, 'Purchase', (b) => b.params.eid === '1003');
    assert.equal(dom.params['cd[currency]'], 'GBP');
    assert.ok(!('cd[order]' in dom.params), 'the order number is the event ID, not custom data');

    const stored = await until('the three Purchases at the collector', async () => {
      const ids = (await collector.events({ pixel: PIXEL, event: 'Purchase' })).map((e) => e.event_id);
      return ['1001', 'A-77', '1002', '1003'].every((id) => ids.includes(id)) && ids;
    });
    assert.equal(stored.filter((id) => id === '1001').length, 1);
  } finally {
    await tab.close();
  }
});

test('consent modes: revoke holds the PageView until the banner grants; GPC means limited mode', async () => {
  const setMode = (mode) => wp.php(`$o = get_option( 'fbevents_pixel' ); $o['consent_mode'] = '${mode}'; update_option( 'fbevents_pixel', $o ); echo 'ok';`);
  try {
    await setMode('revoke');
    const tab = await newTab();
    try {
      await tab.page.goto(`${wp.origin}/?p=1`);
      await tab.page.waitForFunction(() => typeof window.fbq.callMethod === 'function');
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual(tab.beacons, [], 'nothing sent before consent');
      assert.deepEqual((await tab.context.cookies()).filter((c) => c.name.startsWith('_fb')), [], 'no cookie before consent');
      await tab.page.evaluate(() => window.fbq('consent', 'grant')); // what the site's banner does
      const b = await beacon(tab, 'PageView');
      assert.equal(b.params.id, PIXEL);
      assert.ok(b.params.fbp, 'granted: cookies too');
    } finally {
      await tab.close();
    }

    await setMode('gpc');
    const gpc = recordBeacons(await browser.newPage());
    try {
      await gpc.context.addInitScript(() => Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true }));
      await gpc.page.goto(`${wp.origin}/?utm_source=newsletter#top`);
      const b = await beacon(gpc, 'PageView');
      assert.equal(b.params.dpo, 'LDU', 'limited data use under GPC');
      assert.equal(b.params.dl, `${wp.origin}/`, 'no query string in limited mode');
      assert.ok(!('fbp' in b.params), 'no browser ID under GPC');
    } finally {
      await gpc.close();
    }
  } finally {
    await setMode('none');
  }
});

test('the settings refuse a request without a nonce, and a customer cannot open them', async () => {
  const form = { option_page: 'fbevents_pixel', action: 'update', 'fbevents_pixel[pixel_id]': OTHER_PIXEL, 'fbevents_pixel[collector_url]': `${wp.origin}/tr/` };
  // The administrator's own session, but no _wpnonce: WordPress's options.php refuses.
  const refused = await adminTab.context.request.post(`${wp.origin}/wp-admin/options.php`, { form, maxRedirects: 0 });
  assert.equal(refused.status(), 403);
  assert.match(await refused.text(), /link you followed has expired/i);
  // A wrong nonce too.
  const wrong = await adminTab.context.request.post(`${wp.origin}/wp-admin/options.php`, { form: { ...form, _wpnonce: 'abcdef1234' }, maxRedirects: 0 });
  assert.equal(wrong.status(), 403);
  const front = await fetch(`${wp.origin}/`).then((r) => r.text());
  assert.ok(front.includes(`fbq('init','${PIXEL}');`), 'the pixel ID is unchanged');
  assert.ok(!front.includes(`'${OTHER_PIXEL}'`));

  const tab = await newTab();
  try {
    await logIn(tab, CUSTOMER);
    const page = await tab.page.goto(`${wp.origin}/wp-admin/options-general.php?page=fbevents-pixel`);
    assert.equal(page.status(), 403);
    assert.ok(!(await page.text()).includes('fbevents_pixel[pixel_id]'), 'no settings form for a customer');
  } finally {
    await tab.close();
  }
  assert.ok(!/PHP (Fatal|Warning|Notice|Deprecated).*fbevents-pixel/.test(fs.existsSync(path.join(tmp, 'debug.log')) ? wp.debugLog() : ''), 'the plugin raised no PHP warning');
});
