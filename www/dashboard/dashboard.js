// The dashboard: asks for the admin token once per page load (kept in this page's memory only, sent
// as `Authorization: Bearer`), then loads the JSON reports of one pixel and date range, one
// request per panel, all at once, and draws each panel as its report arrives: the headline
// (summary), diagnostics, the funnel and events over time as charts and tables, match quality,
// relay health, attribution per channel and AEM. Every number shown comes from a report; each
// carries data-r (report), data-p (path in its JSON) and data-f (format), which the end-to-end
// test reads to compare with the JSON. Each panel's section carries data-state (loading, ready,
// absent: a 404, hidden; failed) and data-ms (when it was drawn), which the benchmark reads.
import {
  Chart,
  BarController,
  BarElement,
  LineController,
  LineElement,
  PointElement,
  CategoryScale,
  LinearScale,
  Legend,
  Tooltip,
} from 'chart.js';

Chart.register(BarController, BarElement, LineController, LineElement, PointElement, CategoryScale, LinearScale, Legend, Tooltip);

// Where earlier versions kept the token (sessionStorage): removed at start.
const OLD_TOKEN_KEY = 'dashboard.token';
const PIXEL_KEY = 'dashboard.pixel';
const LIVE_EVERY_MS = 5000;
const $ = (id) => document.getElementById(id);

// The token lives in this variable only. sessionStorage would keep it for the tab, where any
// script of a page of the same origin (the store's, when the dashboard is not on its own
// --admin-listen origin) could read it after the dashboard is left; clearing it on `pagehide`
// would clear it on every reload too, so it would buy nothing over memory. The cost: a reload
// asks for the token again.
let token = null;
let data = {};
let charts = {};
let liveTimer = 0;

