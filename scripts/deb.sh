#!/usr/bin/env bash
# make deb: the Debian packages dist/catchall_VERSION_ARCH.deb (amd64 and
# arm64, cross-compiled, CGO_ENABLED=0), built with nfpm run as a Go tool
# (fetched through the Go module proxy on first use). What goes in:
#   /usr/bin/catchall                                  -ldflags -X: version, commit
#   /usr/lib/systemd/system/catchall-relay.service     scripts/debfiles (PackagedUnit)
#   /usr/lib/systemd/system/catchall-relay@.service    scripts/debfiles (TemplateUnit)
#   /etc/catchall/relay.toml (conffile)                scripts/debfiles (Conffile)
#   /usr/share/man/man1/catchall*.1.gz                 catchall gen-docs --man
#   bash, zsh and fish completions                     catchall gen-docs --completions
#   /usr/share/doc/catchall/{copyright,changelog.gz}   packaging/deb/copyright, made here
# with packaging/deb/nfpm.yaml and the maintainer scripts beside it.
#
#   scripts/deb.sh        VERSION (default: scripts/version.sh), ARCHES ("amd64 arm64"),
#                         OUT (dist), SOURCE_DATE_EPOCH (default: the commit's time)
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
NFPM=${NFPM:-github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.48.0}
ARCHES=${ARCHES:-amd64 arm64}
OUT=${OUT:-dist}
VERSION=$(scripts/version.sh)
COMMIT=$(scripts/version.sh commit)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}

BUILD=$OUT/build
rm -rf "$BUILD"
mkdir -p "$BUILD"
LDFLAGS="-s -w -X main.buildVersion=$VERSION -X main.buildCommit=$COMMIT"
for arch in $ARCHES; do
	CGO_ENABLED=0 GOOS=linux GOARCH=$arch $GO build -trimpath -ldflags "$LDFLAGS" -o "$BUILD/$arch/catchall" ./cmd/catchall
done
# The binary that runs here (gen-docs): the host's own build when it is one of them.
hostarch=$($GO env GOHOSTARCH)
if [ -x "$BUILD/$hostarch/catchall" ]; then
	mkdir -p "$BUILD/host" && cp "$BUILD/$hostarch/catchall" "$BUILD/host/catchall"
else
	CGO_ENABLED=0 $GO build -trimpath -ldflags "$LDFLAGS" -o "$BUILD/host/catchall" ./cmd/catchall
fi

# Man pages and completions from the commands themselves. Defaults that
# depend on who runs it (the relay's --spool) read "~/.local/state/…".
env -u STATE_DIRECTORY -u XDG_STATE_HOME HOME='~' "$BUILD/host/catchall" gen-docs --man "$BUILD/man" --completions "$BUILD/completions"
gzip -9n "$BUILD"/man/*.1
$GO run ./scripts/debfiles -unit "$BUILD/catchall-relay.service" -template "$BUILD/catchall-relay@.service" -conffile "$BUILD/relay.toml"

# A native package's changelog (Debian policy §12.7): this build.
{
	printf 'catchall (%s) unstable; urgency=medium\n\n' "$VERSION"
	printf '  * Built from commit %s (git describe: %s).\n\n' "${COMMIT:0:12}" "$(git describe --tags --always --dirty)"
	printf ' -- catchall maintainers <dev@catchall.invalid>  %s\n' "$(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$BUILD/changelog.gz"

for arch in $ARCHES; do
	deb="$OUT/catchall_${VERSION}_${arch}.deb"
	ARCH=$arch VERSION=$VERSION BUILD=$BUILD $GO run "$NFPM" package --config packaging/deb/nfpm.yaml --packager deb --target "$deb" >/dev/null
	echo "$deb"
done
