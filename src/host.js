// The browser half of the shell: the calls the engine imports (src/browser.rs declares them, from
// the module "/src/host.js") and the string passing both sides share. The loader bundles this file
// and passes it as the engine's imports; the browser tests (tests/shell.rs) import it by the same
// path. Only numbers cross the boundary: a string leaving wasm is a pointer and a length of UTF-8
// in its memory (`str`); one entering it is written by `put` into the room the engine's
// `fbq_buf(len)` makes, and its length passed on.
//
// None of the imports may throw: an exception unwinding through the engine would leave it
// mid-call, so each one catches and falls back.

var noop = function () {};
var x, enc, dec; // the instance's exports, a TextEncoder, a TextDecoder

// Before any other call: the exports of the instantiated engine.
export function bind(exports) {
  x = exports;
  enc = new TextEncoder();
  dec = new TextDecoder('utf-8', { ignoreBOM: true });
}

// `len` bytes of the memory at `ptr` (both come from wasm as signed 32-bit numbers). Made anew
// every time: a memory that grew has a new buffer.
function bytes(ptr, len) {
  return new Uint8Array(x.memory.buffer, ptr >>> 0, len >>> 0);
}

// The string at `ptr`; a lone surrogate cannot occur (Rust strings are UTF-8).
export function str(ptr, len) {
  return dec.decode(bytes(ptr, len));
}

// Writes `s` into the engine's input buffer as UTF-8 (a lone surrogate becomes U+FFFD) and returns
// its length in bytes. Room first: fbq_buf may grow the memory, which detaches older views.
export function put(s) {
  var b = enc.encode(s);
  bytes(x.fbq_buf(b.length), b.length).set(b);
  return b.length;
}

export var fbq_now = Date.now;

export function fbq_random(ptr, len) {
  try {
    var b = bytes(ptr, len);
    crypto.getRandomValues(b);
  } catch (e) {
    for (var i = 0; b && i < len; i++) b[i] = Math.random() * 256;
  }
}

// The page's document, or what stands in for it where the pixel runs without one of its own:
// Shopify's custom-pixel sandbox (integrations/shopify/) sets `fbq.host` to an object with the
// shop page's `URL` and `referrer` and a `cookie` that reads and writes like document.cookie.
function doc() {
  return window.fbq && fbq.host || document;
}

// The page's URL (0), its referrer (1), the in-app browser's click ID (2, '' when none).
export function fbq_text(which) {
  try {
    var d = doc();
    return put(which > 1 ? inAppClickId : which ? d.referrer : d.URL);
  } catch (e) {
    return 0;
  }
}

// Advanced matching lowercases as Meta's own code does: with String.prototype.toLowerCase.
export function fbq_lower(ptr, len) {
  return put(str(ptr, len).toLowerCase());
}

// Inside Facebook's and Instagram's in-app browsers, a page opened without fbclid can still get
// its click ID from the app, the way Meta's own library asks for it: on iOS through the
// browserProperties message handler, on Android (Facebook 397+, Instagram 264+) with a request
// to properties://browser/clickID. Asked once, when this script runs, in parallel with the
// engine's download; no event waits for the answer (an event sent before it arrives goes
// without it, the next ones carry it). Anywhere else nothing is asked.
var inAppClickId = '';
function askInAppClickId() {
  try {
    var ua = navigator.userAgent;
    if (!/FBAN|FBAV|Instagram/.test(ua) || /[?&]fbclid=/.test(location.search)) return;
    var save = function (v) {
      if (typeof v === 'string') inAppClickId = v;
    };
    var ios = window.webkit && webkit.messageHandlers && webkit.messageHandlers.browserProperties;
    if (ios) Promise.resolve(ios.postMessage('clickID')).then(save, noop);
    else if (/Android/.test(ua)) fetch('properties://browser/clickID').then(function (r) { return r.text(); }).then(save, noop);
  } catch (e) {}
}
askInAppClickId();

// document.cookie is `a=1; b=2`.
export function fbq_cookie(ptr, len) {
  try {
    var name = str(ptr, len) + '=';
    var all = doc().cookie.split('; ');
    for (var i = 0; i < all.length; i++) {
      if (all[i].indexOf(name) === 0) return put(all[i].slice(name.length));
    }
  } catch (e) {}
  return -1;
}

export function fbq_in_iframe() {
  try { return window.self !== window.top; } catch (e) { return true; }
}

export function fbq_screen() {
  try { return (screen.width & 0xffff) << 16 | (screen.height & 0xffff); } catch (e) { return 0; }
}

export function fbq_gpc() {
  try { return navigator.globalPrivacyControl === true; } catch (e) { return false; }
}

// The whole `name=value; Max-Age=...` text comes from core (cookie::set_cookie_text), which the
// collector's Set-Cookie uses too.
export function fbq_set_cookie(ptr, len) {
  try {
    doc().cookie = str(ptr, len);
  } catch (e) {}
}

// GET: fetch with keepalive, so a beacon sent just before the page navigates away still arrives
// (no unload listener, which would break the back/forward cache). POST: sendBeacon with an
// application/x-www-form-urlencoded body (CORS-simple, survives unload); if the browser refuses
// it (size quota), a fetch POST with a text/plain body, also CORS-simple.
export function fbq_send(urlPtr, urlLen, bodyPtr, bodyLen, post) {
  var opts = { mode: 'no-cors', credentials: 'include', keepalive: true };
  try {
    var url = str(urlPtr, urlLen);
    var body = str(bodyPtr, bodyLen);
    if (!post) return void fetch(url + '?' + body, opts).catch(noop);
    try {
      if (navigator.sendBeacon(url, new URLSearchParams(body))) return;
    } catch (e) {}
    opts.method = 'POST';
    opts.body = body;
    opts.keepalive = body.length < 60000;
    // sendBeacon refuses mostly when the page's 64 KB keepalive quota is in use, which a
    // keepalive fetch draws on too: if that fails, send once more without keepalive.
    fetch(url, opts).catch(function () {
      opts.keepalive = false;
      fetch(url, opts).catch(noop);
    });
  } catch (e) {}
}

export function fbq_log(level, ptr, len) {
  try {
    (level > 1 ? console.error : level ? console.warn : console.log)(str(ptr, len));
  } catch (e) {}
}
