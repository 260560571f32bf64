#!/usr/bin/env bash
# Installs what the WordPress end-to-end test (tests/integrations/wordpress.test.mjs) needs, and
# nothing when it is already there: Debian's wordpress package, PHP's command-line interpreter
# (its built-in web server serves WordPress) with the MySQL extension, and MariaDB. Called by the
# WordPress section of test.sh, not by scripts/setup.sh: ./run.sh does not need any of it.
#
# The packages' own services (apache2, mariadb) are not started: the test starts its own MariaDB
# and PHP server on 127.0.0.1 in a temporary directory and stops them afterwards. While apt runs,
# a policy-rc.d (Debian's documented switch for this) tells the maintainer scripts not to start
# anything; it is removed again unless the machine already had one.
set -euo pipefail

say() { printf '[setup-wordpress] %s\n' "$*"; }
die() { printf '[setup-wordpress] error: %s\n' "$*" >&2; exit 1; }

have() {
  [ -f /usr/share/wordpress/wp-settings.php ] &&
    [ -f /usr/share/wordpress/wp-content/themes/twentytwentythree/style.css ] &&
    command -v php >/dev/null 2>&1 && php -m 2>/dev/null | grep -qx mysqli &&
    [ -x /usr/sbin/mariadbd ] && command -v mariadb-install-db >/dev/null 2>&1 &&
    command -v mariadb >/dev/null 2>&1
}

if have; then
  say "WordPress, PHP and MariaDB are installed"
  exit 0
fi

as_root=()
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || die "not root and no sudo: install wordpress php-cli php-mysql mariadb-server by hand"
  as_root=(sudo)
fi

policy=/usr/sbin/policy-rc.d
ours=
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# setup-wordpress.sh: no service starts while it installs\nexit 101\n' |
    "${as_root[@]}" tee "$policy" >/dev/null
  "${as_root[@]}" chmod 755 "$policy"
  ours=1
fi
cleanup() { [ -z "$ours" ] || "${as_root[@]}" rm -f "$policy"; }
trap cleanup EXIT

say "installing wordpress, php-cli, php-mysql, mariadb-server (apt)"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
# php8.2-cgi satisfies wordpress's "libapache2-mod-php | php" without Apache's PHP module;
# wordpress still pulls in apache2 (its "httpd"), which stays stopped and unused.
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
  wordpress wordpress-theme-twentytwentythree php-cli php8.2-cgi php-mysql mariadb-server mariadb-client

have || die "installed, but WordPress, PHP's mysqli or MariaDB is still missing"
say "done"
