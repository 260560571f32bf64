#!/usr/bin/env bash
# What a newcomer waits for: clones this repository into an empty folder and times its first
# ./run.sh until the store answers (GET /fbevents.js), with an empty cargo registry and npm cache
# of its own, so nothing this machine already downloaded is reused (what rustup installs, the
# wasm target and nightly's rust-src, is shared: remove them first for a fully fresh figure).
# Prints the seconds and stops the server. Usage: scripts/first-run.sh [PORT]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
port=${1:-8181}
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; pkill -f "collector --listen 127.0.0.1:$port" || true; rm -rf "$work"' EXIT
export CARGO_HOME=$work/cargo-home npm_config_cache=$work/npm-cache
mkdir -p "$CARGO_HOME"
PATH=$HOME/.cargo/bin:$PATH
start=$(date +%s.%N)
git clone -q "$repo" "$work/repo"
(cd "$work/repo" && ADDR=127.0.0.1:$port exec ./run.sh) >"$work/run.log" 2>&1 &
pid=$!
until curl -sf -o /dev/null "http://127.0.0.1:$port/fbevents.js"; do
  kill -0 "$pid" 2>/dev/null || { tail -20 "$work/run.log"; echo "run.sh stopped" >&2; exit 1; }
  sleep 0.5
done
printf 'the store answered %.0f s after git clone\n' "$(echo "$(date +%s.%N) - $start" | bc)"
grep -E '^\[(setup|build|run)\]|Finished' "$work/run.log" || true
