// Package systemd holds the relay's systemd unit and sample configuration,
// the files of this directory that the README's manual route installs by
// hand, and derives from them the copies the Debian package installs (make
// deb), so that the two cannot drift.
//
// # Packaged copies
//
// PackagedUnit is catchall-relay.service with ExecStart at /usr/bin/catchall
// (where the package puts the binary; by hand it is /usr/local/bin) and a
// header saying how the package's relay is set up; everything from [Unit]
// on is the same. Conffile is relay.toml with every key commented out, for
// /etc/catchall/relay.toml: an installed package leaves the relay
// unconfigured until its user writes the domains and the smarthost, and
// the file lists every key the relay takes.
package systemd

import (
	_ "embed"
	"regexp"
	"strings"
)

// Unit is catchall-relay.service, for installing by hand: it runs
// ManualBinary.
//
//go:embed catchall-relay.service
var Unit string

// SampleConfig is relay.toml, the sample /etc/catchall/relay.toml: the
// keys an example relay sets, and every other key of catchall relay
// commented out with what it does.
//
//go:embed relay.toml
var SampleConfig string

// The binary's path in Unit, and in PackagedUnit.
const (
	ManualBinary   = "/usr/local/bin/catchall"
	PackagedBinary = "/usr/bin/catchall"
)

const packagedUnitHeader = `# catchall relay as a systemd service, installed by the catchall package and
# neither enabled nor started: the relay is not configured yet. Set it up:
#   edit /etc/catchall/relay.toml (domain, smarthost, forward-to, plan)
#   head -c 32 /dev/urandom | base64 | sudo install -m 0600 -o catchall /dev/stdin /etc/catchall/burner.secret
#   printf '%s\n' 'the smarthost password' | sudo install -m 0600 -o catchall /dev/stdin /etc/catchall/smarthost.password
#   sudo catchall relay check --config /etc/catchall/relay.toml --spool /var/lib/catchall-relay \
#       --dest-password-file /etc/catchall/smarthost.password --burner-secret-file /etc/catchall/burner.secret
#   sudo systemctl enable --now catchall-relay
# This file is replaced on upgrades: change it with systemctl edit catchall-relay.
# Reload the plan:  systemctl reload catchall-relay   (or just edit the plan file)
# Statistics:       sudo -u catchall catchall relay stats --spool /var/lib/catchall-relay

`

// PackagedUnit returns the unit the package installs: Unit from [Unit] on,
// running PackagedBinary, after a header of its own.
func PackagedUnit() string {
	body := Unit[strings.Index(Unit, "[Unit]"):]
	return packagedUnitHeader + strings.ReplaceAll(body, ManualBinary, PackagedBinary)
}

const conffileHeader = `# Installed by the catchall package with every key commented out: the relay
# is not configured yet. Uncomment (remove "# ") and set at least domain,
# smarthost and forward-to, then check and start it:
#   sudo catchall relay check --config /etc/catchall/relay.toml --spool /var/lib/catchall-relay \
#       --dest-password-file /etc/catchall/smarthost.password --burner-secret-file /etc/catchall/burner.secret
#   sudo systemctl enable --now catchall-relay
# Your changes are kept when the package is upgraded.
#
`

// keyLine is a line of relay.toml that sets a key.
var keyLine = regexp.MustCompile(`(?m)^([a-z][a-z0-9-]* = )`)

// Conffile returns /etc/catchall/relay.toml as the package installs it:
// SampleConfig with every key commented out ("# key = value"), after a
// header saying so.
func Conffile() string {
	return conffileHeader + keyLine.ReplaceAllString(SampleConfig, "# $1")
}

// CommentedKey matches a commented-out key of Conffile (and SampleConfig):
// "# key = value", the key and the value.
var CommentedKey = regexp.MustCompile(`(?m)^# ([a-z][a-z0-9-]*) = (.*)$`)

const templateHeader = `# catchall relay, one of several instances (README: "Running several
# relays"): catchall-relay@NAME reads /etc/catchall/relay-NAME.toml (its own
# listen and admin addresses, store = "postgres://…", the alias store the
# instances share, and, on the instance that holds it,
# plan = "/var/lib/catchall-relay/NAME/plan.csv": the only place the
# instance may write), keeps its spool in /var/lib/catchall-relay/NAME and
# reads the store's password from /etc/catchall/store.password:
#   printf '%s\n' 'the store password' | sudo install -m 0600 -o catchall /dev/stdin /etc/catchall/store.password
#   sudo catchall relay check --config /etc/catchall/relay-mx1.toml --spool /var/lib/catchall-relay/mx1 \
#       --store-password-file /etc/catchall/store.password --dest-password-file /etc/catchall/smarthost.password \
#       --burner-secret-file /etc/catchall/burner.secret
#   sudo systemctl enable --now catchall-relay@mx1 catchall-relay@mx2
# It is catchall-relay.service with these changes, made by TemplateUnit.

`

// templateEdits are the changes that make catchall-relay@.service of Unit:
// each old text occurs exactly once in Unit (TestTemplateUnit).
var templateEdits = [][2]string{
	{"Description=catchall burner-alias SMTP relay\n", "Description=catchall burner-alias SMTP relay (%i)\n"},
	{"StateDirectory=catchall-relay\n", "StateDirectory=catchall-relay/%i\n"},
	{"/var/lib/catchall-relay, 0700.\n", "/var/lib/catchall-relay/%i, 0700.\n"},
	{"LoadCredential=burner-secret:/etc/catchall/burner.secret\n",
		"LoadCredential=burner-secret:/etc/catchall/burner.secret\nLoadCredential=store-password:/etc/catchall/store.password\n"},
	{"--config /etc/catchall/relay.toml \\\n", "--config /etc/catchall/relay-%i.toml \\\n    --store-password-file ${CREDENTIALS_DIRECTORY}/store-password \\\n"},
}

// TemplateUnit returns catchall-relay@.service, the unit of one instance
// of several sharing a PostgreSQL store, running binary (ManualBinary or
// PackagedBinary): Unit from [Unit] on with templateEdits.
func TemplateUnit(binary string) string {
	body := Unit[strings.Index(Unit, "[Unit]"):]
	for _, e := range templateEdits {
		body = strings.Replace(body, e[0], e[1], 1)
	}
	return templateHeader + strings.ReplaceAll(body, ManualBinary, binary)
}
