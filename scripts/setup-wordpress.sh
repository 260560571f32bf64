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
#
# Then WooCommerce 6.6.0, the real store the plugin's server events are tested against, unpacked
# once into .cache/woocommerce-6.6.0/woocommerce (gitignored; the test links it into its throwaway
# site and activates it there). WOOCOMMERCE_SOURCE says where the release comes from: a .tar.gz or
# .zip path, or an https URL of either. Default: ../shared/vendor/woocommerce-6.6.0.tar.gz beside
# the repository (test-only third-party software, never copied into the project) when it exists,
# else WordPress.org's download of the same release. The tarball's SHA-256 is checked; whatever
# the source, the unpacked plugin must say `Version: 6.6.0`. Nothing is done when it is there.
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

repo=$(cd "$(dirname "$0")/.." && pwd)
WC_VERSION=6.6.0
WC_SHA256=909d2c238bf4a294a8f1b29a1f7a073b0f58941b9a1b6818434dedd998409fbd
wc_default=$repo/../shared/vendor/woocommerce-$WC_VERSION.tar.gz
[ -f "$wc_default" ] || wc_default=https://downloads.wordpress.org/plugin/woocommerce.$WC_VERSION.zip
WOOCOMMERCE_SOURCE=${WOOCOMMERCE_SOURCE:-$wc_default}
wc_dir=$repo/.cache/woocommerce-$WC_VERSION

packages() {
  if have; then
    say "WordPress, PHP and MariaDB are installed"
    return
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
  cleanup
  trap - EXIT
}

woocommerce() {
  if [ -f "$wc_dir/woocommerce/woocommerce.php" ] && [ -f "$wc_dir/.complete" ]; then
    say "WooCommerce $WC_VERSION is unpacked in .cache/"
    return
  fi
  local archive
  mkdir -p "$repo/.cache"
  work=$(mktemp -d "$repo/.cache/woocommerce.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  archive=$WOOCOMMERCE_SOURCE
  case "$archive" in
    https://*|http://*)
      say "downloading WooCommerce $WC_VERSION from $archive"
      curl -fsSL --retry 2 -o "$work/${archive##*/}" "$archive" || die "could not download $archive (set WOOCOMMERCE_SOURCE to a local copy)"
      archive=$work/${archive##*/}
      ;;
    *)
      [ -f "$archive" ] || die "WooCommerce archive $archive not found (set WOOCOMMERCE_SOURCE)"
      ;;
  esac
  if [ "${archive##*/}" = "woocommerce-$WC_VERSION.tar.gz" ]; then
    echo "$WC_SHA256  $archive" | sha256sum -c --quiet - || die "$archive: SHA-256 is not WooCommerce $WC_VERSION's"
  fi
  say "unpacking WooCommerce $WC_VERSION into .cache/woocommerce-$WC_VERSION"
  mkdir "$work/out"
  case "$archive" in
    *.zip) unzip -q "$archive" -d "$work/out" ;;
    *) tar -xzf "$archive" -C "$work/out" ;;
  esac
  grep -Eq "^ \* Version: ${WC_VERSION//./\\.}\s*$" "$work/out/woocommerce/woocommerce.php" ||
    { die "$archive does not hold WooCommerce $WC_VERSION"; }
  touch "$work/out/.complete"
  rm -rf "$wc_dir"
  mv "$work/out" "$wc_dir"
  rm -rf "$work"
}

packages
woocommerce
say "done"
