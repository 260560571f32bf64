// The dashboard: asks for the admin token once per page load (kept in this page's memory only, sent
// as `Authorization: Bearer`), then loads the JSON reports of one pixel and date range and renders them as figures, tables and
// two charts. Every number shown comes from a report; each carries data-r (report), data-p (path
// in its JSON) and data-f (format), which the end-to-end test reads to compare with the JSON.
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

// ---- formatting (the e2e test formats the JSON the same way) ----
const fmt = {
  int: (n) => (n == null ? '–' : Number(n).toLocaleString('en-US')),
  pct: (x) => (x == null ? '–' : `${(x * 100).toFixed(1)}%`),
  score: (x) => (x == null ? '–' : Number(x).toFixed(1)),
  money: (m) => {
    const parts = Object.keys(m || {}).sort().map((c) => `${m[c].toFixed(2)} ${c}`);
    return parts.length ? parts.join(', ') : '–';
  },
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
  el.textContent = fmt[f](get(data[report], path));
  return el;
}

function cell(tag, text) {
  const el = document.createElement(tag);
  el.textContent = text;
  return el;
}

function table(id, head, rows) {
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
    const td = cell('td', 'No events in this range.');
    td.colSpan = head.length;
    body.insertRow().append(td);
  }
}

// ---- the API ----
class Unauthorized extends Error {}

async function api(path) {
  const res = await fetch(path, { headers: { authorization: `Bearer ${token}` }, cache: 'no-store' });
  if (res.status === 401) throw new Unauthorized('the admin token was refused');
  if (!res.ok) throw new Error(`${path.split('?')[0]}: ${res.status} ${(await res.text()).trim()}`);
  return res;
}

function params() {
  const q = new URLSearchParams({ pixel: $('pixel').value.trim(), from: $('from').value, to: $('to').value });
  return q;
}

// ---- rendering ----
function renderHeadline() {
  const purchase = data.funnel.steps.findIndex((s) => s.event === 'Purchase');
  const mqPurchase = data['match-quality'].events.findIndex((e) => e.event === 'Purchase');
  const figures = [
    ['Events', bound('span', 'funnel', 'events', 'int')],
    ['Visitors', bound('span', 'funnel', 'visitors', 'int')],
    ['Purchases', bound('span', 'funnel', `steps.${purchase}.events`, 'int')],
    ['Revenue', bound('span', 'timeline', 'totals.revenue', 'money')],
    ['Purchases with event ID', bound('span', 'relay', 'purchase_event_id_share', 'pct')],
    ['Relayed', bound('span', 'relay', 'relayed', 'int')],
  ];
  // Once the store reports its orders from its server: what its browsers miss.
  if (data.relay.capture.verified_purchases > 0) figures.push(['Browser capture rate', bound('span', 'relay', 'capture.browser_capture_rate', 'pct')]);
  if (mqPurchase >= 0) figures.push(['Purchase match score', bound('span', 'match-quality', `events.${mqPurchase}.score`, 'score')]);
  $('headline').replaceChildren(
    ...figures.map(([label, n]) => {
      const d = document.createElement('div');
      d.className = 'figure';
      n.className = 'n';
      d.append(n, cell('span', label));
      d.lastChild.className = 'l';
      return d;
    }),
  );
}

function renderFunnel() {
  const steps = data.funnel.steps;
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
  table('timeline', ['Event', 'Events'], names.map((n) => [n, bound('td', 'timeline', `totals.events.${n}`, 'int')]));
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
  if (errors.length) {
    const t = document.createElement('table');
    t.id = 'relay-errors-table';
    box.append(t);
    table('relay-errors-table', ["Meta's message", 'Events'], errors.map((e, i) => [e.message, bound('td', 'relay', `errors.${i}.count`, 'int')]));
  }
}

function renderAttribution() {
  const a = data.attribution;
  table('attribution', ['Source / medium / campaign', 'Purchases', 'Revenue'], a.campaigns.map((c, i) => [
    [c.source, c.medium, c.campaign].filter((x) => x != null).join(' / '),
    bound('td', 'attribution', `campaigns.${i}.purchases`, 'int'),
    bound('td', 'attribution', `campaigns.${i}.revenue`, 'money'),
  ]));
  table('fbclid', ['Landing', 'Purchases', 'Revenue'], a.fbclid.map((f, i) => [
    f.has_fbclid ? 'with fbclid' : 'without fbclid',
    bound('td', 'attribution', `fbclid.${i}.purchases`, 'int'),
    bound('td', 'attribution', `fbclid.${i}.revenue`, 'money'),
  ]));
}

function renderAem() {
  const a = data.aem;
  if (!$('priority').value) $('priority').value = a.priority.join(',');
  table('aem', ['#', 'Event', 'All', 'AEM', 'iOS all', 'iOS AEM'], a.events.map((e, i) => [
    String(e.priority),
    cell('td', e.event),
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
async function load() {
  const q = params();
  if (!/^[0-9]{1,20}$/.test(q.get('pixel')) || !q.get('from') || !q.get('to')) {
    $('status').textContent = 'Give a pixel ID and a date range.';
    return;
  }
  sessionStorage.setItem(PIXEL_KEY, q.get('pixel'));
  history.replaceState(null, '', `?${q}`);
  $('status').textContent = 'Loading…';
  const started = performance.now();
  const prio = $('priority').value.trim();
  const paths = {
    funnel: `/api/reports/funnel?${q}`,
    timeline: `/api/reports/timeline?${q}`,
    'match-quality': `/api/reports/match-quality?${q}`,
    relay: `/api/reports/relay?${q}`,
    attribution: `/api/reports/attribution?${q}&window_days=7`,
    aem: `/api/reports/aem?${q}${prio ? `&priority=${encodeURIComponent(prio)}` : ''}`,
  };
  const render = {
    funnel: renderFunnel,
    timeline: renderTimeline,
    'match-quality': renderMatch,
    relay: renderRelay,
    attribution: renderAttribution,
    aem: renderAem,
  };
  const headline = ['funnel', 'timeline', 'match-quality', 'relay'];
  data = {};
  try {
    // Each section is drawn as soon as its report arrives; the headline once its four are in.
    await Promise.all(
      Object.entries(paths).map(async ([k, p]) => {
        const json = await (await api(p)).json();
        data[k] = json;
        render[k]();
        // From asking for the reports to the first real numbers on screen (first load only).
        document.body.dataset.firstRenderMs ||= String(Math.round(performance.now() - started));
        if (headline.every((h) => data[h])) renderHeadline();
      }),
    );
    $('status').textContent = `Pixel ${q.get('pixel')}, ${q.get('from')} to ${q.get('to')} (UTC).`;
    $('status').classList.remove('error');
    document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
    startLive();
  } catch (e) {
    failed(e);
  }
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
