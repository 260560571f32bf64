// A shopper's purchase in the demo store (www/store), clicked as a visitor would: consent, the
// enamel mug into the cart, checkout with Ada Lovelace's details, the thank-you page.

/** Buys the mug on `origin` in `page`; returns the order ID the thank-you page shows. */
export async function buyMug(page, origin, { email = 'ada@example.org' } = {}) {
  await page.goto(`${origin}/`);
  await page.click('#consent-accept');
  await page.click('a.card[data-sku="mug-enamel"]');
  await page.click('#add-to-cart');
  await page.click('a[href="cart.html"]');
  await page.click('#to-checkout');
  await page.fill('[name=email]', email);
  await page.fill('[name=first_name]', 'Ada');
  await page.fill('[name=last_name]', 'Lovelace');
  await page.fill('[name=phone]', '+44 20 7946 0958');
  await page.fill('[name=city]', 'London');
  await page.fill('[name=zip]', 'SW1A 1AA');
  await page.selectOption('[name=country]', 'GB');
  await page.click('#place-order');
  await page.waitForURL('**/thanks.html');
  return (await page.textContent('#order-id')).trim();
}
