#!/usr/bin/env bash
# test-deb.sh: the Debian package's acceptance test, run by `make test` (root).
#
#   1. make deb (amd64 and arm64), and a second, bumped version for this
#      machine's architecture;
#   2. dpkg-deb --info and --contents: the fields, the files with their modes
#      and owners, the conffile, the arm64 binary built for arm64;
#   3. lintian: no errors (its overrides say why);
#   4. man -l renders catchall-relay.1 from the package, with exactly the
#      flags of `catchall relay --help`;
#   5. in a throw-away root (an overlay of / with a tmpfs above it, so that
#      nothing of this machine changes): install (the catchall user and the
#      spool made, no relay started or enabled), systemd-analyze verify on the
#      installed unit, the installed relay.toml is not a working config,
#      upgrade to the bumped version with a locally edited conffile kept,
#      remove (config, user and spool kept), purge (user, group, config gone;
#      the spool kept, given to root), and again with CATCHALL_PURGE_SPOOL=yes
#      (the spool gone too); nothing else of the package left behind.
#
# Installs lintian, man-db and systemd with apt-get when missing.
set -euo pipefail
PROG=test-deb.sh
cd "$(dirname "$0")/.."
# shellcheck source=scripts/testenv/lib.sh
. scripts/testenv/lib.sh

[ "$(id -u)" -eq 0 ] || die "needs root (dpkg --root, mounts for the throw-away root)"
need=()
command -v lintian >/dev/null 2>&1 || need+=(lintian)
command -v man >/dev/null 2>&1 || need+=(man-db)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
[ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"

W=$(mktemp -d /tmp/catchall-deb.XXXXXX)
R=$W/root
mounted=()
cleanup() {
	local i pid
	# Anything a maintainer script left running in the throw-away root.
	for pid in $(ls /proc | grep -E '^[0-9]+$'); do
		[ "$(readlink "/proc/$pid/root" 2>/dev/null)" != "$R" ] || kill -9 "$pid" 2>/dev/null || true
	done
	for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
		umount "${mounted[i]}" 2>/dev/null || umount -l "${mounted[i]}" 2>/dev/null || true
	done
	rm -rf --one-file-system "$W"
}
trap cleanup EXIT

fails=0
fail() {
	echo "FAIL: $*" >&2
	fails=$((fails + 1))
}
ok() { echo "ok: $*"; }

# --- 1. the packages
HOSTARCH=$(dpkg --print-architecture)
V1=$(scripts/version.sh)
V2="$V1+bumped1" # sorts after V1
echo "== make deb ($V1), and $V2 for $HOSTARCH"
make -s deb OUT="$W/v1" >/dev/null
OUT="$W/v2" VERSION="$V2" ARCHES="$HOSTARCH" scripts/deb.sh >/dev/null
DEB1=$W/v1/catchall_${V1}_$HOSTARCH.deb
DEB2=$W/v2/catchall_${V2}_$HOSTARCH.deb
for deb in "$W/v1/catchall_${V1}_amd64.deb" "$W/v1/catchall_${V1}_arm64.deb" "$DEB2"; do
	[ -f "$deb" ] || die "make deb made no $deb"
done

# --- 2. dpkg-deb --info and --contents
echo "== dpkg-deb --info, --contents"
for arch in amd64 arm64; do
	deb=$W/v1/catchall_${V1}_$arch.deb
	[ "$(dpkg-deb -f "$deb" Package Version Architecture Depends)" = "$(printf 'Package: catchall\nVersion: %s\nArchitecture: %s\nDepends: adduser' "$V1" "$arch")" ] &&
		ok "$arch: control fields" || fail "$arch: control fields: $(dpkg-deb -f "$deb" Package Version Architecture Depends | tr '\n' ' ')"
	info=$(dpkg-deb --info "$deb")
	grep -qE '^ +[0-9]+ bytes, +[0-9]+ lines +conffiles' <<<"$info" || fail "$arch: --info lists no conffiles"
	[ "$(dpkg-deb --info "$deb" conffiles)" = /etc/catchall/relay.toml ] &&
		ok "$arch: conffiles is /etc/catchall/relay.toml" || fail "$arch: conffiles: $(dpkg-deb --info "$deb" conffiles)"
	contents=$(dpkg-deb --contents "$deb")
	# mode owner/group path, as tar lists them
	while read -r mode path; do
		grep -qE "^$mode root/root +[0-9]+ [0-9-]+ [0-9:]+ \./${path#/}\$" <<<"$contents" || fail "$arch: no $mode root/root $path in --contents"
	done <<'EOF'
-rwxr-xr-x /usr/bin/catchall
-rw-r--r-- /usr/lib/systemd/system/catchall-relay.service
-rw-r--r-- /usr/lib/systemd/system/catchall-relay@.service
drwxr-xr-x /etc/catchall/
-rw-r--r-- /etc/catchall/relay.toml
-rw-r--r-- /usr/share/man/man1/catchall.1.gz
-rw-r--r-- /usr/share/man/man1/catchall-relay.1.gz
-rw-r--r-- /usr/share/man/man1/catchall-relay-check.1.gz
-rw-r--r-- /usr/share/man/man1/catchall-fetch.1.gz
-rw-r--r-- /usr/share/bash-completion/completions/catchall
-rw-r--r-- /usr/share/zsh/vendor-completions/_catchall
-rw-r--r-- /usr/share/fish/vendor_completions.d/catchall.fish
-rw-r--r-- /usr/share/doc/catchall/copyright
-rw-r--r-- /usr/share/doc/catchall/changelog.gz
EOF
	# A man page for every command catchall has, and nothing else.
	pages=$(grep -oE 'usr/share/man/man1/[^ ]+\.1\.gz$' <<<"$contents" | sed 's|.*/||; s|\.1\.gz$||' | sort)
	mkdir -p "$W/gen"
	"$W/v1/build/host/catchall" gen-docs --man "$W/gen/man"
	want=$(ls "$W/gen/man" | sed 's|\.1$||' | sort)
	[ "$pages" = "$want" ] && ok "$arch: $(wc -l <<<"$pages") man pages, one per command" || fail "$arch: man pages $pages, want $want"
	# The binary is for the package's architecture (ELF e_machine: 62 x86-64, 183 AArch64).
	dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/bin/catchall >"$W/catchall.$arch"
	machine=$(od -An -tu2 -j18 -N2 "$W/catchall.$arch" | tr -d ' ')
	case $arch:$machine in amd64:62 | arm64:183) ok "$arch: /usr/bin/catchall is an $arch binary" ;; *) fail "$arch: binary e_machine $machine" ;; esac
