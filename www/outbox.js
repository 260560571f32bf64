// The outbox's retry half (issues #10 and #24), dist/fbevents.outbox.js: fetched only when a
// first-party beacon was not acknowledged with a 2xx, or when a page finds entries an earlier page
// left (see src/host.js, which writes each beacon to storage before sending it, removes it on a
// 2xx, and hands it over here when that failed; once this is loaded, it is told every answer).
// A classic script: it hands its set-up function to src/host.js on its own <script> element.
//
// - Retries a network error, 408, 429 or 5xx: exponential backoff with jitter while the page
//   lives (1 s doubling up to 60 s, never before a `Retry-After`), at once on the next page load,
//   on `online` and on `visibilitychange: hidden` (keepalive requests, which outlive the page).
// - Any other 4xx is final: the entry is dropped with a warning.
// - At most MAX entries and CHARS characters; the oldest are dropped first, with a warning. An
//   entry older than DAYS days is dropped (7, the collector's relay window: core's
//   delivery::OUTBOX_MAX_AGE_DAYS, handed over by src/host.js with the key prefix KEY).
// - Late retries and deduplication: the collector keeps one copy of an event ID for 48 hours
//   after it stored it (its DEDUP_WINDOW_MS). An entry none of whose sends can have been stored
//   (each one answered with a refusal: 408, 429, 5xx) is safe to replay for all DAYS. But one
//   that may have arrived (`m`: a network error, whose request may have been stored before the
//   answer was lost, or a send whose page went before the answer: a claim that ran out) is
//   replayed only until DEDUP hours after it was first sent (`t`, which every send follows), then
//   dropped with a warning: past the window a replay could be stored twice, and the collector
//   would not know. Shortened here rather than checked by the collector: the store has no
//   lookup by event ID beyond its 48-hour index, and a visitor whose page load finds an entry
//   days later is rare, while a double-counted Purchase is a wrong report.
// - Consent (consent()): 0 sends and stores nothing (revoked); 1 keeps entries in this page's
//   memory only (limited mode / LDU); 2 keeps them in localStorage, one key per entry.
// - Tabs: sending claims an entry for LEASE ms in storage (its `c`), so another tab
//   leaves it alone; src/host.js writes each new beacon claimed the same way while its first
//   request is in flight. The claim is a read-then-write, not atomic: two tabs flushing in the
//   same instant can both send one entry, and the collector keeps one copy by its event ID.
//
// Entry: {k: storage key, u: endpoint, b: body, p: POST, t: created (first sent), a: failures,
// w: next try (backoff), r: not before (Retry-After), c: claimed (by whichever tab) until, m: may
// have arrived}.
var MAX = 100;
var CHARS = 200000;
var LEASE = 10000; // src/host.js's write-ahead claim is the same 10 s
var DEDUP = 47; // hours: the collector's 48-hour deduplication window, less an hour's margin

document.currentScript.e = function (ship, consent, say, KEY, DAYS) {
  var mem = {}; // entries kept in memory (consent limited)
  var timer;
  var first = 1;

  addEventListener('online', function () { flush(1); });
  document.addEventListener('visibilitychange', function () {
    if (document.visibilityState === 'hidden') flush(1);
  });

  function stored() {
    return consent() > 1;
  }

  function all() {
    var list = [];
    for (var k in mem) list.push(mem[k]);
    if (stored()) {
      Object.keys(localStorage).forEach(function (k) {
        if (k.indexOf(KEY)) return;
        try {
          var e = JSON.parse(localStorage.getItem(k));
          if (e && e.k === k && e.u && typeof e.b === 'string') return list.push(e);
        } catch (x) {}
        drop({ k: k }); // not ours, or broken: nothing we could send
      });
    }
    return list.sort(function (x, y) { return x.t - y.t; });
  }

  function save(e) {
    if (stored()) {
      try {
        localStorage.setItem(e.k, JSON.stringify(e));
        delete mem[e.k];
        return;
      } catch (x) {
        say('outbox: not stored (' + x + '), kept while this page lives');
      }
    }
    if (consent()) mem[e.k] = e;
  }

  function drop(e) {
    delete mem[e.k];
    try {
      if (stored()) localStorage.removeItem(e.k);
    } catch (x) {}
  }

  // Sends what is due and not claimed; `now`: ignore the backoff (never a Retry-After), except
  // for `skip`, which just failed.
  function flush(now, skip) {
    clearTimeout(timer);
    if (!consent()) return;
    var t = Date.now();
    var list = all();
    var chars = 0;
    var over = 0;
    var late = 0;
    for (var j = list.length; j--;) {
      var e = list[j];
      chars += e.u.length + e.b.length + 99;
      // Sent, and no answer came back before the claim ran out (the page that sent it went):
      // it may have arrived; due now, its backoff was for the send before.
      if (e.c && e.c <= t) e.m = 1, e.w = 0;
      if (e.t < t - DAYS * 864e5) drop(e);
      else if (e.m && e.t < t - DEDUP * 36e5) late += drop(e) || 1;
      else if (chars > CHARS || list.length - j > MAX) over += drop(e) || 1;
      else if ((now && e.k !== skip || !(e.w > t)) && !(e.r > t) && !(e.c > t)) {
        e.c = t + LEASE;
        save(e);
        ship(e);
      }
    }
    if (over) say('outbox full: ' + over + ' oldest event(s) dropped');
    if (late) say('outbox: ' + late + ' event(s) first sent over ' + DEDUP + ' h ago, which may have arrived, dropped');
    later();
  }

  // The next flush, when the earliest entry becomes due, or its claim ends (a claim is set only
  // while a send waits for its answer, which clears it: one that runs out was cut off).
  function later() {
    var next = Infinity;
    all().forEach(function (e) {
      next = Math.min(next, Math.max(e.c || e.w || 0, e.r || 0));
    });
    clearTimeout(timer);
    if (next < Infinity) timer = setTimeout(flush, Math.max(next - Date.now(), 100));
  }

  // What src/host.js hands over: `e` sent, with its response `r` (none: a network error), or
  // nothing (a page load or `online`: look at what is waiting).
  return function (e, r) {
    var s = r && r.status;
    if (e && r && r.ok) drop(e);
    else if (e && s > 399 && s < 500 && s !== 408 && s !== 429) {
      drop(e);
      say('the endpoint refused an event (HTTP ' + s + '); dropped');
    } else if (e) {
      var t = Date.now();
      var ra = r && r.headers.get('retry-after');
      ra = ra ? (isNaN(ra) ? Date.parse(ra) - t : ra * 1e3) || 0 : 0;
      e.a = (e.a | 0) + 1;
      e.w = t + Math.min(500 * Math.pow(2, e.a), 60000) * (0.5 + Math.random() / 2); // jitter
      e.r = t + Math.max(ra, 0);
      e.c = 0;
      if (!r) e.m = 1;
      save(e);
    }
    if (first || !e) flush(first, e && e.k);
    else later();
    first = 0;
  };
};
