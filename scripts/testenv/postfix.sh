#!/usr/bin/env bash
# Private Postfix instance for the relay benchmark (and tests): a virtual-alias forwarder for
# one domain that relays everything to a smarthost on 127.0.0.1, with its own configuration,
# queue and log under DIR. It never reads or changes the system instance's state (only
# /etc/postfix's postfix-files and dynamicmaps.cf are read, as meta_directory) and works
# whether the system Postfix runs or not.
#
#   postfix.sh start  DIR   write DIR/etc, build the alias map, start (idempotent)
#   postfix.sh stop   DIR   postfix stop, wait until master and its children are gone
#   postfix.sh env    DIR   print `export ...` lines (CATCHALL_TEST_POSTFIX_ADDR=127.0.0.1:PORT, ...)
#   postfix.sh status DIR   exit 0 when running; prints "pid=N addr=127.0.0.1:PORT queued=M"
#
# Knobs (environment, read by start):
#   POSTFIX_SMTP_PORT   smtpd port on 127.0.0.1 (default 12525; when that is taken by something
#                       else a free port is chosen; remembered in DIR/ports)
#   POSTFIX_RELAY_PORT  port of the smarthost on 127.0.0.1, relayhost = [127.0.0.1]:PORT
#                       (default 12526, or the remembered one)
#   POSTFIX_VIRTUAL     virtual alias file ("alias@domain  target@domain" lines) copied to
#                       DIR/etc/virtual and built with postmap (default: keep DIR/etc/virtual,
#                       or an empty map on first start)
#   POSTFIX_DOMAIN      virtual_alias_domains (default bench.test; several separated by spaces)
#   POSTFIX_ACCESS      a recipient access map (catchall forwards --format postfix writes one)
#                       copied to DIR/etc/access, built with postmap and checked first at RCPT
#   POSTFIX_SUBMISSION_PORT  also a submission smtpd on 127.0.0.1:PORT (as Debian's master.cf
#                       "submission" entry: only SASL-authenticated clients, who may relay
#                       anywhere; AUTH offered without TLS, the benchmark is on loopback)
#   POSTFIX_SASL_PATH   with it: smtpd_sasl_type = dovecot, smtpd_sasl_path = this socket
#   POSTFIX_MILTER      with it: smtpd_milters for the submission port (e.g. inet:127.0.0.1:PORT,
#                       an OpenDKIM signing milter); milter_default_action = tempfail
#   POSTFIX_OUTGOING=1  act as a user's own mail host: clients on 127.0.0.1 (mynetworks) may
#                       send to any domain, which goes to the relayhost (the reply tests)
#
# Layout: DIR/etc (main.cf, master.cf, virtual{,.db}), DIR/queue (queue_directory),
# DIR/data (data_directory), DIR/maillog (maillog_file; nothing goes to syslog).
#
# Durability: Postfix's cleanup fsyncs every queue file before smtpd answers 250 to the final
# dot; there is no setting to turn that off, so the queue is durable as configured here.
set -euo pipefail

PROG=postfix.sh
# shellcheck source=scripts/testenv/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
DEFAULT_SMTP_PORT=12525
DEFAULT_RELAY_PORT=12526
START_TIMEOUT=30
STOP_TIMEOUT=30
LOCK_TIMEOUT=600


usage() {
	cat >&2 <<EOF
usage: $PROG start DIR | stop DIR | env DIR | status DIR
EOF
	exit 2
}



ensure_packages() {
	if ! command -v postfix >/dev/null 2>&1 || ! command -v postmap >/dev/null 2>&1; then
		# "No configuration": the package asks nothing and sets up no mail system of its own.
		apt_install postfix
	fi
	command -v python3 >/dev/null 2>&1 || apt_install python3
	getent passwd postfix >/dev/null || die "system user 'postfix' missing (postfix install broken?)"
	getent group postdrop >/dev/null || die "system group 'postdrop' missing (postfix install broken?)"
	DAEMON_DIR=$(postconf -dh daemon_directory)
	[ -x "$DAEMON_DIR/master" ] || die "$DAEMON_DIR/master missing (postfix install broken?)"
}

