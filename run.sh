#!/usr/bin/env bash
# Builds the pixel and serves the demo storefront, the pixel (dist/) and a collection endpoint
# that records every beacon, on http://127.0.0.1:8080 (override with ADDR=host:port).
set -euo pipefail
cd "$(dirname "$0")"

addr=${ADDR:-127.0.0.1:8080}
# ADMIN_ADDR=127.0.0.1:9090 serves the dashboard, the events page and /api/* there only (the
# collector's --admin-listen, the recommended deployment), not beside the store on $addr.
admin_addr=${ADMIN_ADDR:-$addr}

bash scripts/setup.sh run
bash scripts/build.sh

# The collector serves the store and the pixel from one origin, stores every beacon in a SQLite
# file and, given an access token (COLLECTOR_PIXEL=1234567890=<TOKEN>), relays the events to the
# Conversions API; without one it stores and shows them and says so once in its log.
# (node tests/support/server.mjs --listen "$addr" --dist dist --site www/store is a lighter
# stand-in that only records beacons.)
# The admin token (dashboard, events page, /api/*): COLLECTOR_ADMIN_TOKEN, else the public demo
# token, which the collector accepts on a loopback address only. It is never printed: the pages
# ask for it and keep it in memory (a token in a URL reaches history, Referer and the pixel's rl).
admin=${COLLECTOR_ADMIN_TOKEN:-demo-admin-token-change-me}
if [ -n "${COLLECTOR_ADMIN_TOKEN:-}" ]; then
  admin_from='the COLLECTOR_ADMIN_TOKEN you set'
else
  admin_from='the demo token demo-admin-token-change-me (run.sh; set COLLECTOR_ADMIN_TOKEN for your own)'
fi
say() { printf '[run] %s\n' "$*"; }
say "building the collector (release)"
cargo build --release -p collector
db=${DB:-collector.db}
pixel=${COLLECTOR_PIXEL:-1234567890}
bin=${CARGO_TARGET_DIR:-target}/release
# DB=postgres://USER@HOST:PORT/DB stores in PostgreSQL instead of the SQLite file (the password
# from PGPASSWORD, not in the URL). A new SQLite file gets a small shop's last 30 days of synthetic
# traffic, up to an hour before now (never in the future), so the dashboard has something to show
# (SEED=0 to start empty); a PostgreSQL database only with SEED=N.
case $db in
  postgres://* | postgresql://*)
    if [ "${SEED:-0}" != 0 ]; then
      say "seeding the PostgreSQL database with $SEED synthetic events (the dashboard's demo data)"
      "$bin/seed" --db "$db" --pixel "${pixel%%=*}" --events "$SEED" --no-relay
    fi
    ;;
  *)
    if [ ! -e "$db" ] && [ "${SEED:-20000}" != 0 ]; then
      say "seeding $db with ${SEED:-20000} synthetic events (the dashboard's demo data)"
      "$bin/seed" --db "$db" --pixel "${pixel%%=*}" --events "${SEED:-20000}" --no-relay
    fi
    ;;
esac

echo
echo "Demo storefront:  http://$addr/"
echo "Received events:  http://$admin_addr/events.html  (asks for the admin token)"
echo "Dashboard:        http://$admin_addr/dashboard?pixel=${pixel%%=*}  (asks for the admin token)"
echo "Admin token:      $admin_from"
echo "Events as JSON:   curl -H \"Authorization: Bearer <admin token>\" http://$admin_addr/api/events"
echo "(Ctrl-C stops the server)"
echo
extra=()
[ -n "${ADMIN_ADDR:-}" ] && extra=(--admin-listen "$ADMIN_ADDR")
COLLECTOR_PIXEL=$pixel COLLECTOR_ADMIN_TOKEN=$admin \
  exec "$bin/collector" --listen "$addr" --db "$db" --dist dist --site www/store "${extra[@]}"
