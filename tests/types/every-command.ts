// Compiles against dist/fbevents.d.ts with `tsc --noEmit --strict`: every command the pixel
// supports (README.md's command table), each overload at least once (tests/e2e/types.test.mjs).

// init: id as string or number, advanced matching (canonical keys and aliases), agent.
fbq('init', '1234567890');
fbq('init', 1234567890, { em: 'ada@example.org', ph: '+44 20 7946 0958', fn: 'Ada', ln: 'Lovelace', ge: 'f', db: '19901231', ct: 'London', st: 'ldn', zp: 'sw1a1aa', country: 'gb', external_id: 'u-1' });
fbq('init', '1234567890', { email: 'ada@example.org', phone: '1', first_name: 'Ada', last_name: 'L', f_name: 'A', l_name: 'L', gen: 'f', gender: 'female', dob: '1990-12-31', city: 'London', state: 'CA', zip: '94025', zip_code: '94025' }, { agent: 'plwordpress' });

// track: every standard event, with and without custom data and event ID.
const standard: facebook.Pixel.StandardEventName[] = ['AddPaymentInfo', 'AddToCart', 'AddToWishlist', 'CompleteRegistration', 'Contact', 'CustomizeProduct', 'Donate', 'FindLocation', 'InitiateCheckout', 'Lead', 'PageView', 'Schedule', 'Search', 'StartTrial', 'SubmitApplication', 'Subscribe', 'ViewContent'];
void standard;
fbq('track', 'PageView');
fbq('track', 'ViewContent', { content_ids: ['sku-1'], content_type: 'product', content_name: 'Mug', content_category: 'Kitchen', value: 12, currency: 'EUR' });
fbq('track', 'Search', { search_string: 'mug' });
fbq('track', 'AddToCart', { contents: [{ id: 'sku-1', quantity: 2, item_price: 6 }], value: 12, currency: 'EUR' }, { eventID: 'atc-1' });
fbq('track', 'AddToWishlist', { content_ids: ['sku-1'] });
fbq('track', 'InitiateCheckout', { num_items: 2 }, { event_id: 'ic-1' });
fbq('track', 'AddPaymentInfo');
fbq('track', 'Purchase', { value: 25.5, currency: 'EUR', order_id: '1001', content_ids: ['sku-1'], delivery_category: 'home_delivery' }, { eventID: '1001' });
fbq('track', 'Lead', { predicted_ltv: 100 });
fbq('track', 'CompleteRegistration', { status: true });
fbq('track', 'Contact');
fbq('track', 'CustomizeProduct');
fbq('track', 'Donate', { value: 5, currency: 'USD' });
fbq('track', 'FindLocation');
fbq('track', 'Schedule');
fbq('track', 'StartTrial', { value: 0, currency: 'USD', predicted_ltv: 120 });
fbq('track', 'SubmitApplication');
fbq('track', 'Subscribe', { value: 9, currency: 'USD', custom_tier: 'gold' });

// Custom events and single-pixel events.
fbq('trackCustom', 'ShareRecipe', { recipe: 'soup', nested: { a: [1, 2] } });
fbq('trackCustom', 'Purchse');
fbq('trackCustom', 'WithId', {}, { eventID: 'c-1' });
fbq('trackSingle', '1234567890', 'ViewContent', { content_ids: ['sku-2'] });
fbq('trackSingle', 1234567890, 'Purchase', { value: 1, currency: 'USD' }, { eventID: 'o-2' });
fbq('trackSingleCustom', '1234567890', 'Quiz', { score: 3 }, { event_id: 'q-1' });

// Consent and limited data use.
fbq('consent', 'revoke');
fbq('consent', 'grant');
fbq('consent', 'limited');
fbq('dataProcessingOptions', ['LDU'], 1, 1000);
fbq('dataProcessingOptions', ['LDU'], 0, 0);
fbq('dataProcessingOptions', ['LDU']);
fbq('dataProcessingOptions', []);

// Every `set` key, ours included.
fbq('set', 'endpoint', 'https://shop.example.com/tr/');
fbq('set', 'openbridge', '1234567890', 'https://capig.example.com/');
fbq('set', 'agent', 'plwordpress', '1234567890');
fbq('set', 'firstPartyCookies', false);
fbq('set', 'firstPartyCookies', false, '1234567890');
fbq('set', 'userData', { em: 'ada@example.org' });
fbq('set', 'userData', { em: 'ada@example.org' }, '1234567890');
fbq('set', 'honorGPC', true);
fbq('set', 'debug', true);
fbq('set', 'autoConfig', false, '1234567890');

// The legacy array form, the window property, the alias and the stub's properties.
fbq(['track', 'PageView']);
fbq(['init', '1234567890', { em: 'ada@example.org' }]);
fbq(['set', 'endpoint', 'https://shop.example.com/tr/']);
window.fbq('track', 'PageView');
_fbq('trackCustom', 'ViaAlias');
fbq.disablePushState = true;
fbq.allowDuplicatePageViews = false;
const version: string = fbq.version;
const queued: number = fbq.queue.length;
const loaded: boolean = fbq.loaded;
fbq.push('track', 'PageView');
void [version, queued, loaded];

// Shared helpers a store writes: a typed order, forwarded with its order number as event ID.
function purchased(order: { number: string; total: number; currency: string; skus: string[] }): void {
  const data: facebook.Pixel.PurchaseParameters = { value: order.total, currency: order.currency, content_ids: order.skus, content_type: 'product' };
  fbq('track', 'Purchase', data, { eventID: order.number });
}
purchased({ number: '1001', total: 10, currency: 'USD', skus: ['a'] });
