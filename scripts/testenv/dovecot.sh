#!/usr/bin/env bash
# Test Dovecot for catchall's acceptance tests and benchmarks.
#
#   dovecot.sh start DIR               generate config/certs/users under DIR and start (idempotent)
#   dovecot.sh stop  DIR               stop the instance (no-op when not running)
#   dovecot.sh env   DIR               print `export ...` lines for the tests
#   dovecot.sh seed  DIR USER TREE     import a Maildir tree into USER's account
#   dovecot.sh status DIR              exit 0 when running
#
# Everything listens on 127.0.0.1 only. Users (password "secret" for all):
#   alice, alice2, alice3, pyemail, dest   namespace prefix "" separator "/", maildir:~/Maildir:LAYOUT=fs
#   courier, courier2, courier3, destcourier   namespace prefix "INBOX." separator ".", Maildir++ (maildir:~/Maildir)
#   destsmall                as alice, with a 1 MB maximum message size (quota plugin)
# The per-user differences are userdb extra fields in DIR/users (namespace/inbox/prefix,
# namespace/inbox/separator, mail).
#
# Ports: DOVECOT_IMAP_PORT (default 14143, plaintext LOGIN allowed + STARTTLS) and
# DOVECOT_IMAPS_PORT (default 14993, implicit TLS). When a default port is taken by
# something else a free port is chosen instead; the ports are remembered in DIR/ports
# and `env` prints them.
set -euo pipefail

PROG=dovecot.sh
# shellcheck source=scripts/testenv/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
TEST_USER=catchalltest
DEFAULT_IMAP_PORT=14143
DEFAULT_IMAPS_PORT=14993
START_TIMEOUT=20
STOP_TIMEOUT=20
LOCK_TIMEOUT=600
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)


usage() {
	cat >&2 <<EOF
usage: $PROG start DIR | stop DIR | status DIR | env DIR | seed DIR USER MAILDIR_TREE
EOF
	exit 2
}



