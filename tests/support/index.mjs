// The end-to-end harness in one import.
import fs from 'node:fs';
import path from 'node:path';
import { distDir } from './server.mjs';
import { DIST_FILES } from './sizes.mjs';

export { startServer, param, parseParams, repoRoot, distDir } from './server.mjs';
export { launchBrowser, CHROMIUM, CHROMIUM_ARGS } from './browser.mjs';
export { baseCode, baseCodeJs, html } from './pages.mjs';
export { DIST_FILES, distSizes, fileSize, fallbackSize, FALLBACK_FILE, OUTBOX_FILE } from './sizes.mjs';

/** Throws a clear error when dist/ has not been built. */
export function requireDist() {
  for (const f of DIST_FILES) {
    if (!fs.existsSync(path.join(distDir, f))) {
      throw new Error(`dist/${f} is missing: run scripts/build.sh (or ./test.sh) first`);
    }
  }
}