# load_ports DIR: sets SMTP_PORT/RELAY_PORT from DIR/ports.
load_ports() {
	[ -f "$1/ports" ] || die "$1/ports missing: run '$PROG start $1' first"
	SMTP_PORT=$(sed -n 's/^SMTP_PORT=\([0-9]*\)$/\1/p' "$1/ports")
	RELAY_PORT=$(sed -n 's/^RELAY_PORT=\([0-9]*\)$/\1/p' "$1/ports")
	if [ -z "$SMTP_PORT" ] || [ -z "$RELAY_PORT" ]; then
		die "$1/ports is malformed"
	fi
}

# choose_ports DIR RUNNING: sets SMTP_PORT/RELAY_PORT and writes DIR/ports. A running instance
# keeps its smtpd port (it is ours, not busy).
choose_ports() {
	local dir=$1 running=$2
	if [ -f "$dir/ports" ]; then
		load_ports "$dir"
		SMTP_PORT=${POSTFIX_SMTP_PORT:-$SMTP_PORT}
		RELAY_PORT=${POSTFIX_RELAY_PORT:-$RELAY_PORT}
	else
		SMTP_PORT=${POSTFIX_SMTP_PORT:-$DEFAULT_SMTP_PORT}
		RELAY_PORT=${POSTFIX_RELAY_PORT:-$DEFAULT_RELAY_PORT}
	fi
	[[ $SMTP_PORT =~ ^[0-9]+$ ]] || die "POSTFIX_SMTP_PORT must be a number, got '$SMTP_PORT'"
	[[ $RELAY_PORT =~ ^[0-9]+$ ]] || die "POSTFIX_RELAY_PORT must be a number, got '$RELAY_PORT'"
	if [ "$running" = 0 ] && port_busy "$SMTP_PORT"; then
		[ -z "${POSTFIX_SMTP_PORT:-}" ] || die "port 127.0.0.1:$SMTP_PORT (POSTFIX_SMTP_PORT) is in use"
		SMTP_PORT=$(free_port) || die "cannot find a free port"
		while [ "$SMTP_PORT" = "$RELAY_PORT" ]; do SMTP_PORT=$(free_port); done
	fi
	[ "$SMTP_PORT" != "$RELAY_PORT" ] || die "smtpd port and relay port are both $SMTP_PORT"
	printf 'SMTP_PORT=%s\nRELAY_PORT=%s\n' "$SMTP_PORT" "$RELAY_PORT" >"$dir/ports.tmp"
	mv -f "$dir/ports.tmp" "$dir/ports"
}

