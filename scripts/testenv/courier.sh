#!/usr/bin/env bash
# Test Courier-IMAP for catchall's acceptance tests (Debian 12's courier-imap 5.0).
#
#   courier.sh start  DIR              unpack Courier under DIR and start it (idempotent)
#   courier.sh stop   DIR              stop every process of the instance (no-op when not running)
#   courier.sh env    DIR              print `export ...` lines for the tests
#   courier.sh seed   DIR USER TREE    copy a Maildir tree into USER's Maildir++
#   courier.sh status DIR              exit 0 when running
#
# Courier is not installed as a system package (courier-imap conflicts with
# dovecot-imapd): its .debs are fetched once with `apt-get download` into a shared
# cache (COURIER_DEB_CACHE, default /var/cache/catchall-testenv/courier) and unpacked
# with `dpkg -x` into DIR/root; libraries come from there via LD_LIBRARY_PATH.
# Courier's paths are compiled in (/etc/courier/authdaemonrc, /etc/courier/userdb.dat,
# the authdaemon socket /run/courier/authdaemon/socket, the module directory
# /usr/lib/courier-authlib), so the daemons run in a private mount namespace
# (unshare -m) in which read-only overlays add /etc/courier -> DIR/etc,
# /run/courier -> DIR/run, /usr/lib/courier{,-authlib} -> DIR/root/usr/lib/... and
# /usr/libexec/gam_server -> DIR/root/usr/libexec/gam_server;
# the machine's own /etc/courier is never read or written.
#
# Everything runs as the system user catchallcourier (created when missing) and
# listens on 127.0.0.1 only: authdaemond with the authuserdb module (DIR/etc/userdb,
# compiled by Courier's makeuserdb) and couriertcpd -> imaplogin -> imapd.
# Users (password "secret"): courier (source) and courierdest (push destination),
# Maildir++ in DIR/mail/USER/Maildir, namespace "INBOX." separator ".".
#
# Port: COURIER_IMAP_PORT (default 14144; plaintext LOGIN allowed, no STARTTLS).
# When the default port is taken by something else a free port is chosen instead;
# it is remembered in DIR/ports and `env` prints it. Log: DIR/courier.log.
# Extra imapd settings (shell assignments, e.g. IMAP_EMPTYTRASH=Trash:7) may be put
# in DIR/imapd.local; they are read after DIR/etc/imapd at the next start.
set -euo pipefail

PROG=courier.sh
# shellcheck source=scripts/testenv/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
RUN_USER=catchallcourier
DEFAULT_IMAP_PORT=14144
START_TIMEOUT=20
STOP_TIMEOUT=20
LOCK_TIMEOUT=600
USERS=(courier courierdest)
PASSWORD=secret
DEB_CACHE=${COURIER_DEB_CACHE:-/var/cache/catchall-testenv/courier}
# What the daemons load (checked with ldd after unpacking): courier-imap (imaplogin,
# imapd), courier-base (couriertcpd, maildirkw), courier-authlib (libcourierauth,
# authdaemond), courier-authlib-userdb (the userdb module, makeuserdb, userdbpw),
# courier-authdaemon (authtest, for debugging), libcourier-unicode4, libidn12,
# libgamin0 (libfam) and libltdl7, and gamin's gam_server: courier-imap depends on it,
# and without it every login and SELECT waits ~1.2 s for libgamin's connection retries.
# libgdbm6, libcrypt1, libstdc++6, libglib2.0-0 are in the base system.
PACKAGES=(courier-imap courier-base courier-authlib courier-authlib-userdb courier-authdaemon
	libcourier-unicode4 libidn12 libgamin0 libltdl7 gamin)
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCRIPT_PATH=$SCRIPT_DIR/$(basename "${BASH_SOURCE[0]}")

usage() {
	cat >&2 <<EOF
usage: $PROG start DIR | stop DIR | status DIR | env DIR | seed DIR USER MAILDIR_TREE
EOF
	exit 2
}

# canon PATH: absolute, symlinks resolved (the kernel reports /proc/PID/exe that way).
canon() {
	realpath -m -- "$1"
}

libpath() {
	printf '%s\n' "$1/usr/lib/x86_64-linux-gnu:$1/usr/lib"
}

ensure_tools() {
	local t
	for t in unshare setpriv setsid flock mount python3 perl dpkg apt-get ldd; do
		command -v "$t" >/dev/null 2>&1 || die "$t is missing (needs util-linux, mount, python3, perl, dpkg, apt)"
	done
}

ensure_run_user() {
	if ! getent passwd "$RUN_USER" >/dev/null; then
		useradd --system --user-group --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin --comment "catchall test Courier" "$RUN_USER" ||
			die "useradd $RUN_USER failed"
	fi
	RUN_UID=$(id -u "$RUN_USER")
	RUN_GID=$(id -g "$RUN_USER")
}

as_user() {
	setpriv --reuid="$RUN_UID" --regid="$RUN_GID" --clear-groups -- "$@"
}