ensure_packages() {
	local pkgs=()
	if ! command -v dovecot >/dev/null 2>&1 || ! command -v doveadm >/dev/null 2>&1; then
		pkgs+=(dovecot-core)
	fi
	if [ ! -x /usr/lib/dovecot/imap ] || [ ! -x /usr/lib/dovecot/imap-login ]; then
		pkgs+=(dovecot-imapd)
	fi
	command -v openssl >/dev/null 2>&1 || pkgs+=(openssl)
	# The real tools the forwarding configs are checked with: Postfix's postmap
	# and Pigeonhole's sievec/sieve-test (no daemon is started for them).
	command -v postmap >/dev/null 2>&1 || pkgs+=(postfix)
	command -v sievec >/dev/null 2>&1 || pkgs+=(dovecot-sieve)
	# The relay's acceptance tests: Postfix's PCRE maps, smtp-sink/smtp-source (in postfix),
	# swaks as the client, and postsrsd as the reference SRS implementation.
	[ -e /usr/lib/postfix/postfix-pcre.so ] || pkgs+=(postfix-pcre)
	command -v swaks >/dev/null 2>&1 || pkgs+=(swaks)
	command -v postsrsd >/dev/null 2>&1 || [ -x /usr/sbin/postsrsd ] || pkgs+=(postsrsd)
	# dkimpy, the independent verifier of the relay's DKIM signatures (Debian's python3).
	/usr/bin/python3 -c 'import dkim, nacl' >/dev/null 2>&1 || pkgs+=(python3-dkim python3-nacl)
	# The report's browser test (headless, no network).
	command -v chromium >/dev/null 2>&1 || pkgs+=(chromium)
	command -v python3 >/dev/null 2>&1 || pkgs+=(python3)
	if [ ${#pkgs[@]} -gt 0 ]; then
		apt_install "${pkgs[@]}"
	fi
	# The packaged service (if the package just started one) is not ours; leave it alone.
	getent passwd dovecot >/dev/null || die "system user 'dovecot' missing (dovecot-core install broken?)"
	getent passwd dovenull >/dev/null || die "system user 'dovenull' missing (dovecot-core install broken?)"
}

ensure_test_user() {
	if ! getent passwd "$TEST_USER" >/dev/null; then
		[ "$(id -u)" -eq 0 ] || die "need root to create system user $TEST_USER"
		useradd --system --user-group --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin --comment "catchall test mail owner" "$TEST_USER" ||
			die "useradd $TEST_USER failed"
	fi
	TEST_UID=$(id -u "$TEST_USER")
	TEST_GID=$(id -g "$TEST_USER")
}

# load_ports DIR: sets IMAP_PORT/IMAPS_PORT from DIR/ports.
load_ports() {
	[ -f "$1/ports" ] || die "$1/ports missing: run '$PROG start $1' first"
	IMAP_PORT=$(sed -n 's/^IMAP_PORT=\([0-9]*\)$/\1/p' "$1/ports")
	IMAPS_PORT=$(sed -n 's/^IMAPS_PORT=\([0-9]*\)$/\1/p' "$1/ports")
	if [ -z "$IMAP_PORT" ] || [ -z "$IMAPS_PORT" ]; then
		die "$1/ports is malformed"
	fi
}

choose_ports() {
	local dir=$1 p
	if [ -f "$dir/ports" ]; then
		load_ports "$dir"
		# Honour an explicit request that differs from the remembered ports.
		IMAP_PORT=${DOVECOT_IMAP_PORT:-$IMAP_PORT}
		IMAPS_PORT=${DOVECOT_IMAPS_PORT:-$IMAPS_PORT}
	else
		IMAP_PORT=${DOVECOT_IMAP_PORT:-$DEFAULT_IMAP_PORT}
		IMAPS_PORT=${DOVECOT_IMAPS_PORT:-$DEFAULT_IMAPS_PORT}
	fi
	if port_busy "$IMAP_PORT"; then
		[ -z "${DOVECOT_IMAP_PORT:-}" ] || die "port 127.0.0.1:$IMAP_PORT (DOVECOT_IMAP_PORT) is in use"
		p=$(free_port) || die "cannot find a free port"
		IMAP_PORT=$p
	fi
	if port_busy "$IMAPS_PORT"; then
		[ -z "${DOVECOT_IMAPS_PORT:-}" ] || die "port 127.0.0.1:$IMAPS_PORT (DOVECOT_IMAPS_PORT) is in use"
		p=$(free_port) || die "cannot find a free port"
		while [ "$p" = "$IMAP_PORT" ]; do p=$(free_port); done
		IMAPS_PORT=$p
	fi
	printf 'IMAP_PORT=%s\nIMAPS_PORT=%s\n' "$IMAP_PORT" "$IMAPS_PORT" >"$dir/ports"
}

# master_pid DIR: prints the pid of a live dovecot master for DIR, or fails.
master_pid() {
	local pidfile=$1/run/master.pid pid comm
	[ -f "$pidfile" ] || return 1
	pid=$(cat "$pidfile" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	[ -r "/proc/$pid/comm" ] || return 1
	comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
	[ "$comm" = dovecot ] || return 1
	printf '%s\n' "$pid"
}

gen_certs() {
	local dir=$1
	if [ -s "$dir/ca.pem" ] && [ -s "$dir/ca.key" ] && [ -s "$dir/server.pem" ] && [ -s "$dir/server.key" ]; then
		return 0
	fi
	local log=$dir/openssl.log
	: >"$log"
	openssl req -x509 -new -newkey rsa:2048 -nodes -sha256 -days 3650 \
		-subj "/CN=catchall test CA" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-keyout "$dir/ca.key" -out "$dir/ca.pem" >>"$log" 2>&1 || die "CA generation failed (see $log)"
	openssl req -new -newkey rsa:2048 -nodes -sha256 -subj "/CN=localhost" \
		-keyout "$dir/server.key" -out "$dir/server.csr" >>"$log" 2>&1 || die "server CSR failed (see $log)"
	cat >"$dir/server.ext" <<'EOF'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
EOF
	openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
		-CAcreateserial -days 3650 -sha256 -extfile "$dir/server.ext" \
		-out "$dir/server.pem" >>"$log" 2>&1 || die "server certificate signing failed (see $log)"
	chmod 0600 "$dir/ca.key" "$dir/server.key"
	chmod 0644 "$dir/ca.pem" "$dir/server.pem"
	rm -f "$dir/server.csr"
}

write_users() {
	local dir=$1 u
	local fs_extra="userdb_mail=maildir:~/Maildir:LAYOUT=fs"
	local courier_extra="userdb_mail=maildir:~/Maildir userdb_namespace/inbox/prefix=INBOX. userdb_namespace/inbox/separator=."
	local small_extra="$fs_extra userdb_mail_plugins=quota userdb_quota=count:small userdb_quota_vsizes=yes userdb_quota_max_mail_size=1M"
	{
		for u in alice alice2 alice3 pyemail dest; do
			printf '%s:{PLAIN}secret:%s:%s::%s::%s\n' "$u" "$TEST_UID" "$TEST_GID" "$dir/mail/$u" "$fs_extra"
		done
		for u in courier courier2 courier3 destcourier; do
			printf '%s:{PLAIN}secret:%s:%s::%s::%s\n' "$u" "$TEST_UID" "$TEST_GID" "$dir/mail/$u" "$courier_extra"
		done
		# A destination that refuses messages over 1 MB (push's size-limit test).
		printf '%s:{PLAIN}secret:%s:%s::%s::%s\n' destsmall "$TEST_UID" "$TEST_GID" "$dir/mail/destsmall" "$small_extra"
	} >"$dir/users.tmp"
	# The auth process runs as the unprivileged "dovecot" user and must read it.
	chmod 0644 "$dir/users.tmp"
	mv -f "$dir/users.tmp" "$dir/users"
	mkdir -p "$dir/mail"
	chmod 0755 "$dir/mail"
	for u in alice alice2 alice3 pyemail dest courier courier2 courier3 destcourier destsmall; do
		if [ ! -d "$dir/mail/$u" ]; then
			mkdir -p "$dir/mail/$u"
			chown "$TEST_UID:$TEST_GID" "$dir/mail/$u"
			chmod 0700 "$dir/mail/$u"
		elif [ "$(stat -c %u:%g "$dir/mail/$u")" != "$TEST_UID:$TEST_GID" ]; then
			# DIR survived from a machine where $TEST_USER had other ids.
			chown -R "$TEST_UID:$TEST_GID" "$dir/mail/$u"
		fi
	done
}

write_config() {
	local dir=$1 dh=""
	# Without ssl_dh Dovecot 2.3 still does ECDHE; use Debian's params when present.
	[ -r /usr/share/dovecot/dh.pem ] && dh="ssl_dh = </usr/share/dovecot/dh.pem"
	cat >"$dir/dovecot.conf.tmp" <<EOF
# Generated by scripts/testenv/dovecot.sh — standalone test instance, do not edit.
instance_name = catchall-test
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/dovecot.log
info_log_path = $dir/dovecot.log
debug_log_path = $dir/dovecot.log

protocols = imap
listen = 127.0.0.1

ssl = yes
ssl_cert = <$dir/server.pem
ssl_key = <$dir/server.key
ssl_min_protocol = TLSv1.2
$dh
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
auth_cache_size = 0

default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = $TEST_UID
last_valid_uid = $TEST_UID
first_valid_gid = $TEST_GID
last_valid_gid = $TEST_GID

# alice/dest style; courier/destcourier override mail and namespace/inbox/* in userdb.
mail_location = maildir:~/Maildir:LAYOUT=fs
mail_fsync = never
namespace inbox {
  inbox = yes
  prefix =
  separator = /
  # RFC 6154 SPECIAL-USE, as Debian's 15-mailboxes.conf has it: fetch records
  # the roles and classify uses them before any folder name.
  mailbox Sent {
    special_use = \\Sent
  }
  mailbox Drafts {
    special_use = \\Drafts
  }
  mailbox Junk {
    special_use = \\Junk
  }
  mailbox Trash {
    special_use = \\Trash
  }
}

passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%n $dir/users
}
userdb {
  driver = passwd-file
  args = username_format=%n $dir/users
}

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $IMAPS_PORT
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    port = 0
  }
  inet_listener pop3s {
    port = 0
  }
}
# No growing auth-failure penalty (up to 15 s per login) for the wrong-password tests.
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
protocol imap {
  mail_max_userip_connections = 200
}
EOF
	mv -f "$dir/dovecot.conf.tmp" "$dir/dovecot.conf"
}

