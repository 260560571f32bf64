// Code written against @types/facebook-pixel (its namespace, interface names and calling style),
// unchanged: it must compile against dist/fbevents.d.ts too (tests/e2e/types.test.mjs).

const viewContent: facebook.Pixel.ViewContentParameters = {
  value: 10,
  currency: 'USD',
  content_name: 'Enamel mug',
  content_type: 'product',
  content_ids: ['mug-enamel'],
  content_category: 'Kitchen',
  contents: [{ id: 'mug-enamel', quantity: 1 }],
};
const search: facebook.Pixel.SearchParameters = { search_string: 'mug', content_ids: ['a'] };
const addToCart: facebook.Pixel.AddToCartParameters = { value: 10, currency: 'USD', content_ids: ['mug-enamel'] };
const wishlist: facebook.Pixel.AddToWishlistParameters = { content_name: 'Mug' };
const checkout: facebook.Pixel.InitiateCheckoutParameters = { num_items: 1, value: 10, currency: 'USD' };
const payment: facebook.Pixel.AddPaymentInfoParameters = { content_category: 'Kitchen' };
const purchase: facebook.Pixel.PurchaseParameters = { value: 10, currency: 'USD', num_items: 1, order_id: '1001' };
const lead: facebook.Pixel.LeadParameters = { content_name: 'Newsletter' };
const registration: facebook.Pixel.CompleteRegistrationParameters = { status: true };
const custom: facebook.Pixel.CustomParameters = { anything: [1, 'two', { three: 3 }] };
const dpa: facebook.Pixel.DPA.PurchaseParameters = { value: 10, currency: 'USD', content_type: 'product', content_ids: ['mug-enamel'] };
const dpaView: facebook.Pixel.DPA.ViewContentParameters = { content_type: 'product', content_ids: ['mug-enamel'] };
const dpaCart: facebook.Pixel.DPA.AddToCartParameters = { content_type: 'product', content_ids: ['mug-enamel'] };
const options: facebook.Pixel.EventIDOptions = { eventID: 'order-1001' };

fbq('init', '1234567890');
fbq('track', 'PageView');
fbq('track', 'ViewContent', viewContent);
fbq('track', 'Search', search);
fbq('track', 'AddToCart', addToCart, options);
fbq('track', 'AddToWishlist', wishlist);
fbq('track', 'InitiateCheckout', checkout);
fbq('track', 'AddPaymentInfo', payment);
fbq('track', 'Purchase', purchase, options);
fbq('track', 'Lead', lead);
fbq('track', 'CompleteRegistration', registration);
fbq('track', 'Purchase', dpa);
fbq('track', 'ViewContent', dpaView);
fbq('track', 'AddToCart', dpaCart);
fbq('trackCustom', 'MyEvent', custom);
fbq('trackSingle', '1234567890', 'Purchase', purchase, options);
fbq('trackSingleCustom', '1234567890', 'MyEvent', custom);

// Their function type, passed around.
const tracker: facebook.Pixel.Event = window.fbq;
tracker('track', 'PageView');
