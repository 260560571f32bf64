// The real collector binary (target/debug/collector, `cargo build -p collector`) for tests that
// need the whole path, with a local stand-in for Meta's Graph API that records what it receives.
//
//   const graph = await startGraph();
//   const collector = await startCollector({ tmp, graphUrl: graph.url, pixels: ['123=token'] });
//   await collector.events({ pixel: '123' });   // GET /api/events with the admin token
//   await collector.stop(); await graph.close();
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { repoRoot } from './server.mjs';

export const ADMIN_TOKEN = 'e2e-admin-token-0123456789';

/** A port that was free a moment ago on 127.0.0.1 (for servers that cannot be told port 0). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Polls `fn` every 100 ms until it returns something truthy; throws naming `what` on timeout. */
export async function until(what, fn, timeoutMs = 15000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Meta's Graph API, played locally: records every request and answers like Meta does. */
export function startGraph() {
  const requests = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const u = new URL(req.url, 'http://x');
      let json = null;
      try {
        json = JSON.parse(body);
      } catch {}
      requests.push({ method: req.method, path: u.pathname, query: Object.fromEntries(u.searchParams), json });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ events_received: json?.data?.length ?? 0, fbtrace_id: 'stand-in' }));
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${server.address().port}`,
        requests,
        events: () => requests.flatMap((r) => r.json?.data ?? []),
        close: () => new Promise((r) => server.close(r)),
      }),
    ),
  );
}

/** A binary of the collector crate (`collector`, `seed`), debug build first. */
export function collectorBinary(name = 'collector') {
  for (const profile of ['debug', 'release']) {
    const bin = path.join(process.env.CARGO_TARGET_DIR || path.join(repoRoot, 'target'), profile, name);
    if (fs.existsSync(bin)) return bin;
  }
  throw new Error(`target/debug/${name} is missing: run \`cargo build -p collector\` (./test.sh does)`);
}

/**
 * Starts the collector on 127.0.0.1 with its database `db` (default `tmp`/collector.db), serving
 * dist/ (and `site`, if given), on `port` (default a free one: pass the old port to restart it
 * where it was). `pixels`: `--pixel` values (`ID` or `ID=TOKEN`). Resolves once /healthz answers.
 */
export async function startCollector({ tmp, db, port, graphUrl, pixels = [], site, extraArgs = [] }) {
  port = port || (await freePort());
  db = db || path.join(tmp, 'collector.db');
  const args = ['--listen', `127.0.0.1:${port}`, '--db', db, '--dist', path.join(repoRoot, 'dist')];
  if (site) args.push('--site', site);
  for (const p of pixels) args.push('--pixel', p);
  if (graphUrl) args.push('--graph-url', graphUrl, '--graph-allow-http', '--graph-version', 'v26.0');
  args.push('--admin-token', ADMIN_TOKEN, '--relay-interval-ms', '100', '--retry-base-ms', '100', ...extraArgs);
  const child = spawn(collectorBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  const origin = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`collector exited ${child.exitCode}: ${log}`);
    try {
      const r = await fetch(`${origin}/healthz`);
      if (r.ok) {
        return {
          origin,
          db,
          child,
          log: () => log,
          /** GET /api/events (newest first) with the admin token. */
          async events(query = {}) {
            const r = await fetch(`${origin}/api/events?${new URLSearchParams(query)}`, {
              headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
            });
            if (!r.ok) throw new Error(`/api/events: ${r.status} ${await r.text()}`);
            return r.json();
          },
          port,
          /** Stops it with `signal` (SIGTERM: gracefully; SIGKILL: as a crash would). */
          async stop(signal = 'SIGTERM') {
            if (child.exitCode === null && child.signalCode === null) {
              const exited = new Promise((r) => child.once('exit', r));
              child.kill(signal);
              await exited;
            }
          },
        };
      }
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`collector did not answer /healthz: ${log}`);
}