done
dpkg-deb --fsys-tarfile "$DEB1" | tar -xO ./usr/share/doc/catchall/changelog.gz | zcat >"$W/changelog"
head -n 1 "$W/changelog" | grep -qF "catchall ($V1) " &&
	ok "changelog.gz names $V1" || fail "changelog.gz does not name $V1"

# --- 3. lintian
echo "== lintian"
for deb in "$W/v1/catchall_${V1}_amd64.deb" "$W/v1/catchall_${V1}_arm64.deb"; do
	if out=$(lintian --fail-on error "$deb" 2>&1); then
		ok "lintian $(basename "$deb"): no errors"
	else
		fail "lintian $(basename "$deb")"
	fi
	grep -v '^running with root privileges' <<<"$out" | sed 's/^/  /' || true
done

# --- 4. man -l on the packaged catchall-relay.1, against relay --help
echo "== man -l catchall-relay.1"
X=$W/x
mkdir -p "$X"
dpkg-deb -x "$DEB1" "$X"
if rendered=$(MANWIDTH=200 LC_ALL=C.UTF-8 man -l "$X/usr/share/man/man1/catchall-relay.1.gz" 2>"$W/man.err") &&
	grep -q '^CATCHALL-RELAY(1)' <<<"$rendered" && [ ! -s "$W/man.err" ]; then
	ok "man -l renders catchall-relay.1"
else
	fail "man -l catchall-relay.1: $(head -c 500 "$W/man.err")"