# cached_deb PKG: the newest PKG_*.deb in the cache, or fails.
cached_deb() {
	local f
	f=$(find "$DEB_CACHE" -maxdepth 1 -name "$1_*.deb" -printf '%f\n' 2>/dev/null | sort -V | tail -n 1)
	[ -n "$f" ] || return 1
	printf '%s\n' "$DEB_CACHE/$f"
}

# fetch_debs: every package's .deb into the cache (apt-get download, once). Sets DEBS.
fetch_debs() {
	local missing=() p tmp log=/tmp/catchall-apt.log
	mkdir -p "$DEB_CACHE" || die "cannot create $DEB_CACHE"
	exec 8>"$DEB_CACHE/.lock"
	flock -w "$LOCK_TIMEOUT" 8 || die "could not lock $DEB_CACHE/.lock within ${LOCK_TIMEOUT}s"
	for p in "${PACKAGES[@]}"; do
		cached_deb "$p" >/dev/null || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		tmp=$(mktemp -d "$DEB_CACHE/.dl.XXXXXX")
		# Writable by _apt, so apt need not fall back to downloading unsandboxed.
		chmod 0755 "$tmp"
		! getent passwd _apt >/dev/null || chown _apt "$tmp"
		if ! (cd "$tmp" && apt-get download -q "${missing[@]}") >"$log" 2>&1; then
			apt-get update -q >>"$log" 2>&1 || true
			if ! (cd "$tmp" && apt-get download -q "${missing[@]}") >>"$log" 2>&1; then
				rm -rf "$tmp"
				die "apt-get download ${missing[*]} failed (see $log)"
			fi
		fi
		mv -f "$tmp"/*.deb "$DEB_CACHE"/ || die "apt-get download left no .deb files (see $log)"
		rm -rf "$tmp"
		for p in "${missing[@]}"; do
			cached_deb "$p" >/dev/null || die "apt-get download did not produce ${p}_*.deb (see $log)"
		done
	fi
	DEBS=()
	for p in "${PACKAGES[@]}"; do
		DEBS+=("$(cached_deb "$p")")
	done
	exec 8>&-
}

# unpack DIR: dpkg -x the cached .debs into DIR/root (once; again when the set changes).
unpack() {
	local dir=$1 want f missing new=$1/root.tmp
	want=$(for f in "${DEBS[@]}"; do basename "$f"; done)
	if [ -f "$dir/root/.unpacked" ] && [ "$(cat "$dir/root/.unpacked")" = "$want" ]; then
		return 0
	fi
	rm -rf "$dir/root" "$new"
	mkdir -p "$new"
	for f in "${DEBS[@]}"; do
		dpkg -x "$f" "$new" 2>"$dir/dpkg.err" || die "dpkg -x $f failed: $(head -c 300 "$dir/dpkg.err")"
	done
	rm -f "$dir/dpkg.err"
	# Every binary we run must find all its libraries (unpacked or the system's).
	missing=$(for f in usr/bin/imapd usr/lib/courier/courier/imaplogin usr/sbin/couriertcpd \
		usr/lib/courier/courier-authlib/authdaemond usr/lib/courier/courier-authlib/makedatprog \
		usr/lib/courier-authlib/libauthuserdb.so.0 usr/sbin/userdbpw usr/bin/maildirkw usr/libexec/gam_server; do
		if [ ! -e "$new/$f" ]; then
			echo "/$f"
			continue
		fi
		LD_LIBRARY_PATH=$(libpath "$new") ldd "$new/$f" 2>&1 | sed -n 's/^[[:space:]]*\([^ ]*\) => not found.*/\1/p'
	done | sort -u | tr '\n' ' ')
	[ -z "$missing" ] || die "unpacked Courier lacks: ${missing}(a changed Debian package? install the libraries with apt-get)"
	printf '%s\n' "$want" >"$new/.unpacked"
	mv "$new" "$dir/root"
}

# load_ports DIR: sets IMAP_PORT from DIR/ports.
load_ports() {
	[ -f "$1/ports" ] || die "$1/ports missing: run '$PROG start $1' first"
	IMAP_PORT=$(sed -n 's/^IMAP_PORT=\([0-9]*\)$/\1/p' "$1/ports")
	[ -n "$IMAP_PORT" ] || die "$1/ports is malformed"
}

choose_ports() {
	local dir=$1
	if [ -f "$dir/ports" ]; then
		load_ports "$dir"
		IMAP_PORT=${COURIER_IMAP_PORT:-$IMAP_PORT}
	else
		IMAP_PORT=${COURIER_IMAP_PORT:-$DEFAULT_IMAP_PORT}
	fi
	if port_busy "$IMAP_PORT"; then
		[ -z "${COURIER_IMAP_PORT:-}" ] || die "port 127.0.0.1:$IMAP_PORT (COURIER_IMAP_PORT) is in use"
		IMAP_PORT=$(free_port) || die "cannot find a free port"
	fi
	printf 'IMAP_PORT=%s\n' "$IMAP_PORT" >"$dir/ports"
}

