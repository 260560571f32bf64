#!/usr/bin/env bash
# Builds the pixel and serves the demo storefront, the pixel (dist/) and a collection endpoint
# that records every beacon, on http://127.0.0.1:8080 (override with ADDR=host:port).
set -euo pipefail
cd "$(dirname "$0")"

addr=${ADDR:-127.0.0.1:8080}

bash scripts/setup.sh
bash scripts/build.sh

# The server behind the store. To switch to the Rust collector, swap which line is commented.
serve=(node tests/support/server.mjs --listen "$addr" --dist dist --site www/store)
# serve=(cargo run --release -p collector -- --listen "$addr" --db "${DB:-collector.db}" --dist dist --site www/store)

echo
echo "Demo storefront: http://$addr/"
echo "Received events: http://$addr/events.html"
echo "(Ctrl-C stops the server)"
exec "${serve[@]}"
