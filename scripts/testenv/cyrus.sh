#!/usr/bin/env bash
# Test Cyrus IMAP (Debian 12's cyrus-imapd 3.6) for catchall's acceptance tests.
#
#   cyrus.sh start  DIR                 unpack Cyrus into DIR/root, write config/users under DIR and start (idempotent)
#   cyrus.sh stop   DIR                 stop the instance; no process is left (no-op when not running)
#   cyrus.sh env    DIR                 print `export ...` lines for the tests
#   cyrus.sh seed   DIR USER TREE       APPEND a Maildir tree into USER's account over IMAP
#   cyrus.sh status DIR                 exit 0 when running
#
# Debian's cyrus-imapd conflicts with dovecot-imapd (both provide imap-server), so nothing
# of Cyrus is installed: cyrus-common, cyrus-imapd, sasl2-bin and the libraries the machine
# lacks are fetched with `apt-get download` (cached in /var/cache/catchall-testenv/cyrus,
# or $CATCHALL_TESTENV_CACHE/cyrus), unpacked with `dpkg -x` into DIR/root and run with
# LD_LIBRARY_PATH. The cyrus `master` runs as the unprivileged system user catchallcyrus
# (created when missing) with a private DIR/imapd.conf and DIR/cyrus.conf; all state
# (configdirectory, partition-default, sockets, pid file) lives under DIR. /etc/imapd.conf
# and /etc/cyrus.conf are never read.
#
# Namespace as Debian ships it (unixhierarchysep: no, altnamespace: no): personal folders
# are "INBOX.<name>" with "." as separator. Users (password "secret", SASL PLAIN/LOGIN
# checked against DIR/sasldb2 through the sasldb auxprop plugin, plaintext allowed):
#   cyrus                   the admin (admins: cyrus), no mailbox of its own
#   cyrususer, cyrusdest    test users; their INBOX (user.<name>) is created by `start`
#
# Port: CYRUS_IMAP_PORT (default 14145, plaintext, 127.0.0.1 only, no TLS). When the default
# port is taken by something else a free port is chosen instead; the port is remembered in
# DIR/ports and `env` prints it.
set -euo pipefail

PROG=cyrus.sh
# shellcheck source=scripts/testenv/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
RUN_USER=catchallcyrus
DEFAULT_IMAP_PORT=14145
START_TIMEOUT=20
STOP_TIMEOUT=20
LOCK_TIMEOUT=600
REALM=catchall-cyrus
ADMIN=cyrus
TEST_USERS="cyrususer cyrusdest"
PASSWORD=secret
CACHE=${CATCHALL_TESTENV_CACHE:-/var/cache/catchall-testenv}/cyrus
# Always fetched; the libraries they need that the machine lacks are added from apt's plan.
BASE_PKGS="cyrus-common cyrus-imapd sasl2-bin"

usage() {
	cat >&2 <<EOF
usage: $PROG start DIR | stop DIR | status DIR | env DIR | seed DIR USER MAILDIR_TREE
EOF
	exit 2
}

# cache_complete: every .deb named in $CACHE/debs.list is there.
cache_complete() {
	local f
	[ -s "$CACHE/debs.list" ] || return 1
	while IFS= read -r f; do
		[ -s "$CACHE/debs/$f" ] || return 1
	done <"$CACHE/debs.list"
}