# master_pid DIR: prints the pid of a live Postfix master for DIR, or fails.
master_pid() {
	local pidfile=$1/queue/pid/master.pid pid comm
	[ -f "$pidfile" ] || return 1
	pid=$(tr -d ' \n' <"$pidfile" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
	[ "$comm" = master ] || return 1
	# A pid file survives a crash; make sure that master is ours.
	{ tr '\0' '\n' <"/proc/$pid/environ"; } 2>/dev/null | grep -qxF "MAIL_CONFIG=$1/etc" || return 1
	printf '%s\n' "$pid"
}

# write_config DIR: writes DIR/etc/main.cf and master.cf; prints "changed" when either differs
# from what was there.
write_config() {
	local dir=$1 etc=$1/etc bare="" access="" mynet=""
	[ "${POSTFIX_OUTGOING:-}" != 1 ] || mynet="permit_mynetworks,"
	[ -z "${POSTFIX_ACCESS:-}" ] || access="check_recipient_access hash:$etc/access,"
	# smtpd_forbid_bare_newline exists from 3.9, 3.8.4, 3.7.9, 3.6.13, 3.5.23. Its default
	# exclusions are $mynetworks, i.e. all our clients; so clear them.
	if postconf -d 2>/dev/null | grep -q '^smtpd_forbid_bare_newline = '; then
		bare="smtpd_forbid_bare_newline = yes
smtpd_forbid_bare_newline_exclusions ="
	fi
	local submission=""
	if [ -n "${POSTFIX_SUBMISSION_PORT:-}" ]; then
		[[ $POSTFIX_SUBMISSION_PORT =~ ^[0-9]+$ ]] || die "POSTFIX_SUBMISSION_PORT must be a number"
		[ -n "${POSTFIX_SASL_PATH:-}" ] || die "POSTFIX_SUBMISSION_PORT needs POSTFIX_SASL_PATH (a Dovecot auth socket)"
		submission="127.0.0.1:$POSTFIX_SUBMISSION_PORT inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_sasl_type=dovecot
  -o smtpd_sasl_path=$POSTFIX_SASL_PATH
  -o smtpd_tls_auth_only=no
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject
  -o milter_macro_daemon_name=ORIGINATING"
		[ -z "${POSTFIX_MILTER:-}" ] || submission="$submission
  -o smtpd_milters=$POSTFIX_MILTER
  -o milter_default_action=tempfail"
	fi
	cat >"$etc/main.cf.tmp" <<EOF
# Generated by scripts/testenv/postfix.sh — private benchmark instance, do not edit.
compatibility_level = 3.6
queue_directory = $dir/queue
data_directory = $dir/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = $dir/maillog
maillog_file_prefixes = $dir

myhostname = postfix-bench.localdomain
mydomain = localdomain
myorigin = \$myhostname
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8

# No local delivery: nothing is local, the local transport only rejects.
mydestination =
relay_domains =
local_recipient_maps =
local_transport = error:5.1.1 local delivery is disabled
alias_maps =
alias_database =
biff = no
append_dot_mydomain = no
readme_directory = no

# The forwarding: $POSTFIX_DOMAIN aliases are rewritten by the map (unknown ones are rejected
# at RCPT), everything else is refused, and all mail goes to the smarthost.
virtual_alias_domains = $POSTFIX_DOMAIN
virtual_alias_maps = hash:$etc/virtual
smtpd_relay_restrictions = $mynet reject_unauth_destination
smtpd_recipient_restrictions = $access $mynet reject_unauth_destination
relayhost = [127.0.0.1]:$RELAY_PORT
smtpd_tls_security_level = none
smtp_tls_security_level = none
$bare

# 20 benchmark sessions need 20 smtpd processes; the default of 100 leaves room for the
# smtp clients (default_destination_concurrency_limit = 20) and the other daemons.
default_process_limit = 100
EOF
	# Only the services this forwarder uses; chroot off (nothing to copy into the queue dir).
	# service  type   private unpriv chroot wakeup maxproc command
	cat >"$etc/master.cf.tmp" <<EOF
# Generated by scripts/testenv/postfix.sh — private benchmark instance, do not edit.
127.0.0.1:$SMTP_PORT inet n - n - - smtpd
$submission
cleanup   unix  n - n -     0 cleanup
qmgr      unix  n - n 300   1 qmgr
rewrite   unix  - - n -     - trivial-rewrite
bounce    unix  - - n -     0 bounce
defer     unix  - - n -     0 bounce
trace     unix  - - n -     0 bounce
flush     unix  n - n 1000? 0 flush
smtp      unix  - - n -     - smtp
showq     unix  n - n -     - showq
error     unix  - - n -     - error
retry     unix  - - n -     - error
anvil     unix  - - n -     1 anvil
scache    unix  - - n -     1 scache
postlog   unix-dgram n - n - 1 postlogd
EOF
	local f changed=0
	for f in main.cf master.cf; do
		if ! cmp -s "$etc/$f.tmp" "$etc/$f"; then
			changed=1
			mv -f "$etc/$f.tmp" "$etc/$f"
		else
			rm -f "$etc/$f.tmp"
		fi
	done
	chmod 0644 "$etc/main.cf" "$etc/master.cf"
	[ "$changed" = 0 ] || echo changed
}

# build_access DIR: installs POSTFIX_ACCESS as DIR/etc/access and runs postmap.
build_access() {
	local etc=$1/etc
	[ -n "${POSTFIX_ACCESS:-}" ] || return 0
	[ -f "$POSTFIX_ACCESS" ] || die "POSTFIX_ACCESS=$POSTFIX_ACCESS is not a file"
	cp -f "$POSTFIX_ACCESS" "$etc/access"
	chmod 0644 "$etc/access"
	postmap -c "$etc" "hash:$etc/access" 2>"$1/postmap.err" ||
		die "postmap $etc/access failed: $(head -c 500 "$1/postmap.err")"
}

# build_map DIR: installs POSTFIX_VIRTUAL (or an empty map) as DIR/etc/virtual and runs postmap.
build_map() {
	local etc=$1/etc
	if [ -n "${POSTFIX_VIRTUAL:-}" ]; then
		[ -f "$POSTFIX_VIRTUAL" ] || die "POSTFIX_VIRTUAL=$POSTFIX_VIRTUAL is not a file"
		cp -f "$POSTFIX_VIRTUAL" "$etc/virtual.tmp"
		mv -f "$etc/virtual.tmp" "$etc/virtual"
	elif [ ! -f "$etc/virtual" ]; then
		: >"$etc/virtual"
	fi
	chmod 0644 "$etc/virtual"
	if [ ! -f "$etc/virtual.db" ] || [ "$etc/virtual" -nt "$etc/virtual.db" ] || [ -n "${POSTFIX_VIRTUAL:-}" ]; then
		postmap -c "$etc" "hash:$etc/virtual" 2>"$1/postmap.err" ||
			die "postmap $etc/virtual failed: $(head -c 500 "$1/postmap.err")"
	fi
}

# lock DIR: serialise start/stop on one DIR.
lock() {
	[ -n "${POSTFIX_SH_LOCKED:-}" ] && return 0
	mkdir -p "$1"
	exec 9>"$1/.lock"
	flock -w "$LOCK_TIMEOUT" 9 || die "could not lock $1/.lock within ${LOCK_TIMEOUT}s"
	POSTFIX_SH_LOCKED=1
}

cmd_start() {
	local dir pid d changed running=0
	dir=$(abs "$1")
	case $dir in *[[:space:],=\$]*) die "DIR must not contain white space, ',', '=' or '\$': $dir" ;; esac
	[ "$(id -u)" -eq 0 ] || die "start must run as root (the Postfix master needs it)"
	POSTFIX_DOMAIN=${POSTFIX_DOMAIN:-bench.test}
	ensure_packages
	lock "$dir"
	pid=$(master_pid "$dir") && running=1
	# Postfix daemons run as "postfix" and open absolute paths under DIR.
	chmod 0755 "$dir"
	d=$dir
	while [ "$d" != / ]; do
		d=$(dirname "$d")
		runuser -u postfix -- test -x "$d" 2>/dev/null ||
			die "$d is not traversable by user postfix; put DIR elsewhere (e.g. under /tmp)"
	done
	mkdir -p "$dir/etc" "$dir/queue" "$dir/data"
	chmod 0755 "$dir/etc" "$dir/queue"
	# As post-install would make it; the master's lock file lives here.
	chown postfix "$dir/data"
	chmod 0700 "$dir/data"
	choose_ports "$dir" "$running"
	changed=$(write_config "$dir")
	build_map "$dir"
	build_access "$dir"
	postconf -c "$dir/etc" -n >/dev/null 2>"$dir/postconf.err" ||
		die "main.cf invalid: $(head -c 500 "$dir/postconf.err")"
	if [ "$running" = 1 ]; then
		if [ -n "$changed" ]; then
			postfix -c "$dir/etc" reload >>"$dir/start.log" 2>&1 9>&- ||
				die "postfix reload failed: $(tail -n 5 "$dir/start.log" | tr '\n' ' ')"
		fi
	else
		# start runs post-install create-missing (queue directories, owners) and the checks;
		# 9>&-: the daemons must not inherit (and so hold) our lock.
		postfix -c "$dir/etc" start >"$dir/start.log" 2>&1 9>&- ||
			die "postfix failed to start: $(tail -n 5 "$dir/start.log" | tr '\n' ' ') $(tail -n 5 "$dir/maillog" 2>/dev/null | tr '\n' ' ')"
	fi
	if ! wait_banner "$SMTP_PORT" "$START_TIMEOUT"; then
		die "postfix did not greet on 127.0.0.1:$SMTP_PORT within ${START_TIMEOUT}s: $(tail -n 5 "$dir/maillog" 2>/dev/null | tr '\n' ' ')"
	fi
	master_pid "$dir" >/dev/null || die "postfix master for $dir is not running: $(tail -n 5 "$dir/maillog" 2>/dev/null | tr '\n' ' ')"
}

