#!/usr/bin/env bash
# Helpers shared by the SMTP benchmarks (bench-relay.sh, bench-submit.sh); sourced, not run.
# They expect PROG, BENCH_DIR and, for fresh_dump/wait_postfix_queue, the variables those scripts set.

note() { echo "$PROG: $*" >&2; }

# fresh_dump: an empty dump directory for the next run. smtp-sink keeps running (the forwarders'
# cached connections to it stay valid) and recreates the hour directories below dump/ itself;
# dump/ stays, it belongs to the sink's user.
fresh_dump() {
	# A straggler being written can make a directory non-empty again; one more pass.
	find "$SINK/dump" -mindepth 1 -delete 2>/dev/null || { sleep 1; find "$SINK/dump" -mindepth 1 -delete; }
}

# sampler OUT PGID...: every 0.5 s, sum RSS and PSS over the processes in the process groups
# and keep the maxima, in kB, in OUT as "rss pss".
sampler() {
	local out=$1 max_rss=0 max_pss=0 rss pss files p g
	shift
	while :; do
		files=()
		for g in "$@"; do
			for p in $(pgrep -g "$g"); do files+=("/proc/$p/smaps_rollup"); done
		done
		if [ ${#files[@]} -gt 0 ]; then
			read -r rss pss < <(cat "${files[@]}" 2>/dev/null | awk '/^Rss:/ {r += $2} /^Pss:/ {p += $2} END {print r + 0, p + 0}')
			[ "$rss" -le "$max_rss" ] || max_rss=$rss
			[ "$pss" -le "$max_pss" ] || max_pss=$pss
			echo "$max_rss $max_pss" >"$out.tmp" && mv -f "$out.tmp" "$out"
		fi
		sleep 0.5
	done
}

# cpu_ticks PGID...: CPU time (user + system + reaped children's, clock ticks) of the processes
# in the process groups (bench-relay.sh's measure, over several groups).
cpu_ticks() {
	local files=() p g
	for g in "$@"; do
		for p in $(pgrep -g "$g"); do files+=("/proc/$p/stat"); done
	done
	stat_ticks "${files[@]}"
}

# stat_ticks FILE...: the CPU ticks in /proc/PID/stat files; a process that left meanwhile
# counts nothing (under pipefail a failed cat would end the script without a word).
stat_ticks() {
	[ $# -gt 0 ] || { echo 0; return 0; }
	{ cat "$@" 2>/dev/null || true; } | sed 's/^.*) //' | awk '{t += $12 + $13 + $14 + $15} END {print t + 0}'
}

# stop_pid PID NAME: SIGTERM, wait up to 60 s, then KILL.
stop_pid() {
	local pid=$1 deadline=$((SECONDS + 60))
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	while kill -0 "$pid" 2>/dev/null; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			note "$2 (pid $pid) did not exit within 60s of SIGTERM; sending KILL"
			kill -KILL "$pid" 2>/dev/null || true
			break
		fi
		sleep 0.1
	done
	wait "$pid" 2>/dev/null || true
}

# stop_bg PID...: stop our background helpers (sampler, waiter).
stop_bg() {
	local p
	for p in "$@"; do
		[ -n "$p" ] || continue
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
}

cpu_ms_per_msg() {
	awk -v t="$1" -v n="$2" -v hz="$CLK_TCK" 'BEGIN {printf "%.2f", t * 1000 / hz / n}'
}

wait_postfix_queue() {
	local deadline=$((SECONDS + BENCH_TIMEOUT)) q
	while :; do
		q=$("$POSTFIX_SH" status "$PF" | sed -n 's/.*queued=\([0-9]*\).*/\1/p')
		[ "$q" != 0 ] || return 0
		[ "$SECONDS" -lt "$deadline" ] || die "Postfix queue still holds $q messages after ${BENCH_TIMEOUT}s"
		sleep 0.2
	done
}

# ------------------------------------------------------------------ report
ratio() {
	if [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ ]] && [[ $2 =~ ^[0-9]+(\.[0-9]+)?$ ]] && [ "$2" != 0 ]; then
		awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'
	else
		echo "?"
	fi
}

q() { sed "s|$BENCH_DIR|\$BENCH_DIR|g"; }