# fetch_debs: make sure $CACHE/debs holds Cyrus and the libraries this machine lacks;
# $CACHE/debs.list names them. Downloads only when the list is missing or incomplete.
fetch_debs() {
	command -v dpkg >/dev/null 2>&1 || die "dpkg not found (Debian needed)"
	cache_complete && return 0
	[ "$(id -u)" -eq 0 ] || die "need root to download Cyrus into $CACHE"
	command -v apt-get >/dev/null 2>&1 || die "apt-get not found (Debian needed)"
	mkdir -p "$CACHE"
	exec 8>"$CACHE/.lock"
	flock -w "$LOCK_TIMEOUT" 8 || die "could not lock $CACHE/.lock within ${LOCK_TIMEOUT}s"
	# Another start may have filled the cache while we waited.
	if cache_complete; then
		exec 8>&-
		return 0
	fi
	local log=/tmp/catchall-apt.log plan pkgs tmp
	# What installing Cyrus would add: its libraries that the machine lacks (or has too old).
	# The install itself is only simulated; it would remove dovecot-imapd.
	# shellcheck disable=SC2086
	if ! plan=$(apt-get -s -q install --no-install-recommends $BASE_PKGS 2>>"$log"); then
		apt-get update -q >>"$log" 2>&1 || true
		# shellcheck disable=SC2086
		plan=$(apt-get -s -q install --no-install-recommends $BASE_PKGS 2>>"$log") ||
			die "apt-get cannot resolve $BASE_PKGS (see $log)"
	fi
	# Only shared libraries are needed from the dependencies; never the C library itself.
	pkgs=$(printf '%s\n' "$plan" | sed -n 's/^Inst \([^ ]*\) .*/\1/p' |
		grep -E '^lib' | grep -vxE 'libc6|libc-bin|libc-dev-bin|libgcc-s1|libstdc\+\+6' || true)
	# shellcheck disable=SC2086
	pkgs=$(printf '%s\n' $BASE_PKGS $pkgs | sort -u)
	tmp=$(mktemp -d "$CACHE/dl.XXXXXX")
	# apt drops privileges to _apt for downloads; let it write there.
	if getent passwd _apt >/dev/null; then chown _apt "$tmp"; fi
	# shellcheck disable=SC2086
	if ! (cd "$tmp" && apt-get download -q $pkgs >>"$log" 2>&1); then
		apt-get update -q >>"$log" 2>&1 || true
		# shellcheck disable=SC2086
		(cd "$tmp" && apt-get download -q $pkgs >>"$log" 2>&1) ||
			{ rm -rf "$tmp"; die "apt-get download $(echo $pkgs) failed (see $log)"; }
	fi
	mkdir -p "$CACHE/debs"
	(cd "$tmp" && ls -1 -- *.deb) >"$tmp/list" || { rm -rf "$tmp"; die "apt-get download left no .deb in $tmp"; }
	mv -f "$tmp"/*.deb "$CACHE/debs/"
	mv -f "$tmp/list" "$CACHE/debs.list"
	rm -rf "$tmp"
	exec 8>&-
}

# unpack DIR: DIR/root holds the unpacked packages of $CACHE/debs.list. Sets ROOT,
# LIBPATH, SASLPATH and BIN.
unpack() {
	local dir=$1 f triplet
	ROOT=$dir/root
	if [ ! -f "$ROOT/.debs" ] || ! cmp -s "$ROOT/.debs" "$CACHE/debs.list"; then
		rm -rf "$ROOT" "$dir/root.tmp"
		mkdir -p "$dir/root.tmp"
		while IFS= read -r f; do
			dpkg -x "$CACHE/debs/$f" "$dir/root.tmp" 2>>"$dir/unpack.log" || die "dpkg -x $CACHE/debs/$f failed (see $dir/unpack.log)"
		done <"$CACHE/debs.list"
		cp "$CACHE/debs.list" "$dir/root.tmp/.debs"
		mv "$dir/root.tmp" "$ROOT"
	fi
	BIN=$ROOT/usr/lib/cyrus/bin
	[ -x "$BIN/master" ] && [ -x "$BIN/imapd" ] || die "$BIN/master or imapd missing after unpacking $CACHE/debs"
	[ -x "$ROOT/usr/sbin/saslpasswd2" ] || die "$ROOT/usr/sbin/saslpasswd2 missing after unpacking"
	f=$(find "$ROOT/usr/lib" -name 'libcyrus_min.so.0' -print -quit)
	[ -n "$f" ] || die "libcyrus_min.so.0 not found under $ROOT/usr/lib"
	triplet=$(basename "$(dirname "$f")")
	LIBPATH=$ROOT/usr/lib/$triplet:$ROOT/lib/$triplet
	# The sasldb auxprop plugin: the unpacked one if its package was fetched, else the system's.
	SASLPATH=/usr/lib/$triplet/sasl2
	if compgen -G "$ROOT/usr/lib/$triplet/sasl2/libsasldb.so*" >/dev/null; then
		SASLPATH=$ROOT/usr/lib/$triplet/sasl2
	fi
	compgen -G "$SASLPATH/libsasldb.so*" >/dev/null ||
		die "no sasldb SASL plugin in $SASLPATH (package libsasl2-modules-db)"
	local missing
	missing=$(LD_LIBRARY_PATH=$LIBPATH ldd "$BIN/master" "$BIN/imapd" "$BIN/ctl_cyrusdb" "$ROOT/usr/sbin/saslpasswd2" 2>&1 |
		sed -n 's/^[[:space:]]*\([^ ]*\) => not found.*/\1/p' | sort -u | tr '\n' ' ')
	[ -z "$missing" ] || die "Cyrus needs libraries this machine lacks: $missing(delete $CACHE/debs.list to re-resolve)"
}

# cy ARGS...: run a Cyrus/SASL binary from DIR/root with a clean environment.
cy() {
	env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LD_LIBRARY_PATH="$LIBPATH" SASL_PATH="$SASLPATH" "$@"
}

