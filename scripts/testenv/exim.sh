#!/usr/bin/env bash
# Exim for the forwards tests, without installing it: Debian's exim4 conflicts with an
# installed Postfix, so exim4-daemon-light and exim4-base are fetched with apt-get download,
# unpacked with dpkg -x into a cache, and run with -C (no daemon, no /etc/exim4). Prints the
# path of the exim4 binary.
#
#   exim.sh [CACHE]      CACHE defaults to /var/cache/catchall-testenv/exim
#
# Exim gives up root for a -C file and runs as its compiled-in user, Debian-exim, which is
# created (a system user and group) when missing; the libraries the package depends on
# (libidn12, libgnutls-dane0, …: no conflict) are installed when missing.
set -euo pipefail
PROG=exim.sh
# shellcheck source=scripts/testenv/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CACHE=$(abs "${1:-/var/cache/catchall-testenv/exim}")
BIN=$CACHE/root/usr/sbin/exim4
[ "$(id -u)" -eq 0 ] || die "needs root (Exim switches to Debian-exim for -C files)"
if [ ! -x "$BIN" ]; then
	mkdir -p "$CACHE/debs"
	(
		cd "$CACHE/debs"
		apt-get download exim4-daemon-light exim4-base >"$CACHE/download.log" 2>&1 ||
			{ apt-get update -q >>"$CACHE/download.log" 2>&1 && apt-get download exim4-daemon-light exim4-base >>"$CACHE/download.log" 2>&1; }
	) || die "apt-get download exim4-daemon-light exim4-base failed (see $CACHE/download.log)"
	rm -rf "$CACHE/root.tmp"
	for deb in "$CACHE"/debs/*.deb; do
		dpkg -x "$deb" "$CACHE/root.tmp"
	done
	rm -rf "$CACHE/root"
	mv "$CACHE/root.tmp" "$CACHE/root"
fi
if ldd "$BIN" | grep -q 'not found'; then
	# The libraries exim4-daemon-light depends on (none conflicts with
	# Postfix): the lib* packages of its Depends that are not installed.
	libs=()
	for dep in $(dpkg-deb -f "$CACHE"/debs/exim4-daemon-light_*.deb Depends | tr ',' '\n' | sed 's/|.*//; s/(.*//' | tr -d ' '); do
		case $dep in
		lib*) dpkg -s "$dep" >/dev/null 2>&1 || libs+=("$dep") ;;
		esac
	done
	[ ${#libs[@]} -eq 0 ] || apt_install "${libs[@]}"
fi
if ldd "$BIN" | grep -q 'not found'; then
	die "$BIN misses libraries: $(ldd "$BIN" | grep 'not found' | tr '\n' ' ')"
fi
getent passwd Debian-exim >/dev/null ||
	useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
		--comment "Exim for catchall's tests" Debian-exim || die "useradd Debian-exim failed"
"$BIN" -bV >/dev/null 2>&1 || true # Debian's configuration is absent on purpose: only -C is used
printf '%s\n' "$BIN"
