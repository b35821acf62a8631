#!/usr/bin/env bash
# make test: the unit tests, then the acceptance suite against a real Dovecot
# started on 127.0.0.1 (installed with apt-get when missing), stopped on exit.
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

$GO build -o "$D/catchall" ./cmd/catchall
ART=${CATCHALL_TEST_ARTIFACTS:-$PWD/test-artifacts}
mkdir -p "$ART"
export CATCHALL_TEST_LISTINGS="$D" CATCHALL_TEST_CORPUS="$D/corpus" CATCHALL_BIN="$D/catchall" CATCHALL_TEST_TOOLS=1 CATCHALL_TEST_ARTIFACTS="$ART"
$GO test -race -count=1 -timeout 25m -run 'Dovecot|Postmap|SieveTools|Postsrsd|ToolsRelay|Chromium|Demo' -v \
  ./imapsync/ ./classify/ ./classify/report/ ./forwards/ ./forwards/srs/ ./forwards/relay/ ./cmd/catchall/ ./scripts/demo/ 2>&1 | grep -v '^=== '
status=${PIPESTATUS[0]}
echo "== screenshots and pages of the browser test: $ART"
exit "$status"
