#!/usr/bin/env bash
# make bench-classify: `catchall aliases` over a generated Maildir of
# BENCH_CLASSIFY_MESSAGES (default 100000) messages, warm cache, against the
# raw cost of reading the same files' header bytes (Go benchmark
# BenchmarkReadHeaders on the same Maildir). Writes the "## classify" section
# of BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${BENCH_CLASSIFY_MESSAGES:-100000}
CATCHALL=${CATCHALL:-bin/catchall}
OUT=${BENCH_OUTPUT:-BENCHMARKS.md}
DIR=$(mktemp -d /tmp/catchall-bench-classify.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
command -v /usr/bin/time >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -q time >/dev/null; }

echo "bench-classify: generating $N messages" >&2
go run ./scripts/gencorpus -out "$DIR/maildir" -messages "$N" -seed 5 -huge 0 >&2
msgs=$(find "$DIR/maildir" -path '*/cur/*' -type f | wc -l)
bytes=$(du -sb "$DIR/maildir" | cut -f1)

echo "bench-classify: warming the cache" >&2
find "$DIR/maildir" -type f -print0 | xargs -0 cat > /dev/null

run() { # label, command...: best wall time of 3 runs and peak RSS
	local best="" rss=0
	for _ in 1 2 3; do
		/usr/bin/time -f '%e %M' -o "$DIR/time" "$@" > /dev/null
		read -r wall kb < "$DIR/time"
		if [ -z "$best" ] || awk "BEGIN{exit !($wall < $best)}"; then best=$wall; fi
		[ "$kb" -gt "$rss" ] && rss=$kb
	done
	echo "$best $((rss / 1024))"
}
read -r wall rss < <(run "$CATCHALL" aliases --maildir "$DIR/maildir" --format csv)
aliases=$("$CATCHALL" aliases --maildir "$DIR/maildir" --format csv | tail -n +2 | wc -l)

echo "bench-classify: Go benchmarks on the same Maildir" >&2
gobench=$(CATCHALL_BENCH_MAILDIR="$DIR/maildir" go test -run '^$' -bench 'BenchmarkBuild|BenchmarkReadHeaders' -benchtime 3x ./classify/)
echo "$gobench" >&2
build=$(echo "$gobench" | awk '/^BenchmarkBuild/ {print int($5)}')
floor=$(echo "$gobench" | awk '/^BenchmarkReadHeaders/ {print int($5)}')

rate=$(awk "BEGIN{printf \"%d\", $msgs / $wall}")
section=$(cat <<MD
## classify

\`catchall aliases --maildir\` over a generated Maildir (\`scripts/bench-classify.sh\`, run
$(date -u '+%Y-%m-%d %H:%M') UTC): $msgs messages, $((bytes / 1048576)) MiB, $aliases aliases, page cache warm,
best of 3. "Floor" reads the same files' header bytes with the same parallel reader and parses
nothing (Go benchmark \`BenchmarkReadHeaders\`); \`BenchmarkBuild\` is the inventory in-process.

- machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM; $(go version | cut -d' ' -f3)

| what | msgs/s | peak RSS MB |
| --- | ---: | ---: |
| catchall aliases (whole command, wall $wall s) | $rate | $rss |
| BenchmarkBuild (in-process) | $build | |
| floor: read header bytes only | $floor | |

Target ≥ 30,000 msgs/s warm on 2 cores. Memory grows with the number of aliases, not messages.
MD
)
printf '%s\n' "$section" > "$DIR/classify-section.md"
python3 scripts/benchmd.py "$OUT" "$DIR/classify-section.md"
echo "$section"