# pid_of DIR NAME PROGRAM: the pid in DIR/run/NAME.pid when it is alive and runs DIR/root/PROGRAM.
pid_of() {
	local pid
	pid=$(cat "$1/run/$2.pid" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	# The same file, not the same path: in a chroot the kernel may name the
	# program of another mount namespace by a path from the real root.
	[ "/proc/$pid/exe" -ef "$1/root/$3" ] || return 1
	printf '%s\n' "$pid"
}

tcpd_pid() { pid_of "$1" couriertcpd usr/sbin/couriertcpd; }
authd_pid() { pid_of "$1" authdaemond usr/lib/courier/courier-authlib/authdaemond; }
gam_pid() { pid_of "$1" gam_server usr/libexec/gam_server; }

# gam_id DIR: the GAM_CLIENT_ID of the instance; it names gam_server's (abstract) socket
# "/tmp/fam-catchallcourier-ID", so instances in different DIRs do not share one.
gam_id() {
	printf 'catchall%s\n' "$(printf '%s' "$1" | cksum | cut -d' ' -f1)"
}

# ns_pids DIR: every live process of the instance: those in its mount namespace
# running a program from DIR/root (couriertcpd, authdaemond, imaplogin, imapd),
# plus the recorded daemons.
ns_pids() {
	local dir=$1 ns="" p exe
	ns=$(cat "$dir/run/mntns" 2>/dev/null || true)
	{
		tcpd_pid "$dir" || true
		authd_pid "$dir" || true
		gam_pid "$dir" || true
		if [ -n "$ns" ]; then
			for p in /proc/[0-9]*; do
				[ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$ns" ] || continue
				exe=$(readlink "$p/exe" 2>/dev/null) || continue
				case $exe in *"$dir/root/"*) echo "${p#/proc/}" ;; esac # (a chroot may prefix the path)
			done
		fi
	} | sort -un
}

# kill_all DIR: TERM every process of the instance, KILL what is left after STOP_TIMEOUT,
# then give init a few seconds to reap them (the daemons are its children), so that
# not even a zombie is left.
kill_all() {
	local dir=$1 pids all deadline p
	KILLED=0
	pids=$(ns_pids "$dir")
	[ -n "$pids" ] || return 0
	KILLED=1
	all=$pids
	# shellcheck disable=SC2086
	kill -TERM $pids 2>/dev/null || true
	deadline=$((SECONDS + STOP_TIMEOUT))
	while pids=$(ns_pids "$dir") && [ -n "$pids" ]; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "$PROG: warning: pids $(echo $pids) did not exit within ${STOP_TIMEOUT}s; sending KILL" >&2
			# shellcheck disable=SC2086
			kill -KILL $pids 2>/dev/null || true
			sleep 0.5
			pids=$(ns_pids "$dir")
			[ -z "$pids" ] || die "pids $(echo $pids) survive SIGKILL"
			break
		fi
		sleep 0.05
	done
	deadline=$((SECONDS + 5))
	for p in $all; do
		while [ -e "/proc/$p" ] && [ "$SECONDS" -lt "$deadline" ]; do
			sleep 0.05
		done
	done
}

write_config() {
	local dir=$1 u hash lp
	lp=$(libpath "$dir/root")
	mkdir -p "$dir/etc" "$dir/run/authdaemon" "$dir/mail" "$dir/ns/etc" "$dir/ns/run" "$dir/ns/usrlib" "$dir/ns/usrlibexec"
	# The overlay layers: one symlink each, on top of the real /etc, /run, /usr/lib.
	ln -sfn "$dir/etc" "$dir/ns/etc/courier"
	ln -sfn "$dir/run" "$dir/ns/run/courier"
	ln -sfn "$dir/root/usr/lib/courier-authlib" "$dir/ns/usrlib/courier-authlib"
	ln -sfn "$dir/root/usr/lib/courier" "$dir/ns/usrlib/courier"
	ln -sfn "$dir/root/usr/libexec/gam_server" "$dir/ns/usrlibexec/gam_server"
	cat >"$dir/etc/authdaemonrc" <<EOF
# Generated by scripts/testenv/courier.sh (seen as /etc/courier/authdaemonrc by the daemons).
authmodulelist="authuserdb"
authmodulelistorig="authuserdb"
daemons=5
authdaemonvar=/run/courier/authdaemon
DEBUG_LOGIN=0
DEFAULTOPTIONS=""
LOGGEROPTS=""
EOF
	hash=$(printf '%s\n' "$PASSWORD" | LD_LIBRARY_PATH=$lp "$dir/root/usr/sbin/userdbpw" -md5) ||
		die "userdbpw failed"
	case $hash in '$1$'*) ;; *) die "userdbpw gave no MD5 crypt hash: $hash" ;; esac
	for u in "${USERS[@]}"; do
		printf '%s\tuid=%s|gid=%s|home=%s|mail=%s|systempw=%s\n' \
			"$u" "$RUN_UID" "$RUN_GID" "$dir/mail/$u" "$dir/mail/$u/Maildir" "$hash"
	done >"$dir/etc/userdb.tmp"
	chmod 0600 "$dir/etc/userdb.tmp"
	mv -f "$dir/etc/userdb.tmp" "$dir/etc/userdb"
	for u in "${USERS[@]}"; do
		if [ ! -d "$dir/mail/$u/Maildir/cur" ]; then
			mkdir -p "$dir/mail/$u/Maildir/cur" "$dir/mail/$u/Maildir/new" "$dir/mail/$u/Maildir/tmp"
			chmod 0700 "$dir/mail/$u" "$dir/mail/$u/Maildir" "$dir/mail/$u/Maildir/"*
		fi
	done
	# The settings of Debian's /etc/courier/imapd, except: 127.0.0.1 only, higher
	# connection limits, no STARTTLS (no certificate), and no IMAP_EMPTYTRASH=Trash:7
	# (it would purge seeded Trash messages older than 7 days at every logout).
	cat >"$dir/etc/imapd" <<EOF