fi
# The option lines of the page's OPTIONS sections ("--listen=":25"",
# "-q, --quiet[=false]"); groff may print hyphens as U+2010 or U+2212.
man_flags=$(sed 's/\xe2\x80\x90/-/g; s/\xe2\x88\x92/-/g' <<<"$rendered" |
	awk '/^OPTIONS/ {on = 1; next} /^[A-Z]/ {on = 0} on' |
	grep -oE '^ +(-[a-zA-Z], )?--[a-z0-9-]+' | grep -oE -- '--[a-z0-9-]+' | sort)
help_flags=$("$X/usr/bin/catchall" relay --help | awk '/^(Global )?Flags:$/ {on = 1; next} /^$/ {on = 0} on' |
	grep -oE '^ +(-[a-zA-Z], )?--[a-z0-9-]+' | grep -oE -- '--[a-z0-9-]+' | sort)
if [ -n "$man_flags" ] && [ "$man_flags" = "$help_flags" ]; then
	ok "catchall-relay.1 lists the $(wc -l <<<"$man_flags") flags of catchall relay --help"
else
	fail "catchall-relay.1 and relay --help differ: $(diff <(echo "$man_flags") <(echo "$help_flags") | tr '\n' ' ')"
fi

# --- 5. install, upgrade, remove, purge in a throw-away root: an overlay of
# this machine's / (its dpkg database, adduser, systemd) whose changes go to
# a tmpfs. /run is empty there: no systemd runs, so the maintainer scripts
# neither reload nor start anything.
echo "== install, upgrade, purge in a throw-away root"
mkdir -p "$W/ovl" "$R"
mount -t tmpfs -o mode=0755 tmpfs "$W/ovl" && mounted+=("$W/ovl")
mkdir "$W/ovl/upper" "$W/ovl/work"
mount -t overlay overlay -o "lowerdir=/,upperdir=$W/ovl/upper,workdir=$W/ovl/work" "$R" && mounted+=("$R") ||
	die "cannot mount an overlay of / (root with mount rights needed, as for make test-fresh)"
mount --bind /dev "$R/dev" && mounted+=("$R/dev")
mount -t proc proc "$R/proc" && mounted+=("$R/proc")
mount -t tmpfs -o mode=0755 tmpfs "$R/run" && mounted+=("$R/run")
mount -t tmpfs -o mode=1777 tmpfs "$R/tmp" && mounted+=("$R/tmp")
if chroot "$R" dpkg-query -W catchall >/dev/null 2>&1 || chroot "$R" getent passwd catchall >/dev/null; then
	die "this machine has a catchall package or user already; the test needs a machine without"
