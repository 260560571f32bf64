// Headless Chromium for the end-to-end tests, through playwright-core and the system Chromium
// (never `npx playwright install`). One browser per test file; every page gets a fresh context
// (its own cookies and storage) and collects its page errors and console messages.
//
// Nothing leaves the machine: requests to anything but 127.0.0.1, localhost and *.test are aborted
// and listed in `blocked`, except Meta's default endpoint (https://www.facebook.com/tr), which
// is answered in the browser and recorded by the test server (`via: 'intercept'`) when `newPage`
// is given one, so a page that never calls `set('endpoint')` can be tested as it is.
import { chromium } from 'playwright-core';
import { GIF } from './server.mjs';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const META_TR = /^https:\/\/www\.facebook\.com\/tr\/?(?:\?|$)/;

function isLocal(url) {
  let u;
  try {
    u = new URL(url);
  } catch {
    return true;
  }
  if (!/^(https?|wss?):$/.test(u.protocol)) return true; // data:, blob:, about:
  const h = u.hostname;
  return h === '127.0.0.1' || h === 'localhost' || h === '[::1]' || h.endsWith('.test');
}

/**
 * Launches Chromium. `hostResolverRules` (e.g. 'MAP *.example.test 127.0.0.1') lets tests use
 * real-looking domains for cookie-domain tests; the server's port stays in the URL.
 */
export async function launchBrowser({ hostResolverRules, args = [] } = {}) {
  const flags = [...CHROMIUM_ARGS, ...args];
  if (hostResolverRules) flags.push(`--host-resolver-rules=${hostResolverRules}`);
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: flags });

  return {
    browser,
    /**
     * A new page in a fresh context. `server`: record beacons to Meta's default endpoint there.
     * `context`: options for browser.newContext (userAgent, viewport, ...).
     */
    async newPage({ server, context: contextOptions = {} } = {}) {
      const context = await browser.newContext(contextOptions);
      const blocked = [];
      await context.route(
        (url) => !isLocal(url.href),
        (route) => {
          blocked.push(route.request().url());
          return route.abort('blockedbyclient');
        },
      );
      if (server) {
        // Registered last, so it runs before the catch-all above.
        await context.route(META_TR, async (route) => {
          const req = route.request();
          const u = new URL(req.url());
          const headers = await req.allHeaders();
          server.record({
            via: 'intercept',
            method: req.method(),
            path: u.pathname,
            url: u.pathname + u.search,
            query: u.search.slice(1),
            contentType: headers['content-type'] || '',
            body: (req.postDataBuffer() || Buffer.alloc(0)).toString('utf8'),
            headers,
          });
          return req.method() === 'GET'
            ? route.fulfill({ status: 200, contentType: 'image/gif', body: GIF })
            : route.fulfill({ status: 200, contentType: 'text/plain', body: '' });
        });
      }
      const page = await context.newPage();
      const errors = [];
      const messages = [];
      page.on('pageerror', (e) => errors.push(e));
      page.on('crash', () => errors.push(new Error('page crashed')));
      page.on('console', (m) => messages.push({ type: m.type(), text: m.text() }));
      return {
        context,
        page,
        /** Uncaught exceptions and unhandled rejections on the page. */
        errors,
        /** Console messages: { type: 'log' | 'warning' | 'error' | ..., text }. */
        messages,
        /** Requests aborted because they would have left the machine. */
        blocked,
        warnings: () => messages.filter((m) => m.type === 'warning').map((m) => m.text),
        close: () => context.close(),
      };
    },
    close: () => browser.close(),
  };
}
