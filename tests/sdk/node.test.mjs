// Meta's Node.js Business SDK (facebook-nodejs-business-sdk) as a real client of the collector:
// README.md's Node recipe, run as written (taken out of README.md into a module), its
// HttpServiceInterface sending the SDK's own request to /v24.0/PIXEL/events on the collector.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../support/index.mjs';
import { CAPI_TOKEN, SERVER_KEY, WRONG_KEY, openShop, recipe } from './harness.mjs';
import { scenarios } from './scenarios.mjs';

let shop;
const modules = new Map();

before(async () => {
  shop = await openShop('node');
  // One at a time: each module reads process.env while it is evaluated.
  for (const key of [SERVER_KEY, CAPI_TOKEN, WRONG_KEY]) await recipeModule(key);
});

after(() => shop?.close());

/**
 * The recipe as a module of its own per key: it reads COLLECTOR_URL, PIXEL_ID and COLLECTOR_KEY
 * when imported, as a shop's server would. Beside a link to node_modules, so its bare
 * `import 'facebook-nodejs-business-sdk'` resolves as in a shop's project.
 */
async function recipeModule(key) {
  if (!modules.has(key)) {
    const dir = fs.mkdtempSync(path.join(shop.tmp, 'node-recipe-'));
    fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    const file = path.join(dir, 'purchase.mjs');
    fs.writeFileSync(file, recipe('js'));
    Object.assign(process.env, shop.env(key));
    modules.set(key, import(pathToFileURL(file).href));
  }
  return modules.get(key);
}

async function send(order, { testEventCode, key = SERVER_KEY } = {}) {
  const { sendPurchase } = await recipeModule(key);
  const res = await sendPurchase(order, { testEventCode });
  return { events_received: res.events_received, messages: res.messages, fbtrace_id: res.fbtrace_id };
}

describe('the Node.js SDK through the README recipe', { concurrency: true }, () => {
  scenarios(it, 'Node SDK', () => shop, send);

  it("Node SDK: the recipe keeps the SDK's crash reporter (the token to graph.facebook.com) off after EventRequest", async () => {
    const order = shop.order('crash-reporter');
    await send(order);
    // The same module as the recipe's (node_modules resolves to its real path): one reporter.
    const { default: bizSdk } = await import('facebook-nodejs-business-sdk');
    assert.equal(bizSdk.CrashReporter._instance?._active, false);
    await shop.relayedOnce(order.id, { quietMs: 0 });
  });
});
