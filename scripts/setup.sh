#!/usr/bin/env bash
# Installs what is missing, and skips everything that is already there, so it is cheap to run
# before every build. Two sets:
#
#   scripts/setup.sh run    what ./run.sh needs: the wasm32 target, nightly's rust-src for the size
#                           build, node_modules (binaryen, webpack, terser). Nothing else.
#   scripts/setup.sh test   that, plus what only ./test.sh needs: rustfmt and clippy, Chromium and
#                           chromedriver and PostgreSQL (Debian packages), cargo-fuzz,
#                           wasm-bindgen-cli at exactly the version Cargo.toml pins, and Meta's
#                           Python Business SDK in .venv/ (tests/sdk/requirements.txt).
#
# (WordPress, PHP and MariaDB come from scripts/setup-wordpress.sh, in test.sh's WordPress section.)
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-test}
case $mode in
  run | test) ;;
  *) printf '[setup] usage: scripts/setup.sh run|test\n' >&2; exit 2 ;;
esac

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

# --- Rust ----------------------------------------------------------------------------------------
command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust with rustup first (https://rustup.rs)"
command -v rustup >/dev/null 2>&1 || die "rustup not found: the wasm32 target is installed with rustup"

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# The size build (scripts/build.sh) uses nightly with build-std, which needs nightly's rust-src.
# Best effort: without it the build falls back to stable.
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  say "installing the nightly toolchain (minimal) for the size-optimised wasm build"
  rustup toolchain install nightly --profile minimal || say "warning: no nightly toolchain; the wasm builds on stable"
fi
if rustup run nightly rustc --version >/dev/null 2>&1 &&
  ! rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src'; then
  say "adding rust-src to nightly (build-std)"
  rustup component add rust-src --toolchain nightly || say "warning: no rust-src; the wasm builds on stable"
fi

# --- Node ----------------------------------------------------------------------------------------
command -v node >/dev/null 2>&1 || die "node not found: Node.js 20 or newer is needed"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "Node.js 20 or newer is needed (found $(node --version))"

# npm writes node_modules/.package-lock.json on every install: older than package-lock.json means
# the lock file changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci"
  npm ci --no-audit --no-fund
  touch node_modules/.package-lock.json
fi

if [ "$mode" = run ]; then
  say "ok (what running needs)"
  exit 0
fi

# --- Only for the tests ---------------------------------------------------------------------------
for component in rustfmt clippy; do
  if ! rustup component list --installed | grep -q "^${component}"; then
    say "adding the ${component} component"
    rustup component add "$component"
  fi
done

as_root=()
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 ||
    die "not root and no sudo: install chromium, chromium-driver and postgresql by hand"
  as_root=(sudo)
fi

# --- Browser -------------------------------------------------------------------------------------
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  say "installing chromium and chromium-driver (apt)"
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    chromium chromium-driver
fi

# --- PostgreSQL ----------------------------------------------------------------------------------
# The collector's PostgreSQL tests start a private server through scripts/pg.sh (initdb, pg_ctl),
# so the server binaries must be there; Debian's package puts them in /usr/lib/postgresql/*/bin.
# The package's own cluster (port 5432) is not used by anything here.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  say "installing postgresql (apt)"
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
fi

# cargo-fuzz: the fuzz targets in fuzz/ (scripts/fuzz.sh, and test.sh's smoke run) build with it on
# nightly.
if ! cargo fuzz --version >/dev/null 2>&1; then
  say "installing cargo-fuzz; this takes a few minutes"
  cargo install cargo-fuzz --locked
fi

# wasm-bindgen-cli must be exactly the version of the wasm-bindgen crate (pinned with "=X.Y.Z"). The
# build does not use it; its wasm-bindgen-test-runner runs the browser tests.
want=$(sed -n 's/^wasm-bindgen *= *"=\([0-9][0-9.]*\)".*/\1/p' Cargo.toml | head -n 1)
[ -n "$want" ] || die 'Cargo.toml has no pinned `wasm-bindgen = "=X.Y.Z"`'
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
have_runner=$(wasm-bindgen-test-runner --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ] || [ "$have_runner" != "$want" ]; then
  say "installing wasm-bindgen-cli $want (found: ${have:-none}); this takes a few minutes"
  cargo install wasm-bindgen-cli --version "$want" --force
fi

# Meta's Python Business SDK for tests/sdk/ (README's Python recipe), in a project-local venv at the
# version tests/sdk/requirements.txt pins. Node's SDK is a devDependency (npm ci above).
command -v python3 >/dev/null 2>&1 || die "python3 not found: tests/sdk/ runs Meta's Python SDK"
want_py=$(sed -n 's/^facebook-business==\([0-9.]*\)$/\1/p' tests/sdk/requirements.txt)
[ -n "$want_py" ] || die 'tests/sdk/requirements.txt pins no `facebook-business==X.Y.Z`'
have_py=$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("facebook-business"))' 2>/dev/null || true)
if [ "$have_py" != "$want_py" ]; then
  if [ ! -x .venv/bin/python ]; then
    if ! python3 -m venv .venv 2>/dev/null; then
      rm -rf .venv
      say "installing python3-venv (apt)"
      "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
      "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv
      python3 -m venv .venv
    fi
  fi
  say "installing facebook-business $want_py into .venv (found: ${have_py:-none})"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/sdk/requirements.txt
fi

say "ok (what the tests need)"
