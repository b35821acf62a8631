#!/usr/bin/env bash
# make test: the unit tests, then the acceptance suite against a real Dovecot
# started on 127.0.0.1 (installed with apt-get when missing), stopped on exit,
# then the Debian package (scripts/test-deb.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}

echo "== unit tests"
$GO test -race -shuffle=on -count=1 ./...

if [ "$(id -u)" != 0 ] && [ -z "${CATCHALL_TEST_DOVECOT_DIR:-}" ]; then
  echo "== acceptance tests skipped: they install and start Dovecot, which needs root" >&2
  exit 0
fi

echo "== acceptance tests against Dovecot"
D=$(mktemp -d /tmp/catchall-test.XXXXXX)
chmod 755 "$D"
cleanup() {
  scripts/testenv/dovecot.sh stop "$D/dovecot" >/dev/null 2>&1 || true
  scripts/testenv/courier.sh stop "$D/courier" >/dev/null 2>&1 || true
  scripts/testenv/postgres.sh stop "$D/postgres" >/dev/null 2>&1 || true
  [ ! -x scripts/testenv/cyrus.sh ] || scripts/testenv/cyrus.sh stop "$D/cyrus" >/dev/null 2>&1 || true
  rm -rf "$D"
}
trap cleanup EXIT

scripts/testenv/dovecot.sh start "$D/dovecot"
eval "$(scripts/testenv/dovecot.sh env "$D/dovecot")"

# The generated catch-all mailbox, with a 50 MB message, in both namespace styles.
$GO run ./scripts/gencorpus -out "$D/corpus" -messages "${TEST_MESSAGES:-2000}" -seed 7 -huge 1 -huge-size 52428800
for user in alice courier; do
  scripts/testenv/dovecot.sh seed "$D/dovecot" "$user" "$D/corpus"
  host=${CATCHALL_TEST_IMAP_ADDR%:*} port=${CATCHALL_TEST_IMAP_ADDR##*:}
  python3 scripts/testenv/imaplist.py --host "$host" --port "$port" --user "$user" --password secret > "$D/$user.list"
done

# Two more seeds at other domains, in both namespace styles, for migrate
# without --domain (the way the README runs it).
$GO run ./scripts/gencorpus -out "$D/corpus11" -messages 1500 -seed 11 -domain morelight.example -huge 0
$GO run ./scripts/gencorpus -out "$D/corpus12" -messages 1500 -seed 12 -domain smith-family.example -huge 0
scripts/testenv/dovecot.sh seed "$D/dovecot" alice2 "$D/corpus11"
scripts/testenv/dovecot.sh seed "$D/dovecot" courier2 "$D/corpus11"
scripts/testenv/dovecot.sh seed "$D/dovecot" alice3 "$D/corpus12"
scripts/testenv/dovecot.sh seed "$D/dovecot" courier3 "$D/corpus12"

# Mail this project did not write: CPython's email test messages (Debian's
# libpython3.11-testsuite), addressed to python.org, zzz.org, example.com …,
# in the inbox of a few hundred generated messages. They must not move the
# domain.
PYEMAIL=$(ls -d /usr/lib/python3*/test/test_email/data 2>/dev/null | head -n 1 || true)
if [ -z "$PYEMAIL" ]; then
  (PROG=test.sh; . scripts/testenv/lib.sh; apt_install libpython3.11-testsuite)
  PYEMAIL=$(ls -d /usr/lib/python3*/test/test_email/data | head -n 1)
fi
$GO run ./scripts/gencorpus -out "$D/corpus13" -messages 400 -seed 13 -domain home-of-anna.example -huge 0 -no-odd
n=0
for f in "$PYEMAIL"/msg_*.txt; do
  n=$((n + 1))
  cp "$f" "$D/corpus13/INBOX/cur/zz-cpython-$(basename "$f" .txt):2,S"
done
echo "added $n CPython email test messages to corpus13"
scripts/testenv/dovecot.sh seed "$D/dovecot" pyemail "$D/corpus13"

# The same corpus in a real Courier-IMAP and Cyrus IMAP (unpacked from Debian's
# packages: they conflict with Dovecot), for the IMAP suite on servers this
# project was not developed on; their listings by Python's imaplib.
scripts/testenv/courier.sh start "$D/courier"
eval "$(scripts/testenv/courier.sh env "$D/courier")"
scripts/testenv/courier.sh seed "$D/courier" courier "$D/corpus"
python3 scripts/testenv/imaplist.py --host 127.0.0.1 --port "${CATCHALL_TEST_COURIER_ADDR##*:}" --user courier --password secret > "$D/real-courier.list"
if [ -x scripts/testenv/cyrus.sh ]; then
  scripts/testenv/cyrus.sh start "$D/cyrus"
  eval "$(scripts/testenv/cyrus.sh env "$D/cyrus")"
  scripts/testenv/cyrus.sh seed "$D/cyrus" cyrususer "$D/corpus"
  python3 scripts/testenv/imaplist.py --host 127.0.0.1 --port "${CATCHALL_TEST_CYRUS_ADDR##*:}" --user cyrususer --password secret > "$D/real-cyrus.list"
fi

# Exim, unpacked (it conflicts with Postfix as a package): the forwards tests run
# exim -bV/-bt/-bh on the generated files installed as INSTALL.txt says.
export CATCHALL_EXIM
CATCHALL_EXIM=$(scripts/testenv/exim.sh)

# PostgreSQL for the relay store suite and the fleet tests: a private cluster
# (initdb by an unprivileged user) on 127.0.0.1, stopped on exit.
PG_FSYNC=off scripts/testenv/postgres.sh start "$D/postgres"
eval "$(scripts/testenv/postgres.sh env "$D/postgres")"

$GO build -o "$D/catchall" ./cmd/catchall
ART=${CATCHALL_TEST_ARTIFACTS:-$PWD/test-artifacts}
mkdir -p "$ART"
export CATCHALL_TEST_MAILBOXES="alice=$D/corpus courier=$D/corpus alice2=$D/corpus11 courier2=$D/corpus11 alice3=$D/corpus12 courier3=$D/corpus12 pyemail=$D/corpus13"
export CATCHALL_TEST_LISTINGS="$D" CATCHALL_TEST_CORPUS="$D/corpus" CATCHALL_BIN="$D/catchall" CATCHALL_TEST_TOOLS=1 CATCHALL_TEST_ARTIFACTS="$ART"
$GO test -race -count=1 -timeout 25m -run 'Dovecot|Courier|Cyrus|Servers|Postmap|SieveTools|ToolsSieve|ToolsHostile|ToolsPostfix|EximTool|Postsrsd|ToolsRelay|Chromium|Demo|SwaksSubmission|DKIMVerifiedByDkimpy|ToolsReverse|StoreSuite|ToolsFleet|ToolsStoreOutage' -v \
  ./imapsync/ ./classify/ ./classify/report/ ./forwards/ ./forwards/srs/ ./forwards/relay/ ./cmd/catchall/ ./scripts/demo/ 2>&1 | grep -v '^=== '
status=${PIPESTATUS[0]}
echo "== screenshots and pages of the browser test: $ART"

if [ "$(id -u)" = 0 ]; then
  echo "== the Debian package: build, lintian, man, install, upgrade, purge"
  GO=$GO scripts/test-deb.sh || status=1
else
  echo "== the Debian package test skipped: it needs root" >&2
fi
exit "$status"
