// A small HTTP server for the end-to-end tests, the benchmark and `./run.sh`:
//
//   /                    dist/ (fbevents.js as text/javascript, fbevents.wasm as application/wasm)
//   /<page>              pages a test registers with `page(path, html, { headers })`
//   /<file>              the static site given as `site` (the demo storefront), if any
//   /tr, /tr/            the beacon endpoint: every request is recorded (GET query, or a POST body
//                        in application/x-www-form-urlencoded, text/plain or multipart/form-data)
//   /__beacons           the recorded beacons as JSON (`?since=<seq>` for the newer ones)
//   (`failBeacons(...)` makes /tr answer an error or drop the connection, recording nothing)
//
// Listens on 127.0.0.1 only. As a module: `const server = await startServer()`. As a program:
//   node tests/support/server.mjs --listen 127.0.0.1:8080 --dist dist --site www/store
import http from 'node:http';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const distDir = path.join(repoRoot, 'dist');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.gif': 'image/gif',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};

// The 1x1 transparent GIF an image beacon gets back, as from Meta's /tr.
export const GIF = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');

/** Parses a beacon's query string or body into an ordered list of [name, value] pairs. */
export function parseParams(raw, contentType = '') {
  const type = contentType.split(';')[0].trim().toLowerCase();
  if (type === 'multipart/form-data') return parseMultipart(raw, contentType);
  // A form sent with enctype="text/plain" is `name=value` lines ending in CRLF, not encoded. A
  // urlencoded string never holds a raw line break, so the two cannot be confused.
  if (type === 'text/plain' && raw.includes('\r\n')) {
    return raw
      .split('\r\n')
      .filter((line) => line !== '')
      .map((line) => {
        const eq = line.indexOf('=');
        return eq < 0 ? [line, ''] : [line.slice(0, eq), line.slice(eq + 1)];
      });
  }
  return [...new URLSearchParams(raw)];
}

function parseMultipart(raw, contentType) {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  if (!m) return [];
  const boundary = '--' + (m[1] || m[2]).trim();
  const out = [];
  for (const part of raw.split(boundary).slice(1)) {
    if (part.startsWith('--')) break; // the closing delimiter
    const sep = part.indexOf('\r\n\r\n');
    if (sep < 0) continue;
    const head = part.slice(0, sep);
    const name = /name="([^"]*)"/i.exec(head);
    if (!name) continue;
    let value = part.slice(sep + 4);
    if (value.endsWith('\r\n')) value = value.slice(0, -2);
    out.push([name[1], value]);
  }
  return out;
}

/** Epoch milliseconds with sub-millisecond precision. */
const now = () => performance.timeOrigin + performance.now();

/**
 * Starts the server. Options: `port` (0: a free one), `host`, `dist` (folder served at `/`),
 * `site` (a static site served at `/`, after dist and the registered pages), `cacheControl`
 * (for dist and site files; default `no-cache`, so a rebuilt dist is picked up at once),
 * `log` (print one line per request).
 */