# Generated by scripts/testenv/courier.sh; put changes in $dir/imapd.local.
ADDRESS=127.0.0.1
PORT=$IMAP_PORT
MAXDAEMONS=100
MAXPERIP=100
IMAP_CAPABILITY="IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT THREAD=REFERENCES SORT QUOTA IDLE"
IMAP_KEYWORDS=1
IMAP_ACL=1
IMAP_PROXY=0
IMAP_PROXY_FOREIGN=0
IMAP_IDLE_TIMEOUT=60
IMAP_MAILBOX_SANITY_CHECK=1
IMAP_CAPABILITY_TLS="\$IMAP_CAPABILITY AUTH=PLAIN"
IMAP_DISABLETHREADSORT=0
IMAP_CHECK_ALL_FOLDERS=0
IMAP_OBSOLETE_CLIENT=0
IMAP_UMASK=022
IMAP_ULIMITD=131072
IMAP_USELOCKS=1
IMAP_SHAREDINDEXFILE=$dir/etc/shared/index
IMAP_ENHANCEDIDLE=0
IMAP_TRASHFOLDERNAME=Trash
IMAP_EMPTYTRASH=
IMAP_MOVE_EXPUNGE_TO_TRASH=0
SENDMAIL=/bin/false
HEADERFROM=X-IMAP-Sender
IMAP_STARTTLS=NO
IMAP_TLS_REQUIRED=0
EOF
	chown -R "$RUN_UID:$RUN_GID" "$dir/etc" "$dir/run"
	chown "$RUN_UID:$RUN_GID" "$dir/mail"
	chmod 0755 "$dir/mail"
	for u in "${USERS[@]}"; do
		[ "$(stat -c %u:%g "$dir/mail/$u")" = "$RUN_UID:$RUN_GID" ] || chown -R "$RUN_UID:$RUN_GID" "$dir/mail/$u"
	done
	touch "$dir/courier.log"
	chown "$RUN_UID:$RUN_GID" "$dir/courier.log"
}

# gam_listening ID: gam_server listens on its abstract socket (shown NUL-padded with '@').
gam_listening() {
	grep -qaE "^[^ ]+ [^ ]+ [^ ]+ [^ ]+ [^ ]+ [^ ]+ [^ ]+ @/tmp/fam-$RUN_USER-$1(@|\$)" /proc/net/unix
}

