#!/usr/bin/env bash
# Private Postfix → Dovecot (Pigeonhole Sieve) mail stack for the Sieve delivery tests: mail for
# the plan's domain(s), sent to a private Postfix on 127.0.0.1, is delivered by Dovecot into ONE
# mailbox under DIR whose active Sieve script is the one catchall generated; Sieve's redirects and
# rejection messages go to a sink on 127.0.0.1 (Dovecot's submission_host), which the caller runs
# (the Go test runs its own; by hand: scripts/testenv/sink.sh start DIR/sink PORT). Everything has
# its own configuration under DIR: Postfix runs with -c DIR/postfix/etc, which is its
# meta_directory too (postfix-script and post-install are copied there from daemon_directory;
# postfix-files, the package's list of queue directories, from /etc/postfix: the only file read
# under /etc, nothing is written there), Dovecot and dovecot-lda with -c DIR/dovecot/dovecot.conf
# (doveadm is not used: it asks the system instance's /run/dovecot/config first). The system
# instances, running or not, are left alone. Both delivery modes run the same Dovecot (LMTP
# listener, dovecot-lda settings); the mode only changes Postfix. DIR: at most 60 bytes (the LMTP
# socket's path lies under it), no white space or shell/Postfix metacharacters, traversable by
# postfix, dovecot and catchalltest.
#
#   mailstack.sh start  DIR   write the configs, install the script, start both daemons
#                             (idempotent: a running stack is reconfigured in place)
#   mailstack.sh stop   DIR   stop both, wait until every process of the stack is gone
#   mailstack.sh env    DIR   print `export ...` lines (CATCHALL_TEST_MAILSTACK_SMTP_ADDR, ...)
#   mailstack.sh status DIR   exit 0 when both run; prints "postfix=PID dovecot=PID delivery=…
#                             smtp=127.0.0.1:PORT queued=N"
#
# Knobs (environment, read by start; remembered in DIR/stack, so a later start without them
# keeps the earlier values):
#   MAILSTACK_DELIVERY   lmtp (default) or lda: how Postfix hands the mail to Dovecot
#                          lmtp  virtual_transport = lmtp:unix:private/dovecot-lmtp; Dovecot's
#                                LMTP listens on DIR/postfix/queue/private/dovecot-lmtp (owner
#                                postfix, 0600) and a static userdb (allow_all_users=yes) gives
#                                every recipient of the domains the one mailbox
#                          lda   virtual_transport = dovecot, a pipe(8) service running
#                                dovecot-lda -f ${sender} -a ${original_recipient} -d catchall as
#                                the mail owner, dovecot_destination_recipient_limit = 1
#   MAILSTACK_SIEVE      the Sieve script (catchall forwards --format sieve writes catchall.sieve),
#                        copied to DIR/home/sieve/catchall.sieve, ~/.dovecot.sieve links to it,
#                        and compiled with sievec at start (required on the first start)
#   MAILSTACK_DOMAINS    virtual_mailbox_domains (default example.com; several separated by spaces)
#   MAILSTACK_REWRITE    1 = the naive setup: virtual_alias_maps rewrites every address of the
#                        domains to catchall@FIRST-DOMAIN before delivery (default 0)
#   MAILSTACK_SMTP_PORT  Postfix smtpd on 127.0.0.1 (default 12625; when taken by something else
#                        a free port is chosen; remembered in DIR/stack)
#   MAILSTACK_SINK_PORT  Dovecot's submission_host = 127.0.0.1:PORT, where redirects and
#                        rejection messages go (default 12626)
#
# Layout: DIR/postfix/{etc,queue,data,maillog}; DIR/dovecot/{dovecot.conf,users,dovecot.log,
# lda.log,run,state}; DIR/home = the mailbox's home (Dovecot user "catchall", or any address of
# the domains over LMTP): DIR/home/Maildir, DIR/home/sieve/catchall.sieve, DIR/home/.dovecot.sieve.
# Mail files belong to the system user catchalltest (created when missing, as dovecot.sh does).
# Postfix's own bounces go nowhere (default_transport = error): the sink sees only what Dovecot
# sends.
set -euo pipefail

