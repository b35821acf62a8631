#!/usr/bin/env bash
# Fetch benchmark (`make bench-fetch`): catchall vs mbsync vs offlineimap downloading a whole
# generated account from a real Dovecot on 127.0.0.1 over plaintext IMAP.
#
# Knobs (environment):
#   BENCH_MESSAGES   messages in the generated corpus          (default 20000)
#   BENCH_HUGE_SIZE  size in bytes of the one huge message      (default 52428800)
#   CATCHALL         catchall binary                            (default ./bin/catchall)
#   BENCH_DIR        work directory                             (default: a new mktemp dir,
#                    removed at the end unless BENCH_KEEP=1; a given BENCH_DIR is kept)
#   BENCH_CORPUS     use this existing Maildir tree instead of running scripts/gencorpus
#   BENCH_TIMEOUT    seconds each tool may run                  (default 1800)
#   BENCH_TOOLS      tools to run                               (default "catchall mbsync offlineimap")
#   BENCH_OUTPUT     markdown file whose "## fetch" section is replaced (default BENCHMARKS.md)
#   BENCH_STRICT=1   exit 1 when catchall is skipped, fails, or is not complete and byte-exact
#
# Output: the table on stdout and the "## fetch" section of BENCHMARKS.md at the repo root.
set -euo pipefail

PROG=bench-fetch
# shellcheck source=scripts/testenv/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/testenv/lib.sh"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

BENCH_MESSAGES=${BENCH_MESSAGES:-20000}
BENCH_HUGE_SIZE=${BENCH_HUGE_SIZE:-52428800}
CATCHALL=${CATCHALL:-./bin/catchall}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-1800}
BENCH_TOOLS=${BENCH_TOOLS:-catchall mbsync offlineimap}
BENCH_OUTPUT=${BENCH_OUTPUT:-$ROOT/BENCHMARKS.md}
DOVECOT_SH=$ROOT/scripts/testenv/dovecot.sh
IMAPLIST=$ROOT/scripts/testenv/imaplist.py

note() { echo "$PROG: $*" >&2; }

[[ $BENCH_MESSAGES =~ ^[0-9]+$ ]] || die "BENCH_MESSAGES must be a number, got '$BENCH_MESSAGES'"
[[ $BENCH_HUGE_SIZE =~ ^[0-9]+$ ]] || die "BENCH_HUGE_SIZE must be a number, got '$BENCH_HUGE_SIZE'"
[[ $BENCH_TIMEOUT =~ ^[0-9]+$ ]] || die "BENCH_TIMEOUT must be a number, got '$BENCH_TIMEOUT'"
[ "$(id -u)" -eq 0 ] || die "must run as root (installs packages, runs a private Dovecot)"

