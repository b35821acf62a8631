package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestBurnerNewCLI(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "burner.secret")
	os.WriteFile(secret, []byte("a-secret-of-enough-length\n"), 0o600)
	code, out, errOut := runCLI(t, nil, "burner", "new", "Adobe", "--domain", "Example.ORG", "--burner-secret-file", secret)
	if code != 0 || !regexp.MustCompile(`^adobe\.[a-z2-7]{6}@example\.org\n$`).MatchString(out) {
		t.Errorf("burner new: exit %d, %q %s", code, out, errOut)
	}
	_, again, _ := runCLI(t, nil, "burner", "new", "adobe", "--domain", "example.org", "--burner-secret-file", secret)
	if again != out {
		t.Errorf("the same service gave %q then %q", out, again)
	}
	for _, args := range [][]string{
		{"burner", "new", "adobe", "--domain", "example.org"},
		{"burner", "new", "ad.obe", "--domain", "example.org", "--burner-secret-file", secret},
		{"burner", "new", "adobe", "--domain", "example.org", "--burner-secret-file", filepath.Join(dir, "missing")},
		{"burner", "new", "adobe", "--domain", "example.org", "--burner-secret-file", secret, "--length", "3"},
	} {
		if code, _, errOut := runCLI(t, nil, args...); code != 2 || errOut == "" {
			t.Errorf("%v: exit %d, want 2 with a message", args, code)
		}
	}
	os.WriteFile(secret, []byte("short\n"), 0o600)
	if code, _, errOut := runCLI(t, nil, "burner", "new", "adobe", "--domain", "example.org", "--burner-secret-file", secret); code != 2 || !strings.Contains(errOut, "at least 16 bytes") {
		t.Errorf("short secret: exit %d %s", code, errOut)
	}
}

func TestRelayImportAndStatsCLI(t *testing.T) {
	dir := t.TempDir()
	plan := filepath.Join(dir, "plan.csv")
	os.WriteFile(plan, []byte("alias,tag,action,forward_to\nshop@example.org,disposable,forward,me@dest.test\nold@example.org,disposable,block,\n"), 0o600)
	spool := filepath.Join(dir, "spool")
	code, out, errOut := runCLI(t, nil, "relay", "import", "--plan", plan, "--spool", spool)
	if code != 0 || !strings.Contains(out, "2 added, 0 changed, 0 removed, 0 unchanged; 2 aliases") {
		t.Fatalf("relay import: exit %d %q %s", code, out, errOut)
	}
	os.WriteFile(plan, []byte("alias,tag,action,forward_to\nshop@example.org,disposable,block,\n"), 0o600)
	code, out, _ = runCLI(t, nil, "relay", "import", "--plan", plan, "--spool", spool)
	if code != 0 || !strings.Contains(out, "0 added, 1 changed, 1 removed, 0 unchanged; 1 aliases") {
		t.Errorf("re-import: exit %d %q", code, out)
	}
	code, out, _ = runCLI(t, nil, "relay", "stats", "--spool", spool)
	if code != 0 || !strings.Contains(out, "shop@example.org") || !strings.Contains(out, "1 aliases, 0 messages queued") {
		t.Errorf("relay stats: exit %d\n%s", code, out)
	}
	if fi, err := os.Stat(spool); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("spool mode %v", fi.Mode())
	}
	os.WriteFile(plan, []byte("alias,tag,action,forward_to\nbad alias@example.org,disposable,forward,x@y.test\n"), 0o600)
	if code, _, errOut := runCLI(t, nil, "relay", "import", "--plan", plan, "--spool", spool); code != 2 || errOut == "" {
		t.Errorf("bad plan: exit %d", code)
	}
	if code, _, _ := runCLI(t, nil, "relay", "stats", "--spool", filepath.Join(dir, "none")); code != 2 {
		t.Errorf("stats without a store: exit %d, want 2", code)
	}
}

func TestRelayUsageCLI(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"relay", "--spool", dir, "--domain", "example.org"}, "--smarthost is required"},
		{[]string{"relay", "--spool", dir, "--domain", "example.org", "--smarthost", "http://x"}, "invalid server URL"},
		{[]string{"relay", "--spool", dir, "--domain", "example.org", "--smarthost", "smtp+plain://127.0.0.1:9", "--admin", "0.0.0.0:9125"}, "loopback"},
		{[]string{"relay", "--spool", dir, "--domain", "example.org", "--smarthost", "smtp://me@127.0.0.1:9"}, "smarthost password"},
		{[]string{"relay", "--spool", dir, "--smarthost", "smtp+plain://127.0.0.1:9"}, "no domains"},
		{[]string{"relay", "--spool", dir, "--domain", "example.org", "--smarthost", "smtp+plain://me@mx.example.net:25"}, "never sent unencrypted"},
		{[]string{"relay", "--spool", dir, "--domain", "example.org", "--smarthost", "smtp+plain://127.0.0.1:9", "--burner-length", "4"}, "--burner-length must be"},
		{[]string{"relay", "--spool", dir, "--domain", "example.org", "--smarthost", "smtp+plain://127.0.0.1:9", "--srs-hash-length", "2"}, "--srs-hash-length must be"},
		// The sample configuration parses: it stops only at the secret file it names.
		{[]string{"relay", "--config", "../../forwards/relay/systemd/relay.toml", "--spool", dir, "--burner-secret-file", filepath.Join(dir, "missing")}, "burner secret"},
	} {
		pw := ""
		if strings.Contains(tt.want, "burner") {
			pw = "pw"
		}
		code, _, errOut := runCLI(t, map[string]string{"CATCHALL_DEST_PASSWORD": pw}, tt.args...)
		if code != 2 || !strings.Contains(errOut, tt.want) || strings.Count(strings.TrimSpace(errOut), "\n") > 2 {
			t.Errorf("%v: exit %d, want 2 and %q:\n%s", tt.args, code, tt.want, errOut)
		}
	}
}
