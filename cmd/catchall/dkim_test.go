package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/catchall/catchall/forwards/dkimkey"
	"github.com/catchall/catchall/forwards/relay"
)

// TestDKIMNewCLI: dkim new writes a key the relay takes and prints its
// record, for both types; it never replaces a key file.
func TestDKIMNewCLI(t *testing.T) {
	dir := t.TempDir()
	for _, typ := range []string{"", "ed25519"} {
		out := filepath.Join(dir, "dkim-"+typ+".key")
		args := []string{"dkim", "new", "--domain", "Bücher.example", "--selector", "s2025", "--out", out}
		if typ != "" {
			args = append(args, "--type", typ)
		}
		code, stdout, stderr := runCLI(t, nil, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		want := "rsa"
		if typ != "" {
			want = typ
		}
		re := regexp.MustCompile(`^s2025\._domainkey\.xn--bcher-kva\.example\. IN TXT "v=DKIM1; k=` + want + `; p=[A-Za-z0-9+/=]+"( "[A-Za-z0-9+/=]+")*\n$`)
		if !re.MatchString(stdout) {
			t.Errorf("%v printed %q", args, stdout)
		}
		if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("key file: %v, %v", fi, err)
		}
		key, err := dkimkey.Load(out)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(stdout+stderr, "PRIVATE") {
			t.Error("the private key was printed")
		}
		cfg := relay.Config{Spool: dir, Smarthost: nil, DKIM: &relay.DKIM{Key: key, Selector: "s2025"}}
		if err := cfg.Validate(); err != nil && strings.Contains(err.Error(), "DKIM") {
			t.Errorf("the relay refuses the key: %v", err)
		}
		before, _ := os.ReadFile(out)
		if code, _, stderr := runCLI(t, nil, args...); code != 2 || !strings.Contains(stderr, "never replaced") {
			t.Errorf("second run: exit %d, %s", code, stderr)
		}
		if after, _ := os.ReadFile(out); string(after) != string(before) {
			t.Error("the key file was replaced")
		}
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"dkim", "new", "--domain", "example.org", "--selector", "s1"}, "are required"},
		{[]string{"dkim", "new", "--domain", "example.org", "--selector", "s_1", "--out", filepath.Join(dir, "x")}, "--selector"},
		{[]string{"dkim", "new", "--domain", "not a domain", "--selector", "s1", "--out", filepath.Join(dir, "x")}, "not a domain name"},
		{[]string{"dkim", "new", "--domain", "example.org", "--selector", "s1", "--out", filepath.Join(dir, "x"), "--type", "dsa"}, "give rsa or ed25519"},
	} {
		if code, _, stderr := runCLI(t, nil, tt.args...); code != 2 || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, want 2 and %q: %s", tt.args, code, tt.want, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x")); err == nil {
		t.Error("a refused run wrote a key")
	}
}