# ------------------------------------------------------------------ packages
pkgs=()
command -v mbsync >/dev/null 2>&1 || pkgs+=(isync)
command -v offlineimap >/dev/null 2>&1 || pkgs+=(offlineimap3)
[ -x /usr/bin/time ] || pkgs+=(time)
command -v python3 >/dev/null 2>&1 || pkgs+=(python3)
if [ ${#pkgs[@]} -gt 0 ]; then
	note "installing ${pkgs[*]}"
	apt_install "${pkgs[@]}"
fi

# ------------------------------------------------------------------ work dir + cleanup
CREATED_DIR=0
if [ -z "${BENCH_DIR:-}" ]; then
	BENCH_DIR=$(mktemp -d /tmp/catchall-bench.XXXXXX)
	CREATED_DIR=1
fi
mkdir -p "$BENCH_DIR"
BENCH_DIR=$(cd "$BENCH_DIR" && pwd)
# Dovecot's unprivileged processes must be able to traverse it.
chmod a+rx "$BENCH_DIR"
DOVE=$BENCH_DIR/dovecot

cleanup() {
	local rc=$?
	"$DOVECOT_SH" stop "$DOVE" || true
	if [ "$CREATED_DIR" = 1 ] && [ "${BENCH_KEEP:-0}" != 1 ]; then
		rm -rf "$BENCH_DIR"
	else
		note "work files kept in $BENCH_DIR"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ corpus
if [ -n "${BENCH_CORPUS:-}" ]; then
	CORPUS=$(cd "$BENCH_CORPUS" && pwd) || die "BENCH_CORPUS=$BENCH_CORPUS is not a directory"
	note "using existing corpus $CORPUS"
else
	[ -d "$ROOT/scripts/gencorpus" ] || die "scripts/gencorpus is missing (or set BENCH_CORPUS to a Maildir tree)"
	command -v go >/dev/null 2>&1 || die "go is not on PATH (needed for scripts/gencorpus)"
	CORPUS=$BENCH_DIR/corpus
	rm -rf "$CORPUS"
	note "generating $BENCH_MESSAGES messages (+1 of $BENCH_HUGE_SIZE bytes) in $CORPUS"
	timeout "$BENCH_TIMEOUT" go run ./scripts/gencorpus -out "$CORPUS" -messages "$BENCH_MESSAGES" \
		-seed 1 -huge 1 -huge-size "$BENCH_HUGE_SIZE" >"$BENCH_DIR/gencorpus.log" 2>&1 ||
		die "gencorpus failed: $(tail -n 5 "$BENCH_DIR/gencorpus.log" | tr '\n' ' ')"
fi
[ -d "$CORPUS" ] || die "corpus $CORPUS missing"

# ------------------------------------------------------------------ server
# Always a fresh account: a reused BENCH_DIR must not seed on top of an older run.
"$DOVECOT_SH" stop "$DOVE"
rm -rf "$DOVE"
"$DOVECOT_SH" start "$DOVE"
eval "$("$DOVECOT_SH" env "$DOVE")"
IMAP_PORT=${CATCHALL_TEST_IMAP_ADDR##*:}
note "seeding alice"
seed_t0=$(date +%s.%N)
"$DOVECOT_SH" seed "$DOVE" alice "$CORPUS"
seed_t1=$(date +%s.%N)
note "taking the reference listing"
timeout "$BENCH_TIMEOUT" python3 "$IMAPLIST" --host 127.0.0.1 --port "$IMAP_PORT" \
	--user alice --password secret >"$BENCH_DIR/reference.tsv" ||
	die "reference listing (imaplist.py) failed"
REF_N=$(wc -l <"$BENCH_DIR/reference.tsv")
REF_BYTES=$(awk -F'\t' '{s += $4} END {printf "%d", s}' "$BENCH_DIR/reference.tsv")
REF_MAX=$(awk -F'\t' '$4 > m {m = $4} END {printf "%d", m}' "$BENCH_DIR/reference.tsv")
REF_FOLDERS=$(cut -f1 "$BENCH_DIR/reference.tsv" | sort -u | wc -l)
[ "$REF_N" -gt 0 ] || die "the server holds no messages after seeding"
cut -f5 "$BENCH_DIR/reference.tsv" | sort >"$BENCH_DIR/reference.sha"

# ------------------------------------------------------------------ tools
# check_output OUTDIR: prints "<files> <files whose sha256 matches the reference multiset>
# <files containing CRLF>".
check_output() {
	python3 - "$1" "$BENCH_DIR/reference.sha" <<'EOF'
import collections, hashlib, os, sys
out, ref = sys.argv[1], sys.argv[2]
want = collections.Counter(l.strip() for l in open(ref) if l.strip())
got = collections.Counter()
n = crlf = 0
for dirpath, dirnames, filenames in os.walk(out):
    if os.path.basename(dirpath) not in ("cur", "new"):
        continue
    for fn in filenames:
        p = os.path.join(dirpath, fn)
        if not os.path.isfile(p) or os.path.islink(p):
            continue
        h = hashlib.sha256()
        has_crlf = False
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
                has_crlf = has_crlf or b"\r\n" in chunk
        got[h.hexdigest()] += 1
        n += 1
        crlf += has_crlf
print(n, sum((got & want).values()), crlf)
EOF
}

ROWS=()
CATCHALL_OK=0
# run_tool NAME OUTDIR CMD...: times CMD, checks OUTDIR, appends a table row.
run_tool() {
	local name=$1 out=$2 t0 t1 rc wall rss files match crlf complete exact
	shift 2
	rm -rf "$out"
	note "running $name"
	t0=$(date +%s.%N)
	set +e
	/usr/bin/time -v -o "$BENCH_DIR/$name.time" \
		timeout --kill-after=10 "$BENCH_TIMEOUT" "$@" </dev/null >"$BENCH_DIR/$name.log" 2>&1
	rc=$?
	set -e
	t1=$(date +%s.%N)
	wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
	rss=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); printf "%.0f", $2 / 1024}' "$BENCH_DIR/$name.time" 2>/dev/null || true)
	[ -n "$rss" ] || rss="?"
	if [ -d "$out" ]; then
		read -r files match crlf < <(check_output "$out")
	else
		files=0 match=0 crlf=0
	fi
	complete="$files/$REF_N"
	if [ "$rc" -ne 0 ]; then
		complete="$complete (exit $rc)"
		note "$name exited $rc; last lines of $BENCH_DIR/$name.log:"
		tail -n 5 "$BENCH_DIR/$name.log" >&2 || true
	fi
	if [ "$files" -eq "$REF_N" ] && [ "$match" -eq "$REF_N" ]; then
		exact=yes
	else
		exact="no ($match/$REF_N match)"
		if [ "$files" -gt 0 ] && [ "$crlf" -eq 0 ]; then
			exact="no ($match/$REF_N match; stored with LF line ends)"
		fi
	fi
	if [ "$name" = catchall ] && [ "$rc" -eq 0 ] && [ "$exact" = yes ]; then
		CATCHALL_OK=1
	fi
	ROWS+=("$(awk -v n="$name" -v w="$wall" -v N="$REF_N" -v B="$REF_BYTES" -v r="$rss" -v c="$complete" -v e="$exact" \
		'BEGIN {printf "| %s | %s | %.0f | %.1f | %s | %s | %s |", n, w, N / w, B / 1048576 / w, r, c, e}')")
}

skip_row() {
	ROWS+=("| $1 | - | - | - | - | skipped: $2 | - |")
}

for tool in $BENCH_TOOLS; do
	case $tool in
	catchall)
		if [ -x "$CATCHALL" ]; then
			CATCHALL_PASSWORD=secret run_tool catchall "$BENCH_DIR/out-catchall" \
				"$CATCHALL" fetch --from "imap+plain://alice@127.0.0.1:$IMAP_PORT" \
				--archive "$BENCH_DIR/out-catchall" --quiet
		else
			note "catchall binary $CATCHALL not found or not executable; skipping catchall (build it first)"
			skip_row catchall "binary $CATCHALL missing"
		fi
		;;
	mbsync)
		cat >"$BENCH_DIR/mbsyncrc" <<EOF
