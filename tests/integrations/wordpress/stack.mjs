// A throwaway WordPress for the plugin's end-to-end test, from Debian's packages
// (scripts/setup-wordpress.sh installs them): MariaDB with its data directory in a temporary
// folder, reachable only through a Unix socket there (no TCP port at all); Debian's WordPress 6.1
// hard-linked into that folder with a wp-config.php of ours (Debian's reads /etc/wordpress, which a
// test must not touch); PHP's built-in web server on 127.0.0.1. WordPress is installed through its
// own install screen (no wp-cli). In front of both, a small reverse proxy plays the store's web
// server: /tr, /fbevents.js, /fbevents.wasm and the server-events path (/vNN.N/PIXEL/events) go to
// the collector, everything else to WordPress, so the pixel is first-party on the shop's origin as
// the README tells stores to deploy it. Other plugins (WooCommerce, unpacked by
// scripts/setup-wordpress.sh) are linked in beside ours. `stop()` ends every process it started.
import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort, until } from '../../support/collector.mjs';

const run = promisify(execFile);
const WORDPRESS = '/usr/share/wordpress';

function need(file, what) {
  if (!fs.existsSync(file)) throw new Error(`${file} is missing (${what}): run scripts/setup-wordpress.sh`);
}

/** A child process in its own process group, its output kept for error messages. */
function start(cmd, args, opts = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...opts });
  let log = '';
  child.stdout.on('data', (d) => (log = (log + d).slice(-20000)));
  child.stderr.on('data', (d) => (log = (log + d).slice(-20000)));
  return { child, log: () => log };
}

/**
 * The shop's web server: the collector's paths to the collector, the rest to PHP, the Host header
 * kept (WordPress builds its URLs from it).
 */
function startFront(collectorOrigin, phpOrigin) {
  const toCollector = /^\/(tr\/?|fbevents\.js|fbevents\.wasm|v\d+\.\d+\/\d+\/events)(\?|$)/;
  const server = http.createServer((req, res) => {
    const target = new URL(req.url, toCollector.test(req.url) ? collectorOrigin : phpOrigin);
    const up = http.request(target, { method: req.method, headers: { ...req.headers, 'x-forwarded-for': '127.0.0.1' } }, (r) => {
      res.writeHead(r.statusCode, r.rawHeaders);
      r.pipe(res);
    });
    up.on('error', (e) => {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`front proxy: ${e.message}`);
    });
    req.pipe(up);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const port = server.address().port;
      resolve({ origin: `http://127.0.0.1:${port}`, port, stop: () => new Promise((r) => (server.closeAllConnections(), server.close(r))) });
    }),
  );
}

/** SIGTERM to the whole group (PHP's server forks workers), then waits for the leader. */
async function stopGroup(p) {
  if (p && p.stop) return p.stop();
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise((r) => p.child.once('exit', r));
  try {
    process.kill(-p.child.pid, 'SIGTERM');
  } catch {}
  const timer = setTimeout(() => {
    try {
      process.kill(-p.child.pid, 'SIGKILL');
    } catch {}
  }, 10000);
  await exited;
  clearTimeout(timer);
}

const user = () => {
  try {
    return process.getuid() === 0 ? 'root' : undefined;
  } catch {
    return undefined;
  }
};

/**
 * Starts MariaDB and PHP, installs WordPress with an administrator, and links the plugin at
 * `pluginDir` into wp-content/plugins/fbevents-pixel (not activated: the test does that), and each
 * of `plugins` ({folder name: directory}) beside it. Every file in `muPlugins` is copied into
 * wp-content/mu-plugins.
 */
export async function startWordPress({ tmp, pluginDir, plugins = {}, muPlugins = [], admin, collectorOrigin, timings }) {
  need(path.join(WORDPRESS, 'wp-settings.php'), 'Debian package wordpress');
  need('/usr/sbin/mariadbd', 'Debian package mariadb-server');
  const mark = (what, since) => timings && timings.push([what, Date.now() - since]);
  const procs = [];
  try {
    return await install({ tmp, pluginDir, plugins, muPlugins, admin, collectorOrigin, mark, procs });
  } catch (e) {
    for (const p of procs.reverse()) await stopGroup(p);
    throw e;
  }
}

