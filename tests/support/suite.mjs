// Shared set-up for the behaviour files in tests/e2e/ (commands, transport, spa, robustness,
// consent, cookies, matching): one server and one browser per file, pages built from Meta's base
// code, beacon filters, and the privacy scan on teardown.
//
//   const suite = await openSuite();          // in before()
//   const tab = await suite.open('/x.html', { calls: "fbq('init', '1');" });
//   const [b] = await suite.wait(1, byId('1'));
//   await suite.done(tab);                    // dumps cookies/storage for the scan, closes
//   await suite.teardown();                   // in after(): closes, then runs the privacy scan
//
// Beacons are never cleared: tests tell theirs apart by pixel ID (each test uses its own), so a
// late keepalive beacon from an earlier test cannot be mistaken for a later test's.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startServer, launchBrowser, baseCode, html, param, requireDist } from './index.mjs';
import { assertNoPlainIdentifiers, dumpStorage } from './privacy.mjs';

export { param };

/** The version string our library announces (fbq.version and `v`). */
export const VERSION = '2.9.134-wasm.0.1.0';

/** SPEC §4: parameter order on the wire (optional ones only when they apply). */
export const PARAM_ORDER = ['id', 'ev', 'dl', 'rl', 'if', 'ts', 'cd[]', 'sw', 'sh', 'ud[]', 'v', 'r', 'a', 'ec', 'fbp', 'fbc', 'it', 'dpo', 'dpoco', 'dpost', 'eid', 'tm', 'rqm'];

export const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
export const FBP_VALUE = /^fb\.(\d+)\.(\d{13})\.(\d+)$/;

export const sha256 = (s) => crypto.createHash('sha256').update(String(s), 'utf8').digest('hex');

/** Filters for `suite.wait` and `suite.beacons`; combine with `all(...)`. */
export const byId = (id) => (b) => param(b, 'id') === String(id);
export const byEv = (ev) => (b) => param(b, 'ev') === ev;
export const all = (...fs) => (b) => fs.every((f) => f(b));

/** The parameter names of a beacon, in wire order. */
export const names = (b) => b.params.map(([k]) => k);

/** The parameters as an object (first occurrence wins). */
export function paramsOf(b) {
  const o = {};
  for (const [k, v] of b.params) if (!(k in o)) o[k] = v;
  return o;
}

/** Beacons sorted by their per-pixel counter `ec` (arrival order is not call order). */
export const byEc = (list) => list.slice().sort((a, b) => Number(param(a, 'ec')) - Number(param(b, 'ec')));

/** Asserts the beacon's parameters appear in SPEC §4 order, each at most once. */
export function assertParamOrder(b) {
  const rank = (k) => PARAM_ORDER.indexOf(k.startsWith('cd[') ? 'cd[]' : k.startsWith('ud[') ? 'ud[]' : k);
  const ks = names(b);
  for (const k of ks) assert.notEqual(rank(k), -1, `unknown parameter ${k} in ${ks.join(',')}`);
  for (let i = 1; i < ks.length; i++) {
    assert.ok(rank(ks[i - 1]) <= rank(ks[i]), `parameter order: ${ks[i - 1]} before ${ks[i]} in ${ks.join(',')}`);
  }
  assert.equal(new Set(ks).size, ks.length, `a parameter is repeated: ${ks.join(',')}`);
}

/** Our console messages ("[fbq] ...") of a given type. */
export function fbqMessages(tab, type) {
  return tab.messages.filter((m) => (!type || m.type === type) && m.text.startsWith('[fbq] ')).map((m) => m.text);
}

