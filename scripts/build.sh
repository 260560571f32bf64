#!/usr/bin/env bash
# Builds what a store downloads: dist/fbevents.js (the loader and src/host.js, one classic script)
# and dist/fbevents.wasm (the engine, optimised for size), each with a brotli .br beside it.
# Prints raw, gzip and brotli sizes.
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
# Two rounds of --flatten --rereloop then -Oz twice rebuild the control flow of LLVM's output
# before shrinking it (about 220 bytes gzip); --low-memory-unused lets loads and stores fold constant offsets into
# their immediates: the first 1 KB of memory is only reached if the 1 MB stack (which grows down
# towards 0 from 1 MB) overflows (about 80 bytes more). --gufa (whole-program flow analysis: a
# value that can only be one constant becomes it) before the last -Oz: 71 bytes gzip (issue #23;
# --type-ssa, --monomorphize and --merge-similar-functions there gave 0 to 8).
node_modules/.bin/wasm-opt -Oz --flatten --rereloop -Oz -Oz --flatten --rereloop -Oz --gufa -Oz --low-memory-unused \
  --converge --zero-filled-memory --strip-target-features \
  --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  --strip-debug --strip-producers \
  "$wasm_target_dir/wasm32-unknown-unknown/wasm/fbevents.wasm" -o pkg/fbevents.wasm

say "wasm2js (the same engine as JavaScript, for pages where WebAssembly cannot run)"
# wasm2js knows only MVP wasm: lower what the size build uses, then compile to an ES module whose
# one import line and trailing exports are replaced by a classic script that hands its
# instantiate function to the loader on its own <script> element; terser minifies it.
node_modules/.bin/wasm-opt -Oz --llvm-memory-copy-fill-lowering --llvm-nontrapping-fptoint-lowering \
  --signext-lowering --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals pkg/fbevents.wasm -o pkg/fallback.wasm
node_modules/.bin/wasm2js -Oz pkg/fallback.wasm -o pkg/fallback.mjs
[ "$(grep -c '^import \* as [$a-z_]* from .\/src\/host\.js.;$' pkg/fallback.mjs)" = 1 ] &&
  grep -q '^function asmFunc(imports) {$' pkg/fallback.mjs && grep -q '^var retasmFunc = asmFunc' pkg/fallback.mjs ||
  die "wasm2js output is not of the shape this script rewrites"
{
  echo 'document.currentScript.e=function(imports){'
  sed -e '/^import \* as /d' -e '/^var retasmFunc = /,$d' pkg/fallback.mjs
  echo 'return asmFunc(imports)}'
} >pkg/fallback.js

say "webpack"
# Staged in pkg/dist and swapped in at the end, so a server running from dist/ (./run.sh, a test
# run) never sees it half-built.
node_modules/.bin/webpack --config webpack.config.js --no-color --stats errors-warnings \
  --output-path pkg/dist
cp pkg/fbevents.wasm pkg/dist/fbevents.wasm
cp types/fbevents.d.ts pkg/dist/fbevents.d.ts  # the TypeScript types, package.json "types"
# A second terser pass over webpack's output, allowed arrow functions (the bundle targets
# es2020): about 40 bytes gzip less.
for f in fbevents.js fbevents.outbox.js fbevents.inapp.js fbevents.messages.js; do
  node_modules/.bin/terser "pkg/dist/$f" --compress passes=3,unsafe_arrows=true,ecma=2020 --mangle \
    --ecma 2020 -o "pkg/dist/$f.min"
  mv "pkg/dist/$f.min" "pkg/dist/$f"
done
node_modules/.bin/terser pkg/fallback.js --compress passes=2 --mangle -o pkg/dist/fbevents.fallback.js
# The dashboard's script (issue #11), its own config so the pixel's stays untouched.
node_modules/.bin/webpack --config webpack.dashboard.config.js --no-color --stats errors-warnings \
  --output-path pkg/dist

# The scripts must run under a CSP without 'unsafe-eval'.
if grep -nE '\beval\(|new Function|^(import|export) ' pkg/dist/fbevents.js pkg/dist/fbevents.outbox.js \
  pkg/dist/fbevents.inapp.js pkg/dist/fbevents.messages.js pkg/dist/fbevents.fallback.js; then
  die "dist/ scripts contain eval(, new Function, import or export"
fi
say "sizes (and the precompressed dist/*.br the collector serves)"
node tests/support/sizes.mjs --write-br pkg/dist
rm -rf dist
mv pkg/dist dist
