#!/usr/bin/env bash
# Every check, in the order CI runs them, stopping at the first failure.
set -euo pipefail
cd "$(dirname "$0")"

section=
passed() { [ -z "$section" ] || printf '==== ok: %s (%ss)\n' "$section" $((SECONDS - started)); }
section() {
  passed
  section=$1
  started=$SECONDS
  printf '\n==== %s\n' "$section"
}
trap 'printf "\n==== FAILED: %s\n" "$section" >&2' ERR

section "setup"
bash scripts/setup.sh test

section "cargo fmt --all --check"
cargo fmt --all --check

section "cargo clippy (host, all targets)"
cargo clippy --workspace --all-targets -- -D warnings

section "cargo clippy (wasm32, the shell and its browser tests)"
cargo clippy -p fbevents --target wasm32-unknown-unknown --all-targets -- -D warnings

section "cargo test --workspace (PostgreSQL variants on a private server: scripts/pg.sh)"
pg_dir=$(mktemp -d)
trap 'bash scripts/pg.sh stop "$pg_dir" immediate >/dev/null 2>&1 || true; rm -rf "$pg_dir"' EXIT
COLLECTOR_TEST_PG_URL=$(bash scripts/pg.sh start "$pg_dir" -c fsync=off -c max_connections=300)
export COLLECTOR_TEST_PG_URL
cargo test --workspace

section "build dist/"
bash scripts/build.sh

section "wasm-bindgen-test of the shell in headless Chromium"
CHROMEDRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver} \
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  cargo test -p fbevents --target wasm32-unknown-unknown

section "build the collector for the end-to-end tests"
cargo build -p collector

section "Meta's Business SDKs against the collector (node --test tests/sdk/: Node and Python SDKs, README's recipes)"
node --test tests/sdk/

section "end-to-end tests against dist/ (node --test tests/e2e/)"
node --test tests/e2e/

section "WordPress plugin against Debian's WordPress 6.1 and MariaDB (node --test tests/integrations/)"
bash scripts/setup-wordpress.sh
node --test tests/integrations/

section "fuzz smoke (each cargo-fuzz target for a few seconds; long runs: scripts/fuzz.sh)"
bash scripts/fuzz.sh "${FUZZ_SMOKE_SECONDS:-5}"

passed
printf '==== all checks passed in %ss\n' "$SECONDS"
