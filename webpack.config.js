// Bundles the loader (www/fbevents.js) and the browser half of the shell it imports (src/host.js)
// into one classic script, dist/fbevents.js, that a store can drop into Meta's base code unchanged.
//
// - A classic script, not a module: Meta's snippet inserts a plain <script async>, so the output
//   is one IIFE with no `import`/`export` and no `import.meta`.
// - No eval: `devtool: false` (webpack's development devtools wrap modules in `eval(...)`), so
//   the bundle runs under a Content-Security-Policy without 'unsafe-eval'.
// - A second bundle, dist/fbevents.outbox.js (www/outbox.js), the outbox's retry half: the loader
//   fetches it only when a first-party beacon failed or an earlier page left one (issue #10).
//   And dist/fbevents.inapp.js (www/inapp.js), fetched only inside Facebook's and Instagram's
//   in-app browsers, which asks the app for the click ID (issue #13). And
//   dist/fbevents.messages.js (www/messages.js), the console messages' texts, fetched the first
//   time the engine says something (issue #23: the texts cost every page bytes).
// - The wasm is NOT a webpack asset: the loader computes the URL of fbevents.wasm from its own
//   script URL and fetches it itself.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(fileURLToPath(import.meta.url));

export default {
  mode: 'production',
  target: ['web', 'es2020'],
  entry: {
    fbevents: path.join(root, 'www', 'fbevents.js'),
    'fbevents.outbox': path.join(root, 'www', 'outbox.js'),
    'fbevents.inapp': path.join(root, 'www', 'inapp.js'),
    'fbevents.messages': path.join(root, 'www', 'messages.js'),
  },
  devtool: false,
  output: {
    path: path.join(root, 'dist'),
    filename: '[name].js',
    iife: true,
    module: false,
    publicPath: '',
  },
  optimization: {
    splitChunks: false,
    runtimeChunk: false,
  },
  performance: { hints: false },
};