# check_capabilities DIR: log in as alice and courier, check CAPABILITY and namespaces.
check_login() {
	local dir=$1
	python3 - "$IMAP_PORT" <<'EOF' || die "post-start check failed (see $dir/dovecot.log)"
import imaplib, sys
port = int(sys.argv[1])
want = ["CONDSTORE", "QRESYNC", "UIDPLUS", "LIST-STATUS", "NAMESPACE", "MOVE", "STARTTLS"]
for user, ns in (("alice", '(("" "/"))'), ("courier", '(("INBOX." "."))')):
    c = imaplib.IMAP4("127.0.0.1", port, timeout=15)
    pre = set(c.capabilities)
    c.login(user, "secret")
    typ, data = c.capability()
    caps = set(data[0].decode().upper().split()) | pre
    missing = [w for w in want if w not in caps]
    if missing:
        sys.exit("dovecot.sh: error: %s: CAPABILITY lacks %s" % (user, " ".join(missing)))
    typ, data = c.namespace()
    got = data[0].decode()
    if not got.startswith(ns):
        sys.exit("dovecot.sh: error: %s: NAMESPACE is %s, want personal %s" % (user, got, ns))
    c.logout()
EOF
}

# lock DIR: serialise start/stop/seed on one DIR (tests may call us concurrently).
lock() {
	[ -n "${DOVECOT_SH_LOCKED:-}" ] && return 0
	mkdir -p "$1"
	exec 9>"$1/.lock"
	flock -w "$LOCK_TIMEOUT" 9 || die "could not lock $1/.lock within ${LOCK_TIMEOUT}s"
	DOVECOT_SH_LOCKED=1
}