ensure_run_user() {
	if ! getent passwd "$RUN_USER" >/dev/null; then
		[ "$(id -u)" -eq 0 ] || die "need root to create system user $RUN_USER"
		useradd --system --user-group --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin --comment "catchall test Cyrus IMAP" "$RUN_USER" ||
			die "useradd $RUN_USER failed"
	fi
	RUN_UID=$(id -u "$RUN_USER")
	RUN_GID=$(id -g "$RUN_USER")
}

# load_port DIR: sets IMAP_PORT from DIR/ports.
load_port() {
	[ -f "$1/ports" ] || die "$1/ports missing: run '$PROG start $1' first"
	IMAP_PORT=$(sed -n 's/^IMAP_PORT=\([0-9]*\)$/\1/p' "$1/ports")
	[ -n "$IMAP_PORT" ] || die "$1/ports is malformed"
}

choose_port() {
	local dir=$1 p
	if [ -f "$dir/ports" ]; then
		load_port "$dir"
		IMAP_PORT=${CYRUS_IMAP_PORT:-$IMAP_PORT}
	else
		IMAP_PORT=${CYRUS_IMAP_PORT:-$DEFAULT_IMAP_PORT}
	fi
	if port_busy "$IMAP_PORT"; then
		[ -z "${CYRUS_IMAP_PORT:-}" ] || die "port 127.0.0.1:$IMAP_PORT (CYRUS_IMAP_PORT) is in use"
		p=$(free_port) || die "cannot find a free port"
		IMAP_PORT=$p
	fi
	printf 'IMAP_PORT=%s\n' "$IMAP_PORT" >"$dir/ports"
}

# master_pid DIR: prints the pid of a live Cyrus master for DIR, or fails.
master_pid() {
	local dir=$1 pid
	[ -f "$dir/run/master.pid" ] || return 1
	pid=$(cat "$dir/run/master.pid" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = master ] || return 1
	grep -qszxF "$dir/cyrus.conf" "/proc/$pid/cmdline" || return 1
	printf '%s\n' "$pid"
}

# dir_pids DIR: pids of every process started with DIR's configuration (master, imapd, ctl_cyrusdb).
dir_pids() {
	local dir=$1
	# The patterns come from a file: grep's own command line must not match.
	grep -lszxF -f <(printf '%s\n' "$dir/imapd.conf" "$dir/cyrus.conf") /proc/[0-9]*/cmdline |
		sed -n 's#^/proc/\([0-9]*\)/cmdline$#\1#p'
	return 0
}

write_sasldb() {
	local dir=$1 u
	rm -f "$dir/sasldb2.tmp"
	for u in $ADMIN $TEST_USERS; do
		printf '%s' "$PASSWORD" | cy "$ROOT/usr/sbin/saslpasswd2" -f "$dir/sasldb2.tmp" -p -c -u "$REALM" "$u" \
			2>>"$dir/sasl.log" || die "saslpasswd2 for $u failed (see $dir/sasl.log)"
	done
	chown "$RUN_UID:$RUN_GID" "$dir/sasldb2.tmp"
	chmod 0600 "$dir/sasldb2.tmp"
	mv -f "$dir/sasldb2.tmp" "$dir/sasldb2"
}

