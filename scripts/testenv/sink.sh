#!/usr/bin/env bash
# smtp-sink(1) from Debian's postfix package as the end of the relay benchmark's mail flow:
# an SMTP server on 127.0.0.1 that accepts everything and keeps each message as a file.
#
#   sink.sh start DIR PORT   start smtp-sink on 127.0.0.1:PORT dumping into DIR/dump (idempotent)
#   sink.sh stop  DIR [PORT] stop it (no-op when not running)
#   sink.sh count DIR [PORT] print "files=N message_ids=M duplicates=D without_id=W"
#   sink.sh status DIR [PORT] exit 0 when running
# (PORT is accepted and ignored by stop/count/status; the port is remembered in DIR/port.)
#
# One file per accepted transaction: DIR/dump/YYYYMMDDHH/MM.<random hex> (smtp-sink -d). The
# file is created at MAIL, removed again when the transaction is aborted, and closed before the
# 250 reply to the final dot; it holds smtp-sink's X-Client-*/X-Mail-Args/X-Rcpt-Args/Received
# lines, then the message with LF line ends and the dot-stuffing removed, then an empty line.
# `count` counts files (complete or not) and distinct Message-IDs, so duplicate deliveries
# show up as duplicates > 0. smtp-sink runs as "nobody" (it refuses to keep root), so DIR and
# its parents must be traversable by other users.
set -euo pipefail

PROG=sink.sh
# shellcheck source=scripts/testenv/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SINK_USER=nobody
START_TIMEOUT=10
STOP_TIMEOUT=10


usage() {
	cat >&2 <<EOF
usage: $PROG start DIR PORT | stop DIR [PORT] | count DIR [PORT] | status DIR [PORT]
EOF
	exit 2
}



ensure_packages() {
	if ! command -v smtp-sink >/dev/null 2>&1; then
		# Preseed debconf so the install asks nothing and configures no mail system.
		apt_install postfix
	fi
	command -v smtp-sink >/dev/null 2>&1 || die "smtp-sink missing after installing postfix"
}

