#!/usr/bin/env bash
# Relay benchmark (`make bench-relay`, issue #6): the same SMTP traffic through `catchall relay`
# and through Postfix with a virtual alias map, on this machine, in one run, both with durable
# queues (a message is accepted only after it is fsynced). Mail flow for each forwarder:
#
#   client (smtp-source, then scripts/smtpload) → forwarder on 127.0.0.1 → smtp-sink on 127.0.0.1
#
# The forwarder maps BENCH_ALIASES aliases a1..aN@bench.test to me@dest.test and relays
# everything to the sink (Postfix: relayhost; catchall: --smarthost smtp+plain://). Each
# forwarder gets a warm-up of 200 messages, then two measured runs of N messages from SESSIONS
# parallel sessions, one connection each:
#   1. smtp-source (Postfix's own load generator; one fixed recipient, a1@bench.test, since it
#      cannot cycle through a list): accepted msgs/s = N / its wall time; end-to-end msgs/s = N /
#      time from its start until the sink holds N complete messages.
#   2. scripts/smtpload, recipients cycling over all aliases: the same two rates plus the latency
#      of each transaction (MAIL FROM to the 250 after the final dot).
# Between runs the forwarder's queue must be empty (Postfix: the queue directories; catchall:
# catchall_relay_queue_messages on --admin /metrics). After every run the sink must hold exactly
# N messages with N distinct Message-IDs, all sent to me@dest.test; the forwarder's memory
# (summed over its processes) is sampled every 0.5 s.
#
# Knobs (environment):
#   N                messages per measured run                   (default 5000)
#   SESSIONS         parallel SMTP sessions                      (default 20)
#   SIZE             message size in bytes, headers included     (default 4096)
#   BENCH_ALIASES    aliases in the map / plan                   (default 1000)
#   CATCHALL         catchall binary                             (default ./bin/catchall)
#   SKIP_CATCHALL=1  run only the Postfix half (the table gets a "skipped" row)
#   SKIP_POSTGRES=1  skip the catchall rows with the store in PostgreSQL (one and two instances
#                    sharing a private cluster made by scripts/testenv/postgres.sh)
#   BENCH_DIR        work directory (default: a new mktemp dir under /tmp, removed at the end
#                    unless BENCH_KEEP=1; a given BENCH_DIR is kept). Postfix's queue and the
#                    relay's spool are both under it, so on the same file system.
#   BENCH_TIMEOUT    seconds each client run and each wait for delivery may take (default 1800)
#   BENCH_OUTPUT     markdown file whose "## Relay" section is replaced (default BENCHMARKS.md)
#
# Output: the section on stdout and the "## Relay" section of BENCHMARKS.md at the repo root.
# Exit status: 0 when every run delivered every message exactly once, 1 otherwise (the section
# is written either way).
set -euo pipefail

PROG=bench-relay
. "$(dirname "$0")/benchlib.sh"
# shellcheck source=scripts/testenv/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/testenv/lib.sh"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

BENCH_MESSAGES=${BENCH_MESSAGES:-${N:-5000}}
BENCH_SESSIONS=${BENCH_SESSIONS:-${SESSIONS:-20}}
BENCH_SIZE=${BENCH_SIZE:-${SIZE:-4096}}
BENCH_ALIASES=${BENCH_ALIASES:-1000}
CATCHALL=${CATCHALL:-./bin/catchall}
SKIP_CATCHALL=${SKIP_CATCHALL:-0}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-1800}
BENCH_OUTPUT=${BENCH_OUTPUT:-$ROOT/BENCHMARKS.md}
POSTFIX_SH=$ROOT/scripts/testenv/postfix.sh
SINK_SH=$ROOT/scripts/testenv/sink.sh
DOMAIN=bench.test
TARGET=me@dest.test
SENDER=sender@source.test
WARMUP=200
# smtp-source adds From/To/Date/Message-Id (about 145 bytes) to its -l payload.
SOURCE_HEADERS=145


for v in N:BENCH_MESSAGES SESSIONS:BENCH_SESSIONS SIZE:BENCH_SIZE BENCH_ALIASES:BENCH_ALIASES BENCH_TIMEOUT:BENCH_TIMEOUT; do
	val=${v#*:}
	val=${!val}
	[[ $val =~ ^[1-9][0-9]*$ ]] || die "${v%%:*} must be a positive number, got '$val'"
done
[ "$BENCH_SIZE" -gt $((SOURCE_HEADERS + 100)) ] || die "SIZE must be more than $((SOURCE_HEADERS + 100))"
[ "$(id -u)" -eq 0 ] || die "must run as root (installs packages, runs a private Postfix and smtp-sink)"
case $SKIP_CATCHALL in 0 | 1) ;; *) die "SKIP_CATCHALL must be 0 or 1" ;; esac

