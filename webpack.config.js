// Bundles the loader (www/fbevents.js) and the browser half of the shell it imports (src/host.js)
// into one classic script, dist/fbevents.js, that a store can drop into Meta's base code unchanged.
//
// - A classic script, not a module: Meta's snippet inserts a plain <script async>, so the output
//   is one IIFE with no `import`/`export` and no `import.meta`.
// - No eval: `devtool: false` (webpack's development devtools wrap modules in `eval(...)`), so
//   the bundle runs under a Content-Security-Policy without 'unsafe-eval'.
// - The wasm is NOT a webpack asset: the loader computes the URL of fbevents.wasm from its own
//   script URL and fetches it itself.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(fileURLToPath(import.meta.url));

export default {
  mode: 'production',
  target: ['web', 'es2020'],
  entry: path.join(root, 'www', 'fbevents.js'),
  devtool: false,
  output: {
    path: path.join(root, 'dist'),
    filename: 'fbevents.js',
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
