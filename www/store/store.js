// The demo storefront's shared script: catalogue, cart (localStorage), consent banner, and the
// Meta Pixel events a real store fires. The base code, consent default, init and PageView are in
// each page's <head>, as a store pastes them; this file only adds what depends on the page.
(function () {
  'use strict';

  var CURRENCY = 'USD';
  var PRODUCTS = [
    { sku: 'tee-classic', name: 'Classic Tee', category: 'Apparel', price: 19, color: '#e4572e' },
    { sku: 'hoodie-zip', name: 'Zip Hoodie', category: 'Apparel', price: 49, color: '#29335c' },
    { sku: 'cap-wool', name: 'Wool Cap', category: 'Accessories', price: 24, color: '#669bbc' },
    { sku: 'mug-enamel', name: 'Enamel Mug', category: 'Home', price: 14.5, color: '#f3a712' },
    { sku: 'socks-3', name: 'Socks, 3 pairs', category: 'Apparel', price: 12, color: '#a8c686' },
    { sku: 'tote-canvas', name: 'Canvas Tote', category: 'Accessories', price: 16, color: '#8d6a9f' },
  ];

  // --- small helpers -----------------------------------------------------------------------------
  function $(sel) { return document.querySelector(sel); }
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) {
      if (k === 'text') e.textContent = attrs[k];
      else if (k.slice(0, 2) === 'on') e.addEventListener(k.slice(2), attrs[k]);
      else e.setAttribute(k, attrs[k]);
    }
    (children || []).forEach(function (c) { e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); });
    return e;
  }
  function money(n) {
    return new Intl.NumberFormat('en-US', { style: 'currency', currency: CURRENCY }).format(n);
  }
  function cents(n) { return Math.round(n * 100) / 100; }
  function product(sku) {
    for (var i = 0; i < PRODUCTS.length; i++) if (PRODUCTS[i].sku === sku) return PRODUCTS[i];
    return null;
  }
  function art(p) {
    var ns = 'http://www.w3.org/2000/svg';
    var svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 160 120');
    svg.setAttribute('class', 'art');
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', p.name);
    var bg = document.createElementNS(ns, 'rect');
    bg.setAttribute('width', '160'); bg.setAttribute('height', '120'); bg.setAttribute('fill', p.color);
    var t = document.createElementNS(ns, 'text');
    t.setAttribute('x', '80'); t.setAttribute('y', '76'); t.setAttribute('text-anchor', 'middle');
    t.setAttribute('font-size', '44'); t.setAttribute('fill', '#fff'); t.setAttribute('font-family', 'system-ui, sans-serif');
    t.textContent = p.name.charAt(0);
    svg.appendChild(bg); svg.appendChild(t);
    return svg;
  }
  // Storage can throw (disabled cookies, private modes): the store keeps working without it.
  function load(storage, key, fallback) {
    try {
      var v = window[storage].getItem(key);
      return v === null ? fallback : JSON.parse(v);
    } catch (e) { return fallback; }
  }
  function save(storage, key, value) {
    try { window[storage].setItem(key, JSON.stringify(value)); } catch (e) {}
  }
  function track() {
    if (typeof window.fbq === 'function') window.fbq.apply(null, arguments);
  }

  // --- cart -------------------------------------------------------------------------------------
  // [{ sku, quantity }], in localStorage so it survives tabs and reloads.
  function cart() { return load('localStorage', 'cart', []).filter(function (l) { return product(l.sku); }); }
  function setCart(lines) { save('localStorage', 'cart', lines); updateBadge(); }
  function addToCart(sku, quantity) {
    var lines = cart();
    var line = lines.filter(function (l) { return l.sku === sku; })[0];
    if (line) line.quantity += quantity; else lines.push({ sku: sku, quantity: quantity });
    setCart(lines);
  }
  // The pixel's view of a set of cart lines.
  function summary(lines) {
    var value = 0, items = 0;
    var contents = lines.map(function (l) {
      var p = product(l.sku);
      value += p.price * l.quantity;
      items += l.quantity;
      return { id: l.sku, quantity: l.quantity, item_price: p.price };
    });
    return {
      content_ids: lines.map(function (l) { return l.sku; }),
      contents: contents,
      content_type: 'product',
      num_items: items,
      value: cents(value),
      currency: CURRENCY,
    };
  }
  function updateBadge() {
    var b = $('#cart-count');
    if (b) b.textContent = String(cart().reduce(function (n, l) { return n + l.quantity; }, 0));
  }

  // --- consent ------------------------------------------------------------------------------------
  // The <head> of every page calls fbq('consent', 'revoke') before init unless the visitor chose
  // 'granted' (or 'limited', which calls our fbq('consent', 'limited') instead). The banner asks.
  function consentChoice() {
    try { return localStorage.getItem('consent'); } catch (e) { return null; }
  }
  function choose(choice) {
    var before = consentChoice();
    try { localStorage.setItem('consent', choice); } catch (e) {}
    if (choice === 'granted') track('consent', 'grant');
    else if (choice === 'limited') track('consent', 'limited');
    else if (before === 'granted' || before === 'limited') track('consent', 'revoke');
    var banner = $('#consent');
    if (banner) banner.remove();
  }
  function showBanner() {
    if ($('#consent')) return;
    document.body.appendChild(el('div', { id: 'consent', class: 'consent', role: 'dialog', 'aria-label': 'Privacy choices' }, [
      el('p', { text: 'We use the Meta Pixel to measure our ads. Accept: events with cookies and hashed contact details, for ad matching. Limited: events for measurement only, with no cookies, no contact details and no page query strings. Decline: nothing is sent.' }),
      el('div', { class: 'actions' }, [
        el('button', { id: 'consent-accept', text: 'Accept', onclick: function () { choose('granted'); } }),
        el('button', { id: 'consent-limited', class: 'secondary', text: 'Limited', onclick: function () { choose('limited'); } }),
        el('button', { id: 'consent-decline', class: 'secondary', text: 'Decline', onclick: function () { choose('denied'); } }),
      ]),
    ]));
  }

  // --- pages --------------------------------------------------------------------------------------
  var pages = {
    home: function () {
      var grid = $('#products');
      PRODUCTS.forEach(function (p) {
        grid.appendChild(el('a', { class: 'card', href: 'product.html?sku=' + encodeURIComponent(p.sku), 'data-sku': p.sku }, [
          art(p),
          el('div', { class: 'info' }, [el('div', { class: 'name', text: p.name }), el('div', { class: 'price', text: money(p.price) })]),
        ]));
      });
    },

    product: function () {
      var p = product(new URLSearchParams(location.search).get('sku'));
      var box = $('#product');
      if (!p) {
        box.appendChild(el('p', { text: 'No such product. ' }, [el('a', { href: './', text: 'Back to the shop' })]));
        return;
      }
      document.title = p.name + ' · Demo Store';
      var qty = el('input', { id: 'quantity', type: 'number', min: '1', max: '99', value: '1', 'aria-label': 'Quantity' });
      var flash = el('div', { id: 'added', class: 'flash', hidden: '' });
      box.appendChild(el('div', { class: 'product' }, [
        art(p),
        el('div', {}, [
          el('h1', { text: p.name }),
          el('p', { class: 'price', text: money(p.price) + ' · ' + p.category }),
          el('p', {}, [qty, ' ', el('button', { id: 'add-to-cart', text: 'Add to cart', onclick: function () {
            var n = Math.max(1, Math.min(99, parseInt(qty.value, 10) || 1));
            addToCart(p.sku, n);
            track('track', 'AddToCart', {
              content_ids: [p.sku],
              content_name: p.name,
              content_type: 'product',
              contents: [{ id: p.sku, quantity: n, item_price: p.price }],
              value: cents(p.price * n),
              currency: CURRENCY,
            });
            flash.textContent = 'Added ' + n + ' × ' + p.name + ' to your cart. ';
            flash.appendChild(el('a', { href: 'cart.html', text: 'View cart' }));
            flash.hidden = false;
          } })]),
          flash,
        ]),
      ]));
      track('track', 'ViewContent', {
        content_ids: [p.sku],
        content_name: p.name,
        content_category: p.category,
        content_type: 'product',
        value: p.price,
        currency: CURRENCY,
      });
    },

    cart: function () {
      var box = $('#cart');
      function render() {
        box.textContent = '';
        var lines = cart();
        if (!lines.length) {
          box.appendChild(el('p', { text: 'Your cart is empty. ' }, [el('a', { href: './', text: 'Keep shopping' })]));
          return;
        }
        var body = el('tbody');
        lines.forEach(function (l) {
          var p = product(l.sku);
          body.appendChild(el('tr', { 'data-sku': l.sku }, [
            el('td', {}, [el('a', { href: 'product.html?sku=' + encodeURIComponent(p.sku), text: p.name })]),
            el('td', { class: 'num' }, [el('input', { type: 'number', min: '0', max: '99', value: String(l.quantity), 'aria-label': 'Quantity', onchange: function (e) {
              var n = Math.max(0, Math.min(99, parseInt(e.target.value, 10) || 0));
              setCart(cart().map(function (x) { return x.sku === l.sku ? { sku: x.sku, quantity: n } : x; })
                .filter(function (x) { return x.quantity > 0; }));
              render();
            } })]),
            el('td', { class: 'num', text: money(p.price * l.quantity) }),
          ]));
        });
        box.appendChild(el('table', {}, [
          el('thead', {}, [el('tr', {}, [el('th', { text: 'Item' }), el('th', { class: 'num', text: 'Qty' }), el('th', { class: 'num', text: 'Total' })])]),
          body,
          el('tfoot', {}, [el('tr', {}, [el('th', { text: 'Total', colspan: '2' }), el('th', { class: 'num', id: 'cart-total', text: money(summary(lines).value) })])]),
        ]));
        box.appendChild(el('p', {}, [el('a', { class: 'button', id: 'to-checkout', href: 'checkout.html', text: 'Checkout' })]));
      }
      render();
    },

    checkout: function () {
      var lines = cart();
      var form = $('#checkout-form');
      if (!lines.length) {
        form.hidden = true;
        $('#checkout-total').textContent = 'Your cart is empty.';
        return;
      }
      var s = summary(lines);
      $('#checkout-total').textContent = s.num_items + ' item(s), ' + money(s.value);
      track('track', 'InitiateCheckout', s);
      form.addEventListener('submit', function (e) {
        e.preventDefault();
        var f = form.elements;
        var orderId = 'ORD-' + Date.now().toString(36).toUpperCase() + '-' + Math.floor(Math.random() * 1e6).toString(36).toUpperCase();
        // Advanced matching: raw values; the pixel normalises and hashes them in the browser.
        save('sessionStorage', 'customer', {
          em: f.email.value, ph: f.phone.value, fn: f.first_name.value, ln: f.last_name.value,
          ct: f.city.value, st: f.state.value, zp: f.zip.value, country: f.country.value,
        });
        save('sessionStorage', 'order', { orderId: orderId, lines: lines, reported: false });
        track('track', 'AddPaymentInfo', { value: s.value, currency: s.currency, content_ids: s.content_ids });
        setCart([]);
        location.href = 'thanks.html';
      });
    },

    thanks: function () {
      var order = load('sessionStorage', 'order', null);
      var box = $('#order');
      if (!order) {
        box.appendChild(el('p', { text: 'No recent order. ' }, [el('a', { href: './', text: 'Back to the shop' })]));
        return;
      }
      var s = summary(order.lines);
      box.appendChild(el('p', {}, ['Order ', el('strong', { id: 'order-id', text: order.orderId }), ': ' + s.num_items + ' item(s), ' + money(s.value) + '.']));
      // Fire Purchase once per order: a reload of this page must not count the sale twice. The
      // order ID is the event ID, so a server-side copy of the sale deduplicates with this one.
      if (!order.reported) {
        track('track', 'Purchase', s, { eventID: order.orderId });
        order.reported = true;
        save('sessionStorage', 'order', order);
      }
    },
  };

  // --- start --------------------------------------------------------------------------------------
  function start() {
    updateBadge();
    var privacy = $('#privacy');
    if (privacy) privacy.addEventListener('click', showBanner);
    var page = pages[document.body.getAttribute('data-page')];
    if (page) page();
    if (consentChoice() === null) showBanner();
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