export async function openSuite({ hostResolverRules, args } = {}) {
  requireDist();
  const server = await startServer();
  const browser = await launchBrowser({ hostResolverRules, args });
  const dumps = [];
  const open = [];

  const suite = {
    server,
    browser,
    url: (p) => server.url(p),

    /**
     * Registers a page at `path` with Meta's base code and opens it. `calls`: the page's fbq
     * calls (JS, run right after the stub, before the library loads). `endpoint`: prepend
     * set('endpoint', origin + '/tr/') (default true; false keeps Meta's endpoint, intercepted).
     * `query`: appended to the URL visited. `headers`: response headers of the page (e.g. CSP).
     * `initScript`: JS run in the page before any of its scripts. `scriptUrl`: the pixel script.
     * `head`/`body`: more HTML. `goto: false` registers and creates the tab but does not visit.
     * `origin`: visit the page there (e.g. http://shop.example.test:<port> with host-resolver
     * rules), the script and the endpoint on that origin too. `tab`: visit in this tab (same
     * context, so same cookies) instead of a new one.
     */
    async open(path, { calls = '', endpoint = true, query = '', headers = {}, initScript, scriptUrl, head = '', body = '', context, goto = true, wait = true, nonce, origin, tab: reuse } = {}) {
      const js = (endpoint ? "fbq('set', 'endpoint', location.origin + '/tr/');\n" : '') + calls;
      const at = (p) => (origin ? new URL(p, origin).href : server.url(p));
      const src = scriptUrl || at('/fbevents.js');
      server.page(path, html({ head: baseCode(src, js, { nonce }) + '\n' + head, body }), { headers });
      let tab = reuse;
      if (!tab) {
        tab = await browser.newPage({ server: endpoint ? undefined : server, context });
        open.push(tab);
      }
      if (initScript) await tab.page.addInitScript(initScript);
      tab.url = at(path) + query;
      if (goto) {
        await tab.page.goto(tab.url);
        if (wait) await suite.ready(tab);
      }
      return tab;
    },

    /** Registers a plain HTML page (no pixel). */
    page: (path, body, opts) => server.page(path, body, opts),

    /** Waits until the library has taken over the stub. */
    async ready(tab, timeout = 10000) {
      try {
        await tab.page.waitForFunction(() => window.fbq && typeof window.fbq.callMethod === 'function', null, { timeout });
      } catch (e) {
        const state = await tab.page.evaluate(() => ({ fbq: typeof window.fbq, queued: window.fbq && window.fbq.queue && window.fbq.queue.length, engine: window.fbq && window.fbq.__engine })).catch((x) => String(x));
        throw new Error(`the library did not take over fbq within ${timeout} ms (${JSON.stringify(state)}); console:\n${tab.messages.map((m) => `  ${m.type}: ${m.text}`).join('\n')}\n${e.message}`);
      }
    },

    /** Resolves with the beacons matching `filter` once there are at least `n`. */
    wait: (n, filter = () => true, timeoutMs = 5000) => server.waitForBeacons(n, { filter, timeoutMs }),

    /**
     * Waits until the engine's console messages have been printed: the engine says a number and
     * its arguments, and their texts (dist/fbevents.messages.js) are fetched the first time it
     * says anything, so a warning appears a request later than the call that caused it.
     */
    async said(tab, timeout = 5000) {
      await tab.page.waitForFunction(() => [...document.scripts].every((s) => !/fbevents\.messages\.js/.test(s.src) || s.e), null, { timeout });
      await tab.page.evaluate(() => new Promise((r) => setTimeout(r, 0)));
    },

    /** The beacons received so far that match `filter`. */
    beacons: (filter = () => true) => server.beacons().filter(filter),

    /** Waits `ms` more, then returns the matching beacons (to prove something was NOT sent). */
    async settle(filter = () => true, ms = 400) {
      await new Promise((r) => setTimeout(r, ms));
      return server.beacons().filter(filter);
    },

    /** Dumps the tab's cookies and storage for the privacy scan, then closes it. */
    async done(tab) {
      if (!tab || tab.closed) return;
      tab.closed = true;
      dumps.push(...(await dumpStorage(tab, tab.url || 'tab')));
      await tab.close().catch(() => {});
    },

    /** Adds a dump ({ label, text }) for the privacy scan. */
    dump: (label, text) => dumps.push({ label, text: String(text) }),

    /** Closes everything, then scans every beacon and dump of the file for plain identifiers. */
    async teardown() {
      for (const tab of open) await suite.done(tab).catch(() => {});
      await browser.close().catch(() => {});
      const beacons = server.beacons();
      await server.close();
      return assertNoPlainIdentifiers(beacons, dumps);
    },
  };
  return suite;
}

/** Asserts the page threw nothing (no pageerror) and reports what it threw if it did. */
export function assertNoPageErrors(tab) {
  assert.deepEqual(tab.errors.map((e) => String(e && e.stack ? e.stack : e)), [], 'page errors');
}
