// The dashboard's script (www/dashboard/dashboard.js and the parts of Chart.js it registers) as
// one file, dist/dashboard.js, served beside the pixel. The page itself (www/dashboard/index.html)
// is compiled into the collector, which serves it at /dashboard. No CDN: everything it loads
// comes from the collector's origin (its Content-Security-Policy says so).
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(fileURLToPath(import.meta.url));

export default {
  mode: 'production',
  target: ['web', 'es2020'],
  entry: path.join(root, 'www', 'dashboard', 'dashboard.js'),
  devtool: false,
  output: {
    path: path.join(root, 'dist'),
    filename: 'dashboard.js',
    iife: true,
    module: false,
    publicPath: '',
  },
  optimization: { splitChunks: false, runtimeChunk: false },
  performance: { hints: false },
};