# ns_start DIR UID GID: runs as root inside the new mount namespace (see cmd_start),
# with a clean environment. Starts authdaemond, gam_server and couriertcpd and returns.
ns_start() {
	local dir=$1 lp log=$1/courier.log i
	RUN_UID=$2
	RUN_GID=$3
	lp=$(libpath "$dir/root")
	mount -t overlay catchall-courier -o "ro,lowerdir=$dir/ns/etc:/etc" /etc &&
		mount -t overlay catchall-courier -o "ro,lowerdir=$dir/ns/run:/run" /run &&
		mount -t overlay catchall-courier -o "ro,lowerdir=$dir/ns/usrlib:/usr/lib" /usr/lib &&
		mount -t overlay catchall-courier -o "ro,lowerdir=$dir/ns/usrlibexec:/usr/libexec" /usr/libexec ||
		die "overlay mounts in the private mount namespace failed (needs overlayfs and CAP_SYS_ADMIN)"
	[ -f /etc/courier/authdaemonrc ] && [ -d /run/courier/authdaemon ] && [ -d /usr/lib/courier-authlib ] ||
		die "the overlays do not show $dir as /etc/courier, /run/courier, /usr/lib/courier-authlib"
	readlink /proc/self/ns/mnt >"$dir/run/mntns"
	# /etc/courier/userdb -> userdb.dat + userdbshadow.dat (Courier's own makeuserdb).
	as_user env LD_LIBRARY_PATH="$lp" perl "$dir/root/usr/sbin/makeuserdb" >>"$log" 2>&1 ||
		die "makeuserdb failed: $(tail -n 3 "$log" | tr '\n' ' ')"
	rm -f /run/courier/authdaemon/socket
	(
		set -a
		# shellcheck disable=SC1091
		. /etc/courier/authdaemonrc
		set +a
		export LD_LIBRARY_PATH=$lp
		exec setsid setpriv --reuid="$RUN_UID" --regid="$RUN_GID" --clear-groups -- \
			"$dir/root/usr/lib/courier/courier-authlib/authdaemond"
	) </dev/null >>"$log" 2>&1 9>&- &
	echo $! >"$dir/run/authdaemond.pid"
	for i in $(seq 100); do
		[ -S /run/courier/authdaemon/socket ] && break
		kill -0 "$(cat "$dir/run/authdaemond.pid")" 2>/dev/null || break
		sleep 0.05
	done
	[ -S /run/courier/authdaemon/socket ] || die "authdaemond did not create its socket: $(tail -n 3 "$log" | tr '\n' ' ')"
	# gam_server (File Alteration Monitor) for imapd, started here rather than by libgamin
	# on first use so that it is ours to stop; --notimeout keeps it when idle.
	export GAM_CLIENT_ID
	GAM_CLIENT_ID=$(gam_id "$dir")
	(
		export LD_LIBRARY_PATH=$lp
		exec setsid setpriv --reuid="$RUN_UID" --regid="$RUN_GID" --clear-groups -- \
			"$dir/root/usr/libexec/gam_server" --notimeout "$GAM_CLIENT_ID"
	) </dev/null >>"$log" 2>&1 9>&- &
	echo $! >"$dir/run/gam_server.pid"
	for i in $(seq 100); do
		gam_listening "$GAM_CLIENT_ID" && break
		kill -0 "$(cat "$dir/run/gam_server.pid")" 2>/dev/null || break
		sleep 0.05
	done
	gam_listening "$GAM_CLIENT_ID" ||
		die "gam_server did not listen on @/tmp/fam-$RUN_USER-$GAM_CLIENT_ID: $(tail -n 3 "$log" | tr '\n' ' ')"
	(
		set -a
		# shellcheck disable=SC1091
		. "$dir/etc/imapd"
		# shellcheck disable=SC1091
		[ ! -f "$dir/imapd.local" ] || . "$dir/imapd.local"
		set +a
		export LD_LIBRARY_PATH=$lp
		umask "$IMAP_UMASK"
		[ -z "${IMAP_ULIMITD:-}" ] || ulimit -v "$IMAP_ULIMITD"
		exec setsid setpriv --reuid="$RUN_UID" --regid="$RUN_GID" --clear-groups -- \
			"$dir/root/usr/sbin/couriertcpd" -address="$ADDRESS" -maxprocs="$MAXDAEMONS" -maxperip="$MAXPERIP" \
			-nodnslookup -noidentlookup -stderr="$log" "$PORT" \
			"$dir/root/usr/lib/courier/courier/imaplogin" "$dir/root/usr/bin/imapd" Maildir
	) </dev/null >>"$log" 2>&1 9>&- &
	echo $! >"$dir/run/couriertcpd.pid"
}

# check_login: log in as every user, check the namespace and that LIST works.
check_login() {
	local dir=$1
	python3 - "$IMAP_PORT" "$PASSWORD" "${USERS[@]}" <<'EOF' && return 0
import imaplib, sys
port, password, users = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
for user in users:
    c = imaplib.IMAP4("127.0.0.1", port, timeout=15)
    c.login(user, password)
    typ, data = c.namespace()
    got = data[0].decode()
    if not got.startswith('(("INBOX." "."))'):
        sys.exit("courier.sh: error: %s: NAMESPACE is %s, want personal ((\"INBOX.\" \".\"))" % (user, got))
    typ, data = c.list()
    if typ != "OK":
        sys.exit("courier.sh: error: %s: LIST failed: %r" % (user, data))
    c.logout()
EOF
	echo "$PROG: error: post-start check failed (see $dir/courier.log)" >&2
	return 1
}

# lock DIR: serialise start/stop/seed on one DIR (tests may call us concurrently).
lock() {
	[ -n "${COURIER_SH_LOCKED:-}" ] && return 0
	mkdir -p "$1"
	exec 9>"$1/.lock"
	flock -w "$LOCK_TIMEOUT" 9 || die "could not lock $1/.lock within ${LOCK_TIMEOUT}s"
	COURIER_SH_LOCKED=1
}