IMAPAccount bench
Host 127.0.0.1
Port $IMAP_PORT
User alice
Pass secret
SSLType None
AuthMechs LOGIN
PipelineDepth 50

IMAPStore bench-far
Account bench

MaildirStore bench-near
Path $BENCH_DIR/out-mbsync/
Inbox $BENCH_DIR/out-mbsync/INBOX
SubFolders Verbatim

Channel bench
Far :bench-far:
Near :bench-near:
Patterns *
Create Near
Sync Pull
Expunge None
SyncState $BENCH_DIR/mbsync-state/
EOF
		rm -rf "$BENCH_DIR/mbsync-state" && mkdir -p "$BENCH_DIR/mbsync-state"
		# mbsync wants the store's root directory to exist already.
		# shellcheck disable=SC2016 # expanded by the inner sh
		run_tool mbsync "$BENCH_DIR/out-mbsync" \
			sh -c 'mkdir -p "$1" && exec mbsync -q -c "$2" -a' sh "$BENCH_DIR/out-mbsync" "$BENCH_DIR/mbsyncrc"
		;;
	offlineimap)
		rm -rf "$BENCH_DIR/offlineimap-meta"
		cat >"$BENCH_DIR/offlineimaprc" <<EOF
[general]
accounts = bench
metadata = $BENCH_DIR/offlineimap-meta
maxsyncaccounts = 1