write_config() {
	local dir=$1
	# Debian's /etc/imapd.conf values where they matter, with every path under DIR.
	cat >"$dir/imapd.conf.tmp" <<EOF
# Generated by scripts/testenv/cyrus.sh — standalone test instance, do not edit.
configdirectory: $dir/config
defaultpartition: default
partition-default: $dir/spool
sievedir: $dir/sieve
proc_path: $dir/run/proc
mboxname_lockpath: $dir/run/lock
lmtpsocket: $dir/config/socket/lmtp
idlesocket: $dir/config/socket/idle
notifysocket: $dir/config/socket/notify
cyrus_user: $RUN_USER
servername: $REALM
syslog_prefix: catchall-cyrus

# As Debian's imapd.conf: "INBOX." namespace with "." separator.
altnamespace: no
unixhierarchysep: no
hashimapspool: true
umask: 077
lmtp_downcase_rcpt: yes
allowanonymouslogin: no
autocreate_quota: 0
sieveusehomedir: false

admins: $ADMIN
allowplaintext: yes
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: $dir/sasldb2
sasl_mech_list: PLAIN LOGIN
sasl_auto_transition: no
EOF
	# Extra "key: value" lines for a test (e.g. "reject8bit: yes"), replacing the same keys
	# above (Cyrus refuses a key given twice); read when the master starts.
	if [ -n "${CYRUS_IMAPD_CONF_EXTRA:-}" ]; then
		local line key
		while IFS= read -r line; do
			[ -n "$line" ] || continue
			key=${line%%:*}
			[[ $line == *:* && $key =~ ^[A-Za-z0-9_-]+$ ]] || die "CYRUS_IMAPD_CONF_EXTRA: not a 'key: value' line: $line"
			sed -i "/^$key:/d" "$dir/imapd.conf.tmp"
			printf '%s\n' "$line" >>"$dir/imapd.conf.tmp"
		done <<<"$CYRUS_IMAPD_CONF_EXTRA"
	fi
	cat >"$dir/cyrus.conf.tmp" <<EOF
# Generated by scripts/testenv/cyrus.sh — standalone test instance, do not edit.
START {
  recover    cmd="$BIN/ctl_cyrusdb -C $dir/imapd.conf -r"
}
SERVICES {
  imap       cmd="$BIN/imapd -C $dir/imapd.conf -U 30" listen="127.0.0.1:$IMAP_PORT" proto="tcp4" prefork=0 maxchild=200
}
EVENTS {
  checkpoint cmd="$BIN/ctl_cyrusdb -C $dir/imapd.conf -c" period=30
}
EOF
	chmod 0644 "$dir/imapd.conf.tmp" "$dir/cyrus.conf.tmp"
	mv -f "$dir/imapd.conf.tmp" "$dir/imapd.conf"
	mv -f "$dir/cyrus.conf.tmp" "$dir/cyrus.conf"
	# Cyrus reports config errors to syslog only; check first (conf-lint prints unknown keys).
	local lint
	lint=$(cy "$BIN/cyr_info" -C "$dir/imapd.conf" -M "$dir/cyrus.conf" conf-lint 2>&1) &&
		[ -z "$lint" ] || die "$dir/imapd.conf: $(printf '%s' "$lint" | tr '\n' ' ')"
}

# state_dirs DIR: the directories the daemon writes, owned by $RUN_USER.
state_dirs() {
	local dir=$1 d
	# config/socket: imapd binds its IDLE socket config/socket/idle.PID there.
	for d in config config/socket spool sieve run; do
		if [ ! -d "$dir/$d" ]; then
			mkdir -p "$dir/$d"
			chown "$RUN_UID:$RUN_GID" "$dir/$d"
			chmod 0700 "$dir/$d"
		elif [ "$(stat -c %u:%g "$dir/$d")" != "$RUN_UID:$RUN_GID" ]; then
			# DIR survived from a machine where $RUN_USER had other ids.
			chown -R "$RUN_UID:$RUN_GID" "$dir/$d"
		fi
	done
	rm -rf "${dir:?}/run/proc" "${dir:?}/run/lock"
}

# check_login: the admin creates missing INBOXes; every user logs in and sees
# the "INBOX." namespace.
check_login() {
	python3 - "$IMAP_PORT" "$ADMIN" "$PASSWORD" $TEST_USERS <<'EOF'
import imaplib, sys
port, admin, pw, users = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
def fail(msg):
    sys.exit(msg)
c = imaplib.IMAP4("127.0.0.1", port, timeout=15)
try:
    c.login(admin, pw)
except imaplib.IMAP4.error as e:
    fail("admin login as %s failed: %s" % (admin, e))
for u in users:
    typ, data = c.list('""', '"user.%s"' % u)
    if not [d for d in data if d]:
        typ, data = c.create('"user.%s"' % u)
        if typ != "OK":
            fail("CREATE user.%s: %s %s" % (u, typ, data))
c.logout()
for u in users:
    c = imaplib.IMAP4("127.0.0.1", port, timeout=15)
    try:
        c.login(u, pw)
    except imaplib.IMAP4.error as e:
        fail("login as %s failed: %s" % (u, e))
    typ, data = c.namespace()
    got = data[0].decode()
    if not got.startswith('(("INBOX." "."))'):
        fail('%s: NAMESPACE is %s, want personal (("INBOX." "."))' % (u, got))
    typ, data = c.select("INBOX", readonly=True)
    if typ != "OK":
        fail("%s: EXAMINE INBOX: %s" % (u, data))
    c.logout()
EOF
}

# lock DIR: serialise start/stop/seed on one DIR (tests may call us concurrently).
lock() {
	[ -n "${CYRUS_SH_LOCKED:-}" ] && return 0
	mkdir -p "$1"
	exec 9>"$1/.lock"
	flock -w "$LOCK_TIMEOUT" 9 || die "could not lock $1/.lock within ${LOCK_TIMEOUT}s"
	CYRUS_SH_LOCKED=1
}

