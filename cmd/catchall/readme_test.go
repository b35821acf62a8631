package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/catchall/catchall/forwards/relay/systemd"
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
		madeByUser := regexp.MustCompile(`sudo -u ` + user + ` (/usr/local/bin/)?catchall dkim new [^\n]*--out ` + regexp.QuoteMeta(cred[1]) + `\s`)
		if !strings.Contains(string(readme), "-o "+user+" /dev/stdin "+cred[1]) && !madeByUser.Match(readme) {
			t.Errorf("README does not make %s owned by %s", cred[1], user)
		}
	}
	if !strings.Contains(string(readme), "--spool "+home[1]) {
		t.Errorf("README's commands do not use the unit's spool %s", home[1])
	}
}

// TestReadmeMatchesPackage: the package's postinst makes the user the unit
// runs as, with the unit's state directory as home; step 4b installs the
// package, checks the config with the files the unit hands the relay (and
// its spool), and enables the unit; the packaged unit's and relay.toml's
// headers say the same check.
func TestReadmeMatchesPackage(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	postinst, err := os.ReadFile("../../packaging/deb/postinst")
	if err != nil {
		t.Fatal(err)
	}
	unit := systemd.PackagedUnit()
	field := func(key string) string {
		m := regexp.MustCompile(`(?m)^` + key + `=(\S+)`).FindStringSubmatch(unit)
		if m == nil {
			t.Fatalf("the unit has no %s=", key)
		}
		return m[1]
	}
	user, home := field("User"), "/var/lib/"+field("StateDirectory")
	spoolVar := regexp.MustCompile(`(?m)^SPOOL=(\S+)$`).FindSubmatch(postinst)
	adduser := regexp.MustCompile(`adduser --system --group --home "\$SPOOL" --no-create-home --quiet (\S+)\n`).FindSubmatch(postinst)
	if spoolVar == nil || adduser == nil || string(spoolVar[1]) != home || string(adduser[1]) != user {
		t.Errorf("postinst's adduser does not make %s with the home %s", user, home)
	}
	for _, want := range []string{"\nsudo apt install ./catchall_", "\nsudo systemctl enable --now catchall-relay\n"} {
		if !strings.Contains(string(readme), want) {
			t.Errorf("README's step 4b lacks %q", want)
		}
	}

	// The check as the unit runs the relay: its spool, the files of its
	// credentials, in ExecStart's order.
	checkOf := func(unit, config, spool string) string {
		creds := map[string]string{}
		for _, m := range regexp.MustCompile(`(?m)^LoadCredential=([^:]+):(\S+)`).FindAllStringSubmatch(unit, -1) {
			creds[m[1]] = m[2]
		}
		if !strings.Contains(unit, "--spool ${STATE_DIRECTORY}") {
			t.Fatal("ExecStart no longer passes the spool: change this test")
		}
		cmd := "sudo catchall relay check --config " + config + " --spool " + spool
		exec := regexp.MustCompile(`(?m)^ExecStart=(?:.*\\\n)*.*$`).FindString(unit)
		for _, m := range regexp.MustCompile(`(--[a-z-]+) \$\{CREDENTIALS_DIRECTORY\}/(\S+)`).FindAllStringSubmatch(exec, -1) {
			if creds[m[2]] == "" {
				t.Fatalf("ExecStart reads the credential %s, which no LoadCredential= gives", m[2])
			}
			cmd += " " + m[1] + " " + creds[m[2]]
		}
		return cmd
	}
	want := checkOf(unit, "/etc/catchall/relay.toml", home)
	if !strings.Contains(want, " --dest-password-file ") || !strings.Contains(want, " --burner-secret-file ") {
		t.Fatalf("the unit no longer passes the smarthost password and burner secret as credentials: change this test (%s)", want)
	}
	checks := regexp.MustCompile(`(?m)^#?\s*sudo catchall relay check (?:[^\n]*\\\n#?\s+)*[^\n]*`)
	oneLine := func(s string) string {
		return strings.Join(strings.Fields(strings.NewReplacer("\\\n#", " ", "\\\n", " ").Replace(s)), " ")
	}
	template := systemd.TemplateUnit("/usr/bin/catchall")
	wantTemplate := checkOf(template, "/etc/catchall/relay-mx1.toml", home+"/mx1")
	found := checks.FindAllString(template, -1)
	if len(found) != 1 || oneLine(strings.TrimPrefix(found[0], "#")) != wantTemplate {
		t.Errorf("the template's relay check: %q\nwant %q", found, wantTemplate)
	}
	for where, text := range map[string]string{"README": string(readme), "packaged unit": unit, "packaged relay.toml": systemd.Conffile()} {
		found := checks.FindAllString(text, -1)
		if len(found) == 0 {
			t.Errorf("%s has no sudo catchall relay check", where)
		}
		templates := 0
		for _, f := range found {
			got := oneLine(strings.TrimPrefix(f, "#"))
			if got == wantTemplate {
				templates++
			} else if got != want {
				t.Errorf("%s: %q\nwant %q", where, got, want)
			}
		}
		if where == "README" && templates != 1 {
			t.Errorf("README shows the template instance's relay check %d times, want once (\"Running several relays\")", templates)
		}
	}
}