# sink_pid DIR: prints the pid of a live smtp-sink started for DIR, or fails.
sink_pid() {
	local pidfile=$1/sink.pid pid comm
	[ -f "$pidfile" ] || return 1
	pid=$(cat "$pidfile" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
	[ "$comm" = smtp-sink ] || return 1
	printf '%s\n' "$pid"
}

cmd_start() {
	local dir port pid d
	dir=$(abs "$1")
	port=$2
	if ! [[ $port =~ ^[0-9]+$ ]] || [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
		die "PORT must be a TCP port number, got '$port'"
	fi
	case $dir in *[[:space:]%]*) die "DIR must not contain white space or %: $dir" ;; esac
	[ "$(id -u)" -eq 0 ] || die "start must run as root (smtp-sink switches to user $SINK_USER)"
	ensure_packages
	mkdir -p "$dir"
	if pid=$(sink_pid "$dir"); then
		[ "$(cat "$dir/port" 2>/dev/null)" = "$port" ] ||
			die "smtp-sink for $dir already runs (pid $pid) on port $(cat "$dir/port" 2>/dev/null), not $port"
		wait_banner "$port" "$START_TIMEOUT" || die "smtp-sink (pid $pid) runs but 127.0.0.1:$port does not answer 220"
		return 0
	fi
	port_busy "$port" && die "127.0.0.1:$port is already in use"
	chmod 0755 "$dir"
	d=$dir
	while [ "$d" != / ]; do
		d=$(dirname "$d")
		runuser -u "$SINK_USER" -- test -x "$d" 2>/dev/null ||
			die "$d is not traversable by $SINK_USER; put DIR elsewhere (e.g. under /tmp)"
	done
	mkdir -p "$dir/dump"
	chown "$SINK_USER" "$dir/dump"
	printf '%s\n' "$port" >"$dir/port"
	# -u: drop root after binding. -d: one file per transaction (hour directories, minute
	# prefix, random suffix; smtp-sink retries on a name clash). -m 1024: concurrent sessions
	# before it stops accepting (default 256). -t 300: idle timeout. Backlog 1024 so bursts of
	# connects are queued rather than refused. PIPELINING, 8BITMIME, DSN etc. stay announced.
	setsid smtp-sink -u "$SINK_USER" -d "$dir/dump/%Y%m%d%H/%M." -m 1024 -t 300 \
		"127.0.0.1:$port" 1024 </dev/null >"$dir/sink.log" 2>&1 &
	printf '%s\n' "$!" >"$dir/sink.pid"
	if ! wait_banner "$port" "$START_TIMEOUT"; then
		die "smtp-sink did not greet on 127.0.0.1:$port within ${START_TIMEOUT}s: $(tail -n 5 "$dir/sink.log" | tr '\n' ' ')"
	fi
	sink_pid "$dir" >/dev/null || die "smtp-sink exited: $(tail -n 5 "$dir/sink.log" | tr '\n' ' ')"
}

cmd_stop() {
	local dir pid deadline
	dir=$(abs "$1")
	[ -d "$dir" ] || return 0
	pid=$(sink_pid "$dir") || { rm -f "$dir/sink.pid"; return 0; }
	kill -TERM "$pid" 2>/dev/null || true
	deadline=$((SECONDS + STOP_TIMEOUT))
	while kill -0 "$pid" 2>/dev/null; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "$PROG: warning: smtp-sink pid $pid did not exit within ${STOP_TIMEOUT}s; sending KILL" >&2
			kill -KILL "$pid" 2>/dev/null || true
			sleep 0.2
			break
		fi
		sleep 0.05
	done
	rm -f "$dir/sink.pid"
}

cmd_status() {
	local dir
	dir=$(abs "$1")
	sink_pid "$dir" >/dev/null
}

cmd_count() {
	local dir list files
	dir=$(abs "$1")
	[ -d "$dir/dump" ] || die "$dir/dump missing: run '$PROG start $dir PORT' first"
	# One listing for both numbers, so they agree while the sink is still receiving.
	list=$(mktemp)
	find "$dir/dump" -type f -print0 >"$list"
	files=$(tr -cd '\0' <"$list" | wc -c)
	# The first Message-ID header of each file's header section (a folded value is joined),
	# one line per non-empty file; distinct and repeated IDs are counted from those lines.
	# shellcheck disable=SC2016 # awk program
	xargs -0 -r awk '
		function done() { if (id != "") print id }
		FNR == 1 { if (NR > 1) done(); hdr = 1; id = ""; want = 0 }
		hdr && want && /^[ \t]/ { id = $0; sub(/^[ \t]+/, "", id); want = 0; next }
		hdr { want = 0 }
		hdr && /^$/ { hdr = 0; next }
		hdr && id == "" && tolower($0) ~ /^message-id:/ {
			id = $0; sub(/^[^:]*:[ \t]*/, "", id); if (id == "") want = 1
		}
		END { if (NR > 0) done() }
	' <"$list" | awk -v files="$files" '
		{ ids++; if (seen[$0]++) dup++ }
		END { printf "files=%d message_ids=%d duplicates=%d without_id=%d\n", files, ids - dup, dup, files - ids }
	'
	rm -f "$list"
}

[ $# -ge 1 ] || usage
cmd=$1
shift
case $cmd in
start) [ $# -eq 2 ] || usage; cmd_start "$1" "$2" ;;
stop) [ $# -eq 1 ] || [ $# -eq 2 ] || usage; cmd_stop "$1" ;;
status) [ $# -eq 1 ] || [ $# -eq 2 ] || usage; cmd_status "$1" ;;
count) [ $# -eq 1 ] || [ $# -eq 2 ] || usage; cmd_count "$1" ;;
*) usage ;;
esac