cmd_start() {
	local dir pid d
	dir=$(abs "$1")
	case $dir in *[[:space:]\"]*) die "DIR must not contain whitespace or quotes: $dir" ;; esac
	[ "$(id -u)" -eq 0 ] || die "start must run as root (it creates $RUN_USER and chowns DIR)"
	command -v python3 >/dev/null 2>&1 || apt_install python3
	command -v setpriv >/dev/null 2>&1 || die "setpriv (util-linux) not found"
	lock "$dir"
	if pid=$(master_pid "$dir"); then
		load_port "$dir"
		wait_banner "$IMAP_PORT" "$START_TIMEOUT" "* OK" || die "cyrus master (pid $pid) runs but 127.0.0.1:$IMAP_PORT does not answer '* OK'"
		return 0
	fi
	# A master that died leaves imapd children behind; they hold the old port.
	kill_leftovers "$dir"
	fetch_debs
	unpack "$dir"
	ensure_run_user
	# The daemon runs as $RUN_USER: DIR and its parents must be traversable.
	chmod 0755 "$dir"
	d=$dir
	while [ "$d" != / ]; do
		if ! setpriv --reuid="$RUN_UID" --regid="$RUN_GID" --clear-groups test -x "$d" 2>/dev/null; then
			die "$d is not traversable by $RUN_USER; put DIR elsewhere (e.g. under /tmp)"
		fi
		d=$(dirname "$d")
	done
	state_dirs "$dir"
	rm -f "$dir/run/master.pid"
	choose_port "$dir"
	write_sasldb "$dir"
	write_config "$dir"
	# master -L reopens the log as $RUN_USER.
	touch "$dir/master.log"
	chown "$RUN_UID:$RUN_GID" "$dir/master.log"
	# 8>&- 9>&-: the daemon must not inherit (and so hold) our locks.
	cy setpriv --reuid="$RUN_UID" --regid="$RUN_GID" --clear-groups \
		"$BIN/master" -C "$dir/imapd.conf" -M "$dir/cyrus.conf" -p "$dir/run/master.pid" \
		-d -L "$dir/master.log" 8>&- 9>&- 2>>"$dir/master.log" ||
		start_failed "$dir" "cyrus master failed to start: $(tail -n 5 "$dir/master.log" | tr '\n' ' ')"
	if ! wait_banner "$IMAP_PORT" "$START_TIMEOUT" "* OK"; then
		start_failed "$dir" "Cyrus did not greet on 127.0.0.1:$IMAP_PORT within ${START_TIMEOUT}s (Cyrus logs to syslog only): $(tail -n 5 "$dir/master.log" | tr '\n' ' ')"
	fi
	master_pid "$dir" >/dev/null || start_failed "$dir" "127.0.0.1:$IMAP_PORT answers but $dir/run/master.pid names no live master"
	local out
	out=$(check_login 2>&1) || start_failed "$dir" "post-start check failed: $(printf '%s' "$out" | tail -n 1) (Cyrus logs to syslog only)"
}

# kill_leftovers DIR: KILL every process of DIR's instance and wait until they are gone.
kill_leftovers() {
	local dir=$1 pids deadline=$((SECONDS + STOP_TIMEOUT))
	while pids=$(dir_pids "$dir") && [ -n "$pids" ]; do
		[ "$SECONDS" -lt "$deadline" ] || die "processes of $dir do not exit: $(echo $pids)"
		# shellcheck disable=SC2086
		kill -KILL $pids 2>/dev/null || true
		sleep 0.1
	done
}

# start_failed DIR MESSAGE: leave nothing running, then die.
start_failed() {
	kill_leftovers "$1"
	rm -f "$1/run/master.pid"
	die "$2"
}

cmd_stop() {
	local dir pid deadline
	dir=$(abs "$1")
	[ -d "$dir" ] || return 0
	lock "$dir"
	if pid=$(master_pid "$dir"); then
		# The master takes its children (imapd, ctl_cyrusdb) down with it.
		kill -TERM "$pid" 2>/dev/null || true
		deadline=$((SECONDS + STOP_TIMEOUT))
		while kill -0 "$pid" 2>/dev/null; do
			if [ "$SECONDS" -ge "$deadline" ]; then
				echo "$PROG: warning: cyrus master pid $pid did not exit within ${STOP_TIMEOUT}s; sending KILL" >&2
				kill -KILL "$pid" 2>/dev/null || true
				break
			fi
			sleep 0.1
		done
	fi
	# Whatever is left of this DIR's instance (children of a master that died).
	kill_leftovers "$dir"
	rm -f "$dir/run/master.pid"
}

cmd_status() {
	local dir
	dir=$(abs "$1")
	master_pid "$dir" >/dev/null
}

cmd_env() {
	local dir
	dir=$(abs "$1")
	load_port "$dir"
	printf 'export CATCHALL_TEST_CYRUS=1\n'
	printf 'export CATCHALL_TEST_CYRUS_ADDR=%q\n' "127.0.0.1:$IMAP_PORT"
	printf 'export CATCHALL_TEST_CYRUS_DIR=%q\n' "$dir"
}

cmd_seed() {
	local dir user tree
	dir=$(abs "$1")
	user=$2
	tree=$(abs "$3")
	[ -d "$tree" ] || die "seed: $tree is not a directory"
	case " $TEST_USERS " in *" $user "*) ;; *) die "seed: unknown user $user (one of: $TEST_USERS)" ;; esac
	cmd_start "$dir" # takes the lock and keeps it while seeding
	load_port "$dir"
	local munge=1
	grep -qiE '^munge8bit:[[:space:]]*(0|no|off|f|false)[[:space:]]*$' "$dir/imapd.conf" && munge=0
	grep -qiE '^reject8bit:[[:space:]]*(1|yes|on|t|true)[[:space:]]*$' "$dir/imapd.conf" && munge=0
	python3 - "$IMAP_PORT" "$user" "$PASSWORD" "$tree" "$dir/seed-$user.tsv" "$munge" <<'EOF' || die "seed of $user from $tree failed"