[Account bench]
localrepository = bench-local
remoterepository = bench-remote
utf8foldernames = yes

[Repository bench-local]
type = Maildir
localfolders = $BENCH_DIR/out-offlineimap
sep = /

[Repository bench-remote]
type = IMAP
remotehost = 127.0.0.1
remoteport = $IMAP_PORT
remoteuser = alice
remotepass = secret
ssl = no
starttls = no
maxconnections = 2
readonly = True
createfolders = False
EOF
		run_tool offlineimap "$BENCH_DIR/out-offlineimap" offlineimap -c "$BENCH_DIR/offlineimaprc" -o -u basic
		;;
	*) die "unknown tool '$tool' in BENCH_TOOLS" ;;
	esac
done

# ------------------------------------------------------------------ report
first_line() { "$@" 2>&1 | head -n 1 || true; }
DOVECOT_V=$(dovecot --version 2>/dev/null | head -n 1)
MBSYNC_V=$(first_line mbsync --version)
OFFLINEIMAP_V=$(first_line offlineimap --version)
GO_V=$(first_line go version)
[ -n "$GO_V" ] || GO_V="not installed"
CPU=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || true)
MEM_GIB=$(awk '/^MemTotal/ {printf "%.1f", $2 / 1048576}' /proc/meminfo)
SEED_S=$(awk -v a="$seed_t0" -v b="$seed_t1" 'BEGIN {printf "%.1f", b - a}')
CORPUS_DESC="gencorpus -messages $BENCH_MESSAGES -seed 1 -huge 1 -huge-size $BENCH_HUGE_SIZE"
[ -z "${BENCH_CORPUS:-}" ] || CORPUS_DESC="existing tree (BENCH_CORPUS)"

SECTION=$BENCH_DIR/fetch-section.md
{
	echo "## fetch"
	echo
	echo "Whole-account download of user \`alice\` from a local Dovecot over plaintext IMAP on 127.0.0.1"
	echo "(\`scripts/bench-fetch.sh\`, run $(date -u '+%Y-%m-%d %H:%M UTC')). Wall time is measured around each"
	echo "tool, peak RSS is GNU time's \"Maximum resident set size\"; MB = 2^20 bytes. \"complete\" counts"
	echo "message files written under cur/ and new/; \"byte-exact\" means every file's SHA-256 matches"
	echo "the server's BODY[] (multiset compare against an independent imaplib listing)."
	echo
	echo "- machine: $(nproc) CPUs${CPU:+ ($CPU)}, ${MEM_GIB} GiB RAM, Linux $(uname -r)"
	echo "- versions: Dovecot $DOVECOT_V; $MBSYNC_V; offlineimap $OFFLINEIMAP_V; $GO_V"
	echo "- corpus: $CORPUS_DESC — $REF_N messages in $REF_FOLDERS non-empty folders, $REF_BYTES bytes (RFC822.SIZE total), largest message $REF_MAX bytes; seeding took ${SEED_S}s"
	echo
	echo "| tool | wall s | msgs/s | MB/s | peak RSS MB | complete (n/N) | byte-exact |"
	echo "| --- | ---: | ---: | ---: | ---: | --- | --- |"
	printf '%s\n' "${ROWS[@]}"
} >"$SECTION"

python3 scripts/benchmd.py "$BENCH_OUTPUT" "$SECTION"

cat "$SECTION"
if [ "${BENCH_STRICT:-0}" = 1 ] && [ "$CATCHALL_OK" != 1 ]; then
	die "BENCH_STRICT=1: catchall did not produce a complete, byte-exact archive"
fi
