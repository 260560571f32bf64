// The fbq commands (SPEC §1-§4) end to end against the built dist/: the stub takeover, init,
// track / trackCustom / trackSingle / trackSingleCustom, set(...), event IDs, debug output and the
// /tr parameters a beacon carries, in order.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  openSuite, param, paramsOf, names, byId, byEv, all, byEc, assertParamOrder, assertNoPageErrors,
  fbqMessages, sha256, VERSION, UUID_V4, FBP_VALUE,
} from '../support/suite.mjs';
import { PERSONA } from '../support/privacy.mjs';

let suite;
before(async () => {
  suite = await openSuite();
});
after(async () => {
  await suite?.teardown();
});

test('stub takeover: version, callMethod, push/loaded/_fbq kept, queue replayed in order', async () => {
  const id = '1100000000001';
  const tab = await suite.open('/cmd-stub.html', {
    calls: `fbq('init', '${id}');
fbq('track', 'PageView');
fbq('track', 'ViewContent', {content_ids: ['a']});
fbq('trackCustom', 'Step', {n: 1});
fbq('track', 'Lead');
fbq('trackCustom', 'Step', {n: 2});
window.__stub = fbq;`,
  });
  try {
    const got = byEc(await suite.wait(5, byId(id)));
    assert.deepEqual(got.map((b) => param(b, 'ev')), ['PageView', 'ViewContent', 'Step', 'Lead', 'Step']);
    assert.deepEqual(got.map((b) => param(b, 'ec')), ['0', '1', '2', '3', '4']);
    assert.deepEqual(got.map((b) => param(b, 'cd[n]') ?? null), [null, null, '1', null, '2']);
    const ts = got.map((b) => Number(param(b, 'ts')));
    for (let i = 1; i < ts.length; i++) assert.ok(ts[i] >= ts[i - 1], `ts in call order: ${ts}`);
    const state = await tab.page.evaluate(() => ({
      version: fbq.version,
      same: window.__stub === window.fbq,
      callMethod: typeof fbq.callMethod,
      push: fbq.push === fbq,
      loaded: fbq.loaded,
      alias: window._fbq === window.fbq,
      queue: Array.isArray(fbq.queue) ? fbq.queue.length : 'not an array',
    }));
    assert.deepEqual(state, { version: VERSION, same: true, callMethod: 'function', push: true, loaded: true, alias: true, queue: 0 });
    // Calls after load go straight to callMethod and fbq.push is fbq itself.
    await tab.page.evaluate(() => fbq.push('trackCustom', 'ViaPush'));
    const [late] = await suite.wait(1, all(byId(id), byEv('ViaPush')));
    assert.equal(param(late, 'ec'), '5');
    assert.equal(await tab.page.evaluate(() => fbq.queue.length), 0, 'nothing queued after load');
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('legacy array form: fbq([\'init\', id]) and fbq([\'track\', \'PageView\'])', async () => {
  const id = '1100000000002';
  const tab = await suite.open('/cmd-legacy.html', { calls: `fbq(['init', '${id}']);\nfbq(['track', 'PageView']);` });
  try {
    await tab.page.evaluate(() => fbq(['trackCustom', 'Later', { k: 'v' }]));
    const got = byEc(await suite.wait(2, byId(id)));
    assert.deepEqual(got.map((b) => param(b, 'ev')), ['PageView', 'Later']);
    assert.equal(param(got[1], 'cd[k]'), 'v');
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('init: id must match ^[1-9][0-9]{0,25}$, as a string or a number', async () => {
  const max26 = '9'.repeat(26);
  const tab = await suite.open('/cmd-init.html', {
    calls: `fbq('init', 'abc');
fbq('init', '0123');
fbq('init', '');
fbq('init', '${'1'.repeat(27)}');
fbq('init', '12 34');
fbq('init', -5);
fbq('init', 1.5);
fbq('trackCustom', 'NoPixelYet');
fbq('init', 1100000000003);
fbq('init', '${max26}');
fbq('init', '7');
fbq('trackCustom', 'Hello');`,
  });
  try {
    const got = await suite.wait(3, byEv('Hello'));
    assert.deepEqual(got.map((b) => param(b, 'id')).sort(), ['1100000000003', '7', max26].sort());
    const bad = await suite.settle((b) => ['abc', '0123', '', '1'.repeat(27), '12 34', '-5', '1.5'].includes(param(b, 'id')) || param(b, 'ev') === 'NoPixelYet');
    assert.deepEqual(bad.map((b) => b.url), [], 'nothing sent for invalid IDs or before any init');
    await suite.said(tab);
    const warnings = fbqMessages(tab, 'warning');
    assert.ok(warnings.filter((w) => /init/i.test(w)).length >= 7, `one warning per invalid init:\n${warnings.join('\n')}`);
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('init twice: "Duplicate Pixel ID" warning; a second init with userData replaces the stored userData', async () => {
  const [a, b] = ['1100000000004', '1100000000005'];
  const tab = await suite.open('/cmd-dup.html', {
    calls: `fbq('init', '${a}');
fbq('init', '${a}');
fbq('init', '${b}', {em: 'first@example.org'});
fbq('trackCustom', 'One');
fbq('init', '${b}', {em: 'second@example.org'});
fbq('trackCustom', 'Two');`,
  });
  try {
    const mine = (x) => byId(a)(x) || byId(b)(x);
    const one = await suite.wait(2, all(mine, byEv('One')));
    const two = await suite.wait(2, all(mine, byEv('Two')));
    assert.equal(one.filter(byId(a)).length, 1, 'a duplicate init does not add a second pixel');
    assert.equal(two.filter(byId(a)).length, 1);
    await suite.said(tab);
    const warnings = fbqMessages(tab, 'warning');
    assert.equal(warnings.filter((w) => w.includes('Duplicate Pixel ID')).length, 1, `exactly one duplicate warning:\n${warnings.join('\n')}`);
    assert.equal(param(one.find(byId(b)), 'ud[em]'), sha256('first@example.org'));
    assert.equal(param(two.find(byId(b)), 'ud[em]'), sha256('second@example.org'), 'the second userData replaced the first');
    assert.equal(param(one.find(byId(a)), 'ud[em]'), undefined);
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('track goes to every pixel; trackSingle (tm=1) and trackSingleCustom (tm=2) to one; unknown id: warning, nothing', async () => {
  const [a, b] = ['1100000000006', '1100000000007'];
  const tab = await suite.open('/cmd-single.html', {
    calls: `fbq('init', '${a}');
fbq('init', '${b}');
fbq('track', 'Lead');
fbq('trackSingle', '${a}', 'AddToCart', {value: 3, currency: 'EUR'});
fbq('trackSingleCustom', '${b}', 'OnlyB', {x: 1});
fbq('trackSingle', '1199999999999', 'Lead');
fbq('trackSingleCustom', '1199999999999', 'Nobody');
fbq('trackCustom', 'End');`,
  });
  try {
    await suite.wait(2, byEv('End'));
    const mine = await suite.settle((b0) => byId(a)(b0) || byId(b)(b0));
    const lead = mine.filter(byEv('Lead'));
    assert.deepEqual(lead.map((x) => param(x, 'id')).sort(), [a, b], 'track: every pixel');
    for (const x of lead) assert.equal(param(x, 'tm'), undefined, 'track carries no tm');
    const add = mine.filter(byEv('AddToCart'));
    assert.deepEqual(add.map((x) => [param(x, 'id'), param(x, 'tm'), param(x, 'cd[value]')]), [[a, '1', '3']]);
    const onlyB = mine.filter(byEv('OnlyB'));
    assert.deepEqual(onlyB.map((x) => [param(x, 'id'), param(x, 'tm'), param(x, 'cd[x]')]), [[b, '2', '1']]);
    assert.deepEqual(suite.beacons(byId('1199999999999')).map((x) => x.url), [], 'nothing for an unknown pixel');
    assert.deepEqual(suite.beacons(byEv('Nobody')).map((x) => x.url), []);
    await suite.said(tab);
    const warnings = fbqMessages(tab, 'warning').filter((w) => w.includes('1199999999999'));
    assert.equal(warnings.length, 2, `a warning per unknown-pixel call:\n${fbqMessages(tab, 'warning').join('\n')}`);
    // ec counts per pixel, from 0, trackSingle included.
    assert.deepEqual(byEc(mine.filter(byId(a))).map((x) => [param(x, 'ev'), param(x, 'ec')]), [['Lead', '0'], ['AddToCart', '1'], ['End', '2']]);
    assert.deepEqual(byEc(mine.filter(byId(b))).map((x) => [param(x, 'ev'), param(x, 'ec')]), [['Lead', '0'], ['OnlyB', '1'], ['End', '2']]);
    // it is the time of the first init of the page, the same for every pixel and event.
    assert.equal(new Set(mine.map((x) => param(x, 'it'))).size, 1, 'one it for the page');
    assert.match(param(mine[0], 'it'), /^\d{13}$/);
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('an unknown command warns "is not a valid fbq command" and sends nothing', async () => {
  const id = '1100000000008';
  const tab = await suite.open('/cmd-unknown.html', {
    calls: `fbq('init', '${id}');
fbq('trak', 'Purchase', {value: 1, currency: 'USD'});
fbq('sendEvent', 'Lead');
fbq('TRACK', 'Lead');
fbq('trackCustom', 'After');`,
  });
  try {
    await suite.wait(1, all(byId(id), byEv('After')));
    const mine = await suite.settle(byId(id));
    assert.deepEqual(mine.map((b) => param(b, 'ev')), ['After'], 'only the valid call was sent');
    await suite.said(tab);
    const warnings = fbqMessages(tab, 'warning').filter((w) => w.includes('is not a valid fbq command'));
    assert.equal(warnings.length, 3, fbqMessages(tab).join('\n'));
    assert.ok(warnings.some((w) => w.includes('trak')), 'the warning names the command');
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('a non-standard name via track warns (suggesting trackCustom) and is still sent; trackCustom does not warn', async () => {
  const id = '1100000000009';
  const tab = await suite.open('/cmd-custom.html', {
    calls: `fbq('init', '${id}');
fbq('track', 'BoughtSocks', {pairs: 2});
fbq('trackCustom', 'QuietSocks');
fbq('track', 'ViewContent');`,
  });
  try {
    const got = byEc(await suite.wait(3, byId(id)));
    assert.deepEqual(got.map((b) => [param(b, 'ev'), param(b, 'cd[pairs]') ?? null]), [['BoughtSocks', '2'], ['QuietSocks', null], ['ViewContent', null]]);
    await suite.said(tab);
    const warnings = fbqMessages(tab, 'warning');
    const about = (name) => warnings.filter((w) => w.includes(name));
    assert.equal(about('BoughtSocks').length, 1, warnings.join('\n'));
    assert.match(about('BoughtSocks')[0], /trackCustom/);
    assert.deepEqual(about('QuietSocks'), []);
    assert.deepEqual(about('ViewContent'), []);
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('Purchase without a numeric value or a valid currency warns and is still sent', async () => {
  const id = '1100000000010';
  const tab = await suite.open('/cmd-purchase.html', {
    calls: `fbq('init', '${id}');
fbq('track', 'Purchase', {value: 10, currency: 'USD', order_id: 'ok-1'});
fbq('track', 'Purchase', {value: '12.50', currency: 'EUR', order_id: 'ok-2'});
fbq('track', 'Purchase', {order_id: 'none-3'});
fbq('track', 'Purchase', {value: 'ten', currency: 'USD', order_id: 'badvalue-4'});
fbq('track', 'Purchase', {value: 5, currency: 'dollars', order_id: 'badcurrency-5'});
fbq('track', 'Purchase', {value: 5, order_id: 'nocurrency-6'});`,
  });
  try {
    const got = byEc(await suite.wait(6, all(byId(id), byEv('Purchase'))));
    assert.deepEqual(got.map((b) => param(b, 'cd[order_id]')), ['ok-1', 'ok-2', 'none-3', 'badvalue-4', 'badcurrency-5', 'nocurrency-6']);
    assert.equal(param(got[0], 'cd[value]'), '10');
    assert.equal(param(got[1], 'cd[value]'), '12.50');
    assert.equal(param(got[4], 'cd[currency]'), 'dollars', 'sent as given');
    await suite.said(tab);
    const warnings = fbqMessages(tab, 'warning').filter((w) => w.includes('Purchase'));
    const valueWarnings = warnings.filter((w) => /value/i.test(w));
    const currencyWarnings = warnings.filter((w) => /currency/i.test(w));
    // none-3: both; badvalue-4: value; badcurrency-5: currency; nocurrency-6: currency.
    assert.equal(valueWarnings.length, 2, warnings.join('\n'));
    assert.equal(currencyWarnings.length, 3, warnings.join('\n'));
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('every beacon carries the SPEC §4 parameters in order, with the right values', async () => {
  const id = '1100000000011';
  const tab = await suite.open('/cmd-wire.html', {
    query: '?p=1',
    calls: `window.__t0 = Date.now();
fbq('init', '${id}', {em: ${JSON.stringify(PERSONA.em)}}, {agent: 'shopify'});
fbq('dataProcessingOptions', ['LDU'], 1, 1000);
window.__t1 = Date.now();
fbq('track', 'AddToCart', {value: 12.5, currency: 'USD', content_ids: ['sku1', 'sku2']}, {eventID: 'evt-wire-1'});
window.__t2 = Date.now();
fbq('trackSingleCustom', '${id}', 'Custom');`,
  });
  try {
    const got = byEc(await suite.wait(2, byId(id)));
    const [b, c] = got;
    assertParamOrder(b);
    assertParamOrder(c);
    const p = paramsOf(b);
    const page = await tab.page.evaluate(() => ({ href: location.href, ref: document.referrer, sw: screen.width, sh: screen.height, t0: __t0, t1: __t1, t2: __t2 }));
    assert.deepEqual(names(b), ['id', 'ev', 'dl', 'rl', 'if', 'ts', 'cd[value]', 'cd[currency]', 'cd[content_ids]', 'sw', 'sh', 'ud[em]', 'v', 'r', 'a', 'ec', 'fbp', 'it', 'dpo', 'dpoco', 'dpost', 'eid', 'rqm']);
    assert.equal(p.id, id);
    assert.equal(p.ev, 'AddToCart');
    assert.equal(p.dl, page.href);
    assert.equal(p.rl, page.ref);
    assert.equal(p.if, 'false');
    // Calls queued by the stub are stamped when the library runs them (Meta's stub keeps no time).
    assert.ok(Number(p.ts) >= page.t1 && Number(p.ts) <= b.receivedAt, `ts ${p.ts} is Date.now() at the call [${page.t1}, ${b.receivedAt}]`);
    assert.equal(p['cd[value]'], '12.5');
    assert.equal(p['cd[currency]'], 'USD');
    assert.equal(p['cd[content_ids]'], '["sku1","sku2"]');
    assert.equal(p.sw, String(page.sw));
    assert.equal(p.sh, String(page.sh));
    assert.equal(p['ud[em]'], sha256('john.doe@example.com'));
    assert.equal(p.v, VERSION);
    assert.equal(p.r, 'stable');
    assert.equal(p.a, 'shopify');
    assert.equal(p.ec, '0');
    assert.match(p.fbp, FBP_VALUE);
    assert.ok(Number(p.it) >= page.t0 && Number(p.it) <= Number(p.ts), `it ${p.it} is the first init time [${page.t0}, ts ${p.ts}]`);
    assert.deepEqual([p.dpo, p.dpoco, p.dpost], ['LDU', '1', '1000']);
    assert.equal(p.eid, 'evt-wire-1');
    assert.equal(p.rqm, 'FGET');
    // The second event: same it and fbp, next ec, tm=2, generated eid, no cd.
    const q = paramsOf(c);
    assert.equal(q.ec, '1');
    assert.equal(q.it, p.it);
    assert.equal(q.fbp, p.fbp);
    assert.equal(q.tm, '2');
    assert.match(q.eid, UUID_V4);
    assert.ok(!names(c).some((k) => k.startsWith('cd[')));
    // After load a call is sent at once, stamped with the time of the call.
    const [t3, t4] = await tab.page.evaluate(() => {
      const t = Date.now();
      fbq('trackCustom', 'Later');
      return [t, Date.now()];
    });
    const [later] = await suite.wait(1, all(byId(id), byEv('Later')));
    assert.ok(Number(param(later, 'ts')) >= t3 && Number(param(later, 'ts')) <= t4, `ts ${param(later, 'ts')} in [${t3}, ${t4}]`);
    assert.equal(param(later, 'it'), p.it, 'it stays the first init time');
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('custom data encoding: arrays/objects as JSON, booleans, numbers as JS prints them, null/undefined dropped', async () => {
  const id = '1100000000012';
  const tab = await suite.open('/cmd-cd.html', {
    calls: `fbq('init', '${id}');
fbq('trackCustom', 'Enc', {
  contents: [{id: 'sku1', quantity: 2, item_price: 5}],
  obj: {a: [1, 'x'], b: null},
  yes: true, no: false, nul: null, undef: undefined,
  big: 1e21, tiny: 0.1 + 0.2, neg: -7, zero: 0, int: 42, frac: 1.50, exp: 1e-7,
  text: 'a&b=c ü #1 +/?%',
  empty: '',
  'odd key&=': 'v'
});`,
  });
  try {
    const [b] = await suite.wait(1, byId(id));
    const p = paramsOf(b);
    assert.equal(p['cd[contents]'], '[{"id":"sku1","quantity":2,"item_price":5}]');
    assert.equal(p['cd[obj]'], '{"a":[1,"x"],"b":null}');
    assert.equal(p['cd[yes]'], 'true');
    assert.equal(p['cd[no]'], 'false');
    assert.ok(!('cd[nul]' in p), 'null dropped');
    assert.ok(!('cd[undef]' in p), 'undefined dropped');
    assert.equal(p['cd[big]'], String(1e21));
    assert.equal(p['cd[tiny]'], String(0.1 + 0.2));
    assert.equal(p['cd[neg]'], '-7');
    assert.equal(p['cd[zero]'], '0');
    assert.equal(p['cd[int]'], '42');
    assert.equal(p['cd[frac]'], '1.5');
    assert.equal(p['cd[exp]'], String(1e-7));
    assert.equal(p['cd[text]'], 'a&b=c ü #1 +/?%');
    assert.equal(p['cd[odd key&=]'], 'v');
    // Order of the cd keys is the order the page gave them.
    const cdNames = names(b).filter((k) => k.startsWith('cd['));
    assert.deepEqual(cdNames.filter((k) => k !== 'cd[empty]'), ['cd[contents]', 'cd[obj]', 'cd[yes]', 'cd[no]', 'cd[big]', 'cd[tiny]', 'cd[neg]', 'cd[zero]', 'cd[int]', 'cd[frac]', 'cd[exp]', 'cd[text]', 'cd[odd key&=]']);
    // Every value is percent-encoded on the wire: no raw space, '&' or '#' inside the query.
    assert.doesNotMatch(b.query, /[ #]/);
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('event IDs: {eventID} or {event_id} in the 4th argument is eid; otherwise a fresh UUID v4; eventID in cd is only cd', async () => {
  const id = '1100000000013';
  const tab = await suite.open('/cmd-eid.html', {
    calls: `fbq('init', '${id}');
fbq('track', 'Purchase', {value: 1, currency: 'USD'}, {eventID: 'order-42'});
fbq('track', 'Lead', {}, {event_id: 'lead-7'});
fbq('track', 'Contact', {eventID: 'not-an-eid'});
fbq('track', 'Search');
fbq('track', 'Search');
fbq('trackSingle', '${id}', 'Schedule', {}, {eventID: 'single-1'});`,
  });
  try {
    const got = byEc(await suite.wait(6, byId(id)));
    const eids = got.map((b) => param(b, 'eid'));
    assert.equal(eids[0], 'order-42');
    assert.equal(eids[1], 'lead-7');
    assert.equal(param(got[2], 'cd[eventID]'), 'not-an-eid');
    assert.match(eids[2], UUID_V4, 'eventID in custom data does not set eid');
    assert.match(eids[3], UUID_V4);
    assert.match(eids[4], UUID_V4);
    assert.equal(eids[5], 'single-1');
    assert.equal(new Set(eids).size, 6, `every event its own ID: ${eids}`);
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('set(\'agent\', v, id) sets a for that pixel only; options.agent at init', async () => {
  const [a, b] = ['1100000000014', '1100000000015'];
  const tab = await suite.open('/cmd-agent.html', {
    calls: `fbq('init', '${a}', {}, {agent: 'plwoocommerce'});
fbq('init', '${b}');
fbq('trackCustom', 'First');
fbq('set', 'agent', 'tmgoogletagmanager', '${b}');
fbq('trackCustom', 'Second');`,
  });
  try {
    const mine = (x) => byId(a)(x) || byId(b)(x);
    const first = await suite.wait(2, all(mine, byEv('First')));
    const second = await suite.wait(2, all(mine, byEv('Second')));
    const agent = (list, id) => param(list.find(byId(id)), 'a');
    assert.equal(agent(first, a), 'plwoocommerce');
    assert.equal(agent(first, b), undefined);
    assert.equal(agent(second, a), 'plwoocommerce');
    assert.equal(agent(second, b), 'tmgoogletagmanager');
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('set(\'autoConfig\', ...) is accepted silently and sends nothing', async () => {
  const id = '1100000000016';
  const tab = await suite.open('/cmd-autoconfig.html', {
    calls: `fbq('set', 'autoConfig', false, '${id}');
fbq('init', '${id}');
fbq('set', 'autoConfig', true, '${id}');
fbq('trackCustom', 'After');`,
  });
  try {
    await suite.wait(1, byId(id));
    const mine = await suite.settle(byId(id));
    assert.deepEqual(mine.map((b) => param(b, 'ev')), ['After']);
    assert.deepEqual(fbqMessages(tab, 'warning'), [], 'no warning for autoConfig');
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('set(\'endpoint\', url): every beacon goes there, nothing to facebook.com', async () => {
  const [a, b] = ['1100000000017', '1100000000018'];
  // endpoint: false keeps Meta's default endpoint intercepted, so a stray beacon would be seen.
  const tab = await suite.open('/cmd-endpoint.html', {
    endpoint: false,
    calls: `fbq('set', 'endpoint', location.origin + '/tr');
fbq('init', '${a}');
fbq('init', '${b}');
fbq('track', 'PageView');
fbq('trackSingle', '${b}', 'Lead');`,
  });
  try {
    const got = await suite.wait(3, (x) => byId(a)(x) || byId(b)(x));
    await suite.settle();
    const mine = suite.beacons((x) => byId(a)(x) || byId(b)(x));
    assert.equal(mine.length, 3);
    for (const x of mine) {
      assert.equal(x.via, 'http', 'first-party, not intercepted');
      assert.equal(x.path, '/tr');
    }
    assert.deepEqual(got.filter((x) => x.via === 'intercept'), []);
    assert.deepEqual(tab.blocked, []);
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('set(\'openbridge\', id, url): that pixel\'s beacons also go to url with the same parameters and eid', async () => {
  const [a, b] = ['1100000000019', '1100000000020'];
  const tab = await suite.open('/cmd-openbridge.html', {
    endpoint: false,
    calls: `fbq('init', '${a}');
fbq('init', '${b}');
fbq('set', 'openbridge', '${a}', location.origin + '/tr');
fbq('track', 'PageView');
fbq('track', 'Purchase', {value: 9.99, currency: 'USD'}, {eventID: 'ob-1'});`,
  });
  try {
    await suite.wait(6, (x) => byId(a)(x) || byId(b)(x));
    const mine = await suite.settle((x) => byId(a)(x) || byId(b)(x));
    const meta = mine.filter((x) => x.via === 'intercept');
    const bridge = mine.filter((x) => x.via === 'http');
    assert.equal(meta.length, 4, 'both pixels, both events, to Meta');
    assert.deepEqual(bridge.map((x) => [param(x, 'id'), x.path]).sort(), [[a, '/tr'], [a, '/tr']], 'only pixel a to the gateway');
    for (const copy of bridge) {
      const twin = meta.find((m) => param(m, 'id') === a && param(m, 'ev') === param(copy, 'ev'));
      assert.ok(twin, 'a Meta copy of the same event');
      assert.deepEqual(copy.params, twin.params, 'same parameters, same order, same eid');
    }
    assert.equal(param(bridge.find(byEv('Purchase')), 'eid'), 'ob-1');
    assert.match(param(bridge.find(byEv('PageView')), 'eid'), UUID_V4);
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('set(\'userData\', {...}, id) hashes and attaches matching data to that pixel\'s later events', async () => {
  const [a, b] = ['1100000000021', '1100000000022'];
  const tab = await suite.open('/cmd-userdata.html', {
    calls: `fbq('init', '${a}');
fbq('init', '${b}');
fbq('trackCustom', 'Before');
fbq('set', 'userData', {em: ${JSON.stringify(PERSONA.em)}, ph: ${JSON.stringify(PERSONA.ph)}}, '${a}');
fbq('trackCustom', 'After');`,
  });
  try {
    const mine = (x) => byId(a)(x) || byId(b)(x);
    const before = await suite.wait(2, all(mine, byEv('Before')));
    const afterSet = await suite.wait(2, all(mine, byEv('After')));
    for (const x of before) assert.ok(!names(x).some((k) => k.startsWith('ud[')), 'no ud before set');
    const pa = paramsOf(afterSet.find(byId(a)));
    assert.equal(pa['ud[em]'], sha256('john.doe@example.com'));
    assert.equal(pa['ud[ph]'], sha256('16505551212'));
    assert.ok(!names(afterSet.find(byId(b))).some((k) => k.startsWith('ud[')), 'the other pixel gets none');
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

test('rl is document.referrer and if=true inside an iframe', async () => {
  const id = '1100000000023';
  suite.page('/cmd-frame-host.html', '<!doctype html><title>host</title><iframe src="/cmd-framed.html"></iframe>');
  const from = suite.page('/cmd-from.html', '<!doctype html><title>from</title><a id="go" href="/cmd-framed.html">go</a>');
  const tab = await suite.open('/cmd-framed.html', {
    goto: false,
    calls: `fbq('init', '${id}');\nfbq('trackCustom', 'Where', {top: String(window.top === window)});`,
  });
  try {
    await tab.page.goto(from);
    await tab.page.click('#go');
    const [top] = await suite.wait(1, all(byId(id), (x) => param(x, 'cd[top]') === 'true'));
    assert.equal(param(top, 'if'), 'false');
    assert.equal(param(top, 'rl'), from);
    assert.equal(param(top, 'dl'), suite.url('/cmd-framed.html'));
    await tab.page.goto(suite.url('/cmd-frame-host.html'));
    const [framed] = await suite.wait(1, all(byId(id), (x) => param(x, 'cd[top]') === 'false'));
    assert.equal(param(framed, 'if'), 'true');
    assert.equal(param(framed, 'rl'), suite.url('/cmd-frame-host.html'));
    assertNoPageErrors(tab);
  } finally {
    await suite.done(tab);
  }
});

/** The debug lines of one beacon: [header, [[name, value], ...]]. */
function debugBlocks(tab) {
  return tab.messages
    .filter((m) => m.type === 'log' && /^\[fbq\] \S+ → pixel /.test(m.text))
    .map((m) => {
      const [head, ...rest] = m.text.split('\n');
      return [head, rest.map((l) => {
        assert.match(l, /^ {2}[^:]+: /, `a debug line looks like "  name: value": ${JSON.stringify(l)}`);
        const i = l.indexOf(': ');
        return [l.slice(2, i), l.slice(i + 2)];
      })];
    });
}

for (const how of ['set', 'query']) {
  test(`debug (${how === 'set' ? "fbq('set', 'debug', true)" : '?fbq_debug=1'}): each beacon is logged with one line per parameter`, async () => {
    const id = how === 'set' ? '1100000000024' : '1100000000025';
    const tab = await suite.open(`/cmd-debug-${how}.html`, {
      query: how === 'query' ? '?fbq_debug=1' : '',
      calls: `${how === 'set' ? "fbq('set', 'debug', true);\n" : ''}fbq('init', '${id}');
fbq('track', 'PageView');
fbq('track', 'ViewContent', {content_ids: ['a'], value: 2}, {eventID: 'dbg-1'});`,
    });
    try {
      const got = byEc(await suite.wait(2, byId(id)));
      const endpoint = suite.url('/tr/');
      await suite.said(tab);
      const blocks = debugBlocks(tab);
      for (const b of got) {
        const header = `[fbq] ${param(b, 'ev')} → pixel ${id} via ${endpoint}`;
        const block = blocks.find(([h, lines]) => h === header && lines.some(([k, v]) => k === 'eid' && v === param(b, 'eid')));
        assert.ok(block, `a debug log "${header}" for ${param(b, 'ev')}; got:\n${blocks.map(([h]) => h).join('\n')}`);
        assert.deepEqual(block[1], b.params, 'one "  name: value" line per parameter, as sent');
      }
      assertNoPageErrors(tab);
    } finally {
      await suite.done(tab);
    }
  });
}

test('no debug output without debug mode', async () => {
  const id = '1100000000026';
  const tab = await suite.open('/cmd-nodebug.html', { calls: `fbq('init', '${id}');\nfbq('track', 'PageView');` });
  try {
    await suite.wait(1, byId(id));
    await suite.said(tab);
    assert.deepEqual(debugBlocks(tab), []);
    assert.deepEqual(fbqMessages(tab, 'log'), []);
  } finally {
    await suite.done(tab);
  }
});