"""APPEND a Maildir tree into a Cyrus account ("INBOX." prefix, "." separator).

TREE/<folder>/{cur,new,tmp}/<file>, "/" hierarchy, UTF-8 names, TREE/INBOX = inbox,
optional TREE/keywords.tsv ("<folder>/cur/<file>\t<kw> <kw>..."). Folders are created with
their modified UTF-7 names (top-level Sent, Drafts, Junk, Trash with their RFC 6154
SPECIAL-USE), messages appended in file-name order (cur/ before new/) with the flags of the
":2," suffix and the keywords, INTERNALDATE = file mtime. Messages Cyrus refuses (NUL bytes,
bare LF) are reported and skipped; afterwards counts and flags are read back and compared.
"""
import base64, collections, os, re, socket, sys, time

PROG = "cyrus.sh seed"
FLAG_LETTERS = {"D": "\\Draft", "F": "\\Flagged", "R": "\\Answered", "S": "\\Seen", "T": "\\Deleted"}
SUBDIRS = ("cur", "new", "tmp")
ATOM_SPECIALS = set('(){ %*"\\]')
SPECIAL_USE = {"Sent": "\\Sent", "Drafts": "\\Drafts", "Junk": "\\Junk", "Trash": "\\Trash"}
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
BATCH_MSGS, BATCH_BYTES = 100, 4 << 20
BARE_LF = re.compile(rb"(?<!\r)\n")


def die(msg):
    print("%s: error: %s" % (PROG, msg), file=sys.stderr)
    sys.exit(1)


class IMAPError(Exception):
    pass