cmd_start() {
	local dir pid
	dir=$(abs "$1")
	case $dir in *[[:space:]]*) die "DIR must not contain whitespace: $dir" ;; esac
	[ "$(id -u)" -eq 0 ] || die "start must run as root (dovecot master needs it)"
	ensure_packages
	ensure_test_user
	lock "$dir"
	if pid=$(master_pid "$dir"); then
		load_ports "$dir"
		wait_banner "$IMAP_PORT" "$START_TIMEOUT" "* OK" || die "dovecot (pid $pid) runs but 127.0.0.1:$IMAP_PORT does not answer '* OK'"
		return 0
	fi
	# Mail processes run as $TEST_USER and auth as "dovecot": DIR and its parents must be traversable.
	chmod 0755 "$dir"
	local d=$dir
	while [ "$d" != / ]; do
		d=$(dirname "$d")
		if ! runuser -u dovecot -- test -x "$d" 2>/dev/null; then
			die "$d is not traversable by unprivileged users; put DIR elsewhere (e.g. under /tmp)"
		fi
	done
	mkdir -p "$dir/run" "$dir/state"
	rm -f "$dir/run/master.pid"
	gen_certs "$dir"
	choose_ports "$dir"
	write_users "$dir"
	write_config "$dir"
	doveconf -c "$dir/dovecot.conf" -n >/dev/null 2>"$dir/doveconf.err" ||
		die "dovecot config invalid: $(head -c 500 "$dir/doveconf.err")"
	# 9>&-: the daemon must not inherit (and so hold) our lock.
	dovecot -c "$dir/dovecot.conf" 2>>"$dir/dovecot.log" 9>&- ||
		die "dovecot failed to start: $(tail -n 5 "$dir/dovecot.log" | tr '\n' ' ')"
	if ! wait_banner "$IMAP_PORT" "$START_TIMEOUT" "* OK"; then
		die "dovecot did not greet on 127.0.0.1:$IMAP_PORT within ${START_TIMEOUT}s: $(tail -n 5 "$dir/dovecot.log" | tr '\n' ' ')"
	fi
	wait_banner_tls "$dir" || die "implicit TLS on 127.0.0.1:$IMAPS_PORT does not answer '* OK' with a certificate from $dir/ca.pem"
	check_login "$dir"
}

