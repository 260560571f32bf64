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

// No silent weak randomness: without crypto.getRandomValues (a page that replaced or broke it)
// the bytes come from Math.random(), and the console says so once. Event IDs are then unique
// enough for deduplication but guessable; _fbp's random part likewise.
var weak;
export function fbq_random(ptr, len) {
  var b;
  try {
    b = bytes(ptr, len);
    crypto.getRandomValues(b);
  } catch (e) {
    if (!weak) weak = say('no crypto (' + e + '): Math.random() IDs');
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
// to properties://browser/clickID. Only there, dist/fbevents.inapp.js (www/inapp.js) asks, in
// parallel with the engine's download; the loader starts the engine when it has answered, or
// after 300 ms at most (then the events go without it). Anywhere else nothing is fetched or asked.
var inAppClickId = '';
export function inApp() {
  try {
    return /FBAN|FBAV|Instagram/.test(navigator.userAgent) && !/[?&]fbclid=/.test(location.search) &&
      Promise.race([
        script('fbevents.inapp.js').then(function (ask) {
          return ask();
        }).then(function (v) {
          if (typeof v === 'string') inAppClickId = v;
        }),
        new Promise(function (ok) {
          setTimeout(ok, 300);
        }),
      ]).catch(noop);
  } catch (e) {}
}

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

// Neither can throw: comparing two windows never does (even a cross-origin top), and a window
// always has a screen.
export function fbq_in_iframe() {
  return self !== top;
}

export function fbq_screen() {
  return (screen.width & 0xffff) << 16 | (screen.height & 0xffff);
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
// it (size quota), a fetch POST with a text/plain body, also CORS-simple. An endpoint on the
// page's own origin, whose answers can be read, goes through the outbox below instead.
// The engine decides how (core's delivery policy; nothing here reads the wire text): `post`,
// `keep` (see `st` below), and the outbox's key prefix and age limit.
//
// When: at once, except inside the handler of a user's input (`window.event` is a UIEvent while
// one runs: a click, a key, a touch; not the load events and promise callbacks the loader starts
// the engine from, whose beacons must not wait), where the page is about to paint the answer. A `fetch` costs
// the main thread 1-2 ms (the outbox's storage write a little more), which would all land in the
// interaction's Interaction to Next Paint: such beacons go 20 ms later instead, after the frame
// that answers the input (one is due within 16.7 ms at 60 Hz; a timer, unlike
// requestAnimationFrame, also runs in a hidden page), or at once when the page starts to navigate
// (the Navigation API's `navigate`: a link or a form in that very handler) or is hidden or left
// (`visibilitychange`, which also fires when the document unloads; neither listener costs the
// back/forward cache). Keepalive requests survive all of these. The engine's own work (the
// event, the cookies) stays in the handler: a few tenths of a millisecond (issue #23,
// `npm run bench`). Without the Navigation API (older Safari and Firefox) a navigation from the
// handler sends them on `visibilitychange`.
var later = [];
export function fbq_send(urlPtr, urlLen, bodyPtr, bodyLen, post, keep, keyPtr, keyLen, maxDays) {
  try {
    var s = go.bind(0, str(urlPtr, urlLen), str(bodyPtr, bodyLen), post, keep);
    KEY = str(keyPtr, keyLen);
    DAYS = maxDays;
    if (!(window.event instanceof UIEvent)) return s();
    if (later.push(s) < 2) setTimeout(flush, 20);
  } catch (e) {}
}
function flush() {
  later.splice(0).forEach(function (s) { s(); });
}
document.addEventListener('visibilitychange', flush);
try { // where there is a Navigation API
  navigation.addEventListener('navigate', flush);
} catch (e) {}

function go(url, body, post, keep) {
  var opts = { mode: 'no-cors', credentials: 'include', keepalive: true };
  try {
    if (new URL(url, location).origin === location.origin) return outbox(url, body, post, keep);
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

// A `[fbq]` console warning (the loader's too); returns 1.
export function say(msg) {
  try { console.warn('[fbq] ' + msg); } catch (e) {}
  return 1;
}

// Classic scripts from beside fbevents.js (the loader gives its URL to `home`): `script(file)`
// resolves with what the script left on its own <script> element (`document.currentScript.e`),
// so no global is involved and a `script-src 'self'` policy allows it.
var base;
export function home(url) {
  base = url;
}
export function at(file) {
  return new URL(file, base).href;
}
export function script(file) {
  return new Promise(function (ok, no) {
    var s = document.createElement('script');
    s.src = at(file);
    s.onload = function () { s.e ? ok(s.e) : no(s.src); }; // loaded, but not ours
    s.onerror = function () { no(s.src); };
    document.head.appendChild(s);
  });
}

// ---- The outbox (issues #10 and #24), the part every page carries ----
//
// A beacon to the page's own origin (whose answers can be read) is written to localStorage
// first (write-ahead, consent permitting), then sent by a readable fetch (keepalive, as above),
// and its entry removed on a 2xx. So a Purchase fired just before the page navigates away while
// the endpoint is down is not lost: the failure never comes back to a page that is gone, but
// the entry is still there for the next page. Only when a beacon is not acknowledged with a 2xx
// (a network error or any other status) does www/outbox.js (dist/fbevents.outbox.js, fetched
// only then, or when a page finds entries an earlier page left) take over: it retries, bounds
// and expires them. So a page whose endpoint answers downloads nothing more, and the only
// storage it shows is each beacon's entry, written and removed again (one setItem and one
// removeItem a beacon). A beacon whose page unloaded before the answer stays in storage and is
// sent again by a later page: at least once, and the collector keeps one copy by its event ID.
//
// The entry is written claimed (`c`, 10 s: the outbox's LEASE) while its own request is in
// flight, so the outbox of this tab or another does not send it a second time meanwhile (the
// beacons of a page that finds an earlier page's entries went out twice before: once directly,
// once from the outbox).
//
// Consent: `st` is 0 while nothing may be stored or sent (before this page sent its first
// beacon, and while consent is revoked, which the loader reports through `held`); otherwise
// where the engine said the last beacon may wait: 1 (it carried LDU: limited mode, or the
// store's dataProcessingOptions) in the page's memory, never in storage (no write-ahead; a
// failure is handed to the outbox, which keeps it in memory); 2 in localStorage, one key per
// entry, each starting with KEY. DAYS: the age past which an entry is dropped. Both come from
// the engine with each beacon (core's delivery module owns them).
var KEY, DAYS;
var st = 0;
var sent = 0;
var work; // a promise of the outbox module's handler, from the first hand-over on
var tries = 0;

// Called by the loader after each call: true when consent is revoked.
export function held(revoked) {
  if (revoked) st = 0;
}

function outbox(u, b, p, keep) {
  st = keep;
  var t = Date.now();
  // The key only has to be unique among this store's tabs (it is no identifier and never sent).
  var e = { k: KEY + t + Math.random(), u: u, b: b, p: p, t: t, c: t + 1e4 };
  try {
    // The page's first beacon looks for entries an earlier page or another tab left (before it
    // writes its own).
    if (!sent++ && st > 1 && Object.keys(localStorage).some(function (k) { return !k.indexOf(KEY); })) more();
    if (st > 1) localStorage.setItem(e.k, JSON.stringify(e));
  } catch (x) {}
  ship(e);
}

// Sends an entry (same-origin: cookies go by default); keepalive within the 64 KB a page may
// have in flight that way: URLSearchParams may re-encode a body to up to 3 times its length (a
// GET query is always under it). Once the outbox module is at work it is told every answer (it
// also keeps entries in memory); before, a 2xx just removes the entry.
function ship(e) {
  fetch(e.p ? e.u : e.u + '?' + e.b, {
    method: e.p ? 'POST' : 'GET',
    body: e.p ? new URLSearchParams(e.b) : null,
    keepalive: e.b.length < 20000,
  }).then(function (r) {
    if (!r.ok || work) more(e, r);
    else try { localStorage.removeItem(e.k); } catch (x) {}
  }, function () {
    more(e);
  });
}

// Hands `e` over to the outbox module with its response `r` (none: a network error), loading
// the module first. A failed entry's claim is released in storage at once, so that the outbox
// (this page's once loaded, or the next page's) need not wait for it to run out. If the module
// cannot load (offline, or the server that serves it and the endpoint is down), what is in
// storage waits for the next try; an entry kept in memory (limited mode) is lost then.
function more(e, r) {
  try {
    if (e && st > 1 && !(r && r.ok)) localStorage.setItem(e.k, JSON.stringify((e.c = 0, e)));
  } catch (x) {}
  work = work || script('fbevents.outbox.js').then(function (make) {
    return make(ship, function () { return st; }, say, KEY, DAYS);
  }, function (x) {
    work = 0;
    if (!tries++) say('outbox: ' + x + ' did not load');
    setTimeout(more, 5000 * tries);
  });
  work.then(function (handle) {
    if (handle) handle(e, r);
  });
}

// The engine's console messages come as a number (core's console::Msg) and NUL-separated
// arguments. Their texts are not in the download: dist/fbevents.messages.js (www/messages.js)
// holds them and is fetched the first time the engine says anything (a page that never warns
// never downloads it); what is said meanwhile waits in order. If it cannot load, the message
// still appears, as its number and arguments.
var said = [];
var texts, asked;
export function fbq_log(level, msg, ptr, len) {
  try {
    said.push([level, msg, str(ptr, len).split('\0')]);
    texts ? tell() : asked || (asked = script('fbevents.messages.js').catch(function () {
      return function (m, a) { return '#' + m + ' ' + a; };
    }).then(function (f) {
      texts = f;
      tell();
    }));
  } catch (e) {}
}
// The texts as a function (message number, arguments) -> text, given directly (the shell's
// browser tests, which have no fbevents.messages.js to fetch); messages then print at once.
export function words(f) {
  texts = f;
}
function tell() {
  for (var m; (m = said.shift());) {
    try {
      (m[0] ? console.warn : console.log)('[fbq] ' + texts(m[1], m[2])); // the engine says no errors
    } catch (e) {}
  }
}
