#!/usr/bin/env bash
# A private PostgreSQL server for the tests and the benchmark, in one directory:
#
#   scripts/pg.sh start DIR [-c NAME=VALUE ...]   # prints postgres://postgres@127.0.0.1:PORT/postgres
#   scripts/pg.sh stop DIR [fast|immediate]        # default fast: the server flushes and exits
#   scripts/pg.sh url DIR                          # the URL again (the server may be stopped)
#
# `start` creates the cluster in DIR/data on first use (`initdb -A trust`: no password, so it only
# listens on 127.0.0.1 and on a unix socket in DIR), picks a free loopback port once and keeps it in
# DIR/port, so a stop and a start give the same URL (the collectors under test keep theirs), and
# returns once the server accepts connections. Starting a running server only prints its URL.
# Extra `-c NAME=VALUE` are server settings for this start (the tests turn fsync off; the data is
# thrown away). As root the server runs as the `postgres` user (initdb refuses root): DIR is given
# to it, so DIR's parents must let that user through (/tmp does). Removing DIR is the caller's job.
set -euo pipefail

say() { printf '[pg] %s\n' "$*" >&2; }
die() { printf '[pg] error: %s\n' "$*" >&2; exit 1; }

usage() { die "usage: scripts/pg.sh start DIR [-c NAME=VALUE ...] | stop DIR [fast|immediate] | url DIR"; }
[ $# -ge 2 ] || usage
cmd=$1
dir=$2
shift 2

# Debian puts the server binaries in /usr/lib/postgresql/VERSION/bin, not on PATH.
bindir=
if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
  bindir=$(pg_config --bindir)
else
  for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$candidate/initdb" ]; then bindir=$candidate; break; fi
  done
fi
[ -n "$bindir" ] || die "no PostgreSQL server binaries (initdb, pg_ctl): run scripts/setup.sh"

# As root, every server command runs as `postgres`; otherwise as ourselves.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    local quoted
    printf -v quoted '%q ' "$@"
    su postgres -s /bin/sh -c "$quoted"
  else
    "$@"
  fi
}

url_of() { printf 'postgres://postgres@127.0.0.1:%s/postgres\n' "$(cat "$dir/port")"; }

running() { [ -f "$dir/data/PG_VERSION" ] && as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; }

# A port nobody listens on now; the server binding it is the real test (start retries on a clash).
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
}

start() {
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || die "running as root and there is no postgres user: run scripts/setup.sh"
    chown postgres: "$dir"
    su postgres -s /bin/sh -c "test -w $(printf '%q' "$dir")" ||
      die "the postgres user cannot write $dir (a parent directory shuts it out): use a directory under /tmp"
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    rm -rf "$dir/data"
    as_owner "$bindir/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 --no-instructions \
      >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  fi
  if running; then
    url_of
    return
  fi
  local attempt port kept=0 lines
  [ -f "$dir/port" ] && kept=1
  for attempt in 1 2 3 4 5; do
    if [ "$kept" = 1 ]; then port=$(cat "$dir/port"); else port=$(free_port); fi
    lines=0
    [ ! -f "$dir/server.log" ] || lines=$(wc -l <"$dir/server.log")
    # The options go to this start only (postgresql.conf is untouched), so each start says them all.
    if as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -s \
      -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir $*" start >/dev/null; then
      echo "$port" >"$dir/port"
      url_of
      return
    fi
    # A port taken since we looked: pick another, unless it is the one we must keep.
    if [ "$kept" = 0 ] && tail -n +"$((lines + 1))" "$dir/server.log" 2>/dev/null | grep -q 'could not bind'; then
      say "port $port taken, trying another"
      continue
    fi
    tail -n 20 "$dir/server.log" >&2 || true
    die "the server did not start (log: $dir/server.log)"
  done
  die "no free port after $attempt attempts"
}

stop() {
  local mode=${1:-fast}
  case $mode in fast | immediate) ;; *) usage ;; esac
  if running; then
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m "$mode" -w -t 60 -s stop >/dev/null
  fi
}

case $cmd in
  start) start "$@" ;;
  stop) stop "$@" ;;
  url) [ -f "$dir/port" ] || die "no server in $dir"; url_of ;;
  *) usage ;;
esac