class Conn:
    """A minimal IMAP client: LITERAL+ and MULTIAPPEND, which imaplib lacks."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.sock.makefile("rb")
        self.n = 0
        greeting = self.f.readline()
        if not greeting.startswith(b"* OK"):
            raise IMAPError("greeting %r" % greeting)

    def readline(self):
        """One response line with its literals inlined."""
        line = self.f.readline()
        if not line:
            raise IMAPError("connection closed")
        while True:
            m = re.search(rb"\{(\d+)\}\r\n$", line)
            if not m:
                return line.rstrip(b"\r\n")
            lit = self.f.read(int(m.group(1)))
            line = line[:m.start()] + b'"' + lit.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"' + self.f.readline()

    def cmd(self, data, sync_literal=None):
        """Send one command (bytes, without tag/CRLF); returns (status, text, untagged).
        sync_literal: a synchronizing literal appended to data (waits for "+")."""
        self.n += 1
        tag = b"s%d" % self.n
        if sync_literal is None:
            self.sock.sendall(tag + b" " + data + b"\r\n")
        else:
            self.sock.sendall(tag + b" " + data + b" {%d}\r\n" % len(sync_literal))
            line = self.readline()
            if not line.startswith(b"+"):
                st, _, text = line[len(tag) + 1:].partition(b" ")
                return st.decode(), text.decode("utf-8", "replace"), []
            self.sock.sendall(sync_literal + b"\r\n")
        untagged = []
        while True:
            line = self.readline()
            if line.startswith(tag + b" "):
                st, _, text = line[len(tag) + 1:].partition(b" ")
                return st.decode(), text.decode("utf-8", "replace"), untagged
            untagged.append(line)

    def ok(self, data):
        st, text, untagged = self.cmd(data)
        if st != "OK":
            raise IMAPError("%s: %s %s" % (data[:200].decode("utf-8", "replace"), st, text))
        return text, untagged

    def close(self):
        try:
            self.sock.sendall(b"z LOGOUT\r\n")
        except OSError:
            pass
        self.sock.close()


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def mutf7(s):
    """RFC 3501 modified UTF-7."""
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


def imap_date(t):
    g = time.gmtime(t)
    return '"%02d-%s-%04d %02d:%02d:%02d +0000"' % (g.tm_mday, MONTHS[g.tm_mon - 1], g.tm_year,
                                                   g.tm_hour, g.tm_min, g.tm_sec)


def scan_tree(tree):
    """{folder ('/' joined, UTF-8): [(relfile, abspath, flag letters)]}, as seed_maildir.py."""
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
                continue  # pure hierarchy level (Cyrus creates it as a mailbox anyway)
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
                msgs.append(("/".join(parts + [sub, fn]), p, flags))
    return folders


def read_keywords(tree):
    path = os.path.join(tree, "keywords.tsv")
    kws = {}
    if not os.path.exists(path):
        return kws
    with open(path, "r", encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            if "\t" not in line:
                die("keywords.tsv:%d: no tab in %r" % (n, line))
            rel, words = line.split("\t", 1)
            for w in words.split(" "):
                if not w:
                    continue
                if w.startswith("\\") or any(c in ATOM_SPECIALS or ord(c) <= 32 or ord(c) >= 127 for c in w):
                    die("keywords.tsv:%d: %r is not a valid IMAP keyword" % (n, w))
                if w not in kws.setdefault(rel, []):
                    kws[rel].append(w)
    return kws


def imap_name(folder):
    if folder == "INBOX":
        return "INBOX"
    parts = folder.split("/")
    for p in parts:
        if "." in p:
            die("folder %r contains Cyrus's hierarchy separator '.'" % folder)
    return "INBOX." + ".".join(mutf7(p) for p in parts)


def uid_set(s):
    out = []
    for part in s.split(","):
        a, _, b = part.partition(":")
        out.extend(range(int(a), int(b or a) + 1))
    return out


def flags_of(line):
    m = re.search(rb"FLAGS \(([^)]*)\)", line)
    fl = m.group(1).decode().split() if m else []
    return " ".join(sorted(f for f in fl if f != "\\Recent"))


def main():
    port, user, pw, tree, report = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
    munge8bit = sys.argv[6] == "1"
    t0 = time.time()
    folders = scan_tree(tree)
    keywords = read_keywords(tree)
    known = {m[0] for msgs in folders.values() for m in msgs}
    for rel in keywords:
        if rel not in known:
            die("keywords.tsv names %r, which is not a message file in the tree" % rel)
    folders.setdefault("INBOX", [])
    names = {f: imap_name(f) for f in folders}

    def login():
        c = Conn(port)
        c.ok(b"LOGIN " + quote(user).encode() + b" " + quote(pw).encode())
        return c
    c = login()
    _, lines = c.ok(b'LIST "" "*"')
    existing = set()
    for l in lines:
        m = re.match(rb'\* LIST \([^)]*\) (?:"[^"]*"|NIL) (.*)$', l)
        if m:
            n = m.group(1).decode()
            existing.add(n[1:-1].replace('\\"', '"').replace("\\\\", "\\") if n.startswith('"') else n)
    for f in sorted(folders, key=lambda f: f.split("/")):
        n = names[f]
        if n in existing:
            continue
        use = SPECIAL_USE.get(f)
        c.ok(b"CREATE " + quote(n).encode() + ((" (USE (%s))" % use).encode() if use else b""))
        existing.add(n)

    rows = []        # (relfile, status, note) for DIR/seed-USER.tsv
    refused = 0
    munged = 0
    appended = 0
    total_bytes = 0
    problems = []
    for f in sorted(folders):
        n = names[f]
        qn = quote(n).encode()
        before = int(re.search(r"MESSAGES (\d+)", c.ok(b"STATUS " + qn + b" (MESSAGES)")[1][0].decode()).group(1))
        uids, expected = [], []
        batch, batch_bytes = [], 0

        def flags_for(rel, letters):
            return [FLAG_LETTERS[x] for x in letters] + keywords.get(rel, [])

        def append_one(rel, data, fl, date):
            """Single APPEND with a synchronizing literal; returns the UID or None (refused)."""
            nonlocal refused
            st, text, _ = c.cmd(b"APPEND " + qn + b" (" + " ".join(fl).encode() + b") " + date.encode(), data)
            if st == "OK":
                m = re.search(r"APPENDUID \d+ (\d+)", text)
                return int(m.group(1)) if m else 0
            refused += 1
            rows.append((rel, "refused", "%s %s" % (st, text)))
            print("%s: %s: refused %s: %s %s" % (PROG, user, rel, st, text))
            return None

        def multiappend(items):
            """APPEND items in one command; on NO (all or nothing) split in halves to find the refused."""
            nonlocal refused
            parts = [b"APPEND " + qn]
            for rel, data, fl, date in items:
                parts.append(b" (" + " ".join(fl).encode() + b") " + date.encode() + b" {%d+}\r\n" % len(data) + data)
            st, text, _ = c.cmd(b"".join(parts))
            if st == "OK":
                m = re.search(r"APPENDUID \d+ ([0-9:,]+)", text)
                got = uid_set(m.group(1)) if m else []
                if len(got) != len(items):
                    die("%s: APPENDUID %r for %d messages" % (n, text, len(items)))
                uids.extend(got)
                expected.extend(" ".join(sorted(fl)) for _, _, fl, _ in items)
            elif st == "NO" and len(items) > 1:
                # Cyrus reads every literal of a refused MULTIAPPEND and stays in step.
                half = len(items) // 2
                multiappend(items[:half])
                multiappend(items[half:])
            elif st == "NO":
                refused += 1
                rows.append((items[0][0], "refused", "%s %s" % (st, text)))
                print("%s: %s: refused %s: %s %s" % (PROG, user, items[0][0], st, text))
            else:
                die("%s: APPEND answered %s %s" % (n, st, text))

        def flush():
            nonlocal batch, batch_bytes
            if batch:
                multiappend(batch)
            batch, batch_bytes = [], 0

        for rel, path, letters in folders[f]:
            with open(path, "rb") as fh:
                data = fh.read()
            st = os.stat(path)
            fl = flags_for(rel, letters)
            date = imap_date(st.st_mtime)
            total_bytes += len(data)
            head = data.split(b"\r\n\r\n", 1)[0]
            if b"\0" in data or BARE_LF.search(data):
                # Cyrus refuses these; a synchronizing literal keeps the stream in step.
                flush()
                u = append_one(rel, data, fl, date)
                if u is not None:
                    uids.append(u)
                    expected.append(" ".join(sorted(fl)))
                continue
            if munge8bit and any(b >= 0x80 for b in head):
                munged += 1
                rows.append((rel, "munged", "stored with 8-bit header bytes replaced by 'X' (munge8bit)"))
            if batch and (len(batch) >= BATCH_MSGS or batch_bytes + len(data) > BATCH_BYTES):
                flush()
            batch.append((rel, data, fl, date))
            batch_bytes += len(data)
        flush()
        appended += len(uids)

        # Read back: count, and the flags of what was appended.
        after = int(re.search(r"MESSAGES (\d+)", c.ok(b"STATUS " + qn + b" (MESSAGES)")[1][0].decode()).group(1))
        if after != before + len(uids):
            problems.append("%s holds %d messages, expected %d (%d before + %d appended)" % (n, after, before + len(uids), before, len(uids)))
            continue
        if uids:
            c.ok(b"EXAMINE " + qn)
            got = []
            for i in range(0, len(uids), 500):
                _, lines = c.ok(b"UID FETCH " + ",".join(map(str, uids[i:i + 500])).encode() + b" (FLAGS)")
                got += [flags_of(l) for l in lines if b" FETCH " in l]
            c.ok(b"UNSELECT")
            if sorted(got) != sorted(expected):
                c1, c2 = collections.Counter(got), collections.Counter(expected)
                problems.append("%s: flags differ from the tree: server extra %r, missing %r" % (n, dict(c1 - c2), dict(c2 - c1)))
    c.close()
    gone = {r[0] for r in rows if r[1] == "refused"}
    rows = [r for r in rows if r[1] == "refused" or r[0] not in gone]
    munged = sum(1 for r in rows if r[1] == "munged")
    with open(report + ".tmp", "w", encoding="utf-8") as out:
        for r in rows:
            out.write("\t".join(r) + "\n")
    os.replace(report + ".tmp", report)
    if problems:
        die("; ".join(problems))
    total = sum(len(m) for m in folders.values())
    print("%s: %s: appended %d of %d messages (%d bytes read) into %d folders, %d refused, %d with 8-bit headers munged, in %.1fs (details: %s)"
          % (PROG, user, appended, total, total_bytes, len(folders), refused, munged, time.time() - t0, report))


main()
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
*) usage ;;
esac
