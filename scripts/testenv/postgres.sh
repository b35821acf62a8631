#!/usr/bin/env bash
# A private PostgreSQL cluster on 127.0.0.1 for the relay's store tests and benchmarks: Debian's
# server (installed with apt-get when missing), a cluster made with initdb in DIR by an
# unprivileged user (PostgreSQL refuses to run as root), never the system's cluster.
#
#   postgres.sh start DIR [PORT]  make the cluster (once) and start it; idempotent
#   postgres.sh stop DIR          stop it (fast shutdown; no-op when not running)
#   postgres.sh env DIR           print the variables the tests read (eval it)
#   postgres.sh psql DIR ARGS...  psql as the superuser
#
# The superuser is "postgres" with a random password (DIR/password), scram-sha-256 over TCP,
# TLS offered with a self-signed certificate for 127.0.0.1 (DIR/ca.crt);
# the tests connect as postgres://postgres@127.0.0.1:PORT/postgres with the password in
# CATCHALL_STORE_PASSWORD, as the relay would. Set PG_FSYNC=off for a throw-away test cluster.
set -euo pipefail

PROG=postgres.sh
# shellcheck source=scripts/testenv/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PG_USER=${PG_USER:-catchall-pg}

usage() {
	echo "usage: $PROG start DIR [PORT] | stop DIR | env DIR | psql DIR ARGS..." >&2
	exit 2
}

bindir() {
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
	if [ -z "$d" ] || [ ! -x "$d/initdb" ]; then
		apt_install postgresql
		d=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
	fi
	printf '%s\n' "$d"
}

# as_owner CMD...: run CMD as the cluster's unprivileged owner.
as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u "$PG_USER" -- "$@"
	else
		"$@"
	fi
}

start() {
	local dir port bin
	dir=$(abs "$1")
	bin=$(bindir)
	mkdir -p "$dir"
	if [ "$(id -u)" -eq 0 ]; then
		id "$PG_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_USER"
		chown "$PG_USER" "$dir"
		chmod 0755 "$dir"
	fi
	if [ -f "$dir/port" ] && as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
		return 0
	fi
	port=${2:-$(cat "$dir/port" 2>/dev/null || free_port)}
	if [ ! -f "$dir/data/PG_VERSION" ]; then
		head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$dir/password"
		chmod 0644 "$dir/password" # read by the tests, which may not run as the owner
		as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
			--pwfile="$dir/password" -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
			die "initdb failed: $(tail -n 5 "$dir/initdb.log")"
		mkdir -p "$dir/sock"
		[ "$(id -u)" -ne 0 ] || chown "$PG_USER" "$dir/sock"
		# TLS with a self-signed certificate for 127.0.0.1 (DIR/server.crt is also the CA a
		# client names in sslrootcert=): the tests check that verify-full is honoured.
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 36500 \
			-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
			-keyout "$dir/data/server.key" -out "$dir/data/server.crt" >"$dir/openssl.log" 2>&1 ||
			die "openssl failed: $(tail -n 3 "$dir/openssl.log")"
		cp "$dir/data/server.crt" "$dir/ca.crt"
		chmod 0600 "$dir/data/server.key"
		chmod 0644 "$dir/ca.crt"
		[ "$(id -u)" -ne 0 ] || chown "$PG_USER" "$dir/data/server.key" "$dir/data/server.crt"
	fi
	echo "$port" >"$dir/port"
	as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
		-o "-c listen_addresses=127.0.0.1 -p $port -k $dir/sock -c fsync=${PG_FSYNC:-on} -c max_connections=200 -c ssl=on" start >/dev/null ||
		die "PostgreSQL did not start: $(tail -n 5 "$dir/server.log")"
}

stop() {
	local dir bin
	dir=$(abs "$1")
	[ -f "$dir/data/PG_VERSION" ] || return 0
	bin=$(bindir)
	as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
}

env_vars() {
	local dir
	dir=$(abs "$1")
	[ -f "$dir/port" ] || die "no cluster in $dir (start it first)"
	cat <<EOT
export CATCHALL_TEST_POSTGRES='postgres://postgres@127.0.0.1:$(cat "$dir/port")/postgres?sslmode=disable'
export CATCHALL_TEST_POSTGRES_PASSWORD='$(cat "$dir/password")'
export CATCHALL_TEST_POSTGRES_DIR='$dir'
export CATCHALL_TEST_POSTGRES_CA='$dir/ca.crt'
export CATCHALL_TEST_POSTGRES_CTL='$(abs "${BASH_SOURCE[0]}")'
EOT
}

[ $# -ge 2 ] || usage
cmd=$1
shift
case $cmd in
start) start "$@" ;;
stop) stop "$1" ;;
env) env_vars "$1" ;;
psql)
	dir=$(abs "$1")
	shift
	bin=$(bindir)
	PGPASSWORD=$(cat "$dir/password") "$bin/psql" -h 127.0.0.1 -p "$(cat "$dir/port")" -U postgres -X -q "$@"
	;;
*) usage ;;
esac
