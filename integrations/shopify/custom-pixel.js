// fbevents as a Shopify custom pixel: paste this file into Settings → Customer events → Add custom
// pixel, and set the two values below. See README.md's "Integrations" section.
//
// Shopify runs a custom pixel in a sandboxed iframe on another origin: its document.cookie is not
// the shop's, and its location is the sandbox's. So this script
//   1. gives the pixel a stand-in document (`fbq.host`): the shop page's URL and referrer from the
//      event's context, and a cookie jar that starts with the shop's _fbp/_fbc (read through
//      Shopify's browser.cookie.get) and writes through browser.cookie.set to the shop's page;
//   2. finds, before the pixel loads, which domain the shop's page accepts cookies on (the pixel's
//      own probe would otherwise only ever see the stand-in jar);
//   3. subscribes to Shopify's standard events and calls fbq with the event ID Shopify gives each
//      one (event.id; the order ID for checkout_completed, so the Conversions API copy the
//      collector relays deduplicates with the browser's).
var FBEVENTS_PIXEL_ID = '1234567890';
var FBEVENTS_ORIGIN = 'https://shop.example.com'; // where the collector serves fbevents.js and /tr/

(function () {
  // Meta's base code, without loading the script yet: calls queue until the jar is ready.
  var f = window.fbq = function () {
    f.callMethod ? f.callMethod.apply(f, arguments) : f.queue.push(arguments);
  };
  if (!window._fbq) window._fbq = f;
  f.push = f;
  f.loaded = true;
  f.version = '2.0';
  f.queue = [];

  var PROBE = '_fbp_probe';
  var page = (init && init.context && init.context.document) || {};
  var values = {}; // the shop's cookies the pixel uses, by name
  var accepted = ''; // the domain the shop's page accepts cookies on ('' : host-only)

  // Reads like document.cookie ("a=1; b=2"); a write is one "name=value; Max-Age=…; Domain=…"
  // string, kept only if the shop's page would keep it (its Domain is the accepted one, or none),
  // and passed on to the shop's page. The pixel's domain probe stays in the jar.
  var jar = {
    URL: (page.location && page.location.href) || '',
    referrer: page.referrer || '',
    get cookie() {
      return Object.keys(values).map(function (k) { return k + '=' + values[k]; }).join('; ');
    },
    set cookie(s) {
      var parts = String(s).split(';');
      var eq = parts[0].indexOf('=');
      if (eq < 1) return;
      var name = parts[0].slice(0, eq).trim();
      var domain = '';
      var gone = false;
      for (var i = 1; i < parts.length; i++) {
        var a = parts[i].trim().toLowerCase();
        if (a.indexOf('domain=') === 0) domain = a.slice(7);
        if (a === 'max-age=0') gone = true;
      }
      if (domain && domain !== accepted) return;
      if (gone) delete values[name];
      else values[name] = parts[0].slice(eq + 1).trim();
      if (name !== PROBE) browser.cookie.set(String(s)).catch(function () {});
    },
  };
  f.host = jar;

  function broadestDomain(host) {
    if (!host || /^[0-9.]+$/.test(host) || host.indexOf(':') >= 0 || host.indexOf('.') < 0) {
      return Promise.resolve('');
    }
    var labels = host.split('.');
    var token = String(Math.random()).slice(2);
    function attempt(n) {
      if (n > labels.length) return Promise.resolve('');
      var d = labels.slice(-n).join('.');
      return browser.cookie.set(PROBE + '=' + token + '; Max-Age=60; Path=/; Domain=' + d)
        .then(function () { return browser.cookie.get(PROBE); })
        .then(function (v) {
          if (v !== token) return attempt(n + 1);
          return browser.cookie.set(PROBE + '=; Max-Age=0; Path=/; Domain=' + d).then(function () { return d; });
        });
    }
    return attempt(1);
  }

  var host = (page.location && page.location.hostname) || '';
  Promise.all([
    broadestDomain(host).then(function (d) { accepted = d; }),
    browser.cookie.get('_fbp').then(function (v) { if (v) values._fbp = v; }),
    browser.cookie.get('_fbc').then(function (v) { if (v) values._fbc = v; }),
  ]).catch(function (e) {
    console.warn('[fbevents] Shopify cookies unavailable (' + e + '); events go without _fbp/_fbc');
  }).then(function () {
    var t = document.createElement('script');
    t.async = true;
    t.src = FBEVENTS_ORIGIN + '/fbevents.js';
    document.head.appendChild(t);
  });

  fbq('set', 'endpoint', FBEVENTS_ORIGIN + '/tr/');
  fbq('init', FBEVENTS_PIXEL_ID);

  // --- Shopify's standard events → Meta's ----------------------------------------------------------
  function money(m) {
    return m && m.amount !== undefined && m.amount !== null ? Number(m.amount) : undefined;
  }
  function lines(checkout) {
    return (checkout.lineItems || []).filter(function (l) { return l && l.variant; }).map(function (l) {
      return { id: String(l.variant.id), quantity: l.quantity || 1 };
    });
  }
  function track(event, name, data, eventId) {
    var doc = event.context && event.context.document;
    if (doc && doc.location) jar.URL = doc.location.href;
    if (doc && doc.referrer !== undefined) jar.referrer = doc.referrer;
    fbq('track', name, data || {}, { eventID: String(eventId || event.id) });
  }
  function checkoutData(c) {
    var contents = lines(c);
    return {
      content_type: 'product',
      content_ids: contents.map(function (l) { return l.id; }),
      contents: contents,
      num_items: contents.reduce(function (n, l) { return n + l.quantity; }, 0),
      value: money(c.totalPrice),
      currency: c.currencyCode || (c.totalPrice && c.totalPrice.currencyCode),
    };
  }

  analytics.subscribe('page_viewed', function (event) {
    track(event, 'PageView');
  });
  analytics.subscribe('product_viewed', function (event) {
    var v = (event.data && event.data.productVariant) || {};
    track(event, 'ViewContent', {
      content_type: 'product',
      content_ids: [String(v.id)],
      content_name: v.product && v.product.title,
      value: money(v.price),
      currency: v.price && v.price.currencyCode,
    });
  });
  analytics.subscribe('product_added_to_cart', function (event) {
    var line = (event.data && event.data.cartLine) || {};
    var v = line.merchandise || {};
    track(event, 'AddToCart', {
      content_type: 'product',
      content_ids: [String(v.id)],
      contents: [{ id: String(v.id), quantity: line.quantity || 1 }],
      content_name: v.product && v.product.title,
      value: money(line.cost && line.cost.totalAmount),
      currency: line.cost && line.cost.totalAmount && line.cost.totalAmount.currencyCode,
    });
  });
  analytics.subscribe('checkout_started', function (event) {
    track(event, 'InitiateCheckout', checkoutData((event.data && event.data.checkout) || {}));
  });
  analytics.subscribe('checkout_completed', function (event) {
    var c = (event.data && event.data.checkout) || {};
    var order = c.order && c.order.id;
    var a = c.billingAddress || c.shippingAddress || {};
    // Plain values: the pixel normalises and hashes them in the browser; only hashes leave it.
    fbq('set', 'userData', {
      em: c.email || undefined,
      ph: c.phone || a.phone || undefined,
      fn: a.firstName || undefined,
      ln: a.lastName || undefined,
      ct: a.city || undefined,
      st: a.provinceCode || undefined,
      zp: a.zip || undefined,
      country: a.countryCode || undefined,
    }, FBEVENTS_PIXEL_ID);
    var data = checkoutData(c);
    if (order) data.order_id = String(order);
    track(event, 'Purchase', data, order);
  });
})();