# ------------------------------------------------------------------ preflight
# Fail before spending minutes on Postfix when the catchall half cannot run.
if [ "$SKIP_CATCHALL" = 0 ]; then
	[ -x "$CATCHALL" ] || die "catchall binary $CATCHALL not found or not executable: build it (make build) or set SKIP_CATCHALL=1"
	if ! "$CATCHALL" relay --help >/dev/null 2>&1; then
		die "$CATCHALL has no working 'relay' command ($("$CATCHALL" relay --help 2>&1 | tail -n 1)); rebuild it, or set SKIP_CATCHALL=1 for the Postfix half only"
	fi
fi
command -v go >/dev/null 2>&1 || die "go is not on PATH (needed to build scripts/smtpload)"

pkgs=()
if ! command -v smtp-source >/dev/null 2>&1 || ! command -v smtp-sink >/dev/null 2>&1 || ! command -v postfix >/dev/null 2>&1; then
	pkgs+=(postfix)
fi
command -v jq >/dev/null 2>&1 || pkgs+=(jq)
command -v curl >/dev/null 2>&1 || pkgs+=(curl)
command -v python3 >/dev/null 2>&1 || pkgs+=(python3)
if [ ${#pkgs[@]} -gt 0 ]; then
	note "installing ${pkgs[*]}"
	apt_install "${pkgs[@]}"
fi

LOAD_AVG=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------------ work dir + cleanup
CREATED_DIR=0
if [ -z "${BENCH_DIR:-}" ]; then
	BENCH_DIR=$(mktemp -d /tmp/catchall-bench-relay.XXXXXX)
	CREATED_DIR=1
fi
mkdir -p "$BENCH_DIR"
BENCH_DIR=$(cd "$BENCH_DIR" && pwd)
# Postfix's daemons and smtp-sink run unprivileged and must traverse it.
chmod a+rx "$BENCH_DIR"
PF=$BENCH_DIR/postfix
SINK=$BENCH_DIR/sink
SPOOL=$BENCH_DIR/catchall-spool
PLAN=$BENCH_DIR/plan.csv
VIRTUAL=$BENCH_DIR/virtual
SMTPLOAD=$BENCH_DIR/smtpload
RELAY_PIDS=() # the catchall relays running (setsid: each its own process group)
SAMPLER_PID=""
WAITER_PID=""
PGDIR=""

stop_relays() {
	local p
	for p in "${RELAY_PIDS[@]}"; do stop_pid "$p" "catchall relay"; done
	RELAY_PIDS=()
}

cleanup() {
	local rc=$?
	stop_bg "$WAITER_PID" "$SAMPLER_PID"
	stop_relays
	"$POSTFIX_SH" stop "$PF" || true
	[ -z "$PGDIR" ] || "$ROOT/scripts/testenv/postgres.sh" stop "$PGDIR" || true
	"$SINK_SH" stop "$SINK" || true
	if [ "$CREATED_DIR" = 1 ] && [ "${BENCH_KEEP:-0}" != 1 ]; then
		rm -rf "$BENCH_DIR"
	else
		note "work files kept in $BENCH_DIR"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ inputs
note "building scripts/smtpload"
go build -o "$SMTPLOAD" ./scripts/smtpload || die "building scripts/smtpload failed"

# The same aliases for both: a Postfix virtual map and a catchall plan.
{
	echo "alias,tag,action,forward_to"
	for i in $(seq 1 "$BENCH_ALIASES"); do echo "a$i@$DOMAIN,disposable,forward,$TARGET"; done
} >"$PLAN"
for i in $(seq 1 "$BENCH_ALIASES"); do echo "a$i@$DOMAIN $TARGET"; done >"$VIRTUAL"
RCPTS=$(seq -s, -f "a%.0f@$DOMAIN" 1 "$BENCH_ALIASES")
SOURCE_LEN=$((BENCH_SIZE - SOURCE_HEADERS))

SINK_PORT=$(free_port)
"$SINK_SH" stop "$SINK"
rm -rf "$SINK"
"$SINK_SH" start "$SINK" "$SINK_PORT"


# check_sink: prints "files ids dups misrouted" for the current dump directory; misrouted
# counts files whose envelope is not exactly one RCPT TO:<$TARGET>.
check_sink() {
	local c files ids dups mis
	c=$("$SINK_SH" count "$SINK")
	files=$(sed -n 's/.*files=\([0-9]*\).*/\1/p' <<<"$c")
	ids=$(sed -n 's/.*message_ids=\([0-9]*\).*/\1/p' <<<"$c")
	dups=$(sed -n 's/.*duplicates=\([0-9]*\).*/\1/p' <<<"$c")
	# shellcheck disable=SC2016 # awk program
	mis=$(find "$SINK/dump" -type f -print0 | xargs -0 -r awk -v want="<$TARGET>" '
		function done() { if (n != 1 || good != 1) bad++ }
		FNR == 1 { if (NR > 1) done(); n = 0; good = 0 }
		/^X-Rcpt-Args: / { n++; split(substr($0, 14), a, " "); if (a[1] == want) good++ }
		END { if (NR > 0) done(); print bad + 0 }
	' | awk '{ s += $1 } END { print s + 0 }')
	echo "$files $ids $dups $mis"
}


CLK_TCK=$(getconf CLK_TCK)

ROWS=()
FAILED=0
VERDICT=""
declare -A R # results of the current forwarder's runs

# run_source NAME ADDR: smtp-source run, end-to-end clock via smtpload's wait mode.
run_source() {
	local name=$1 addr=$2 t0 t1 rc
	fresh_dump
	note "$name: smtp-source, $BENCH_MESSAGES messages, $BENCH_SESSIONS sessions"
	t0=$(date +%s.%N)
	"$SMTPLOAD" -wait-sink "$SINK/dump" -wait-count "$BENCH_MESSAGES" -wait-start "$t0" \
		-wait-timeout "${BENCH_TIMEOUT}s" -out "$BENCH_DIR/$name-source-sink.json" \
		>"$BENCH_DIR/$name-source-sink.log" 2>&1 &
	WAITER_PID=$!
	set +e
	timeout --kill-after=10 "$BENCH_TIMEOUT" smtp-source -s "$BENCH_SESSIONS" -m "$BENCH_MESSAGES" \
		-l "$SOURCE_LEN" -d -f "$SENDER" -t "a1@$DOMAIN" -M bench-client "$addr" \
		</dev/null >"$BENCH_DIR/$name-source.log" 2>&1
	rc=$?
	t1=$(date +%s.%N)
	set -e
	if [ "$rc" -ne 0 ]; then
		note "$name: smtp-source exited $rc: $(tail -n 3 "$BENCH_DIR/$name-source.log" | tr '\n' ' ')"
		stop_bg "$WAITER_PID"
		WAITER_PID=""
		R[src_accept]="failed (exit $rc)"
		R[src_e2e]="-"
		R[src_delivered]="-" R[src_dups]="-" R[src_check]="smtp-source failed"
		FAILED=1
		return 0
	fi
	R[src_accept]=$(awk -v n="$BENCH_MESSAGES" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / (b - a)}')
	R[src_wall]=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
	set +e
	wait "$WAITER_PID"
	rc=$?
	set -e
	WAITER_PID=""
	if [ "$rc" -ne 0 ] || [ "$(jq -r '.sink.timed_out' "$BENCH_DIR/$name-source-sink.json" 2>/dev/null)" != false ]; then
		note "$name: the sink did not get all messages from smtp-source: $(tail -n 2 "$BENCH_DIR/$name-source-sink.log" | tr '\n' ' ')"
		R[src_e2e]="incomplete"
		FAILED=1
	else
		R[src_e2e]=$(jq -r '.sink.msgs_per_s | floor' "$BENCH_DIR/$name-source-sink.json")
	fi
	verdict src
	note "$name: smtp-source took ${R[src_wall]}s: ${R[src_accept]} msgs/s accepted, ${R[src_e2e]} msgs/s end-to-end; sink: $VERDICT"
}

# run_load NAME ADDR: smtpload run with the sink wait built in.
run_load() {
	local name=$1 addr=$2 rc out
	out=$BENCH_DIR/$name-load.json
	fresh_dump
	note "$name: smtpload, $BENCH_MESSAGES messages, $BENCH_SESSIONS sessions, $BENCH_ALIASES recipients"
	set +e
	timeout --kill-after=10 $((BENCH_TIMEOUT * 2)) "$SMTPLOAD" -addr "$addr" -n "$BENCH_MESSAGES" \
		-c "$BENCH_SESSIONS" -size "$BENCH_SIZE" -from "$SENDER" -rcpt "$RCPTS" -id-prefix "$name-load" \
		-wait-sink "$SINK/dump" -wait-timeout "${BENCH_TIMEOUT}s" -out "$out" \
		</dev/null >"$BENCH_DIR/$name-load.log" 2>&1
	rc=$?
	set -e
	sed 's/^/    /' "$BENCH_DIR/$name-load.log" >&2
	if [ ! -s "$out" ]; then
		R[load_accept]="failed (exit $rc)"
		R[load_e2e]="-" R[p50]="-" R[p90]="-" R[p99]="-" R[max]="-"
		R[load_delivered]="-" R[load_dups]="-" R[load_check]="smtpload failed"
		FAILED=1
		return 0
	fi
	R[load_accept]=$(jq -r '.load.msgs_per_s | floor' "$out")
	R[p50]=$(jq -r '.load.latency_ms.p50 * 10 | round / 10' "$out")
	R[p90]=$(jq -r '.load.latency_ms.p90 * 10 | round / 10' "$out")
	R[p99]=$(jq -r '.load.latency_ms.p99 * 10 | round / 10' "$out")
	R[max]=$(jq -r '.load.latency_ms.max | round' "$out")
	if [ "$(jq -r '.load.ok' "$out")" != "$BENCH_MESSAGES" ]; then
		R[load_accept]="${R[load_accept]} ($(jq -r '"ok \(.load.ok), 4xx \(.load.temp_fail), 5xx \(.load.perm_fail), net \(.load.net_fail)"' "$out"))"
		FAILED=1
	fi
	if [ "$(jq -r '.sink.timed_out' "$out")" != false ]; then
		R[load_e2e]="incomplete"
		FAILED=1
	else
		R[load_e2e]=$(jq -r '.sink.msgs_per_s | floor' "$out")
	fi
	verdict load
}

# verdict KIND: checks the dump after a run; sets R[KIND_delivered] (distinct Message-IDs at
# the sink), R[KIND_dups] (files whose Message-ID was already there), R[KIND_check] ("ok" or
# what is wrong) and VERDICT, and FAILED.
verdict() {
	local kind=$1 files ids dups mis
	sleep 1 # let stragglers (duplicates) arrive
	read -r files ids dups mis < <(check_sink)
	R[${kind}_delivered]=$ids
	R[${kind}_dups]=$dups
	if [ "$files" -eq "$BENCH_MESSAGES" ] && [ "$ids" -eq "$BENCH_MESSAGES" ] && [ "$dups" -eq 0 ] && [ "$mis" -eq 0 ]; then
		VERDICT="$files ok"
		R[${kind}_check]=ok
	else
		FAILED=1
		VERDICT="$files files, $ids ids, $dups dup, $mis misrouted"
		R[${kind}_check]="**$VERDICT**"
		note "sink check failed: $VERDICT"
	fi
}

# warm_up NAME ADDR: a short smtpload run whose numbers are thrown away (process start-up,
# connection caches, Postfix's concurrency ramp).
warm_up() {
	local n=$WARMUP
	[ "$n" -le "$BENCH_MESSAGES" ] || n=$BENCH_MESSAGES
	fresh_dump
	note "$1: warm-up, $n messages"
	timeout "$BENCH_TIMEOUT" "$SMTPLOAD" -addr "$2" -n "$n" -c "$BENCH_SESSIONS" -size "$BENCH_SIZE" \
		-from "$SENDER" -rcpt "$RCPTS" -id-prefix "$1-warmup" -wait-sink "$SINK/dump" \
		-wait-timeout "${BENCH_TIMEOUT}s" >"$BENCH_DIR/$1-warmup.log" 2>&1 ||
		die "$1: warm-up failed: $(tail -n 4 "$BENCH_DIR/$1-warmup.log" | tr '\n' ' ')"
}

# rows NAME CPU MEMORY: appends the forwarder's two table rows (smtp-source, smtpload) from R.
rows() {
	ROWS+=("| $1 | smtp-source | ${R[src_accept]} | ${R[src_e2e]} | - | - | - | - | ${R[src_delivered]}/$BENCH_MESSAGES | ${R[src_dups]} | ${R[src_check]} | $2 | $3 |")
	ROWS+=("| $1 | smtpload | ${R[load_accept]} | ${R[load_e2e]} | ${R[p50]} | ${R[p90]} | ${R[p99]} | ${R[max]} | ${R[load_delivered]}/$BENCH_MESSAGES | ${R[load_dups]} | ${R[load_check]} | $2 | $3 |")
}

# ------------------------------------------------------------------ Postfix
R=()
note "starting Postfix (virtual map of $BENCH_ALIASES aliases, relayhost 127.0.0.1:$SINK_PORT)"
"$POSTFIX_SH" stop "$PF"
rm -rf "$PF"
POSTFIX_VIRTUAL=$VIRTUAL POSTFIX_RELAY_PORT=$SINK_PORT POSTFIX_DOMAIN=$DOMAIN "$POSTFIX_SH" start "$PF"
eval "$("$POSTFIX_SH" env "$PF")"
PF_ADDR=$CATCHALL_TEST_POSTFIX_ADDR
PF_PID=$(tr -d ' \n' <"$PF/queue/pid/master.pid")
POSTFIX_V=$(postconf -c "$PF/etc" -h mail_version)


warm_up postfix "$PF_ADDR"
wait_postfix_queue
sampler "$BENCH_DIR/postfix.mem" "$PF_PID" &
SAMPLER_PID=$!
PF_CPU0=$(cpu_ticks "$PF_PID")
run_source postfix "$PF_ADDR"
wait_postfix_queue
run_load postfix "$PF_ADDR"
wait_postfix_queue
PF_CPU=$(cpu_ms_per_msg $(($(cpu_ticks "$PF_PID") - PF_CPU0)) $((2 * BENCH_MESSAGES)))
stop_bg "$SAMPLER_PID"
SAMPLER_PID=""
read -r PF_RSS PF_PSS <"$BENCH_DIR/postfix.mem" || { PF_RSS=0 PF_PSS=0; }
PF_PROCS=$(pgrep -g "$PF_PID" | wc -l)
PF_SRC_ACCEPT=${R[src_accept]} PF_LOAD_ACCEPT=${R[load_accept]}
rows "Postfix $POSTFIX_V" "$PF_CPU" "PSS $((PF_PSS / 1024)) (RSS sum $((PF_RSS / 1024)), $PF_PROCS processes)"
"$POSTFIX_SH" stop "$PF"

# ------------------------------------------------------------------ catchall relay
# bench_catchall LABEL INSTANCES STORE: runs INSTANCES catchall relays on STORE ("" = each its
# own SQLite store in its spool; a postgres:// URL = one shared store), each with its own spool,
# the plan imported first. One instance: warm-up, smtp-source, smtpload (as for Postfix); two:
# warm-up and smtpload with the sessions spread over both (smtp-source takes one address).
# Appends the rows; sets CA_SRC_ACCEPT/CA_LOAD_ACCEPT for the first (SQLite) call and
# STORE_ROWS with the store's statements per message.
STORE_ROWS=()
# pg_cpu_ticks: CPU ticks of the PostgreSQL server: its postmaster (with the backends it
# reaped) and its live children.
pg_cpu_ticks() {
	local pm p files=()
	pm=$(head -n 1 "$PGDIR/data/postmaster.pid")
	for p in $pm $(pgrep -P "$pm"); do files+=("/proc/$p/stat"); done
	stat_ticks "${files[@]}"
}
bench_catchall() {
	local label=$1 instances=$2 store=$3 i port admin spool addrs="" admins=() cpu0=0 cpu1=0 q0=0 q1=0 hwm=0 h rss=0 pss=0 p pg0=0 pg1=0
	R=()
	for i in $(seq 1 "$instances"); do
		port=$(free_port)
		admin=$(free_port)
		while [ "$admin" = "$port" ]; do admin=$(free_port); done
		spool=$SPOOL-$label-$i
		rm -rf "$spool"
		mkdir -p "$spool"
		local store_args=()
		[ -z "$store" ] || store_args=(--store "$store")
		if [ "$i" = 1 ]; then
			note "catchall ($label): relay import ($BENCH_ALIASES aliases)"
			"$CATCHALL" relay import --plan "$PLAN" --spool "$spool" "${store_args[@]}" >"$BENCH_DIR/catchall-$label-import.log" 2>&1 ||
				die "catchall relay import failed: $(tail -n 5 "$BENCH_DIR/catchall-$label-import.log" | tr '\n' ' ')"
		fi
		RELAY_ARGS=(--listen "127.0.0.1:$port" --domain "$DOMAIN" --plan "$PLAN" --spool "$spool" "${store_args[@]}"
			--smarthost "smtp+plain://127.0.0.1:$SINK_PORT" --admin "127.0.0.1:$admin"
			--hostname "relay-bench-$i.localdomain" --rate-limit 0 --max-connections-per-ip 100)
		note "catchall ($label): starting relay $i on 127.0.0.1:$port (admin 127.0.0.1:$admin)"
		# --rate-limit 0 and --max-connections-per-ip 100: every benchmark session comes from
		# 127.0.0.1, and the defaults (600/min, 20 connections per address) would throttle it.
		# SRS stays on (the realistic configuration; secret created in SPOOL/srs.secret).
		setsid "$CATCHALL" relay "${RELAY_ARGS[@]}" </dev/null >"$BENCH_DIR/catchall-$label-$i.log" 2>&1 &
		RELAY_PIDS+=($!)
		local deadline=$((SECONDS + 30))
		until curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$admin/healthz" 2>/dev/null; do
			kill -0 "${RELAY_PIDS[-1]}" 2>/dev/null ||
				die "catchall relay exited: $(tail -n 5 "$BENCH_DIR/catchall-$label-$i.log" | tr '\n' ' ')"
			[ "$SECONDS" -lt "$deadline" ] ||
				die "catchall relay: http://127.0.0.1:$admin/healthz not 200 within 30s: $(tail -n 5 "$BENCH_DIR/catchall-$label-$i.log" | tr '\n' ' ')"
			sleep 0.2
		done
		wait_banner "$port" 30 || die "catchall relay does not greet on 127.0.0.1:$port"
		addrs=${addrs:+$addrs,}127.0.0.1:$port
		admins+=("$admin")
	done
	# The Commands section shows the first (SQLite) relay, the one the main table describes.
	[ -n "${RELAY_CMD:-}" ] || RELAY_CMD="$CATCHALL relay ${RELAY_ARGS[*]}"

	# metric ADMIN NAME: the value of an unlabelled metric on /metrics (integer).
	metric() {
		curl -fsS --max-time 5 "http://127.0.0.1:$1/metrics" |
			awk -v m="$2" '$1 == m {printf "%.0f\n", $2; found = 1} END {exit !found}'
	}
	# wait_catchall_queue: every relay's queue must be empty before the next run starts.
	wait_catchall_queue() {
		local deadline=$((SECONDS + BENCH_TIMEOUT)) q a p total
		while :; do
			total=0
			for p in "${RELAY_PIDS[@]}"; do
				kill -0 "$p" 2>/dev/null ||
					die "a catchall relay ($label) exited: $(tail -n 5 "$BENCH_DIR"/catchall-"$label"-*.log | tr '\n' ' ')"
			done
			for a in "${admins[@]}"; do
				q=$(metric "$a" catchall_relay_queue_messages) || die "catchall relay ($label): no /metrics on 127.0.0.1:$a"
				total=$((total + q))
			done
			[ "$total" != 0 ] || return 0
			[ "$SECONDS" -lt "$deadline" ] || die "catchall relay queues still hold $total messages after ${BENCH_TIMEOUT}s"
			sleep 0.2
		done
	}
	queries() {
		local a n=0 v
		for a in "${admins[@]}"; do
			v=$(metric "$a" catchall_relay_store_queries_total) || die "catchall relay ($label): no store statements on 127.0.0.1:$a/metrics"
			n=$((n + v))
		done
		echo "$n"
	}

	warm_up "catchall-$label" "$addrs"
	wait_catchall_queue
	sampler "$BENCH_DIR/catchall-$label.mem" "${RELAY_PIDS[@]}" &
	SAMPLER_PID=$!
	sleep 2.5 # the warm-up's last statistics flush, outside the measured period
	cpu0=$(cpu_ticks "${RELAY_PIDS[@]}")
	q0=$(queries)
	[ -z "$store" ] || pg0=$(pg_cpu_ticks)
	local runs=1
	if [ "$instances" = 1 ]; then
		run_source "catchall-$label" "$addrs"
		wait_catchall_queue
		runs=2
	else
		R[src_accept]="-" R[src_e2e]="-" R[src_delivered]="-" R[src_dups]="-" R[src_check]="(one address only)"
	fi
	run_load "catchall-$label" "$addrs"
	wait_catchall_queue
	sleep 2.5 # the last statistics flush
	q1=$(queries)
	[ -z "$store" ] || pg1=$(pg_cpu_ticks)
	cpu1=$(cpu_ticks "${RELAY_PIDS[@]}")
	local cpu pgcpu="-"
	cpu=$(cpu_ms_per_msg $((cpu1 - cpu0)) $((runs * BENCH_MESSAGES)))
	[ -z "$store" ] || pgcpu=$(awk -v t=$((pg1 - pg0)) -v n=$((runs * BENCH_MESSAGES)) -v hz="$CLK_TCK" 'BEGIN {printf "%.4f", t * 1000 / hz / n}')
	for p in "${RELAY_PIDS[@]}"; do
		h=$(awk '/^VmHWM:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
		hwm=$((hwm + h))
	done
	stop_bg "$SAMPLER_PID"
	SAMPLER_PID=""
	read -r rss pss <"$BENCH_DIR/catchall-$label.mem" || { rss=0 pss=0; }
	stop_relays
	local qpm
	qpm=$(awk -v q=$((q1 - q0)) -v n=$((runs * BENCH_MESSAGES)) 'BEGIN {printf "%.3f", q / n}')
	STORE_ROWS+=("| $label | $instances | ${R[load_accept]} | $cpu | $((q1 - q0)) | $qpm | $pgcpu |")
	LAST_CPU=$cpu LAST_QPM=$qpm LAST_LOAD=${R[load_accept]} LAST_PGCPU=$pgcpu
	local mem="VmHWM $((hwm / 1024)) (RSS $((rss / 1024)), PSS $((pss / 1024)))"
	[ "$instances" = 1 ] || mem="VmHWM sum $((hwm / 1024)) (RSS $((rss / 1024)), PSS $((pss / 1024)))"
	if [ "$instances" = 1 ]; then
		rows "catchall relay ($label)" "$cpu" "$mem"
	else
		ROWS+=("| catchall relay ($label) | smtpload | ${R[load_accept]} | ${R[load_e2e]} | ${R[p50]} | ${R[p90]} | ${R[p99]} | ${R[max]} | ${R[load_delivered]}/$BENCH_MESSAGES | ${R[load_dups]} | ${R[load_check]} | $cpu | $mem |")
	fi
}

CATCHALL_V="skipped"
PG_V=""
if [ "$SKIP_CATCHALL" = 1 ]; then
	note "SKIP_CATCHALL=1: not running catchall relay"
	ROWS+=("| catchall relay | skipped (SKIP_CATCHALL=1) | | | | | | | | | | | |")
else
	CATCHALL_V=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)
	bench_catchall sqlite 1 ""
	CA_SRC_ACCEPT=${R[src_accept]} CA_LOAD_ACCEPT=${R[load_accept]}
	SQLITE_CPU=$LAST_CPU SQLITE_LOAD=$LAST_LOAD
	if [ "${SKIP_POSTGRES:-0}" != 1 ]; then
		# PostgreSQL: a private cluster (fsync on, as in production), one database per row.
		PGDIR=$BENCH_DIR/postgres
		"$ROOT/scripts/testenv/postgres.sh" stop "$PGDIR" # a cluster left in a given BENCH_DIR by an earlier run
		rm -rf "$PGDIR"
		"$ROOT/scripts/testenv/postgres.sh" start "$PGDIR"
		eval "$("$ROOT/scripts/testenv/postgres.sh" env "$PGDIR")"
		export CATCHALL_STORE_PASSWORD=$CATCHALL_TEST_POSTGRES_PASSWORD
		PG_V=$("$ROOT/scripts/testenv/postgres.sh" psql "$PGDIR" -At -c 'SHOW server_version' | cut -d" " -f1)
		for db in one two; do "$ROOT/scripts/testenv/postgres.sh" psql "$PGDIR" -c "CREATE DATABASE bench_$db"; done
		PGBASE=${CATCHALL_TEST_POSTGRES%/postgres*}
		bench_catchall postgres 1 "$PGBASE/bench_one?sslmode=disable"
		PG1_CPU=$LAST_CPU PG1_LOAD=$LAST_LOAD PG1_QPM=$LAST_QPM PG1_PGCPU=$LAST_PGCPU
		bench_catchall postgres-x2 2 "$PGBASE/bench_two?sslmode=disable"
		PG2_LOAD=$LAST_LOAD PG2_QPM=$LAST_QPM PG2_PGCPU=$LAST_PGCPU
	fi
fi

RATIO=""
if [ "$SKIP_CATCHALL" = 0 ]; then
	RATIO="$(ratio "${CA_SRC_ACCEPT:-}" "${PF_SRC_ACCEPT:-}")× with smtp-source, $(ratio "${CA_LOAD_ACCEPT:-}" "${PF_LOAD_ACCEPT:-}")× with smtpload"
fi
CPU=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || true)
MEM_GIB=$(awk '/^MemTotal/ {printf "%.1f", $2 / 1048576}' /proc/meminfo)
FS=$(df -PT "$BENCH_DIR" | awk 'NR == 2 {print $2 " on " $1}')
# One 4 KiB write + fsync, the cost both forwarders pay per accepted message (at least).
FSYNC_MS=$(dd if=/dev/zero of="$BENCH_DIR/fsync-probe" bs=4k count=200 oflag=dsync 2>&1 |
	awk '/copied/ {for (i = 1; i <= NF; i++) if ($i == "s,") printf "%.2f", $(i - 1) * 1000 / 200}')
rm -f "$BENCH_DIR/fsync-probe"
GO_V=$(go version | cut -d' ' -f3)

SECTION=$BENCH_DIR/relay-section.md
{
	echo "## relay"
	echo
	echo "SMTP forwarding of $BENCH_MESSAGES messages of $BENCH_SIZE bytes over $BENCH_SESSIONS parallel sessions"
	echo "(\`scripts/bench-relay.sh\`, run $(date -u '+%Y-%m-%d %H:%M UTC')): client → forwarder → smtp-sink, all on"
	echo "127.0.0.1, the forwarder mapping $BENCH_ALIASES aliases a1..a$BENCH_ALIASES@$DOMAIN to $TARGET."
	echo "\"accepted\" = messages / client wall time (the forwarder answered 250 to the final dot);"
	echo "\"end-to-end\" = messages / time from the client's start until smtp-sink held all of them"
	echo "(polled every 0.1 s). smtp-source sends every message to a1@$DOMAIN (it cannot cycle"
	echo "recipients) and uses HELO, no pipelining; smtpload cycles through all aliases and gives the"
	echo "accept latency, MAIL FROM to the 250 after the final dot. Each forwarder had a $WARMUP-message"
	echo "warm-up first. Both queues are durable: Postfix's cleanup fsyncs every queue file before"
	echo "smtpd answers 250 (not configurable), catchall relay fsyncs its spool file before answering."
	echo "Memory: catchall is one process (VmHWM); Postfix is a master and its children, so its PSS"
	echo "(and RSS, which counts shared pages once per process) is summed over the process group,"
	echo "sampled every 0.5 s (peak over both runs). MB = 2^20 bytes. \"delivered\" = distinct"
	echo "Message-IDs at the sink, \"duplicates\" = sink files whose Message-ID came before; \"check\":"
	echo "the sink held exactly N files with N distinct Message-IDs, each addressed to $TARGET only."
	echo "\"CPU ms/msg\": user + system CPU time of the forwarder's processes (Postfix: the whole process"
	echo "group plus the children its master reaped) over both measured runs including delivery, per"
	echo "message; unlike the rates it does not depend on what else the machine was doing."
	echo "Reference (issue #6): Postfix ≈ 1,000 msgs/s with 4 KB messages, 20 sessions, 2 cores;"
	echo "target: catchall relay at least Postfix's throughput."
	echo
	echo "- machine: $(nproc) CPUs${CPU:+ ($CPU)}, ${MEM_GIB} GiB RAM, Linux $(uname -r); queue and spool on $FS (4 KiB write + fsync: ${FSYNC_MS:-?} ms); load average at the start $LOAD_AVG"
	echo "- versions: Postfix $POSTFIX_V (Debian); catchall $CATCHALL_V; $GO_V${PG_V:+; PostgreSQL $PG_V (Debian)}"
	echo "- Postfix: scripts/testenv/postfix.sh — virtual_alias_maps hash:, relayhost [127.0.0.1]:sink, chroot off, default_process_limit 100, queue/concurrency defaults (20 deliveries to the sink, in_flow_delay 1s), smtpd_forbid_bare_newline = yes, no SRS"
	echo "- catchall relay: SRS on, --workers default (4 deliveries to the sink), --rate-limit 0, --max-connections-per-ip 100"
	[ -z "$RATIO" ] || echo "- catchall / Postfix accepted msgs/s: $RATIO"
	echo
	echo "| forwarder | client | accepted msgs/s | end-to-end msgs/s | p50 ms | p90 ms | p99 ms | max ms | delivered | duplicates | check | CPU ms/msg | peak memory MB |"
	echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |"
	printf '%s\n' "${ROWS[@]}"
	echo
	if [ ${#STORE_ROWS[@]} -gt 1 ]; then
		echo "### The alias store: SQLite and PostgreSQL"
		echo
		echo "The same relay with its store in SQLite (its spool) and in PostgreSQL $PG_V (a private cluster on the"
		echo "same machine, fsync on), one instance, then two instances sharing one PostgreSQL store with the"
		echo "smtpload sessions spread over both (each its own spool). \"statements\" = the relays'"
		echo "catchall_relay_store_queries_total over the measured runs (every statement and transaction"
		echo "sent to the store, including the 2 s poll of the change counter and the statistics flushes);"
		echo "\"PostgreSQL CPU\" = user + system CPU of the server's processes over the same runs."
		echo
		echo "| store | instances | smtpload accepted msgs/s | relay CPU ms/msg (sum) | statements | statements/msg | PostgreSQL CPU ms/msg |"
		echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
		printf '%s\n' "${STORE_ROWS[@]}"
		echo
		echo "- PostgreSQL / SQLite, one instance: $(ratio "${PG1_LOAD:-}" "${SQLITE_LOAD:-}")× the accepted rate, relay CPU ${PG1_CPU:-?} vs ${SQLITE_CPU:-?} ms/msg (target: within 15 %)."
		echo "- two instances / one, both on PostgreSQL: $(ratio "${PG2_LOAD:-}" "${PG1_LOAD:-}")× (target: no slower). This machine has $(nproc) cores, shared by smtpload, smtp-sink, PostgreSQL and the relays: two relays cannot add cores, so this shows the store is not the bottleneck, not scaling."
		awk -v r="${PG1_LOAD:-0}" -v q="${PG1_QPM:-0}" -v c="${PG1_PGCPU:-0}" -v rc="${PG1_CPU:-0}" 'BEGIN {
			if (r + 0 == 0 || c + 0 == 0) { print "- estimate: not computed (a PostgreSQL row is missing)"; exit }
			per = r * c            # PostgreSQL CPU ms per second of one instance at full load
			full = 2000 / rc       # msgs/s one instance reaches on 2 cores of its own (relay CPU only)
			printf "- estimate of instances per PostgreSQL server, from this run: one instance at %d msgs/s sends %.1f statements/s (%s per message) costing the server %.4f ms CPU per message = %.1f ms CPU per second; one PostgreSQL core (1,000 ms/s) therefore serves 1000 / %.1f ≈ %d such instances. An instance on 2 cores of its own would reach about 2000 / %s ≈ %d msgs/s (relay CPU), costing PostgreSQL %.1f ms/s: still ≈ %d instances per PostgreSQL core. Statistics are flushed every 2 s per instance whatever the rate, so the statements per message fall as the rate rises.\n", r, r * q, q, c, per, per, 1000 / per, rc, full, full * c, 1000 / (full * c)
		}'
		echo
	fi
	echo "Commands (ports vary per run):"
	echo
	echo '```sh'
	echo "smtp-sink -u nobody -d '$SINK/dump/%Y%m%d%H/%M.' -m 1024 -t 300 127.0.0.1:$SINK_PORT 1024" | q
	echo "POSTFIX_VIRTUAL=$VIRTUAL POSTFIX_RELAY_PORT=$SINK_PORT scripts/testenv/postfix.sh start $PF   # $PF_ADDR" | q
	if [ "$SKIP_CATCHALL" = 0 ]; then
		echo "$CATCHALL relay import --plan $PLAN --spool \$SPOOL [--store \$STORE]" | q
		echo "$RELAY_CMD" | q
	fi
	echo "smtp-source -s $BENCH_SESSIONS -m $BENCH_MESSAGES -l $SOURCE_LEN -d -f $SENDER -t a1@$DOMAIN -M bench-client \$FORWARDER"
	echo "smtpload -wait-sink $SINK/dump -wait-count $BENCH_MESSAGES -wait-start \$T0   # alongside smtp-source" | q
	echo "smtpload -addr \$FORWARDER -n $BENCH_MESSAGES -c $BENCH_SESSIONS -size $BENCH_SIZE -from $SENDER -rcpt \"\$(seq -s, -f 'a%.0f@$DOMAIN' 1 $BENCH_ALIASES)\" -wait-sink $SINK/dump" | q
	echo '```'
} >"$SECTION"

python3 scripts/benchmd.py "$BENCH_OUTPUT" "$SECTION"

cat "$SECTION"
[ "$FAILED" = 0 ] || die "not every run delivered every message exactly once (see the check column; logs in $BENCH_DIR with BENCH_KEEP=1)"