PROG=mailstack.sh
# shellcheck source=scripts/testenv/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
TEST_USER=catchalltest
MAILBOX=catchall
DEFAULT_SMTP_PORT=12625
DEFAULT_SINK_PORT=12626
DEFAULT_DOMAINS=example.com
START_TIMEOUT=30
STOP_TIMEOUT=30
LOCK_TIMEOUT=600
LDA=/usr/lib/dovecot/dovecot-lda

usage() {
	cat >&2 <<EOF
usage: $PROG start DIR | stop DIR | env DIR | status DIR
EOF
	exit 2
}

ensure_packages() {
	local pkgs=()
	command -v postfix >/dev/null 2>&1 && command -v postmap >/dev/null 2>&1 || pkgs+=(postfix)
	command -v dovecot >/dev/null 2>&1 && command -v doveconf >/dev/null 2>&1 || pkgs+=(dovecot-core)
	command -v sievec >/dev/null 2>&1 || pkgs+=(dovecot-sieve)
	[ -x /usr/lib/dovecot/lmtp ] || pkgs+=(dovecot-lmtpd)
	command -v python3 >/dev/null 2>&1 || pkgs+=(python3)
	if [ ${#pkgs[@]} -gt 0 ]; then
		apt_install "${pkgs[@]}"
	fi
	[ -x "$LDA" ] || die "$LDA missing (dovecot-core install broken?)"
	[ -x /usr/lib/dovecot/lmtp ] || die "/usr/lib/dovecot/lmtp missing (dovecot-lmtpd install broken?)"
	local u
	for u in postfix dovecot dovenull; do
		getent passwd "$u" >/dev/null || die "system user '$u' missing (postfix/dovecot-core install broken?)"
	done
	getent group postdrop >/dev/null || die "system group 'postdrop' missing (postfix install broken?)"
}

# postfix_paths DIR: sets DAEMON_DIR and META_SRC (the package's meta_directory) from the
# built-in defaults; postconf runs with DIR's configuration (a plain "postconf -d" would read
# /etc/postfix/master.cf).
postfix_paths() {
	local etc=$1/postfix/etc
	[ -f "$etc/main.cf" ] || printf '# placeholder until start writes it\n' >"$etc/main.cf"
	[ -f "$etc/master.cf" ] || printf '# placeholder until start writes it\n' >"$etc/master.cf"
	DAEMON_DIR=$(postconf -c "$etc" -dh daemon_directory) || die "postconf -c $etc failed"
	META_SRC=$(postconf -c "$etc" -dh meta_directory) || die "postconf -c $etc failed"
	[ -x "$DAEMON_DIR/master" ] || die "$DAEMON_DIR/master missing (postfix install broken?)"
	[ -f "$META_SRC/postfix-files" ] || die "$META_SRC/postfix-files missing (postfix install broken?)"
}

ensure_test_user() {
	if ! getent passwd "$TEST_USER" >/dev/null; then
		useradd --system --user-group --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin --comment "catchall test mail owner" "$TEST_USER" ||
			die "useradd $TEST_USER failed"
	fi
	TEST_UID=$(id -u "$TEST_USER")
	TEST_GID=$(id -g "$TEST_USER")
}

# load_stack DIR: sets DELIVERY, REWRITE, DOMAINS, SMTP_PORT, SINK_PORT from DIR/stack.
load_stack() {
	[ -f "$1/stack" ] || die "$1/stack missing: run '$PROG start $1' first"
	DELIVERY=$(sed -n 's/^DELIVERY=\(lmtp\|lda\)$/\1/p' "$1/stack")
	REWRITE=$(sed -n 's/^REWRITE=\([01]\)$/\1/p' "$1/stack")
	DOMAINS=$(sed -n 's/^DOMAINS=\([a-z0-9. -]*\)$/\1/p' "$1/stack")
	SMTP_PORT=$(sed -n 's/^SMTP_PORT=\([0-9]*\)$/\1/p' "$1/stack")
	SINK_PORT=$(sed -n 's/^SINK_PORT=\([0-9]*\)$/\1/p' "$1/stack")
	if [ -z "$DELIVERY" ] || [ -z "$REWRITE" ] || [ -z "$DOMAINS" ] || [ -z "$SMTP_PORT" ] || [ -z "$SINK_PORT" ]; then
		die "$1/stack is malformed"
	fi
}

# choose_settings DIR POSTFIX_RUNNING: the knobs over the remembered values over the defaults;
# writes DIR/stack. A running Postfix keeps its smtpd port (it is ours, not busy).
choose_settings() {
	local dir=$1 running=$2 d
	if [ -f "$dir/stack" ]; then
		load_stack "$dir"
	else
		DELIVERY=lmtp REWRITE=0 DOMAINS=$DEFAULT_DOMAINS SMTP_PORT=$DEFAULT_SMTP_PORT SINK_PORT=$DEFAULT_SINK_PORT
	fi
	DELIVERY=${MAILSTACK_DELIVERY:-$DELIVERY}
	REWRITE=${MAILSTACK_REWRITE:-$REWRITE}
	DOMAINS=${MAILSTACK_DOMAINS:-$DOMAINS}
	SMTP_PORT=${MAILSTACK_SMTP_PORT:-$SMTP_PORT}
	SINK_PORT=${MAILSTACK_SINK_PORT:-$SINK_PORT}
	case $DELIVERY in lmtp | lda) ;; *) die "MAILSTACK_DELIVERY must be lmtp or lda, got '$DELIVERY'" ;; esac
	case $REWRITE in 0 | 1) ;; *) die "MAILSTACK_REWRITE must be 0 or 1, got '$REWRITE'" ;; esac
	DOMAINS=$(printf '%s\n' "$DOMAINS" | tr 'A-Z' 'a-z' | xargs)
	[ -n "$DOMAINS" ] || die "MAILSTACK_DOMAINS is empty"
	for d in $DOMAINS; do
		[[ $d =~ ^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$ ]] ||
			die "MAILSTACK_DOMAINS: '$d' is not a domain name (IDN domains in punycode)"
	done
	[[ $SMTP_PORT =~ ^[0-9]+$ ]] || die "MAILSTACK_SMTP_PORT must be a number, got '$SMTP_PORT'"
	[[ $SINK_PORT =~ ^[0-9]+$ ]] || die "MAILSTACK_SINK_PORT must be a number, got '$SINK_PORT'"
	if [ "$running" = 0 ] && port_busy "$SMTP_PORT"; then
		[ -z "${MAILSTACK_SMTP_PORT:-}" ] || die "port 127.0.0.1:$SMTP_PORT (MAILSTACK_SMTP_PORT) is in use"
		SMTP_PORT=$(free_port) || die "cannot find a free port"
		while [ "$SMTP_PORT" = "$SINK_PORT" ]; do SMTP_PORT=$(free_port); done
	fi
	[ "$SMTP_PORT" != "$SINK_PORT" ] || die "smtpd port and sink port are both $SMTP_PORT"
	printf 'DELIVERY=%s\nREWRITE=%s\nDOMAINS=%s\nSMTP_PORT=%s\nSINK_PORT=%s\n' \
		"$DELIVERY" "$REWRITE" "$DOMAINS" "$SMTP_PORT" "$SINK_PORT" >"$dir/stack.tmp"
	mv -f "$dir/stack.tmp" "$dir/stack"
}