check_dir() {
	local dir=$1 real d
	case $dir in *[[:space:]:,\\]*) die "DIR must not contain whitespace, ':', ',' or '\\': $dir" ;; esac
	mkdir -p "$dir"
	real=$(cd "$dir" && pwd -P)
	case $real/ in
	/etc/* | /run/* | /usr/* | /proc/* | /sys/* | /dev/*) die "DIR must not be under /etc, /run or /usr (overlaid for Courier): $dir" ;;
	esac
	chmod 0755 "$dir"
	d=$dir
	while [ "$d" != / ]; do
		d=$(dirname "$d")
		as_user test -x "$d" 2>/dev/null ||
			die "$d is not traversable by unprivileged users; put DIR elsewhere (e.g. under /tmp)"
	done
}

cmd_start() {
	local dir pid
	dir=$(canon "$1")
	[ "$(id -u)" -eq 0 ] || die "start must run as root (mount namespace, useradd)"
	ensure_tools
	ensure_run_user
	lock "$dir"
	if pid=$(tcpd_pid "$dir") && authd_pid "$dir" >/dev/null; then
		load_ports "$dir"
		wait_banner "$IMAP_PORT" "$START_TIMEOUT" "* OK" ||
			die "couriertcpd (pid $pid) runs but 127.0.0.1:$IMAP_PORT does not answer '* OK'"
		return 0
	fi
	check_dir "$dir"
	kill_all "$dir" # what a failed start may have left
	rm -f "$dir/run/mntns" "$dir/run/couriertcpd.pid" "$dir/run/authdaemond.pid" "$dir/run/gam_server.pid"
	fetch_debs
	unpack "$dir"
	choose_ports "$dir"
	write_config "$dir"
	# A failed start leaves nothing running.
	env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		unshare --mount --propagation private -- bash "$SCRIPT_PATH" __ns_start "$dir" "$RUN_UID" "$RUN_GID" 9>&- || {
		kill_all "$dir"
		die "start in the mount namespace failed (see $dir/courier.log)"
	}
	if ! wait_banner "$IMAP_PORT" "$START_TIMEOUT" "* OK"; then
		kill_all "$dir"
		die "Courier did not greet on 127.0.0.1:$IMAP_PORT within ${START_TIMEOUT}s: $(tail -n 5 "$dir/courier.log" | tr '\n' ' ')"
	fi
	tcpd_pid "$dir" >/dev/null && authd_pid "$dir" >/dev/null || {
		kill_all "$dir"
		die "couriertcpd or authdaemond exited: $(tail -n 5 "$dir/courier.log" | tr '\n' ' ')"
	}
	check_login "$dir" || {
		kill_all "$dir"
		exit 1
	}
}

cmd_stop() {
	local dir deadline
	dir=$(canon "$1")
	[ -d "$dir" ] || return 0
	lock "$dir"
	kill_all "$dir"
	# The listener is gone with couriertcpd; check, unless we stopped nothing (then the
	# remembered port may well belong to another instance by now).
	if [ "$KILLED" = 1 ] && [ -f "$dir/ports" ]; then
		load_ports "$dir"
		deadline=$((SECONDS + STOP_TIMEOUT))
		while port_busy "$IMAP_PORT"; do
			[ "$SECONDS" -lt "$deadline" ] || die "127.0.0.1:$IMAP_PORT still listening ${STOP_TIMEOUT}s after stop"
			sleep 0.1
		done
	fi
	rm -f "$dir/run/mntns" "$dir/run/couriertcpd.pid" "$dir/run/authdaemond.pid" "$dir/run/gam_server.pid"
}

cmd_status() {
	local dir
	dir=$(canon "$1")
	tcpd_pid "$dir" >/dev/null && authd_pid "$dir" >/dev/null
}

cmd_env() {
	local dir
	dir=$(canon "$1")
	load_ports "$dir"
	printf 'export CATCHALL_TEST_COURIER=1\n'
	printf 'export CATCHALL_TEST_COURIER_ADDR=%q\n' "127.0.0.1:$IMAP_PORT"
	printf 'export CATCHALL_TEST_COURIER_DIR=%q\n' "$dir"
}

cmd_seed() {
	local dir user tree
	dir=$(canon "$1")
	user=$2
	tree=$(abs "$3")
	[ -d "$tree" ] || die "seed: $tree is not a directory"
	cmd_start "$dir" # takes the lock and keeps it while seeding
	[ -d "$dir/mail/$user/Maildir" ] && grep -q "^$user	" "$dir/etc/userdb" ||
		die "seed: unknown user $user (users: ${USERS[*]})"
	python3 - "$dir/mail/$user/Maildir" "$RUN_UID" "$RUN_GID" "$tree" "$IMAP_PORT" "$user" "$PASSWORD" \
		"$dir/root/usr/bin/maildirkw" "$(libpath "$dir/root")" "$(gam_id "$dir")" <<'EOF' || die "seed of $user from $tree failed"
"""Copy TREE/<folder>/{cur,new,tmp}/<file> into a Courier Maildir++ and check it over IMAP.

INBOX is the Maildir itself; folder "A/B" is the directory ".A.B" (Courier-IMAP 5 keeps
folder names in UTF-8 on disk; before 5.0 they were modified UTF-7) with a maildirfolder
file. A name part containing "." cannot be represented (it is the separator): refused.
Files keep their names (and so their ":2,<flags>"), their subdirectory and their mtime
(Courier's INTERNALDATE); CRLF line ends become LF (see keep_crlf below). TREE/keywords.tsv ("<folder>/cur/<file>\t<kw> ...") is applied
with Courier's maildirkw. Every folder is subscribed (courierimapsubscribed). Then each
folder is EXAMINEd over IMAP: message counts and (for folders that were empty) flag sets
must match.
"""
import base64, collections, imaplib, os, re, shutil, subprocess, sys, time

PROG = "courier.sh seed"
SUBDIRS = ("cur", "new", "tmp")
FLAG_LETTERS = {"D": "\\Draft", "F": "\\Flagged", "R": "\\Answered", "S": "\\Seen", "T": "\\Deleted"}


def die(msg):
    print("%s: error: %s" % (PROG, msg), file=sys.stderr)
    sys.exit(1)


maildir, uid, gid, tree, port, user, password, maildirkw, libpath, gam_id = sys.argv[1:]
uid, gid, port = int(uid), int(gid), int(port)
t0 = time.time()


def scan_tree(tree):
    folders = {}
    for dirpath, dirnames, filenames in os.walk(tree):
        rel = os.path.relpath(dirpath, tree)
        parts = [] if rel == "." else rel.split(os.sep)
        if parts and parts[-1] in SUBDIRS:
            dirnames[:] = []
            continue
        dirnames.sort()
        has_md = any(os.path.isdir(os.path.join(dirpath, s)) for s in SUBDIRS)
        children = [d for d in dirnames if d not in SUBDIRS]
        if not parts:
            if not has_md:
                continue
            name = "INBOX"
        else:
            name = "/".join(parts)
            if not has_md and children:
                continue  # pure hierarchy level
        msgs = folders.setdefault(name, [])
        for sub in ("cur", "new"):
            d = os.path.join(dirpath, sub)
            if not os.path.isdir(d):
                continue
            for fn in sorted(os.listdir(d)):
                p = os.path.join(d, fn)
                if fn.startswith(".") or not os.path.isfile(p) or os.path.islink(p):
                    continue
                flags = ""
                if sub == "cur" and ":2," in fn:
                    flags = "".join(sorted(set(c for c in fn.rsplit(":2,", 1)[1] if c in FLAG_LETTERS)))
                relfile = "/".join(parts + [sub, fn])
                msgs.append((relfile, p, sub, fn, flags))
    return folders


def mutf7(s):
    out, buf = [], []

    def flush():
        if buf:
            b = "".join(buf).encode("utf-16-be")
            out.append("&" + base64.b64encode(b).decode().rstrip("=").replace("/", ",") + "-")
            buf.clear()

    for ch in s:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            buf.append(ch)
    flush()
    return "".join(out)


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


folders = scan_tree(tree)
folders.setdefault("INBOX", [])
kwpath = os.path.join(tree, "keywords.tsv")
keywords = {}
if os.path.exists(kwpath):
    with open(kwpath, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            if "\t" not in line:
                die("keywords.tsv:%d: no tab in %r" % (n, line))
            rel, words = line.split("\t", 1)
            keywords[rel] = [w for w in words.split(" ") if w]
known = {m[0] for msgs in folders.values() for m in msgs}
for rel in keywords:
    if rel not in known:
        die("keywords.tsv names %r, which is not a message file in the tree" % rel)

paths, names = {}, {}
for f in folders:
    if f == "INBOX":
        paths[f], names[f] = maildir, "INBOX"
        continue
    parts = f.split("/")
    for p in parts:
        if "." in p:
            die("folder %r: Courier's Maildir++ cannot hold a name containing '.' (the hierarchy separator)" % f)
        if p == "" or any(ord(c) < 0x20 or ord(c) == 0x7F for c in p):
            die("folder %r: empty name part or control character" % f)
        if any(ord(c) > 0xFFFF for c in p):
            # Courier cannot write such a name in modified UTF-7: LIST drops the connection
            # of every client that has not enabled UTF8=ACCEPT once the folder exists.
            die("folder %r: Courier-IMAP 5.0 cannot serve names outside the BMP (emoji) to "
                "non-UTF8=ACCEPT clients" % f)
    paths[f] = os.path.join(maildir, "." + ".".join(parts))
    names[f] = "INBOX." + ".".join(parts)


def own(p, mode):
    os.chown(p, uid, gid)
    os.chmod(p, mode)


before = {}
for f in sorted(folders):
    d = paths[f]
    if not os.path.isdir(d):
        os.makedirs(d, exist_ok=True)
    own(d, 0o700)
    for s in SUBDIRS:
        sd = os.path.join(d, s)
        if not os.path.isdir(sd):
            os.mkdir(sd)
            own(sd, 0o700)
    if f != "INBOX" and not os.path.exists(os.path.join(d, "maildirfolder")):
        open(os.path.join(d, "maildirfolder"), "w").close()
        own(os.path.join(d, "maildirfolder"), 0o600)
    before[f] = sum(len(os.listdir(os.path.join(d, s))) for s in ("cur", "new"))

# Courier keeps messages with LF line ends (APPEND strips the CRs) and sends every LF as
# CRLF: a CRLF file on disk would be served with CR CR LF. So CRLF becomes LF, as if
# Courier had stored the message; COURIER_SEED_CRLF=keep copies the bytes unchanged.
keep_crlf = os.environ.get("COURIER_SEED_CRLF") == "keep"
total, total_bytes = 0, 0
for f in sorted(folders):
    d = paths[f]
    for rel, src, sub, fn, flags in folders[f]:
        tmp = os.path.join(d, "tmp", "seed." + fn)
        if keep_crlf:
            shutil.copyfile(src, tmp)
        else:
            with open(src, "rb") as fh:
                data = fh.read()
            with open(tmp, "wb") as fh:
                fh.write(data.replace(b"\r\n", b"\n"))
        st = os.stat(src)
        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
        own(tmp, 0o600)
        os.rename(tmp, os.path.join(d, sub, fn))
        total += 1
        total_bytes += st.st_size

# maildirkw -l takes Courier's lock (IMAP_USELOCKS=1), which waits through gam_server.
env = dict(os.environ, LD_LIBRARY_PATH=libpath, GAM_CLIENT_ID=gam_id)
for f in sorted(folders):
    for rel, src, sub, fn, flags in folders[f]:
        kws = keywords.get(rel)
        if not kws:
            continue
        p = subprocess.run(["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid, "--clear-groups", "--",
                            maildirkw, "-l", "-a", paths[f], fn.split(":2,")[0]] + kws,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        if p.returncode != 0:
            die("maildirkw %s %s: %s" % (paths[f], fn, p.stdout.decode("utf-8", "replace").strip()))

subs = os.path.join(maildir, "courierimapsubscribed")
have = []
if os.path.exists(subs):
    with open(subs, encoding="utf-8", errors="surrogateescape") as fh:
        have = [l.rstrip("\n") for l in fh if l.strip()]
with open(subs + ".seedtmp", "w", encoding="utf-8", errors="surrogateescape") as fh:
    for n in have + sorted(n for n in names.values() if n != "INBOX" and n not in have):
        fh.write(n + "\n")
own(subs + ".seedtmp", 0o600)
os.rename(subs + ".seedtmp", subs)
t_copy = time.time()

c = imaplib.IMAP4("127.0.0.1", port, timeout=60)
c.login(user, password)
for f in sorted(folders):
    n = names[f]
    # SELECT, not EXAMINE: Courier writes a folder's UID database
    # (courierimapuiddb) only when the folder is opened read-write; until then
    # every session sees a new UIDVALIDITY, as in an account no mail client
    # ever opened.
    typ, data = c.select(quote(mutf7(n)))
    if typ != "OK":
        die("SELECT %s: %r" % (n, data))
    count = int(data[0])
    want = before[f] + len(folders[f])
    # Files that replaced an existing one of the same name are counted once.
    on_disk = sum(len(os.listdir(os.path.join(paths[f], s))) for s in ("cur", "new"))
    if count != on_disk or (before[f] == 0 and count != want):
        die("%s holds %d messages, expected %d (%d on disk)" % (n, count, want, on_disk))
    if before[f] == 0 and count > 0:
        typ, data = c.fetch("1:*", "(FLAGS)")
        got = []
        for item in data:
            raw = item.decode() if isinstance(item, bytes) else item[0].decode()
            m = re.search(r"FLAGS \(([^)]*)\)", raw)
            if not m:
                die("%s: unparsable FETCH response %r" % (n, raw))
            got.append(" ".join(sorted(x for x in m.group(1).split() if x != "\\Recent")))
        exp = [" ".join(sorted([FLAG_LETTERS[ch] for ch in flags] + keywords.get(rel, [])))
               for rel, src, sub, fn, flags in folders[f]]
        if sorted(got) != sorted(exp):
            c1, c2 = collections.Counter(got), collections.Counter(exp)
            die("%s: flags differ from the tree: server extra %r, missing %r" % (n, dict(c1 - c2), dict(c2 - c1)))
    c.close()
c.logout()
if os.environ.get("SEED_VERBOSE"):
    print("seeded %d messages (%d bytes) in %d folders into %s in %.1fs (copy %.1fs)"
          % (total, total_bytes, len(folders), user, time.time() - t0, t_copy - t0), file=sys.stderr)
EOF
}

[ $# -ge 1 ] || usage
cmd=$1
shift
case $cmd in
start) [ $# -eq 1 ] || usage; cmd_start "$1" ;;
stop) [ $# -eq 1 ] || usage; cmd_stop "$1" ;;
status) [ $# -eq 1 ] || usage; cmd_status "$1" ;;
env) [ $# -eq 1 ] || usage; cmd_env "$1" ;;
seed) [ $# -eq 3 ] || usage; cmd_seed "$1" "$2" "$3" ;;
__ns_start) [ $# -eq 3 ] || usage; ns_start "$1" "$2" "$3" ;;
*) usage ;;
esac
