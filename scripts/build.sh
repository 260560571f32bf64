#!/usr/bin/env bash
# Builds what a store downloads: dist/fbevents.js (the loader and src/host.js, one classic script)
# and dist/fbevents.wasm (the engine, optimised for size). Prints raw and gzip sizes.
# Run scripts/setup.sh first (the two top-level commands do).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[build] %s\n' "$*"; }
die() { printf '[build] error: %s\n' "$*" >&2; exit 1; }

[ -f www/fbevents.js ] || die "www/fbevents.js (the loader) is missing"
[ -x node_modules/.bin/wasm-opt ] || die "node_modules is missing: run scripts/setup.sh"

target_dir=${CARGO_TARGET_DIR:-target}

# The size build uses the machine's nightly toolchain when it has one (scripts/setup.sh adds its
# rust-src): std rebuilt with the size profile, panics that abort without formatting a message,
# no panic locations and no Debug formatting. That is worth about 4 KB gzip of a ~30 KB engine.
# Without nightly the stable build still works, and the size test says by how much it is over.
if rustup run nightly rustc --version >/dev/null 2>&1 &&
  rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src'; then
  say "cargo +nightly build (profile wasm, build-std, panic=immediate-abort)"
  wasm_target_dir=$target_dir/wasm-nightly
  RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Zfmt-debug=none" \
    CARGO_TARGET_DIR=$wasm_target_dir \
    cargo +nightly build --profile wasm --target wasm32-unknown-unknown -p fbevents \
    -Zbuild-std=std,panic_abort
else
  say "warning: no nightly toolchain with rust-src; building on stable (a larger engine)"
  wasm_target_dir=$target_dir
  cargo build --profile wasm --target wasm32-unknown-unknown -p fbevents
fi

say "wasm-opt -Oz"
# No wasm-bindgen pass: the shell exports plain functions and imports src/host.js by hand (see
# src/browser.rs), so the linked wasm goes straight to wasm-opt.
rm -rf pkg
mkdir -p pkg
node_modules/.bin/wasm-opt -Oz --converge --zero-filled-memory --strip-target-features \
  --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  --strip-debug --strip-producers \
  "$wasm_target_dir/wasm32-unknown-unknown/wasm/fbevents.wasm" -o pkg/fbevents.wasm

say "webpack"
# Staged in pkg/dist and swapped in at the end, so a server running from dist/ (./run.sh, a test
# run) never sees it half-built.
node_modules/.bin/webpack --config webpack.config.js --no-color --stats errors-warnings \
  --output-path pkg/dist
cp pkg/fbevents.wasm pkg/dist/fbevents.wasm
# The dashboard's script (issue #11), its own config so the pixel's stays untouched.
node_modules/.bin/webpack --config webpack.dashboard.config.js --no-color --stats errors-warnings \
  --output-path pkg/dist

# The bundle must run under a CSP without 'unsafe-eval'.
if grep -nE '\beval\(|new Function' pkg/dist/fbevents.js; then
  die "dist/fbevents.js contains eval( or new Function"
fi
rm -rf dist
mv pkg/dist dist

say "sizes"
node tests/support/sizes.mjs
