#!/usr/bin/env bash
# version.sh: the version of this checkout, from `git describe --tags
# --always --dirty`, as a Debian package version (native: no revision, so
# no hyphen), and the commit, for the package build's -ldflags -X.
#
#   scripts/version.sh          the version:
#     tag v1.2.3 on HEAD           1.2.3
#     4 commits after v1.2.3       1.2.3+git20260131.4.212e940
#     no tag                       0.0~git20260131.212e940  (commit date, UTC)
#     uncommitted changes          any of those + "+dirty"
#     a tag v1.3.0-rc1             1.3.0~rc1  (sorts before 1.3.0)
#   scripts/version.sh commit   the full commit hash of HEAD
#
# VERSION in the environment wins (the acceptance test builds a bumped one).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = commit ]; then
	git rev-parse HEAD
	exit 0
fi
if [ -n "${VERSION:-}" ]; then
	printf '%s\n' "$VERSION"
	exit 0
fi

desc=$(git describe --tags --always --dirty --abbrev=7)
dirty=
case $desc in *-dirty) dirty=+dirty desc=${desc%-dirty} ;; esac
date=$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y%m%d)
if [[ $desc =~ ^v?([0-9][0-9A-Za-z.~+-]*)-([0-9]+)-g([0-9a-f]+)$ ]]; then
	v="${BASH_REMATCH[1]//-/\~}+git$date.${BASH_REMATCH[2]}.${BASH_REMATCH[3]}"
elif [[ $desc =~ ^v?[0-9][0-9A-Za-z.~+-]*$ ]] && ! [[ $desc =~ ^[0-9a-f]{7,}$ ]]; then
	v=${desc#v}
	v=${v//-/\~}
else
	# The number of commits between the date and the hash: two builds of
	# one day sort in the order they were made, not by their hashes.
	v="0.0~git$date.$(git rev-list --count HEAD).$desc"
fi
v+=$dirty
# Debian policy §5.6.12: digits first, then alphanumerics and . + ~ only.
[[ $v =~ ^[0-9][A-Za-z0-9.+~]*$ ]] || { echo "version.sh: cannot make a Debian version of $desc: $v" >&2; exit 1; }
printf '%s\n' "$v"
