// The browser half of the shell: the few browser calls the engine makes, imported by
// src/browser.rs. Only strings, numbers and booleans cross the boundary (no object handles), which
// keeps the wasm-bindgen glue small. None of these may throw: an exception unwinding through the
// engine would leave it mid-call, so each one catches and falls back.

var noop = function () {};

export function now() {
  return Date.now();
}

export function fill_random(buf) {
  try {
    crypto.getRandomValues(buf);
  } catch (e) {
    for (var i = 0; i < buf.length; i++) buf[i] = (Math.random() * 256) | 0;
  }
}

export function href() {
  try { return String(location.href); } catch (e) { return ''; }
}

export function referrer() {
  try { return String(document.referrer); } catch (e) { return ''; }
}

export function in_iframe() {
  try { return window.self !== window.top; } catch (e) { return true; }
}

export function screen_size() {
  try { return ((screen.width & 0xffff) << 16 | (screen.height & 0xffff)) >>> 0; } catch (e) { return 0; }
}

export function gpc() {
  try { return navigator.globalPrivacyControl === true; } catch (e) { return false; }
}

export function cookies() {
  try { return String(document.cookie); } catch (e) { return ''; }
}

export function set_cookie(c) {
  try { document.cookie = c; } catch (e) {}
}

// GET: fetch with keepalive, so a beacon sent just before the page navigates away still arrives
// (no unload listener, which would break the back/forward cache). POST: sendBeacon with an
// application/x-www-form-urlencoded body (CORS-simple, survives unload); if the browser refuses
// it (size quota), a fetch POST with a text/plain body, also CORS-simple.
export function send(url, body, post) {
  var opts = { mode: 'no-cors', credentials: 'include', keepalive: true };
  try {
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

export function log(level, msg) {
  try {
    (level > 1 ? console.error : level > 0 ? console.warn : console.log)(msg);
  } catch (e) {}
}
