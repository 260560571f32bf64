// The loader: takes over Meta's `fbq` stub and hands every call to the WebAssembly engine.
//
// It stays tiny on purpose. It never throws into the page: its top level and every call are
// wrapped. When WebAssembly cannot run (missing, or a CSP without 'wasm-unsafe-eval') it loads
// the JavaScript build of the same engine (fbevents.fallback.js, made by wasm2js, next to this
// script) and one console warning says so; if neither loads, one console error says why and `fbq`
// keeps the first 100 calls (later ones are dropped). No eval, no new Function.
import {
  bind, put, str, held, home, at, script, inApp, say as warn,
  fbq_now, fbq_random, fbq_text, fbq_cookie, fbq_in_iframe, fbq_screen, fbq_gpc, fbq_set_cookie, fbq_send, fbq_log, fbq_lower,
} from '../src/host.js';

(function (w) {
  var TAG = '[fbq] ';
  try {
    var f = w.fbq;
    if (!f) {
      // Loaded without Meta's base code: install an equivalent stub so `fbq` exists.
      f = w.fbq = function () {
        f.callMethod ? f.callMethod.apply(f, arguments) : f.queue.push(arguments);
      };
      f.push = f;
      f.loaded = true;
      f.version = '2.0';
      f.queue = [];
    }
    if (!w._fbq) w._fbq = f;
    if (f.callMethod || f.__engine) return; // a second copy of the script: the first one owns fbq
    f.__engine = 1;
    load(f);
  } catch (e) {
    warn(e);
  }

  function load(f) {
    // Find our own URL: the engine sits next to this script, on whatever origin and path serves it.
    var me = document.currentScript;
    if (!me || !/fbevents/.test(me.src || '')) {
      var all = document.getElementsByTagName('script');
      for (var i = all.length - 1; i >= 0; i--) {
        if (/fbevents[^/]*\.js(\?|#|$)/.test(all[i].src)) { me = all[i]; break; }
      }
    }
    home((me && me.src) || location.href); // `at` throws for an unusable one (about:blank): only in the chains below
    var asked = inApp(); // the in-app browser's click ID: a promise there, false elsewhere

    // The engine's imports: src/host.js's, under the module name src/browser.rs gives them (an
    // object of our own: webpack would add runtime helpers for a module namespace).
    var imports = {
      '/src/host.js': {
        fbq_now, fbq_random, fbq_text, fbq_cookie, fbq_in_iframe, fbq_screen, fbq_gpc, fbq_set_cookie, fbq_send, fbq_log, fbq_lower,
      },
    };

    // The wasm engine, compiled while it downloads, or from the whole body when the server does
    // not send it as application/wasm (instantiateStreaming refuses other MIME types, and older
    // Safari lacks it). Anything that fails on the way (a missing WebAssembly, a CSP that forbids
    // compiling, a 404) ends in the JavaScript engine. (A probe that compiles an empty module
    // first would spare a CSP page the wasm download, for 32 bytes gzip on every page.)
    new Promise(function (ok) {
      ok(fetch(at('fbevents.wasm')));
    }).then(function (r) {
      if (!r.ok) throw Error('HTTP ' + r.status);
      return new Promise(function (ok) {
        ok(WebAssembly.instantiateStreaming(r.clone(), imports));
      }).catch(function () {
        return r.arrayBuffer().then(function (b) {
          return WebAssembly.instantiate(b, imports);
        });
      });
    }).then(function (m) {
      return m.instance.exports;
    }, function (why) {
      // The same engine compiled to JavaScript by wasm2js, from beside this script.
      return script('fbevents.fallback.js').then(function (make) {
        var x = make(imports);
        warn('no WebAssembly (' + why + '): on the JavaScript engine');
        return x;
      });
    }).then(function (x) {
      return Promise.resolve(asked).then(function () {
        return x;
      });
    }).then(function (x) {
      bind(x);
      x.fbq_start(!!f.disablePushState, !!f.allowDuplicatePageViews);
      f.version = str(x.fbq_version(), x.fbq_version_len());
      f.callMethod = function () {
        try {
          // 0: refused, made from inside another call (a page hook on what the engine uses);
          // 2: consent is revoked now (the outbox pauses).
          var r = x.fbq_call(put(encode(arguments)));
          if (!r) warn('call ignored: made inside another call');
          held(r > 1);
        } catch (e) {
          warn('call ignored: ' + e);
        }
      };
      // Replay what the page queued before we loaded, in order. Calls made while replaying go
      // straight to callMethod, which is fine: replay is synchronous.
      var q = f.queue || [];
      f.queue = [];
      for (var j = 0; j < q.length; j++) f.callMethod.apply(f, q[j]);

      // Single-page apps: a new URL through the History API is a new PageView.
      if (!f.disablePushState) {
        var last = location.href;
        var changed = function () {
          if (location.href === last) return;
          last = location.href;
          try { x.fbq_page_changed(); } catch (e) {}
        };
        ['pushState', 'replaceState'].forEach(function (m) {
          var orig = history[m];
          if (typeof orig !== 'function') return;
          history[m] = function () {
            var r = orig.apply(this, arguments);
            changed();
            return r;
          };
        });
        w.addEventListener('popstate', changed);
      }
    }).catch(function (e) {
      // Nothing will ever send these: keep the first 100 calls (for a debugger), drop the rest.
      try {
        var q = f.queue = [].slice.call(f.queue || [], 0, 100);
        f.callMethod = function () {
          if (q.length < 100) q.push(arguments);
        };
        console.error(TAG + 'engine could not load (' + e + '): nothing sent. CSP: allow ' +
          '\'wasm-unsafe-eval\', or serve fbevents.fallback.js');
      } catch (e2) {}
    });
  }

  // Arguments -> JSON text for the engine. JSON.stringify prints numbers exactly as JavaScript
  // does and drops functions and undefined; a circular or throwing value falls back to encoding
  // each argument (and each property) on its own, dropping only what cannot be encoded.
  function one(v) {
    try {
      var s = JSON.stringify(v);
      return s === undefined ? 'null' : s;
    } catch (e) {}
    if (v && typeof v === 'object') {
      var parts = [];
      try {
        for (var k in v) {
          var p;
          try { p = JSON.stringify(v[k]); } catch (e) { p = undefined; warn('dropped "' + k + '": ' + e); }
          if (p !== undefined) parts.push(JSON.stringify(k) + ':' + p);
        }
      } catch (e) {}
      return '{' + parts.join(',') + '}';
    }
    return 'null';
  }
  function encode(args) {
    var out = [];
    for (var i = 0; i < args.length; i++) out.push(one(args[i]));
    return '[' + out.join(',') + ']';
  }
})(window);