cmd_stop() {
	local dir pid deadline
	dir=$(abs "$1")
	[ -d "$dir/etc" ] || return 0
	lock "$dir"
	pid=$(master_pid "$dir") || return 0
	# postfix stop: SIGTERM to the master, which waits up to 5 s and then kills its process group.
	postfix -c "$dir/etc" stop >>"$dir/stop.log" 2>&1 9>&- || true
	deadline=$((SECONDS + STOP_TIMEOUT))
	# The master leads a process group of its own; the children leave it when they notice that
	# the master is gone.
	while kill -0 "$pid" 2>/dev/null || pgrep -g "$pid" >/dev/null 2>&1; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "$PROG: warning: postfix (process group $pid) did not exit within ${STOP_TIMEOUT}s; sending KILL" >&2
			kill -KILL -- "-$pid" 2>/dev/null || true
			sleep 0.5
			break
		fi
		sleep 0.1
	done
	if [ -f "$dir/ports" ]; then
		load_ports "$dir"
		deadline=$((SECONDS + STOP_TIMEOUT))
		while port_busy "$SMTP_PORT"; do
			[ "$SECONDS" -lt "$deadline" ] || die "127.0.0.1:$SMTP_PORT still listening ${STOP_TIMEOUT}s after stop"
			sleep 0.1
		done
	fi
}