export async function startServer({
  port = 0,
  host = '127.0.0.1',
  dist = distDir,
  site = null,
  cacheControl = 'no-cache',
  log = false,
} = {}) {
  const pages = new Map();
  const routes = new Map();
  const recorded = [];
  const preflights = [];
  const refused = [];
  let failure = null;
  let waiters = [];
  let seq = 0;

  function record(entry) {
    const beacon = { seq: ++seq, receivedAt: now(), ...entry };
    beacon.params = [
      ...(beacon.query ? parseParams(beacon.query) : []),
      ...(beacon.body ? parseParams(beacon.body, beacon.contentType) : []),
    ];
    recorded.push(beacon);
    const ready = waiters.filter((w) => w.check());
    waiters = waiters.filter((w) => !ready.includes(w));
    for (const w of ready) w.done();
    return beacon;
  }

  async function serveFile(res, dir, rel, req) {
    if (!dir) return false;
    const base = path.resolve(dir);
    const file = path.resolve(base, '.' + rel);
    if (file !== base && !file.startsWith(base + path.sep)) return false;
    let stat;
    try {
      stat = await fs.stat(file);
    } catch {
      return false;
    }
    if (stat.isDirectory()) return serveFile(res, dir, path.posix.join(rel, 'index.html'), req);
    const etag = `"${stat.size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}"`;
    const headers = {
      'content-type': TYPES[path.extname(file)] || 'application/octet-stream',
      'cache-control': cacheControl,
      etag,
      'last-modified': stat.mtime.toUTCString(),
    };
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, headers).end();
      return true;
    }
    const body = await fs.readFile(file);
    res.writeHead(200, { ...headers, 'content-length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  }

  async function handle(req, res) {
    const url = new URL(req.url, 'http://localhost');
    const p = decodeURIComponent(url.pathname);
    if (log) console.log(`${new Date().toISOString()} ${req.method} ${req.url}`);

    if (p === '/tr' || p === '/tr/') {
      const origin = req.headers.origin;
      const cors = origin
        ? { 'access-control-allow-origin': origin, 'access-control-allow-credentials': 'true', vary: 'Origin' }
        : {};
      if (req.method === 'OPTIONS') {
        preflights.push({ receivedAt: now(), path: p, headers: req.headers });
        res.writeHead(204, {
          ...cors,
          'access-control-allow-methods': 'GET, POST',
          'access-control-allow-headers': req.headers['access-control-request-headers'] || '',
        });
        return res.end();
      }
      const chunks = [];
      for await (const c of req) chunks.push(c);
      if (failure) {
        // Fail on demand (the outbox tests): nothing is recorded as received.
        refused.push({ receivedAt: now(), method: req.method, url: req.url, failure });
        if (failure.reset) return req.socket.destroy();
        const headers = { ...cors, 'content-type': 'text/plain', 'cache-control': 'no-store' };
        if (failure.retryAfter !== undefined) headers['retry-after'] = String(failure.retryAfter);
        res.writeHead(failure.status, headers);
        return res.end('failing on demand\n');
      }
      record({
        via: 'http',
        method: req.method,
        path: p,
        url: req.url,
        query: url.search.slice(1),
        contentType: req.headers['content-type'] || '',
        body: Buffer.concat(chunks).toString('utf8'),
        headers: req.headers,
      });
      if (req.method === 'GET') {
        res.writeHead(200, { ...cors, 'content-type': 'image/gif', 'cache-control': 'no-store' });
        return res.end(GIF);
      }
      res.writeHead(200, { ...cors, 'content-type': 'text/plain', 'cache-control': 'no-store' });
      return res.end();
    }

    if (p === '/__beacons') {
      const since = Number(url.searchParams.get('since') || 0);
      const list = recorded
        .filter((b) => b.seq > since)
        .map(({ headers, ...b }) => ({ ...b, userAgent: headers ? headers['user-agent'] : undefined }));
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      return res.end(JSON.stringify(list));
    }

    const route = routes.get(p);
    if (route) return route(req, res);

    const pg = pages.get(p);
    if (pg) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', ...pg.headers });
      return res.end(pg.body);
    }

    if (req.method === 'GET' || req.method === 'HEAD') {
      if (await serveFile(res, dist, p, req)) return;
      if (await serveFile(res, site, p, req)) return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e) => {
      console.error('[server]', e);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('internal error\n');
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const actualPort = server.address().port;
  const origin = `http://${host}:${actualPort}`;

  return {
    origin,
    port: actualPort,
    /** An absolute URL on this server. */
    url: (p = '/') => new URL(p, origin).href,
    /** Serves `body` (HTML unless a content-type header says otherwise) at `path`. */
    page(p, body, { headers = {} } = {}) {
      pages.set(p, { body, headers });
      return new URL(p, origin).href;
    },
    /** Handles `path` with `(req, res) => ...` (any method). */
    route(p, handler) {
      routes.set(p, handler);
    },
    /** Records a beacon that did not come over HTTP (e.g. intercepted by the browser helper). */
    record,
    /** The beacons received so far, oldest first. */
    beacons: () => recorded.slice(),
    /** CORS preflights (OPTIONS) received on /tr; a beacon sent while a page unloads cannot afford one. */
    preflights: () => preflights.slice(),
    /** Resolves with the beacons once at least `n` (matching `filter`, if given) have arrived. */
    waitForBeacons(n, { timeoutMs = 5000, filter = () => true } = {}) {
      const matching = () => recorded.filter(filter);
      return new Promise((resolve, reject) => {
        const w = {
          check: () => matching().length >= n,
          done: () => {
            clearTimeout(timer);
            resolve(matching());
          },
        };
        const timer = setTimeout(() => {
          waiters = waiters.filter((x) => x !== w);
          const got = matching();
          reject(
            new Error(
              `waited ${timeoutMs} ms for ${n} beacon(s), got ${got.length}:\n` +
                got.map((b) => `  ${b.method} ${b.path} ${JSON.stringify(b.params)}`).join('\n'),
            ),
          );
        }, timeoutMs);
        if (w.check()) w.done();
        else waiters.push(w);
      });
    },
    /**
     * Makes /tr fail until called again with null: `{ status, retryAfter }` answers that status
     * (and Retry-After header), `{ reset: true }` drops the connection (a network error).
     */
    failBeacons(f) {
      failure = f;
    },
    /** The beacon requests answered with a failure so far. */
    refused: () => refused.slice(),
    /** Forgets the beacons and preflights received so far. */
    clear() {
      recorded.length = 0;
      preflights.length = 0;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The value of the first parameter called `name` in a beacon (undefined when absent). */
export function param(beacon, name) {
  const hit = beacon.params.find(([k]) => k === name);
  return hit ? hit[1] : undefined;
}

// --- As a program: the demo server of ./run.sh ------------------------------------------------------
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const args = process.argv.slice(2);
  const opt = (name, dflt) => {
    const i = args.indexOf(name);
    return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
  };
  const [host, port] = opt('--listen', '127.0.0.1:8080').split(':');
  const server = await startServer({
    host,
    port: Number(port),
    dist: path.resolve(opt('--dist', 'dist')),
    site: path.resolve(opt('--site', 'www/store')),
    log: args.includes('--log'),
  });
  console.log(`[server] listening on ${server.origin}/ (beacons: ${server.origin}/__beacons)`);
}