wait_banner_tls() {
	local dir=$1
	python3 - "$IMAPS_PORT" "$dir/ca.pem" <<'EOF'
import socket, ssl, sys, time
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
deadline = time.time() + 20
while True:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                if s.recv(100).startswith(b"* OK"):
                    sys.exit(0)
    except OSError:
        pass
    if time.time() > deadline:
        sys.exit(1)
    time.sleep(0.2)
EOF
}

cmd_stop() {
	local dir pid deadline
	dir=$(abs "$1")
	[ -d "$dir" ] || return 0
	lock "$dir"
	pid=$(master_pid "$dir") || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	deadline=$((SECONDS + STOP_TIMEOUT))
	while kill -0 "$pid" 2>/dev/null; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "$PROG: warning: dovecot pid $pid did not exit within ${STOP_TIMEOUT}s; sending KILL" >&2
			kill -KILL "$pid" 2>/dev/null || true
			sleep 0.5
			break
		fi
		sleep 0.1
	done
	# Children (login/imap processes) exit when the master goes; wait for the listener to vanish.
	if [ -f "$dir/ports" ]; then
		load_ports "$dir"
		deadline=$((SECONDS + STOP_TIMEOUT))
		while port_busy "$IMAP_PORT"; do
			[ "$SECONDS" -lt "$deadline" ] || die "127.0.0.1:$IMAP_PORT still listening ${STOP_TIMEOUT}s after stop"
			sleep 0.1
		done
	fi
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
	load_ports "$dir"
	printf 'export CATCHALL_TEST_DOVECOT=1\n'
	printf 'export CATCHALL_TEST_IMAP_ADDR=%q\n' "127.0.0.1:$IMAP_PORT"
	printf 'export CATCHALL_TEST_IMAPS_ADDR=%q\n' "127.0.0.1:$IMAPS_PORT"
	printf 'export CATCHALL_TEST_CA=%q\n' "$dir/ca.pem"
	printf 'export CATCHALL_TEST_DOVECOT_DIR=%q\n' "$dir"
	printf 'export CATCHALL_TEST_DOVECOT_CONF=%q\n' "$dir/dovecot.conf"
	printf 'export CATCHALL_TEST_DEST_LIMIT_USER=destsmall\n'
}

cmd_seed() {
	local dir user tree
	dir=$(abs "$1")
	user=$2
	tree=$(abs "$3")
	[ -d "$tree" ] || die "seed: $tree is not a directory"
	cmd_start "$dir" # takes the lock and keeps it while seeding
	python3 "$SCRIPT_DIR/seed_maildir.py" --conf "$dir/dovecot.conf" --user "$user" \
		--owner "$TEST_UID:$TEST_GID" --tree "$tree" || die "seed of $user from $tree failed"
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
