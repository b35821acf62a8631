# shellcheck shell=bash
# lib.sh: helpers shared by the test-environment and benchmark scripts.
# Source it after setting PROG (the script's name, for messages).

die() { echo "$PROG: error: $*" >&2; exit 1; }

# abs PATH: absolute path without requiring it to exist.
abs() {
	case $1 in
	/*) printf '%s\n' "$1" ;;
	*) printf '%s/%s\n' "$(pwd)" "$1" ;;
	esac
}

# apt_install PKG...: install Debian packages (root only) without letting
# them start their system-wide services (Dovecot, Postfix, postsrsd would
# listen on all interfaces): a temporary policy-rc.d that refuses every
# start, unless the machine already has one. Retries once after apt-get
# update. The log is /tmp/catchall-apt.log.
apt_install() {
	[ "$(id -u)" -eq 0 ] || die "need root to install missing packages: $*"
	export DEBIAN_FRONTEND=noninteractive
	# Postfix asks what kind of mail system to set up: none of its own.
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections 2>/dev/null || true
	local policy=/usr/sbin/policy-rc.d own_policy=0 ok=0
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 0755 "$policy" && own_policy=1
	fi
	if apt-get install -y -q "$@" >/tmp/catchall-apt.log 2>&1; then
		ok=1
	else
		apt-get update -q >>/tmp/catchall-apt.log 2>&1 || true
		apt-get install -y -q "$@" >>/tmp/catchall-apt.log 2>&1 && ok=1
	fi
	[ "$own_policy" = 0 ] || rm -f "$policy"
	[ "$ok" = 1 ] || die "apt-get install $* failed (see /tmp/catchall-apt.log)"
}

# port_busy PORT: true when something accepts connections on 127.0.0.1:PORT.
port_busy() {
	timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_banner PORT TIMEOUT [PREFIX]: wait until 127.0.0.1:PORT greets with
# a line starting with PREFIX ("220", an SMTP server, by default).
wait_banner() {
	local port=$1 deadline=$((SECONDS + $2)) prefix=${3:-220} line
	while [ "$SECONDS" -lt "$deadline" ]; do
		line=$(timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port && IFS= read -r -t 2 l <&3 && printf '%s' \"\$l\"" 2>/dev/null || true)
		case $line in "$prefix"*) return 0 ;; esac
		sleep 0.1
	done
	return 1
}
