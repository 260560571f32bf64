#!/usr/bin/env bash
# The per-person reports through HTTP, as the dashboard asks them (admin token), over the last 30
# days and over all time: cold (the first request after the collector starts) and warm (the
# median of RUNS more).
#
#   collector/examples/people_http_bench.sh BIN_DIR DB END_DATE DAYS [RUNS]
#
# BIN_DIR holds `collector` (cargo build --release -p collector --bins: target/release); DB is a
# SQLite file or a postgres:// URL seeded with `seed --db DB --events N --days DAYS --end
# END_DATE`. Prints one line per report and range: cold and warm milliseconds.
set -euo pipefail
bin=$1 db=$2 end=$3 days=$4 runs=${5:-5}
tok=people-bench-admin-token-0123
port=${PORT:-18181}
pixel=1234567890
from30=$(date -u -d "$end -29 days" +%F)
fromall=$(date -u -d "$end -$((days - 1)) days" +%F)
pid=
start() {
  COLLECTOR_PIXEL=$pixel COLLECTOR_ADMIN_TOKEN=$tok "$bin/collector" --listen "127.0.0.1:$port" \
    --db "$db" --dist dist --retention-days 0 >"${TMPDIR:-/tmp}/people-bench-collector.log" 2>&1 &
  pid=$!
  until curl -s -o /dev/null "http://127.0.0.1:$port/"; do sleep 0.1; done
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; }
ms() {
  curl -s -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $tok" \
    "http://127.0.0.1:$port$1" | awk '{printf "%.0f", $1 * 1000}'
}
printf '%-32s %-8s %8s %8s\n' report range cold_ms warm_ms
for route in "/api/reports/attribution?window_days=7&" "/api/reports/aem?" \
  "/api/audiences/purchasers.csv?"; do
  for range in "30d:$from30" "all:$fromall"; do
    url="${route}pixel=$pixel&from=${range#*:}&to=$end"
    start
    cold=$(ms "$url")
    warm=$(for _ in $(seq "$runs"); do ms "$url"; echo; done | sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}')
    stop
    printf '%-32s %-8s %8s %8s\n' "${route%%\?*}" "${range%%:*}" "$cold" "$warm"
  done
done