async function install({ tmp, pluginDir, plugins, muPlugins, admin, collectorOrigin, mark, procs }) {

  // --- MariaDB -------------------------------------------------------------------------------
  let t = Date.now();
  const data = path.join(tmp, 'mariadb');
  const socket = path.join(tmp, 'mysqld.sock');
  const asUser = user() ? [`--user=${user()}`] : [];
  await run('mariadb-install-db', ['--no-defaults', `--datadir=${data}`, '--auth-root-authentication-method=normal', '--skip-test-db', ...asUser]);
  const db = start('/usr/sbin/mariadbd', [
    '--no-defaults', `--datadir=${data}`, `--socket=${socket}`, '--skip-networking',
    `--pid-file=${path.join(tmp, 'mysqld.pid')}`, '--innodb-buffer-pool-size=32M', ...asUser,
  ]);
  procs.push(db);
  const sql = (q) => run('mariadb', ['--no-defaults', `--socket=${socket}`, '-uroot', '-e', q]);
  await until('MariaDB to accept connections', async () => {
    if (db.child.exitCode !== null) throw new Error(`mariadbd exited ${db.child.exitCode}: ${db.log()}`);
    return sql('SELECT 1').then(() => true, () => false);
  }, 30000);
  await sql("CREATE DATABASE wordpress; CREATE USER 'wp'@'localhost' IDENTIFIED BY 'wp-test-pass'; GRANT ALL ON wordpress.* TO 'wp'@'localhost';");
  mark('MariaDB: install-db, start, database', t);

  // --- WordPress files -------------------------------------------------------------------------
  t = Date.now();
  const root = path.join(tmp, 'wordpress');
  // Hard links: instant and no copy; WordPress never rewrites its own files in place here.
  await run('cp', ['-al', WORDPRESS, root]).catch(() => run('cp', ['-a', WORDPRESS, root]));
  for (const f of ['wp-config.php', '.htaccess']) fs.rmSync(path.join(root, f), { force: true });
  fs.writeFileSync(
    path.join(root, 'wp-config.php'),
    `<?php
// Written by tests/integrations/wordpress/stack.mjs for one test run.
define( 'DB_NAME', 'wordpress' );
define( 'DB_USER', 'wp' );
define( 'DB_PASSWORD', 'wp-test-pass' );
define( 'DB_HOST', ${JSON.stringify('localhost:' + socket)} );
define( 'DB_CHARSET', 'utf8mb4' );
define( 'DB_COLLATE', '' );
define( 'WP_DEBUG', true );
define( 'WP_DEBUG_LOG', ${JSON.stringify(path.join(tmp, 'debug.log'))} );
define( 'WP_DEBUG_DISPLAY', false );
define( 'AUTOMATIC_UPDATER_DISABLED', true );
define( 'WP_HTTP_BLOCK_EXTERNAL', true );
define( 'DISABLE_WP_CRON', true );
$table_prefix = 'wp_';
if ( ! defined( 'ABSPATH' ) ) {
	define( 'ABSPATH', __DIR__ . '/' );
}
require_once ABSPATH . 'wp-settings.php';
`,
  );
  const content = path.join(root, 'wp-content');
  fs.symlinkSync(pluginDir, path.join(content, 'plugins', 'fbevents-pixel'));
  for (const [name, dir] of Object.entries(plugins)) {
    need(dir, `plugin ${name}`);
    fs.symlinkSync(dir, path.join(content, 'plugins', name));
  }
  fs.mkdirSync(path.join(content, 'mu-plugins'), { recursive: true });
  for (const f of muPlugins) fs.copyFileSync(f, path.join(content, 'mu-plugins', path.basename(f)));
  mark('WordPress files', t);

  // --- PHP's web server --------------------------------------------------------------------------
  t = Date.now();
  const phpPort = await freePort();
  const php = start('php', ['-S', `127.0.0.1:${phpPort}`, '-t', root], {
    cwd: root,
    env: { ...process.env, PHP_CLI_SERVER_WORKERS: '4' },
  });
  procs.push(php);
  const front = await startFront(collectorOrigin, `http://127.0.0.1:${phpPort}`);
  procs.push(front);
  const origin = front.origin;
  const port = front.port;
  await until('PHP to answer', async () => {
    if (php.child.exitCode !== null) throw new Error(`php -S exited ${php.child.exitCode}: ${php.log()}`);
    return fetch(`${origin}/wp-admin/install.php`).then((r) => r.ok, () => false);
  });

  // --- The install screen ----------------------------------------------------------------------
  const form = new URLSearchParams({
    weblog_title: 'fbevents test shop',
    user_name: admin.login,
    admin_password: admin.password,
    admin_password2: admin.password,
    pw_weak: '1',
    admin_email: admin.email,
    blog_public: '0',
  });
  const installed = await fetch(`${origin}/wp-admin/install.php?step=2`, { method: 'POST', body: form });
  const page = await installed.text();
  if (!installed.ok || !page.includes('<h1>Success!</h1>')) {
    throw new Error(`WordPress's install screen did not succeed (${installed.status}): ${page.slice(0, 2000)}\n${php.log()}`);
  }
  mark('PHP server and install screen', t);

  return {
    origin,
    root,
    log: () => php.log(),
    debugLog: () => fs.readFileSync(path.join(tmp, 'debug.log'), 'utf8'),
    /** Runs PHP with WordPress loaded (`$code` after wp-load.php); resolves with its output. */
    async php(code) {
      const file = path.join(tmp, `cli-${Date.now()}-${Math.random().toString(16).slice(2)}.php`);
      fs.writeFileSync(file, `<?php\n$_SERVER['HTTP_HOST'] = ${JSON.stringify(`127.0.0.1:${port}`)};\nrequire ${JSON.stringify(path.join(root, 'wp-load.php'))};\n${code}\n`);
      const { stdout } = await run('php', [file]);
      return stdout;
    },
    sql,
    /**
     * One WP-Cron run, as a system cron job would start it (GET /wp-cron.php; the test site has
     * DISABLE_WP_CRON, so pages never start one). PHP's server answers once the run is over.
     */
    async cron() {
      const r = await fetch(`${origin}/wp-cron.php`);
      if (!r.ok) throw new Error(`wp-cron.php answered ${r.status}: ${await r.text()}`);
    },
    async stop() {
      for (const p of procs.reverse()) await stopGroup(p);
    },
  };
}
