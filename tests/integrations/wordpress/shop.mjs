// What the WordPress tests do as a person would in Chromium: record the beacons a tab sends to the
// shop's /tr, wait for one, log in, and (with WooCommerce) buy the test product through the real
// classic checkout.
import { parseParams } from '../../support/index.mjs';
import { until } from '../../support/collector.mjs';

/** Every beacon `tab` sends to `origin`/tr, as { raw, params }, in `tab.beacons`. */
export function recordBeacons(tab, origin) {
  tab.beacons = [];
  tab.page.on('request', (req) => {
    const u = new URL(req.url());
    if (u.origin === origin && /^\/tr\/?$/.test(u.pathname)) {
      const raw = req.method() === 'GET' ? u.search.slice(1) : req.postData() || '';
      tab.beacons.push({ raw: decodeURIComponent(raw), params: Object.fromEntries(parseParams(raw, req.headers()['content-type'] || '')) });
    }
  });
  return tab;
}

/** The first beacon of event `ev` (and `filter`) the tab sends within 10 s; says what it saw if none. */
export async function beacon(tab, ev, filter = () => true) {
  try {
    return await until(`a ${ev} beacon`, () => tab.beacons.find((b) => b.params.ev === ev && filter(b)), 10000);
  } catch (e) {
    const seen = tab.beacons.map((b) => `${b.params.ev}/${b.params.eid}`).join(', ') || 'none';
    const console = tab.messages.map((m) => `  ${m.type}: ${m.text}`).join('\n');
    throw new Error(`${e.message} at ${tab.page.url()}; beacons: ${seen}; blocked: ${tab.blocked.join(', ') || 'none'}; console:\n${console}`);
  }
}

/** Logs `who` ({login, password}) in through wp-login.php. */
export async function logIn(tab, origin, who) {
  await tab.page.goto(`${origin}/wp-login.php`);
  await tab.page.fill('#user_login', who.login);
  await tab.page.fill('#user_pass', who.password);
  await Promise.all([tab.page.waitForURL((u) => !u.pathname.endsWith('/wp-login.php')), tab.page.click('#wp-submit')]);
}

/**
 * Buys `quantity` of product `product` as a visitor does: its page (with `landing` query, e.g.
 * `fbclid=…`), Add to cart, the checkout form with `billing`, payment method `payment` (`cod`,
 * `cheque`), Place order, and the order-received page. `beforePlace(page)` runs on the filled form.
 * Resolves with the order's ID and key, parsed from the order-received URL.
 */
export async function checkout(tab, origin, { product, quantity = 2, billing, payment, landing = '', beforePlace }) {
  const { page } = tab;
  await page.goto(`${origin}/?post_type=product&p=${product}${landing ? `&${landing}` : ''}`);
  await page.fill('input.qty', String(quantity));
  await Promise.all([page.waitForNavigation(), page.click('button[name=add-to-cart]')]);
  await page.goto(`${origin}/checkout/`);
  for (const [field, value] of Object.entries(billing)) {
    if (field === 'state') await page.selectOption('#billing_state', value, { force: true }); // select2 hides the <select>
    else await page.fill(`#billing_${field}`, value);
  }
  // The payment methods are redrawn by an AJAX refresh of the order review; wait for it to end.
  await page.waitForFunction(() => !document.querySelector('.woocommerce-checkout-payment .blockUI'));
  await page.check(`#payment_method_${payment}`);
  if (beforePlace) await beforePlace(page);
  await Promise.all([page.waitForURL(/order-received/, { timeout: 30000 }), page.click('#place_order')]);
  const u = new URL(page.url());
  const id = Number((u.pathname.match(/order-received\/(\d+)/) || [])[1] || u.searchParams.get('order-received'));
  return { id, key: u.searchParams.get('key'), url: page.url() };
}
