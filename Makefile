# catchall — see README.md. Every target works on a fresh Debian machine with Go;
# `make test` installs and starts what it needs (Dovecot) and stops it again.

GO          ?= go
BIN         := bin/catchall
BENCH_MESSAGES ?= 2000
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# --version says what was built (scripts/version.sh: git describe as a Debian version).
VERSION     ?= $(shell scripts/version.sh 2>/dev/null)
COMMIT      ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS     := -X main.buildVersion=$(VERSION) -X main.buildCommit=$(COMMIT)

.PHONY: all build deb test test-fresh unit-test check fuzz bench-fetch bench-classify bench-relay bench-submit bench-push docs demo clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/catchall

## deb: dist/catchall_VERSION_amd64.deb and _arm64.deb (nfpm): the binary, the relay's systemd unit
## (neither enabled nor started), /etc/catchall/relay.toml (a conffile, every key commented out),
## man pages and completions; scripts/test-deb.sh (in make test) installs, upgrades and purges it
OUT ?= dist
deb:
	OUT='$(OUT)' VERSION='$(VERSION)' GO='$(GO)' scripts/deb.sh

## test: unit tests (race detector, shuffled) and the acceptance suite against a real Dovecot
test:
	scripts/test.sh

## test-fresh: make test in a new Debian 12 root (debootstrap) where Postfix and Dovecot were never installed (root)
test-fresh:
	scripts/test-fresh.sh

## unit-test: only the in-process tests; no root, no system packages
unit-test:
	$(GO) test -race -shuffle=on ./...

## check: formatting, vet and staticcheck
check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

## fuzz: a short run of every fuzz target (FUZZTIME=30s each by default)
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

## bench-fetch: catchall vs mbsync vs offlineimap on the same Dovecot, written to BENCHMARKS.md
bench-fetch: build
	$(GO) test -run '^$$' -bench . -benchmem ./archive/ ./imapsync/
	CATCHALL=$(BIN) scripts/bench-fetch.sh

## bench-classify: catchall aliases over a 100,000-message Maildir vs raw header reading, to BENCHMARKS.md
bench-classify: build
	CATCHALL=$(BIN) scripts/bench-classify.sh

## bench-relay: catchall relay vs Postfix (virtual alias map), smtp-source/smtpload → forwarder → smtp-sink, to BENCHMARKS.md
bench-relay: build
	CATCHALL=$(BIN) scripts/bench-relay.sh

## bench-submit: catchall relay --submission + DKIM vs Postfix submission + Dovecot SASL + OpenDKIM, smtpload (AUTH) → forwarder → smtp-sink, to BENCHMARKS.md (root)
bench-submit: build
	CATCHALL=$(BIN) scripts/bench-submit.sh

## bench-push: catchall push vs mbsync uploading the same archive into Dovecot, to BENCHMARKS.md (root)
bench-push: build
	CATCHALL=$(BIN) scripts/bench-push.sh $(BENCH_MESSAGES)

## docs: regenerate docs/REFERENCE.md from the commands' --help (a test fails when it is stale)
docs:
	$(GO) test ./cmd/catchall -run '^TestReference$$' -update

## demo: the whole migration of a generated catch-all mailbox served by an embedded IMAP server
demo: build
	$(GO) run ./scripts/demo -catchall $(BIN) -out demo-out

clean:
	rm -rf bin demo-out dist
