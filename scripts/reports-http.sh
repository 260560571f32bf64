#!/bin/bash
# Time reports the way the dashboard asks for them: over HTTP with the admin token, on a release
# collector restarted before each route (the first call is the cold one), then the median of 5.
#
#   scripts/reports-http.sh DB [ROUTES] [FROM] [TO]
#   scripts/reports-http.sh /tmp/1m.db "diagnostics funnel" 2026-11-08 2026-12-07
#
# DB is a SQLite file or a postgres:// URL (as --db takes it); the pixel is the seed's default.
DB=$1
ROUTES=${2:-"diagnostics funnel"}
FROM=${3:-2026-11-08}
TO=${4:-2026-12-07}
BIN=${BIN:-$(dirname "$0")/../target/release/collector}
PORT=${PORT:-18931}
TOKEN=admin-token-for-the-benchmark-0001
Q="pixel=1234567890&from=$FROM&to=$TO"
DIST=$(mktemp -d)
for route in $ROUTES; do
  "$BIN" --listen 127.0.0.1:$PORT --db "$DB" --admin-token $TOKEN --pixel 1234567890 \
    --dist "$DIST" > "$DIST/collector.log" 2>&1 &
  PID=$!
  for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.1; done
  t() { curl -s -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $TOKEN" \
    "http://127.0.0.1:$PORT/api/reports/$route?$Q"; }
  cold=$(t)
  warm=""
  for _ in 1 2 3 4 5; do warm="$warm $(t)"; done
  med=$(echo $warm | tr ' ' '\n' | sort -n | sed -n 3p)
  echo "$route: cold ${cold}s, warm median ${med}s (runs:$warm)"
  kill $PID; wait $PID 2>/dev/null
done
rm -rf "$DIST"
