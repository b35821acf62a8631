#!/usr/bin/env bash
# make test-fresh: `make test` the way a newcomer meets it, in a fresh Debian 12
# root made with debootstrap, where neither Postfix nor Dovecot was ever
# installed (so there is no /etc/postfix/main.cf and no /etc/dovecot). Only
# what the README asks of a new machine is added first: Go (this machine's,
# bound read-only at /usr/local/go), gcc for the race detector, make, git and
# CA certificates. Everything else `make test` must install by itself.
#
#   scripts/test-fresh.sh [ROOT]     ROOT defaults to /var/tmp/catchall-fresh
#
# The root is made anew on every run (a kept one would remember what an
# earlier run installed) and removed afterwards unless KEEP_ROOT=1. Root
# only; Debian's mirror as this machine's apt sources name it.
set -euo pipefail
PROG=test-fresh.sh
cd "$(dirname "$0")/.."
# shellcheck source=scripts/testenv/lib.sh
. scripts/testenv/lib.sh

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, mounts)"
ROOT=$(abs "${1:-/var/tmp/catchall-fresh}")
SUITE=${SUITE:-bookworm}
GOROOT_HOST=$(go env GOROOT)
MIRROR=${MIRROR:-$(grep -hoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null | awk '{print $2}' | head -n 1 || true)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
LOG=/tmp/catchall-test-fresh.log

command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap

mounted=()
cleanup() {
	# Whatever the tests left running inside the root, then the mounts.
	local pid
	for pid in $(ls /proc | grep -E '^[0-9]+$'); do
		[ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$ROOT" ] && kill -9 "$pid" 2>/dev/null || true
	done
	local i
	for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
		umount -l "${mounted[i]}" 2>/dev/null || true
	done
	[ "${KEEP_ROOT:-0}" = 1 ] || rm -rf --one-file-system "$ROOT"
}
trap cleanup EXIT

bind() { # bind SRC DST [ro]
	mkdir -p "$2"
	mount --bind "$1" "$2"
	mounted+=("$2")
	[ "${3:-}" != ro ] || mount -o remount,bind,ro "$2"
}

rm -rf --one-file-system "$ROOT"
mkdir -p "$ROOT"
echo "== debootstrap $SUITE into $ROOT ($MIRROR; log $LOG)"
debootstrap --variant=minbase "$SUITE" "$ROOT" "$MIRROR" >"$LOG" 2>&1 ||
	die "debootstrap failed: $(tail -n 3 "$LOG" | tr '\n' ' ')"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
# This machine's own CAs (a new machine of this kind has them too; the
# package registries are reached through them).
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
	mkdir -p "$ROOT/usr/local/share/ca-certificates"
	cp /usr/local/share/ca-certificates/*.crt "$ROOT/usr/local/share/ca-certificates/"
fi
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*; do
	[ -f "$f" ] && mkdir -p "$ROOT$(dirname "$f")" && cp "$f" "$ROOT$f"
done
# The root a mount point of its own, as on a machine: unshare -m (courier.sh)
# cannot make "/" private otherwise.
mount --bind "$ROOT" "$ROOT" && mounted+=("$ROOT")
mount -t proc proc "$ROOT/proc" && mounted+=("$ROOT/proc")
bind /dev "$ROOT/dev"
bind /dev/pts "$ROOT/dev/pts"
mount -t sysfs sys "$ROOT/sys" && mounted+=("$ROOT/sys")
mount -t tmpfs -o mode=1777 tmpfs "$ROOT/tmp" && mounted+=("$ROOT/tmp")
bind "$GOROOT_HOST" "$ROOT/usr/local/go" ro

[ ! -e "$ROOT/etc/postfix/main.cf" ] && [ ! -e "$ROOT/etc/dovecot" ] ||
	die "the fresh root already has Postfix or Dovecot configuration"

echo "== what the README asks of a new machine: Go, gcc, make, git"
chroot "$ROOT" /bin/sh -c 'export DEBIAN_FRONTEND=noninteractive; apt-get update -q && apt-get install -y -q --no-install-recommends make gcc libc6-dev git ca-certificates && update-ca-certificates' >>"$LOG" 2>&1 ||
	die "installing the base tools failed (see $LOG)"

echo "== the checkout, as git has it (committed and uncommitted files)"
mkdir -p "$ROOT/src/catchall"
git ls-files -z --cached --others --exclude-standard |
	tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -C "$ROOT/src/catchall" -xf -
[ -d ../shared ] && cp -r ../shared "$ROOT/src/shared"

echo "== make test inside the fresh root"
chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	LANG=C.UTF-8 GOFLAGS=-buildvcs=false TEST_MESSAGES="${TEST_MESSAGES:-2000}" \
	/bin/bash -c 'cd /src/catchall && make test'
