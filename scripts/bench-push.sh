#!/usr/bin/env bash
# bench-push.sh: upload the same Maildir into the test Dovecot with
# `catchall push` and with mbsync (isync), in the same run: messages per
# second and peak RSS, as the "## push" section of BENCHMARKS.md (or
# BENCH_OUTPUT) and on stdout.
#
#   scripts/bench-push.sh [MESSAGES]       (default 2000; needs root for Dovecot)
#
# The corpus is generated (scripts/gencorpus), imported into alice, fetched
# into an archive (the Maildir both tools upload), then pushed into `dest`
# by catchall and into `destcourier` by mbsync; each account is emptied
# before its run. Everything lives in a temporary directory removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
N=${1:-2000}
if ! command -v mbsync >/dev/null || [ ! -x /usr/bin/time ] || ! command -v bc >/dev/null; then
  [ "$(id -u)" = 0 ] || { echo "bench-push: needs mbsync (isync), time and bc: apt-get install isync time bc" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q isync time bc >/dev/null
fi

D=$(mktemp -d /tmp/catchall-bench-push.XXXXXX)
chmod 755 "$D"
cleanup() {
  scripts/testenv/dovecot.sh stop "$D/dovecot" >/dev/null 2>&1 || true
  rm -rf "$D"
}
trap cleanup EXIT

scripts/testenv/dovecot.sh start "$D/dovecot" >&2
eval "$(scripts/testenv/dovecot.sh env "$D/dovecot")"
host=${CATCHALL_TEST_IMAP_ADDR%:*} port=${CATCHALL_TEST_IMAP_ADDR##*:}
$GO run ./scripts/gencorpus -out "$D/corpus" -messages "$N" -seed 7 >&2
scripts/testenv/dovecot.sh seed "$D/dovecot" alice "$D/corpus" >&2
if [ -n "${CATCHALL:-}" ]; then
  cp "$CATCHALL" "$D/catchall"
else
  $GO build -o "$D/catchall" ./cmd/catchall
fi
CATCHALL_PASSWORD=secret "$D/catchall" fetch --quiet --from "imap+plain://alice@$CATCHALL_TEST_IMAP_ADDR" --archive "$D/archive" >&2
msgs=$(find "$D/archive" -path '*/cur/*' -type f | wc -l)
bytes=$(find "$D/archive" -path '*/cur/*' -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}')

# empty USER: delete every folder but INBOX and expunge INBOX.
empty() {
  python3 - "$host" "$port" "$1" <<'PY'
import imaplib, sys, re
c = imaplib.IMAP4(sys.argv[1], int(sys.argv[2])); c.login(sys.argv[3], "secret")
names = []
for line in c.list()[1]:
    m = re.match(rb'\(.*?\) (NIL|"[^"]*") (.*)$', line)
    names.append(m.group(2).decode().strip('"'))
for n in sorted(names, key=len, reverse=True):
    if n.upper() != "INBOX":
        c.delete('"%s"' % n)
if int(c.select("INBOX")[1][0]) > 0:
    c.store("1:*", "+FLAGS", "\\Deleted"); c.expunge()
c.logout()
PY
}

# count USER: messages in all of USER's folders.
count() {
  python3 - "$host" "$port" "$1" <<'PY'
import imaplib, sys, re
c = imaplib.IMAP4(sys.argv[1], int(sys.argv[2])); c.login(sys.argv[3], "secret")
total = 0
for line in c.list()[1]:
    m = re.match(rb'\((.*?)\) (NIL|"[^"]*") (.*)$', line)
    if b"\\Noselect" in m.group(1):
        continue
    name = m.group(3).decode()
    if not name.startswith('"'):
        name = '"%s"' % name
    typ, data = c.status(name, "(MESSAGES)")
    total += int(re.search(rb"MESSAGES (\d+)", data[0]).group(1))
print(total)
c.logout()
PY
}

# measure NAME USER CMD...: runs CMD under /usr/bin/time -v and prints a table
# row: the messages on USER's account afterwards, and the rate for them.
measure() {
  local name=$1 user=$2; shift 2
  local start end
  start=$(date +%s.%N)
  /usr/bin/time -v -o "$D/time.$name" "$@" >"$D/out.$name" 2>&1 || { echo "bench-push: $name failed:" >&2; tail -5 "$D/out.$name" >&2; exit 1; }
  end=$(date +%s.%N)
  local rss secs
  rss=$(sed -n 's/^\s*Maximum resident set size (kbytes): //p' "$D/time.$name")
  secs=$(echo "$end - $start" | bc -l)
  local n cpu
  n=$(count "$user")
  cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {printf "%.2f", s}' "$D/time.$name")
  printf '| %s | %d | %.1f | %.0f | %s | %.1f |\n' "$name" "$n" "$secs" "$(echo "$n / $secs" | bc -l)" "$cpu" "$(echo "$rss / 1024" | bc -l)"
}

empty dest
empty destcourier
cat >"$D/mbsyncrc" <<EOF2
IMAPAccount dest
Host $host
Port $port
User destcourier
Pass secret
SSLType None
AuthMechs LOGIN

IMAPStore dest
Account dest

MaildirStore local
Path $D/archive/
Inbox $D/archive/INBOX
SubFolders Verbatim

Channel push
Far :dest:
Near :local:
# mbsync 1.4 sends folder names as UTF-8, which Dovecot refuses (no
# modified UTF-7): leave the non-ASCII folders out of its run.
Patterns * !Q&A !Réception* !Работа !日本語* !Newsletters/Entwürfe*
Create Far
Sync Push
Expunge None
CopyArrivalDate yes
SyncState $D/mbsync-state/
EOF2
mkdir -p "$D/mbsync-state"

SECTION=$D/push-section.md
{
echo "## push"
echo
echo "Upload of $msgs messages ($((bytes / 1024 / 1024)) MiB, the generated corpus fetched into an archive) into Dovecot $(dovecot --version | cut -d' ' -f1) on 127.0.0.1, $(nproc) cores, $(date -u +%Y-%m-%d), load average $(cut -d' ' -f1 /proc/loadavg) at the start (\`make bench-push\`)."
echo "catchall push appends into user dest, mbsync (Sync Push, Create Far, CopyArrivalDate) into user destcourier; each account is empty before its run."
echo "\"messages on the account after\" is counted on the server; mbsync 1.4 cannot create the non-ASCII folders (it sends UTF-8 names), so they are left out of its run."
echo
echo "| tool | messages on the account after | seconds | msgs/s | client CPU s | peak RSS (MiB) |"
echo "|---|---:|---:|---:|---:|---:|"
CATCHALL_DEST_PASSWORD=secret measure "catchall push (4 connections, the default)" dest "$D/catchall" push --quiet --archive "$D/archive" --to "imap+plain://dest@$CATCHALL_TEST_IMAP_ADDR"
CATCHALL_DEST_PASSWORD=secret measure "catchall push, second run (nothing to do)" dest "$D/catchall" push --quiet --archive "$D/archive" --to "imap+plain://dest@$CATCHALL_TEST_IMAP_ADDR"
# Again from scratch with one connection: account emptied, its journal rows dropped.
empty dest
python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute("DELETE FROM push_journal WHERE dest LIKE ?", ("dest@%",)); c.commit()' "$D/archive/index.db"
CATCHALL_DEST_PASSWORD=secret measure "catchall push --connections 1" dest "$D/catchall" push --quiet --connections 1 --archive "$D/archive" --to "imap+plain://dest@$CATCHALL_TEST_IMAP_ADDR"
# mbsync last: it renames the archive's files (its UIDs go into the names).
measure "mbsync $(mbsync --version | awk '{print $2}') (ASCII folders only)" destcourier mbsync -c "$D/mbsyncrc" -q push
} >"$SECTION"
python3 scripts/benchmd.py "${BENCH_OUTPUT:-BENCHMARKS.md}" "$SECTION"
cat "$SECTION"
