// What each way of sending a beacon costs the main thread, in headless Chromium (issue #23): the
// synchronous part of one call, timed with performance.now() (Chromium coarsens it to 0.1 ms),
// medians of 21 calls a transport, each after a 30 ms pause; and the storage calls the pixel and
// its outbox make. Against the test server's own origin; the query is a typical AddToCart.
// Printed figures, no pass/fail.
//
//   node tests/bench/transports.mjs
import { startServer, launchBrowser, html } from '../support/index.mjs';

const server = await startServer({});
const chromium = await launchBrowser();
const context = await chromium.browser.newContext();
server.page('/t.html', html({ title: 't', head: '', body: `<p>x</p><script>document.cookie='_fbp=fb.1.1700000000000.123456789; path=/';document.cookie='_fbc=fb.1.1700000000000.abc; path=/';</script>` }));
const page = await context.newPage();
await page.goto(server.url('/t.html'), { waitUntil: 'load' });
await page.waitForTimeout(300);
const q = 'id=1234567890&ev=AddToCart&dl=' + encodeURIComponent('http://127.0.0.1/t.html?x=1') + '&rl=&if=false&ts=1700000000000&cd[content_ids]=%5B%22tee%22%5D&cd[value]=19&cd[currency]=USD&sw=1280&sh=720&v=2.9.134&r=stable&ec=1&fbp=fb.1.1700000000000.123456789&eid=abc&rqm=FGET';
const res = await page.evaluate(async (q) => {
  const out = [];
  const time = async (name, f) => {
    const xs = [];
    for (let i = 0; i < 21; i++) {
      await new Promise((r) => setTimeout(r, 30));
      const s = performance.now();
      f(i);
      xs.push(performance.now() - s);
    }
    xs.sort((a, b) => a - b);
    out.push([name, xs[10], xs[0]]);
  };
  const u = location.origin + '/tr/';
  await time('fetch GET, keepalive (the outbox, first-party)', (i) => fetch(u + '?' + q + i, { keepalive: true }).catch(() => {}));
  await time('fetch GET, no keepalive', (i) => fetch(u + '?' + q + i).catch(() => {}));
  await time('fetch GET, keepalive, no-cors, credentials (other origins)', (i) => fetch(u + '?' + q + i, { mode: 'no-cors', credentials: 'include', keepalive: true }).catch(() => {}));
  await time('sendBeacon, form body', (i) => navigator.sendBeacon(u, new URLSearchParams(q + i)));
  await time('sendBeacon, query only', (i) => navigator.sendBeacon(u + '?' + q + i));
  await time('new Image().src', (i) => { new Image().src = u + '?' + q + i; });
  await time('document.cookie read', () => document.cookie);
  await time('document.cookie write', (i) => { document.cookie = '_fbp=fb.1.1700000000000.' + i + '; Max-Age=7776000; Path=/; SameSite=Lax'; });
  await time('localStorage.setItem, 0.4 KB', (i) => localStorage.setItem('_k' + i, q));
  await time('localStorage.removeItem', (i) => localStorage.removeItem('_k' + i));
  return out;
}, q);
console.log('main-thread ms of one call: median (min) of 21');
for (const [k, med, min] of res) console.log(`${k.padEnd(60)} ${med.toFixed(2)} (${min.toFixed(2)})`);
console.log(`chromium ${chromium.browser.version()}`);
await context.close();
await chromium.close();
await server.close();
