// Bundles the loader (www/fbevents.js) and the wasm-bindgen glue (pkg/fbevents.js) into one
// classic script, dist/fbevents.js, that a store can drop into Meta's base code unchanged.
//
// - A classic script, not a module: Meta's snippet inserts a plain <script async>, so the output
//   is one IIFE with no `import`/`export` and no `import.meta`.
// - No eval: `devtool: false` (webpack's development devtools wrap modules in `eval(...)`), so
//   the bundle runs under a Content-Security-Policy without 'unsafe-eval'.
// - The wasm is NOT a webpack asset: the loader computes the URL of fbevents.wasm from its own
//   script URL and passes it to the glue's init(). `url: false` stops webpack from turning the
//   glue's fallback `new URL('fbevents_bg.wasm', import.meta.url)` into an emitted asset, and the
//   DefinePlugin entry replaces `import.meta.url` (a syntax error in a classic script) with the
//   page URL instead of webpack's default, the build machine's file:// path.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import webpack from 'webpack';

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
  module: {
    parser: {
      javascript: { url: false },
    },
  },
  plugins: [new webpack.DefinePlugin({ 'import.meta.url': 'self.location.href' })],
  optimization: {
    splitChunks: false,
    runtimeChunk: false,
  },
  performance: { hints: false },
};
