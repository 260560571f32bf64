// The real collector binary (target/debug/collector, built by `cargo build -p collector`) as the
// end-to-end tests run it: on 127.0.0.1, a port of its own (or the given one, to restart it where
// it was), serving dist/ and the demo store.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { repoRoot } from './server.mjs';

/** A port nothing listens on right now. */
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

export function collectorBinary() {
  for (const profile of ['debug', 'release']) {
    const bin = path.join(process.env.CARGO_TARGET_DIR || path.join(repoRoot, 'target'), profile, 'collector');
    if (fs.existsSync(bin)) return bin;
  }
  throw new Error('target/debug/collector is missing: run `cargo build -p collector` (./test.sh does)');
}

/**
 * Starts the collector with its SQLite file at `db`, the static `site` (default the demo store)
 * and `args` (--pixel, ...), and waits for
 * /healthz. Resolves with { origin, port, db, child, log(), stop() }.
 */
export async function startCollector({ db, args = [], port, site = path.join(repoRoot, 'www', 'store') }) {
  port = port || (await freePort());
  const all = ['--listen', `127.0.0.1:${port}`, '--db', db, '--dist', path.join(repoRoot, 'dist'), '--site', site, ...args];
  const child = spawn(collectorBinary(), all, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  const origin = `http://127.0.0.1:${port}`;
  const stop = (signal = 'SIGTERM') =>
    new Promise((r) => {
      if (child.exitCode !== null || child.signalCode !== null) return r();
      child.once('exit', () => r());
      child.kill(signal);
    });
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`collector exited ${child.exitCode}: ${log}`);
    try {
      const r = await fetch(`${origin}/healthz`);
      if (r.ok) return { origin, port, db, child, log: () => log, stop };
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`collector did not answer /healthz: ${log}`);
}

/** Polls `fn` every 100 ms until it returns something truthy. */
export async function until(what, fn, timeoutMs = 15000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