fi
in_root() { chroot "$R" "$@"; }
relay_running() {
	local pid
	for pid in $(ls /proc | grep -E '^[0-9]+$'); do
		[ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$R" ] && return 0
	done
	return 1
}
SPOOL=/var/lib/catchall-relay

dpkg --root="$R" -i "$DEB1" >"$W/dpkg.log" 2>&1 || { cat "$W/dpkg.log"; die "dpkg -i $DEB1 failed"; }
[ "$(in_root dpkg-query -W -f='${Status} ${Version}' catchall)" = "install ok installed $V1" ] && ok "installed $V1" || fail "dpkg-query after install"
IFS=: read -r _ _ uid gid _ home shell <<<"$(in_root getent passwd catchall)"
[ "$home:$shell" = "$SPOOL:/usr/sbin/nologin" ] && [ "$uid" -lt 1000 ] && in_root getent group catchall >/dev/null &&
	ok "system user catchall ($uid), group, home $SPOOL, no shell" || fail "user catchall: $(in_root getent passwd catchall)"
[ "$(stat -c '%a %u %g' "$R$SPOOL")" = "700 $uid $gid" ] && ok "spool $SPOOL 0700 catchall" || fail "spool: $(stat -c '%a %u %g' "$R$SPOOL" 2>&1)"
[ "$(in_root catchall --version | cut -d' ' -f3)" = "$V1" ] && ok "catchall --version says $V1" || fail "catchall --version: $(in_root catchall --version)"
if relay_running || compgen -G "$R/etc/systemd/system/*.wants/catchall-relay.service" >/dev/null; then
	fail "the install started or enabled the relay"
else
	ok "the relay is neither started nor enabled"
fi
if out=$(in_root systemd-analyze verify /usr/lib/systemd/system/catchall-relay.service 2>&1) && [ -z "$out" ]; then
	ok "systemd-analyze verify catchall-relay.service (as installed, /usr/bin/catchall there)"
else
	fail "systemd-analyze verify: $out"
fi
# The template, as one instance of it (verify wants a unit name with an instance).
cp "$R/usr/lib/systemd/system/catchall-relay@.service" "$R/tmp/catchall-relay@mx1.service"
if out=$(in_root systemd-analyze verify /tmp/catchall-relay@mx1.service 2>&1) && [ -z "$out" ]; then
	ok "systemd-analyze verify catchall-relay@mx1.service (the template as installed)"
else
	fail "systemd-analyze verify of the template: $out"
fi
rm -f "$R/tmp/catchall-relay@mx1.service"
grep -qxF "ExecStart=/usr/bin/catchall relay --config /etc/catchall/relay.toml \\" "$R/usr/lib/systemd/system/catchall-relay.service" &&
	ok "the unit runs /usr/bin/catchall" || fail "ExecStart of the installed unit"
# The installed relay.toml sets nothing: relay check says what to set.
code=0
out=$(in_root catchall relay check --config /etc/catchall/relay.toml --spool "$SPOOL" --timeout 2s 2>&1) || code=$?
[ "$code" = 1 ] && grep -q '^error: --smarthost is required' <<<"$out" &&
	ok "relay check on the installed relay.toml: not configured yet (exit 1)" || fail "relay check on the installed relay.toml: exit $code: $out"

# A local edit, a queued message and a secret of the user's.
sed -i 's/^# listen = ":25"$/listen = ":2525"/' "$R/etc/catchall/relay.toml"
grep -qx 'listen = ":2525"' "$R/etc/catchall/relay.toml" || die "could not edit relay.toml"
install -d -m 0700 -o "$uid" -g "$gid" "$R$SPOOL/queue"
printf 'a queued message\n' | install -m 0600 -o "$uid" -g "$gid" /dev/stdin "$R$SPOOL/queue/1"
printf 'a-secret-of-enough-length\n' | install -m 0600 -o "$uid" /dev/stdin "$R/etc/catchall/burner.secret"

dpkg --root="$R" --force-confdef --force-confold -i "$DEB2" >"$W/dpkg.log" 2>&1 || { cat "$W/dpkg.log"; die "dpkg -i $DEB2 (upgrade) failed"; }
[ "$(in_root dpkg-query -W -f='${Status} ${Version}' catchall)" = "install ok installed $V2" ] && ok "upgraded to $V2" || fail "dpkg-query after the upgrade"
[ "$(in_root catchall --version | cut -d' ' -f3)" = "$V2" ] && ok "catchall --version says $V2" || fail "catchall --version after the upgrade"
grep -qx 'listen = ":2525"' "$R/etc/catchall/relay.toml" && [ ! -e "$R/etc/catchall/relay.toml.dpkg-dist" ] &&
	ok "the locally edited relay.toml is kept" || fail "relay.toml after the upgrade: $(grep -n 'listen' "$R/etc/catchall/relay.toml")"
[ "$(in_root id -u catchall)" = "$uid" ] && ok "the same user after the upgrade" || fail "user catchall after the upgrade"
relay_running && fail "the upgrade started the relay"

# The user enables the relay and an instance as "systemctl enable" would;
# purge must not leave the links behind.
mkdir -p "$R/etc/systemd/system/multi-user.target.wants"
ln -sf /usr/lib/systemd/system/catchall-relay.service "$R/etc/systemd/system/multi-user.target.wants/catchall-relay.service"
ln -sf /usr/lib/systemd/system/catchall-relay@.service "$R/etc/systemd/system/multi-user.target.wants/catchall-relay@mx1.service"

dpkg --root="$R" -r catchall >"$W/dpkg.log" 2>&1 || { cat "$W/dpkg.log"; die "dpkg -r failed"; }
[ ! -e "$R/usr/bin/catchall" ] && [ ! -e "$R/usr/lib/systemd/system/catchall-relay.service" ] &&
	grep -qx 'listen = ":2525"' "$R/etc/catchall/relay.toml" && in_root getent passwd catchall >/dev/null && [ -f "$R$SPOOL/queue/1" ] &&
	ok "remove: binary and unit gone; relay.toml, user and spool kept" || fail "after remove"

dpkg --root="$R" -P catchall >"$W/dpkg.log" 2>&1 || { cat "$W/dpkg.log"; die "dpkg -P failed"; }
[ -z "$(in_root dpkg-query -W -f='${Status}' catchall 2>/dev/null)" ] || [ "$(in_root dpkg-query -W -f='${Status}' catchall 2>/dev/null)" = "unknown ok not-installed" ] ||
	fail "dpkg still knows catchall after purge: $(in_root dpkg-query -W -f='${Status}' catchall)"
! in_root getent passwd catchall >/dev/null && ! in_root getent group catchall >/dev/null &&
	ok "purge: user and group catchall gone" || fail "purge left the user or group"
[ ! -e "$R/etc/catchall/relay.toml" ] && [ "$(ls -A "$R/etc/catchall")" = burner.secret ] && [ "$(stat -c %u "$R/etc/catchall/burner.secret")" = 0 ] &&
	ok "purge: relay.toml gone, the user's burner.secret kept (now root's)" || fail "purge: /etc/catchall: $(ls -lA "$R/etc/catchall" 2>&1 | tr '\n' ' ')"
[ "$(stat -c '%a %u' "$R$SPOOL" 2>&1) $(stat -c %u "$R$SPOOL/queue/1" 2>&1)" = "700 0 0" ] &&
	ok "purge: the spool and its queued mail kept, given to root" || fail "purge: spool $(ls -lanR "$R$SPOOL" 2>&1 | tr '\n' ' ')"
grep -q "kept $SPOOL" "$W/dpkg.log" && ok "purge says where the spool is" || fail "purge did not say it kept the spool: $(cat "$W/dpkg.log")"
! compgen -G "$R/etc/systemd/system/*.wants/catchall-relay*" >/dev/null &&
	ok "purge: the links of the enabled relay and instance are gone" || fail "purge left $(ls "$R"/etc/systemd/system/*.wants/catchall-relay* 2>&1 | tr '\n' ' ')"

# Again, told to delete the spool: then nothing of the package is left.
rm -f "$R/etc/catchall/burner.secret"
dpkg --root="$R" -i "$DEB2" >"$W/dpkg.log" 2>&1 || { cat "$W/dpkg.log"; die "dpkg -i $DEB2 over a kept spool failed"; }
CATCHALL_PURGE_SPOOL=yes dpkg --root="$R" -P catchall >"$W/dpkg.log" 2>&1 || { cat "$W/dpkg.log"; die "dpkg -P (CATCHALL_PURGE_SPOOL=yes) failed"; }
[ ! -e "$R$SPOOL" ] && [ ! -e "$R/etc/catchall" ] && ok "purge with CATCHALL_PURGE_SPOOL=yes: the spool and /etc/catchall gone" ||
	fail "purge with CATCHALL_PURGE_SPOOL=yes left $(ls -d "$R$SPOOL" "$R/etc/catchall" 2>&1 | tr '\n' ' ')"
# What the root gained is dpkg's own records and caches, never a file of the
# package. (man-db keeps the pages man formatted, for systemd-analyze's check
# of Documentation= here, in its cache /var/cache/man, as it does on any system.)
left=$(cd "$W/ovl/upper" && find . -name '*catchall*' ! -type c ! -path './var/cache/man/*' || true)
users=$(grep -l '^catchall:' "$W/ovl/upper"/etc/{passwd,group,shadow,gshadow} 2>/dev/null || true)
[ -z "$left$users" ] && ok "nothing of the package is left" || fail "left behind: $left $users"
relay_running && fail "a process runs in the throw-away root after purge"

if [ "$fails" -gt 0 ]; then
	echo "== test-deb.sh: $fails failed" >&2
	exit 1
fi
echo "== test-deb.sh: all passed"
