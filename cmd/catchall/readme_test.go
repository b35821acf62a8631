package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeMatchesUnit: the README's install steps (4b) and the systemd
// unit agree on the user, its home, the binary's path and the secret files
// (installed for the user, or made by the user as the DKIM key is),
// so that following the README gives a service that starts.
func TestReadmeMatchesUnit(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	unit, err := os.ReadFile("../../forwards/relay/systemd/catchall-relay.service")
	if err != nil {
		t.Fatal(err)
	}
	useradd := regexp.MustCompile(`useradd [^\n]*`)
	inReadme := useradd.FindString(string(readme))
	inUnit := useradd.FindString(string(unit))
	if inReadme == "" || inReadme != inUnit {
		t.Errorf("README: %q\nunit:   %q", inReadme, inUnit)
	}
	user := inUnit[strings.LastIndex(inUnit, " ")+1:]
	home := regexp.MustCompile(`--home-dir (\S+)`).FindStringSubmatch(inUnit)
	for _, want := range []string{"User=" + user + "\n", "StateDirectory=" + strings.TrimPrefix(home[1], "/var/lib/") + "\n"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	exec := regexp.MustCompile(`ExecStart=(\S+)`).FindStringSubmatch(string(unit))
	if !strings.Contains(string(readme), `/usr/local/bin/catchall    # the unit runs `+exec[1]) {
		t.Errorf("README does not install the binary at %s", exec[1])
	}
	for _, cred := range regexp.MustCompile(`LoadCredential=[^:]+:(\S+)`).FindAllStringSubmatch(string(unit), -1) {
		madeByUser := regexp.MustCompile(`sudo -u ` + user + ` catchall dkim new [^\n]*--out ` + regexp.QuoteMeta(cred[1]) + `\s`)
		if !strings.Contains(string(readme), "-o "+user+" /dev/stdin "+cred[1]) && !madeByUser.Match(readme) {
			t.Errorf("README does not make %s owned by %s", cred[1], user)
		}
	}
	if !strings.Contains(string(readme), "--spool "+home[1]) {
		t.Errorf("README's commands do not use the unit's spool %s", home[1])
	}
}