// ---- formatting (the e2e test formats the JSON again, its own way) ----
// Numbers in the browser's locale (`Intl.NumberFormat` with no locale: the browser's own), money
// with its currency's symbol, one currency after the other. Formatters are made once.
const nf = {};
const numberFormat = (key, options) => (nf[key] ||= new Intl.NumberFormat(undefined, options));
const money1 = (v, c) => {
  try {
    return numberFormat(`c:${c}`, { style: 'currency', currency: c }).format(v);
  } catch {
    // Not an ISO 4217 code (the reports count a Purchase without one under XXX, which is).
    return `${numberFormat('2', { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(v)} ${c}`;
  }
};
const utc = (t) => {
  if (t == null) return null;
  const d = new Date(typeof t === 'number' && t < 1e11 ? t * 1000 : t);
  return Number.isNaN(d.getTime()) ? String(t) : `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
};
const fmt = {
  int: (n) => (n == null ? '–' : numberFormat('int', { maximumFractionDigits: 0 }).format(n)),
  pct: (x) => (x == null ? '–' : numberFormat('pct', { style: 'percent', minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(x)),
  score: (x) => (x == null ? '–' : numberFormat('score', { minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(x)),
  // `{ "EUR": 1.5, "USD": 2 }`: every currency, alphabetically.
  money: (m) => {
    const parts = Object.keys(m || {}).sort().map((c) => money1(m[c], c));
    return parts.length ? parts.join(' · ') : '–';
  },
  // One amount; its currency is the last part of its path (`revenue.EUR`).
  amount: (v, path) => (v == null ? '–' : money1(v, path.split('.').pop())),
  list: (a) => (a == null || !a.length ? '–' : a.join(', ')),
  when: (t) => (t == null ? '–' : utc(t)),
  text: (s) => (s == null ? '–' : String(s)),
};

function get(obj, path) {
  return path.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj);
}

/** A cell or figure bound to a report value. */
function bound(tag, report, path, f) {
  const el = document.createElement(tag);
  el.dataset.r = report;
  el.dataset.p = path;
  el.dataset.f = f;
  el.textContent = fmt[f](get(data[report], path), path);
  return el;
}

function cell(tag, text) {
  const el = document.createElement(tag);
  el.textContent = text;
  return el;
}

function table(id, head, rows, empty = 'No events in this range.') {
  const t = $(id);
  t.replaceChildren();
  const thead = t.createTHead().insertRow();
  for (const h of head) {
    const th = cell('th', h);
    th.scope = 'col';
    thead.append(th);
  }
  const body = t.createTBody();
  for (const r of rows) {
    const tr = body.insertRow();
    r.forEach((c, i) => {
      const el = typeof c === 'string' ? cell(i === 0 ? 'th' : 'td', c) : c;
      if (i === 0 && el.tagName === 'TH') el.scope = 'row';
      tr.append(el);
    });
  }
  if (!rows.length) {
    const td = cell('td', empty);
    td.colSpan = head.length;
    body.insertRow().append(td);
  }
}

// ---- the API ----
class Unauthorized extends Error {}
/** The collector has no such report (an older version): its panel is hidden. */
class Missing extends Error {}

async function api(path) {
  const res = await fetch(path, { headers: { authorization: `Bearer ${token}` }, cache: 'no-store' });
  if (res.status === 401) throw new Unauthorized('the admin token was refused');
  if (res.status === 404 && path.startsWith('/api/reports/')) throw new Missing(path.split('?')[0]);
  if (!res.ok) throw new Error(`${path.split('?')[0]}: ${res.status} ${(await res.text()).trim()}`);
  return res;
}

function params() {
  const q = new URLSearchParams({ pixel: $('pixel').value.trim(), from: $('from').value, to: $('to').value });
  return q;
}

// ---- rendering ----
function figure(label, n) {
  const d = document.createElement('div');
  d.className = 'figure';
  n.className = 'n';
  d.append(n, cell('span', label));
  d.lastChild.className = 'l';
  return d;
}

/** Per-currency figures: one each, or a dash when there is no order. */
function perCurrency(label, report, key) {
  const m = get(data[report], key) || {};
  const currencies = Object.keys(m).sort();
  if (!currencies.length) return [figure(label, bound('span', report, key, 'money'))];
  return currencies.map((c) => figure(currencies.length > 1 ? `${label} (${c})` : label, bound('span', report, `${key}.${c}`, 'amount')));
}

function renderHeadline() {
  $('headline').replaceChildren(
    ...perCurrency('Revenue', 'summary', 'revenue'),
    figure('Orders', bound('span', 'summary', 'orders', 'int')),
    figure('Conversion rate (purchasers / visitors)', bound('span', 'summary', 'conversion_rate', 'pct')),
    ...perCurrency('Average order value', 'summary', 'aov'),
    figure('Visitors', bound('span', 'summary', 'visitors', 'int')),
    figure('New visitors', bound('span', 'summary', 'new_visitors', 'int')),
    figure('Returning visitors', bound('span', 'summary', 'returning_visitors', 'int')),
    figure('Purchasers', bound('span', 'summary', 'purchasers', 'int')),
  );
  fitFigures();
}

/** A figure never wraps: one too wide for its box is set smaller until it fits. */
function fitFigures() {
  for (const n of document.querySelectorAll('#headline .n')) {
    n.style.fontSize = '';
    for (let size = 1.3; n.scrollWidth > n.clientWidth && size >= 0.8; size -= 0.1) n.style.fontSize = `${size.toFixed(1)}rem`;
  }
}

function renderDiagnostics() {
  const findings = data.diagnostics.findings;
  $('diagnostics-none').hidden = findings.length > 0;
  $('diagnostics-wrap').hidden = findings.length === 0;
  table('diagnostics', ['Problem', 'Events', 'Event names', 'First seen', 'Last seen', 'Example event ID', 'Fix'], findings.map((f, i) => {
    const what = cell('th', '');
    what.append(cell('span', f.title), cell('span', f.code));
    what.lastChild.className = 'code';
    const fix = bound('td', 'diagnostics', `findings.${i}.fix`, 'text');
    fix.className = 'fix';
    return [
      what,
      bound('td', 'diagnostics', `findings.${i}.events`, 'int'),
      bound('td', 'diagnostics', `findings.${i}.event_names`, 'list'),
      bound('td', 'diagnostics', `findings.${i}.first_seen`, 'when'),
      bound('td', 'diagnostics', `findings.${i}.last_seen`, 'when'),
      Object.assign(bound('td', 'diagnostics', `findings.${i}.example_event_id`, 'text'), { className: 'hash' }),
      fix,
    ];
  }));
}

function renderFunnel() {
  const steps = data.funnel.steps;
  $('funnel-total').replaceChildren(
    bound('span', 'funnel', 'events', 'int'), ' events from ', bound('span', 'funnel', 'visitors', 'int'), ' visitors',
  );
  table('funnel', ['Step', 'Events', 'Visitors', 'From previous'], steps.map((s, i) => [
    s.event,
    bound('td', 'funnel', `steps.${i}.events`, 'int'),
    bound('td', 'funnel', `steps.${i}.visitors`, 'int'),
    bound('td', 'funnel', `steps.${i}.rate_from_previous`, 'pct'),
  ]));
  chart('funnel-chart', {
    type: 'bar',
    data: { labels: steps.map((s) => s.event), datasets: [{ label: 'Visitors', data: steps.map((s) => s.visitors), backgroundColor: '#1a5fd0' }] },
    options: { indexAxis: 'y', plugins: { legend: { display: false } } },
  });
}

function renderTimeline() {
  const t = data.timeline;
  const names = Object.keys(t.totals.events).sort();
  const rows = names.map((n) => [n, bound('td', 'timeline', `totals.events.${n}`, 'int')]);
  rows.push(['Purchase value', bound('td', 'timeline', 'totals.revenue', 'money')]);
  table('timeline', ['Event', 'Events'], rows);
  const labels = t.points.map((p) => (t.bucket === 'hour' ? p.start.slice(11, 16) : p.start.slice(5)));
  const series = ['PageView', 'Purchase'].filter((n) => names.includes(n));
  chart('timeline-chart', {
    type: 'line',
    data: {
      labels,
      datasets: series.map((n, i) => ({
        label: n,
        data: t.points.map((p) => p.events[n] || 0),
        borderColor: i ? '#17803d' : '#1a5fd0',
        pointRadius: 0,
        yAxisID: i ? 'y1' : 'y',
      })),
    },
    options: {
      scales: { y: { beginAtZero: true }, y1: { beginAtZero: true, position: 'right', grid: { drawOnChartArea: false }, display: series.length > 1 } },
      interaction: { mode: 'index', intersect: false },
    },
  });
}

function renderMatch() {
  const mq = data['match-quality'];
  const keys = Object.keys(mq.weights);
  table('match', ['Event', 'Events', 'Score', 'Add', ...keys], mq.events.map((e, i) => [
    e.event,
    bound('td', 'match-quality', `events.${i}.events`, 'int'),
    bound('td', 'match-quality', `events.${i}.score`, 'score'),
    bound('td', 'match-quality', `events.${i}.add.key`, 'text'),
    ...keys.map((k) => bound('td', 'match-quality', `events.${i}.shares.${k}`, 'pct')),
  ]));
}

function renderRelay() {
  const rows = [
    ['Received', 'received'], ['Duplicates dropped', 'duplicates'], ['Stored', 'stored'],
    ['Relayed', 'relayed'], ['Pending', 'pending'], ['Failed', 'failed'], ['Expired', 'expired'],
    ['Not relayed (no token)', 'not_relayed'], ['Purchases', 'purchases'],
    ['Purchases with a page event ID', 'purchases_with_event_id'],
  ].map(([label, key]) => [label, bound('td', 'relay', key, 'int')]);
  rows.push(['Share with event ID', bound('td', 'relay', 'purchase_event_id_share', 'pct')]);
  rows.push(
    ...[
      ['Events from browsers only', 'provenance.browser'], ["Events from the store's server only", 'provenance.server'],
      ['Events from both (merged)', 'provenance.both'], ['A copy after the relay (not sent again)', 'provenance.late'],
      ['Verified Purchases (server)', 'capture.verified_purchases'], ['… also from a browser', 'capture.both'],
      ['… server only (browser missed)', 'capture.server_only'], ['Purchases from browsers only (unverified)', 'capture.browser_only'],
    ].map(([label, key]) => [label, bound('td', 'relay', key, 'int')]),
  );
  rows.push(['Browser capture rate', bound('td', 'relay', 'capture.browser_capture_rate', 'pct')]);
  table('relay', ['Measure', 'Count'], rows);
  const errors = data.relay.errors;
  const box = $('relay-errors');
  box.replaceChildren();
  box.hidden = !errors.length;
  if (errors.length) {
    const t = document.createElement('table');
    t.id = 'relay-errors-table';
    box.append(t);
    table('relay-errors-table', ["Meta's message", 'Events'], errors.map((e, i) => [e.message, bound('td', 'relay', `errors.${i}.count`, 'int')]));
  }
}

function renderAttribution() {
  const a = data.attribution;
  // Conversion rate and AOV per channel, once the collector reports them.
  const rates = a.campaigns.some((c) => c.conversion_rate !== undefined);
  const head = ['Source / medium / campaign', ...(rates ? ['Visitors', 'Purchasers', 'Conversion rate'] : []), 'Purchases', 'Revenue', ...(rates ? ['Average order'] : [])];
  table('attribution', head, a.campaigns.map((c, i) => [
    [c.source, c.medium, c.campaign].filter((x) => x != null).join(' / '),
    ...(rates
      ? [
          bound('td', 'attribution', `campaigns.${i}.visitors`, 'int'),
          bound('td', 'attribution', `campaigns.${i}.purchasers`, 'int'),
          bound('td', 'attribution', `campaigns.${i}.conversion_rate`, 'pct'),
        ]
      : []),
    bound('td', 'attribution', `campaigns.${i}.purchases`, 'int'),
    bound('td', 'attribution', `campaigns.${i}.revenue`, 'money'),
    ...(rates ? [bound('td', 'attribution', `campaigns.${i}.aov`, 'money')] : []),
  ]), 'No purchase in this range.');
  table('fbclid', ['Landing', 'Purchases', 'Revenue'], a.fbclid.map((f, i) => [
    f.has_fbclid ? 'with fbclid' : 'without fbclid',
    bound('td', 'attribution', `fbclid.${i}.purchases`, 'int'),
    bound('td', 'attribution', `fbclid.${i}.revenue`, 'money'),
  ]), 'No purchase in this range.');
}

function renderAem() {
  const a = data.aem;
  if (!$('priority').value) $('priority').value = a.priority.join(',');
  table('aem', ['Event', 'Priority', 'All', 'AEM', 'iOS all', 'iOS AEM'], a.events.map((e, i) => [
    e.event,
    cell('td', String(e.priority)),
    bound('td', 'aem', `events.${i}.events`, 'int'),
    bound('td', 'aem', `events.${i}.aem_events`, 'int'),
    bound('td', 'aem', `events.${i}.ios_events`, 'int'),
    bound('td', 'aem', `events.${i}.ios_aem_events`, 'int'),
  ]));
}

function chart(id, config) {
  charts[id]?.destroy();
  config.options = { responsive: true, maintainAspectRatio: false, animation: false, ...config.options };
  charts[id] = new Chart($(id), config);
}

// ---- loading ----
// One request per panel, all at once, the headline's first: each panel is drawn the moment its
// report arrives, so the first real numbers do not wait for the slowest report. A report the
// collector does not have (404: an older collector) hides its panel; any other failure is said in
// the panel and the status line, and the other panels still load.
const PANELS = [
  ['summary', (q) => `/api/reports/summary?${q}`, renderHeadline],
  ['diagnostics', (q) => `/api/reports/diagnostics?${q}`, renderDiagnostics],
  ['funnel', (q) => `/api/reports/funnel?${q}`, renderFunnel],
  ['timeline', (q) => `/api/reports/timeline?${q}`, renderTimeline],
  ['match-quality', (q) => `/api/reports/match-quality?${q}`, renderMatch],
  ['relay', (q) => `/api/reports/relay?${q}`, renderRelay],
  ['attribution', (q) => `/api/reports/attribution?${q}&window_days=7`, renderAttribution],
  ['aem', (q, prio) => `/api/reports/aem?${q}${prio ? `&priority=${encodeURIComponent(prio)}` : ''}`, renderAem],
];

async function load() {
  const q = params();
  if (!/^[0-9]{1,20}$/.test(q.get('pixel')) || !q.get('from') || !q.get('to')) {
    $('status').textContent = 'Give a pixel ID and a date range.';
    return;
  }
  sessionStorage.setItem(PIXEL_KEY, q.get('pixel'));
  history.replaceState(null, '', `?${q}`);
  $('status').textContent = 'Loading…';
  $('status').classList.remove('error');
  const started = performance.now();
  const prio = $('priority').value.trim();
  data = {};
  delete document.body.dataset.firstRenderMs;
  const results = await Promise.allSettled(
    PANELS.map(async ([key, path, render]) => {
      const section = document.querySelector(`[data-panel="${key}"]`);
      section.dataset.state = 'loading';
      try {
        data[key] = await (await api(path(q, prio))).json();
        // Shown before it is drawn: charts and the headline's fitting measure their boxes.
        section.hidden = false;
        render();
        section.dataset.state = 'ready';
        section.querySelector('.panel-error')?.remove();
        const ms = String(Math.round(performance.now() - started));
        section.dataset.ms = ms;
        // From asking for the reports to the first real numbers on screen.
        document.body.dataset.firstRenderMs ||= ms;
      } catch (e) {
        if (e instanceof Missing) {
          section.hidden = true;
          section.dataset.state = 'absent';
          return;
        }
        section.dataset.state = 'failed';
        if (!(e instanceof Unauthorized)) {
          const p = section.querySelector('.panel-error') || section.appendChild(cell('p', ''));
          p.className = 'panel-error error';
          p.textContent = `Could not load this panel: ${e.message}`;
        }
        throw e;
      }
    }),
  );
  const failures = results.filter((r) => r.status === 'rejected').map((r) => r.reason);
  if (failures.some((e) => e instanceof Unauthorized)) return failed(failures.find((e) => e instanceof Unauthorized));
  if (failures.length) {
    failed(failures[0]);
  } else {
    $('status').textContent = `Pixel ${q.get('pixel')}, ${q.get('from')} to ${q.get('to')} (UTC).`;
  }
  document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
  startLive();
}

function failed(e) {
  if (e instanceof Unauthorized) {
    logout('The admin token was refused: type it again.');
  } else {
    $('status').textContent = `Could not load the reports: ${e.message}`;
    $('status').classList.add('error');
    console.warn('dashboard:', e.message);
  }
}

async function refreshLive() {
  const pixel = $('pixel').value.trim();
  try {
    const events = await (await api(`/api/events?${new URLSearchParams({ pixel, limit: '15' })}`)).json();
    table('live', ['Time (UTC)', 'Event', 'Event ID', 'From', 'fbp', 'Customer information (SHA-256)', 'Relay'], events.map((e) => [
      new Date(e.event_time * 1000).toISOString().replace('T', ' ').slice(0, 19),
      cell('td', e.event_name),
      cell('td', e.event_id),
      cell('td', `${e.origin}${e.verified ? ' ✓' : ''}${e.late_copy ? ' (late copy)' : ''}`),
      cell('td', e.fbp ?? '–'),
      Object.assign(cell('td', Object.entries(e.user_data).map(([k, h]) => `${k}:${h.slice(0, 10)}…`).join(' ') || '–'), { className: 'hash' }),
      cell('td', e.relay_status),
    ]));
  } catch (e) {
    failed(e);
  }
}

function startLive() {
  clearInterval(liveTimer);
  refreshLive();
  liveTimer = setInterval(() => {
    if (document.visibilityState === 'visible') refreshLive();
  }, LIVE_EVERY_MS);
}

async function download(name) {
  const status = $('aud-status');
  status.textContent = `Preparing ${name}.csv…`;
  try {
    const res = await api(`/api/audiences/${name}.csv?${params()}`);
    const blob = await res.blob();
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `${name}-${$('from').value}-${$('to').value}.csv`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    const rows = (await blob.text()).trim().split('\n').length - 1;
    status.textContent = `${name}.csv: ${rows} people.`;
  } catch (e) {
    if (e instanceof Unauthorized) failed(e);
    else status.textContent = `Could not download ${name}.csv: ${e.message}`;
  }
}

// ---- the token ----
function logout(message = '') {
  clearInterval(liveTimer);
  token = null;
  $('app').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message;
  $('token').value = '';
  $('token').focus();
}

function open() {
  $('login').hidden = true;
  $('app').hidden = false;
  load();
}

function day(d) {
  return d.toISOString().slice(0, 10);
}

function init() {
  const url = new URLSearchParams(location.search);
  $('pixel').value = url.get('pixel') || sessionStorage.getItem(PIXEL_KEY) || '';
  const today = new Date();
  $('to').value = url.get('to') || day(today);
  $('from').value = url.get('from') || day(new Date(today.getTime() - 29 * 86400000));
  $('login-form').addEventListener('submit', (e) => {
    e.preventDefault();
    token = $('token').value.trim();
    $('token').value = '';
    if (!token) return;
    open();
  });
  $('controls').addEventListener('submit', (e) => {
    e.preventDefault();
    load();
  });
  $('aem-form').addEventListener('submit', (e) => {
    e.preventDefault();
    load();
  });
  $('logout').addEventListener('click', () => logout());
  addEventListener('resize', fitFigures);
  for (const b of document.querySelectorAll('[data-audience]')) b.addEventListener('click', () => download(b.dataset.audience));
  // A page kept in the back-forward cache keeps its memory: forget the token when the page is
  // left, and ask again if it comes back.
  addEventListener('pagehide', () => {
    clearInterval(liveTimer);
    token = null;
  });
  addEventListener('pageshow', (e) => {
    if (e.persisted) logout();
  });
  sessionStorage.removeItem(OLD_TOKEN_KEY);
  logout();
}

init();