# queued DIR: number of messages in the queue (incoming, active, deferred, hold, maildrop).
queued() {
	local q=$1/queue sub n=0
	for sub in maildrop incoming active deferred hold; do
		[ -d "$q/$sub" ] || continue
		n=$((n + $(find "$q/$sub" -type f | wc -l)))
	done
	printf '%s\n' "$n"
}

cmd_status() {
	local dir pid
	dir=$(abs "$1")
	pid=$(master_pid "$dir") || return 1
	load_ports "$dir"
	printf 'pid=%s addr=127.0.0.1:%s queued=%s\n' "$pid" "$SMTP_PORT" "$(queued "$dir")"
}

cmd_env() {
	local dir
	dir=$(abs "$1")
	load_ports "$dir"
	printf 'export CATCHALL_TEST_POSTFIX=1\n'
	printf 'export CATCHALL_TEST_POSTFIX_ADDR=%q\n' "127.0.0.1:$SMTP_PORT"
	printf 'export CATCHALL_TEST_POSTFIX_RELAY_ADDR=%q\n' "127.0.0.1:$RELAY_PORT"
	printf 'export CATCHALL_TEST_POSTFIX_DIR=%q\n' "$dir"
	printf 'export CATCHALL_TEST_POSTFIX_CONF=%q\n' "$dir/etc"
	printf 'export CATCHALL_TEST_POSTFIX_QUEUE=%q\n' "$dir/queue"
}

[ $# -ge 1 ] || usage
cmd=$1
shift
case $cmd in
start) [ $# -eq 1 ] || usage; cmd_start "$1" ;;
stop) [ $# -eq 1 ] || usage; cmd_stop "$1" ;;
status) [ $# -eq 1 ] || usage; cmd_status "$1" ;;
env) [ $# -eq 1 ] || usage; cmd_env "$1" ;;
*) usage ;;
esac