# postfix_pid DIR: prints the pid of a live Postfix master for DIR, or fails.
postfix_pid() {
	local pidfile=$1/postfix/queue/pid/master.pid pid comm
	[ -f "$pidfile" ] || return 1
	pid=$(tr -d ' \n' <"$pidfile" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
	[ "$comm" = master ] || return 1
	# A pid file survives a crash; make sure that master is ours.
	{ tr '\0' '\n' <"/proc/$pid/environ"; } 2>/dev/null | grep -qxF "MAIL_CONFIG=$1/postfix/etc" || return 1
	printf '%s\n' "$pid"
}

# dovecot_pid DIR: prints the pid of a live Dovecot master for DIR, or fails.
dovecot_pid() {
	local pidfile=$1/dovecot/run/master.pid pid comm
	[ -f "$pidfile" ] || return 1
	pid=$(tr -d ' \n' <"$pidfile" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
	[ "$comm" = dovecot ] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-c $1/dovecot/dovecot.conf" || return 1
	printf '%s\n' "$pid"
}

# replace FILE: moves FILE.tmp over FILE when they differ; prints "changed" then.
replace() {
	if cmp -s "$1.tmp" "$1"; then
		rm -f "$1.tmp"
	else
		mv -f "$1.tmp" "$1"
		echo changed
	fi
}

# write_postfix DIR: DIR/postfix/etc/{main.cf,master.cf,virtual}, the meta files; prints
# "changed" when main.cf, master.cf or the map changed.
write_postfix() {
	local dir=$1 etc=$1/postfix/etc bare="" transport alias_maps="" first f
	first=${DOMAINS%% *}
	# meta_directory: "postfix start" runs postfix-script and post-install from there, which
	# read postfix-files (the queue's directories and owners); Postfix reads dynamicmaps.cf.
	# Debian has the scripts in daemon_directory too, postfix-files only in /etc/postfix.
	for f in postfix-script post-install; do
		if [ -x "$DAEMON_DIR/$f" ]; then
			cp -pf "$DAEMON_DIR/$f" "$etc/$f"
		else
			cp -pf "$META_SRC/$f" "$etc/$f"
		fi
	done
	cp -pf "$META_SRC/postfix-files" "$etc/postfix-files"
	# As internal/testtools writes it: the PCRE module when postfix-pcre is installed.
	: >"$etc/dynamicmaps.cf"
	if [ -e "$(postconf -c "$etc" -dh shlib_directory)/postfix-pcre.so" ]; then
		printf 'pcre postfix-pcre.so dict_pcre_open\n' >"$etc/dynamicmaps.cf"
	fi
	if postconf -c "$etc" -d smtpd_forbid_bare_newline >/dev/null 2>&1; then
		bare="smtpd_forbid_bare_newline = yes
smtpd_forbid_bare_newline_exclusions ="
	fi
	if [ "$DELIVERY" = lmtp ]; then
		transport="lmtp:unix:private/dovecot-lmtp"
	else
		transport="dovecot
# pipe(8) gives \${original_recipient} for one recipient at a time only.
dovecot_destination_recipient_limit = 1"
	fi
	: >"$etc/virtual.tmp"
	if [ "$REWRITE" = 1 ]; then
		alias_maps="hash:$etc/virtual"
		# The naive catch-all: every address of the domains becomes the mailbox's address.
		for f in $DOMAINS; do printf '@%s %s@%s\n' "$f" "$MAILBOX" "$first"; done >"$etc/virtual.tmp"
	fi
	cat >"$etc/main.cf.tmp" <<EOF
# Generated by scripts/testenv/mailstack.sh — private test instance, do not edit.
compatibility_level = 3.6
meta_directory = $etc
queue_directory = $dir/postfix/queue
data_directory = $dir/postfix/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = $dir/postfix/maillog
maillog_file_prefixes = $dir

myhostname = mailstack.localdomain
mydomain = localdomain
myorigin = \$myhostname
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtputf8_enable = no

# Nothing is local, nothing is relayed: the domains are virtual mailbox domains and everything
# else (Postfix's own bounces too) ends in the error transport.
mydestination =
relay_domains =
local_recipient_maps =
local_transport = error:5.1.1 local delivery is disabled
default_transport = error:5.7.1 this test stack delivers nowhere else
alias_maps =
alias_database =
biff = no
append_dot_mydomain = no
readme_directory = no

# Every address of the domains is accepted (no virtual_mailbox_maps) and handed to Dovecot.
virtual_mailbox_domains = $DOMAINS
virtual_mailbox_maps =
virtual_alias_maps = $alias_maps
virtual_transport = $transport
smtpd_relay_restrictions = reject_unauth_destination
smtpd_recipient_restrictions = reject_unauth_destination
smtpd_tls_security_level = none
smtp_tls_security_level = none
lmtp_tls_security_level = none
$bare
EOF
	# service  type   private unpriv chroot wakeup maxproc command
	cat >"$etc/master.cf.tmp" <<EOF
# Generated by scripts/testenv/mailstack.sh — private test instance, do not edit.
127.0.0.1:$SMTP_PORT inet n - n - - smtpd
cleanup   unix  n - n -     0 cleanup
qmgr      unix  n - n 300   1 qmgr
rewrite   unix  - - n -     - trivial-rewrite
bounce    unix  - - n -     0 bounce
defer     unix  - - n -     0 bounce
trace     unix  - - n -     0 bounce
verify    unix  - - n -     1 verify
flush     unix  n - n 1000? 0 flush
smtp      unix  - - n -     - smtp
lmtp      unix  - - n -     - lmtp
showq     unix  n - n -     - showq
error     unix  - - n -     - error
retry     unix  - - n -     - error
discard   unix  - - n -     - discard
anvil     unix  - - n -     1 anvil
scache    unix  - - n -     1 scache
postlog   unix-dgram n - n - 1 postlogd
dovecot   unix  - n n -     - pipe
  flags=DRhu user=$TEST_USER:$TEST_USER argv=$LDA -c $dir/dovecot/dovecot.conf -f \${sender} -a \${original_recipient} -d $MAILBOX
EOF
	chmod 0644 "$etc/main.cf.tmp" "$etc/master.cf.tmp" "$etc/virtual.tmp"
	local changed
	changed=$(replace "$etc/main.cf")$(replace "$etc/master.cf")$(replace "$etc/virtual")
	# Postfix rereads a configuration file changed in the current second until it has settled
	# (about 2 s); these are complete, so date them back.
	touch -d "@$(($(date +%s) - 2))" "$etc/main.cf" "$etc/master.cf"
	if [ ! -f "$etc/virtual.db" ] || [ "$etc/virtual" -nt "$etc/virtual.db" ] || [ -n "$changed" ]; then
		postmap -c "$etc" "hash:$etc/virtual" 2>"$dir/postfix/postmap.err" ||
			die "postmap $etc/virtual failed: $(head -c 500 "$dir/postfix/postmap.err")"
	fi
	[ -z "$changed" ] || echo changed
}

# write_dovecot DIR: DIR/dovecot/{dovecot.conf,users}; prints "changed" when either changed.
write_dovecot() {
	local dir=$1 dc=$1/dovecot first
	first=${DOMAINS%% *}
	# The mailbox user, for dovecot-lda -d catchall (LMTP recipients fall through to the static
	# userdb below). The password is never used: no login service runs.
	printf '%s:{PLAIN}unused:%s:%s::%s::\n' "$MAILBOX" "$TEST_UID" "$TEST_GID" "$dir/home" >"$dc/users.tmp"
	chmod 0644 "$dc/users.tmp"
	cat >"$dc/dovecot.conf.tmp" <<EOF
# Generated by scripts/testenv/mailstack.sh — private test instance, do not edit.
instance_name = catchall-mailstack
base_dir = $dc/run
state_dir = $dc/state
log_path = $dc/dovecot.log
info_log_path = $dc/dovecot.log
debug_log_path = $dc/dovecot.log

protocols = lmtp
listen = 127.0.0.1
ssl = no
default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = $TEST_UID
last_valid_uid = $TEST_UID
first_valid_gid = $TEST_GID
last_valid_gid = $TEST_GID
auth_cache_size = 0

hostname = mailstack.localdomain
postmaster_address = postmaster@$first
# Sieve's redirects and rejection messages.
submission_host = 127.0.0.1:$SINK_PORT
mail_location = maildir:~/Maildir
recipient_delimiter = +

passdb {
  driver = passwd-file
  args = scheme=PLAIN $dc/users
}
userdb {
  driver = passwd-file
  args = $dc/users
}
# Every other user name (over LMTP: the recipient address, e.g. an alias of the domains) is
# the same mailbox; the envelope recipient stays the alias.
userdb {
  driver = static
  args = uid=$TEST_USER gid=$TEST_USER home=$dir/home mail=maildir:~/Maildir allow_all_users=yes
}

plugin {
  sieve = file:~/sieve;active=~/.dovecot.sieve
}
protocol lmtp {
  mail_plugins = \$mail_plugins sieve
}
protocol lda {
  mail_plugins = \$mail_plugins sieve
  # dovecot-lda runs as $TEST_USER: a log file it can write.
  log_path = $dc/lda.log
  info_log_path = $dc/lda.log
  debug_log_path = $dc/lda.log
}

service lmtp {
  unix_listener $dir/postfix/queue/private/dovecot-lmtp {
    mode = 0600
    user = postfix
    group = postfix
  }
}
service auth {
  # dovecot-lda (as $TEST_USER) looks the mailbox user up here.
  unix_listener auth-userdb {
    mode = 0600
    user = $TEST_USER
  }
}
service stats {
  # dovecot-lda reports here as $TEST_USER (else: "net_connect_unix(…/stats-writer) failed:
  # Permission denied" in every delivery's log); Dovecot's own processes use the group.
  unix_listener stats-writer {
    user = $TEST_USER
    group = \$default_internal_group
    mode = 0660
  }
}
EOF
	chmod 0644 "$dc/dovecot.conf.tmp"
	local changed
	changed=$(replace "$dc/users")$(replace "$dc/dovecot.conf")
	[ -z "$changed" ] || echo changed
}

# install_home DIR: the mailbox's home, Maildir, and the Sieve script as INSTALL.txt says. The
# script is compiled by the user Pigeonhole runs as, where Pigeonhole would compile it; one that
# does not compile is refused before it replaces the installed one.
install_home() {
	local dir=$1 home=$1/home sv=$1/home/sieve
	mkdir -p "$sv" "$home/Maildir"
	# DIR may come from a machine where $TEST_USER had other ids.
	if [ "$(stat -c %u:%g "$home")" != "$TEST_UID:$TEST_GID" ]; then
		chown -R "$TEST_UID:$TEST_GID" "$home"
	fi
	chown "$TEST_UID:$TEST_GID" "$sv" "$home/Maildir"
	chmod 0700 "$home"
	if [ -n "${MAILSTACK_SIEVE:-}" ]; then
		[ -f "$MAILSTACK_SIEVE" ] || die "MAILSTACK_SIEVE=$MAILSTACK_SIEVE is not a file"
		cp -f "$MAILSTACK_SIEVE" "$sv/new.sieve"
		chown "$TEST_UID:$TEST_GID" "$sv/new.sieve"
		if ! runuser -u "$TEST_USER" -- sievec -c "$dir/dovecot/dovecot.conf" "$sv/new.sieve" "$sv/new.svbin" >"$dir/sievec.log" 2>&1; then
			rm -f "$sv/new.sieve" "$sv/new.svbin"
			die "sievec $MAILSTACK_SIEVE failed: $(head -c 500 "$dir/sievec.log" | tr '\n' ' ')"
		fi
		rm -f "$sv/new.svbin"
		mv -f "$sv/new.sieve" "$sv/catchall.sieve"
	fi
	[ -f "$sv/catchall.sieve" ] || die "no Sieve script installed: set MAILSTACK_SIEVE"
	ln -sfn sieve/catchall.sieve "$home/.dovecot.sieve"
	chown -h "$TEST_UID:$TEST_GID" "$home/.dovecot.sieve"
	runuser -u "$TEST_USER" -- sievec -c "$dir/dovecot/dovecot.conf" "$sv/catchall.sieve" >"$dir/sievec.log" 2>&1 ||
		die "sievec $sv/catchall.sieve failed: $(head -c 500 "$dir/sievec.log" | tr '\n' ' ')"
	: >>"$dir/dovecot/lda.log"
	chown "$TEST_UID:$TEST_GID" "$dir/dovecot/lda.log"
	chmod 0600 "$dir/dovecot/lda.log"
}

# lock DIR: serialise start/stop on one DIR.
lock() {
	[ -n "${MAILSTACK_SH_LOCKED:-}" ] && return 0
	mkdir -p "$1"
	exec 9>"$1/.lock"
	flock -w "$LOCK_TIMEOUT" 9 || die "could not lock $1/.lock within ${LOCK_TIMEOUT}s"
	MAILSTACK_SH_LOCKED=1
}

# check_traversable DIR USER...: every parent of DIR must be searchable by each user.
check_traversable() {
	local dir=$1 d u
	shift
	d=$dir
	while [ "$d" != / ]; do
		d=$(dirname "$d")
		for u in "$@"; do
			runuser -u "$u" -- test -x "$d" 2>/dev/null ||
				die "$d is not traversable by user $u; put DIR elsewhere (e.g. under /tmp)"
		done
	done
}

start_postfix() {
	local dir=$1 changed=$2 etc=$1/postfix/etc
	postconf -c "$etc" -n >/dev/null 2>"$dir/postfix/postconf.err" ||
		die "main.cf invalid: $(head -c 500 "$dir/postfix/postconf.err")"
	if postfix_pid "$dir" >/dev/null; then
		if [ -n "$changed" ]; then
			postfix -c "$etc" reload >>"$dir/postfix/start.log" 2>&1 9>&- ||
				die "postfix reload failed: $(tail -n 5 "$dir/postfix/start.log" | tr '\n' ' ')"
		fi
	else
		# start runs post-install create-missing (queue directories, owners) and the checks;
		# 9>&-: the daemons must not inherit (and so hold) our lock.
		postfix -c "$etc" start >"$dir/postfix/start.log" 2>&1 9>&- ||
			die "postfix failed to start: $(tail -n 5 "$dir/postfix/start.log" | tr '\n' ' ') $(tail -n 5 "$dir/postfix/maillog" 2>/dev/null | tr '\n' ' ')"
	fi
	wait_banner "$SMTP_PORT" "$START_TIMEOUT" ||
		die "postfix did not greet on 127.0.0.1:$SMTP_PORT within ${START_TIMEOUT}s: $(tail -n 5 "$dir/postfix/maillog" 2>/dev/null | tr '\n' ' ')"
	postfix_pid "$dir" >/dev/null || die "postfix master for $dir is not running: $(tail -n 5 "$dir/postfix/maillog" 2>/dev/null | tr '\n' ' ')"
}

start_dovecot() {
	local dir=$1 changed=$2 conf=$1/dovecot/dovecot.conf sock=$1/postfix/queue/private/dovecot-lmtp pid deadline
	doveconf -c "$conf" -n >/dev/null 2>"$dir/dovecot/doveconf.err" ||
		die "dovecot config invalid: $(head -c 500 "$dir/dovecot/doveconf.err" | tr '\n' ' ')"
	if pid=$(dovecot_pid "$dir"); then
		# What "doveadm reload" does; doveadm itself asks the system instance's config socket
		# (/run/dovecot/config) first, whatever -c says.
		[ -z "$changed" ] || kill -HUP "$pid" || die "cannot signal dovecot (pid $pid) to reload"
	else
		rm -f "$dir/dovecot/run/master.pid"
		# 9>&-: the daemon must not inherit (and so hold) our lock.
		dovecot -c "$conf" 2>>"$dir/dovecot/dovecot.log" 9>&- ||
			die "dovecot failed to start: $(tail -n 5 "$dir/dovecot/dovecot.log" | tr '\n' ' ')"
	fi
	# Ready when the LMTP socket Postfix uses is there (both delivery modes have it).
	deadline=$((SECONDS + START_TIMEOUT))
	until [ -S "$sock" ] && dovecot_pid "$dir" >/dev/null; do
		[ "$SECONDS" -lt "$deadline" ] ||
			die "dovecot did not create $sock within ${START_TIMEOUT}s: $(tail -n 5 "$dir/dovecot/dovecot.log" | tr '\n' ' ')"
		sleep 0.05
	done
}

cmd_start() {
	local dir running=0 pchanged dchanged
	dir=$(abs "$1")
	case $dir in *[[:space:],=\$\;\"\'\\]*) die "DIR must not contain white space or any of , = \$ ; \" ' \\: $dir" ;; esac
	[ "$(id -u)" -eq 0 ] || die "start must run as root (the Postfix and Dovecot masters need it)"
	# A unix socket path has at most 107 bytes.
	[ "${#dir}" -le 60 ] || die "DIR is too long for the LMTP socket path (at most 60 bytes): $dir"
	ensure_packages
	ensure_test_user
	lock "$dir"
	postfix_pid "$dir" >/dev/null && running=1
	chmod 0755 "$dir"
	check_traversable "$dir" postfix dovecot "$TEST_USER"
	mkdir -p "$dir/postfix/etc" "$dir/postfix/queue" "$dir/postfix/data" "$dir/dovecot/run" "$dir/dovecot/state"
	chmod 0755 "$dir/postfix" "$dir/postfix/etc" "$dir/postfix/queue" "$dir/dovecot"
	postfix_paths "$dir"
	# As post-install would make it; the master's lock file lives here.
	chown postfix "$dir/postfix/data"
	chmod 0700 "$dir/postfix/data"
	choose_settings "$dir" "$running"
	pchanged=$(write_postfix "$dir")
	dchanged=$(write_dovecot "$dir")
	install_home "$dir"
	# Postfix first: Dovecot's LMTP socket lives in Postfix's queue directory (private/).
	start_postfix "$dir" "$pchanged"
	start_dovecot "$dir" "$dchanged"
}

# wait_gone PID WHAT: waits until PID and every process of its process group are gone; KILLs the
# group after STOP_TIMEOUT.
wait_gone() {
	local pid=$1 what=$2 deadline=$((SECONDS + STOP_TIMEOUT))
	while kill -0 "$pid" 2>/dev/null || pgrep -g "$pid" >/dev/null 2>&1; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "$PROG: warning: $what (process group $pid) did not exit within ${STOP_TIMEOUT}s; sending KILL" >&2
			kill -KILL -- "-$pid" 2>/dev/null || true
			sleep 0.5
			break
		fi
		sleep 0.05
	done
}

cmd_stop() {
	local dir ppid dpid="" deadline
	dir=$(abs "$1")
	[ -d "$dir/postfix" ] || [ -d "$dir/dovecot" ] || return 0
	lock "$dir"
	# Both at once: Dovecot's master takes ~2.5 s to go (it waits for its log process), Postfix's
	# ~1.8 s; a delivery cut short stays in Postfix's queue.
	if dpid=$(dovecot_pid "$dir"); then
		kill -TERM "$dpid" 2>/dev/null || true
	else
		dpid=""
	fi
	if ppid=$(postfix_pid "$dir"); then
		postfix -c "$dir/postfix/etc" stop >>"$dir/postfix/stop.log" 2>&1 9>&- || true
		wait_gone "$ppid" postfix
	fi
	[ -z "$dpid" ] || wait_gone "$dpid" dovecot
	rm -f "$dir/dovecot/run/master.pid"
	if [ -f "$dir/stack" ]; then
		load_stack "$dir"
		deadline=$((SECONDS + STOP_TIMEOUT))
		while port_busy "$SMTP_PORT"; do
			[ "$SECONDS" -lt "$deadline" ] || die "127.0.0.1:$SMTP_PORT still listening ${STOP_TIMEOUT}s after stop"
			sleep 0.05
		done
	fi
}

# queued DIR: number of messages in Postfix's queue (incoming, active, deferred, hold, maildrop).
queued() {
	local q=$1/postfix/queue sub n=0
	for sub in maildrop incoming active deferred hold; do
		[ -d "$q/$sub" ] || continue
		n=$((n + $(find "$q/$sub" -type f | wc -l)))
	done
	printf '%s\n' "$n"
}

cmd_status() {
	local dir ppid dpid
	dir=$(abs "$1")
	ppid=$(postfix_pid "$dir") || return 1
	dpid=$(dovecot_pid "$dir") || return 1
	load_stack "$dir"
	printf 'postfix=%s dovecot=%s delivery=%s smtp=127.0.0.1:%s queued=%s\n' "$ppid" "$dpid" "$DELIVERY" "$SMTP_PORT" "$(queued "$dir")"
}

cmd_env() {
	local dir
	dir=$(abs "$1")
	load_stack "$dir"
	printf 'export CATCHALL_TEST_MAILSTACK=1\n'
	printf 'export CATCHALL_TEST_MAILSTACK_DELIVERY=%q\n' "$DELIVERY"
	printf 'export CATCHALL_TEST_MAILSTACK_SMTP_ADDR=%q\n' "127.0.0.1:$SMTP_PORT"
	printf 'export CATCHALL_TEST_MAILSTACK_SINK_ADDR=%q\n' "127.0.0.1:$SINK_PORT"
	printf 'export CATCHALL_TEST_MAILSTACK_DOMAINS=%q\n' "$DOMAINS"
	printf 'export CATCHALL_TEST_MAILSTACK_DIR=%q\n' "$dir"
	printf 'export CATCHALL_TEST_MAILSTACK_MAILDIR=%q\n' "$dir/home/Maildir"
	printf 'export CATCHALL_TEST_MAILSTACK_POSTFIX_CONF=%q\n' "$dir/postfix/etc"
	printf 'export CATCHALL_TEST_MAILSTACK_POSTFIX_LOG=%q\n' "$dir/postfix/maillog"
	printf 'export CATCHALL_TEST_MAILSTACK_DOVECOT_CONF=%q\n' "$dir/dovecot/dovecot.conf"
	printf 'export CATCHALL_TEST_MAILSTACK_DOVECOT_LOG=%q\n' "$dir/dovecot/dovecot.log"
	printf 'export CATCHALL_TEST_MAILSTACK_LDA_LOG=%q\n' "$dir/dovecot/lda.log"
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
