package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/catchall/catchall/classify"
)

func TestForwardsCLI(t *testing.T) {
	dir := t.TempDir()
	plan := writePlan(t, dir, "alias,tag,action,forward_to,note\n"+
		"adobe@example.com,disposable,forward,,mine\n"+
		"family@example.com,personal,forward,me@new.example anna@family.example,\n"+
		"leaked@example.com,disposable,block,,\n")
	out := filepath.Join(dir, "out")

	// Without --forward-to the row with an empty forward_to is left out,
	// with its name and what to do; the rest is written; exit 1.
	code, stdout, errOut := runCLI(t, nil, "forwards", "--plan", plan, "--format", "postfix", "--out", out)
	if code != 1 || !strings.Contains(errOut, "left out adobe@example.com: forward with an empty forward_to and no default target: give --forward-to ADDR") ||
		!strings.Contains(stdout, "postfix: 2 rules (1 forward, 1 block)") {
		t.Errorf("no --forward-to: exit %d %s%s", code, stdout, errOut)
	}
	code, stdout, errOut = runCLI(t, nil, "forwards", "--plan", plan, "--format", "postfix,sieve,json", "--out", out, "--to", "me@new.example")
	if code != 0 || !strings.Contains(stdout, "postfix: 3 rules (2 forward, 1 block)") || !strings.Contains(stdout, "what sieve cannot do") {
		t.Fatalf("exit %d\n%s%s", code, stdout, errOut)
	}
	for _, f := range []string{"postfix/virtual", "postfix/access", "postfix/main.cf.snippet", "postfix/INSTALL.txt", "sieve/catchall.sieve", "json/plan.json"} {
		st, err := os.Stat(filepath.Join(out, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v", f, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(out, "postfix", "INSTALL.txt")); !strings.Contains(string(b), "postmap /etc/postfix/catchall/virtual") || !strings.Contains(string(b), "cannot do for this plan") {
		t.Errorf("INSTALL.txt:\n%s", b)
	}

	// Round trips: the Postfix maps and the Sieve script give back the plan.
	for _, tc := range []struct {
		format string
		files  []string
	}{
		{"postfix", []string{"postfix/virtual", "postfix/access"}},
		{"sieve", []string{"sieve/catchall.sieve"}},
		{"json", []string{"json/plan.json"}},
	} {
		back := filepath.Join(dir, tc.format+"-back.csv")
		args := []string{"forwards", "import", "--format", tc.format, "--plan", back}
		for _, f := range tc.files {
			args = append(args, filepath.Join(out, f))
		}
		code, stdout, errOut := runCLI(t, nil, args...)
		if code != 0 || !strings.Contains(stdout, "3 rules imported") {
			t.Fatalf("import %s: exit %d %s%s", tc.format, code, stdout, errOut)
		}
		p, err := classify.ReadPlan(back)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, r := range p.Rows {
			got[r.Alias()] = r["action"] + " " + r["forward_to"]
		}
		want := map[string]string{"adobe@example.com": "forward me@new.example", "family@example.com": "forward me@new.example anna@family.example", "leaked@example.com": "block "}
		for a, w := range want {
			if got[a] != w {
				t.Errorf("%s round trip: %s = %q, want %q", tc.format, a, got[a], w)
			}
		}
	}

	// An unsafe row is left out, named, and the rest written (exit 1); an
	// unknown format is a usage error.
	os.WriteFile(plan, []byte("alias,tag,action,forward_to\nx@example.com,disposable,forward,\"a@b.example\"\"; redirect \"\"evil@x.example\"\ny@example.com,personal,forward,me@new.example\n"), 0o600)
	if code, _, errOut = runCLI(t, nil, "forwards", "--plan", plan, "--format", "sieve", "--out", out); code != 1 || !strings.Contains(errOut, "left out x@example.com: forward_to cannot be forwarded safely") {
		t.Errorf("unsafe target: exit %d %s", code, errOut)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "catchall.sieve")); !strings.Contains(string(b), "y@example.com") || strings.Contains(string(b), "evil") {
		t.Errorf("the safe row is not written, or the unsafe one is:\n%s", b)
	}
	if code, _, errOut = runCLI(t, nil, "forwards", "--plan", plan, "--format", "qmail", "--out", out); code != 2 || !strings.Contains(errOut, "unknown format") {
		t.Errorf("unknown format: exit %d %s", code, errOut)
	}
	// A default target or catch-all that is not an address: the flag is named.
	for _, flag := range []string{"--forward-to", "--to", "--catch-all"} {
		code, _, errOut = runCLI(t, nil, "forwards", "--plan", plan, "--format", "sieve", "--out", out, flag, "me@new.example x")
		want := flag + ": cannot be forwarded safely"
		if flag == "--to" {
			want = "--forward-to: cannot be forwarded safely" // the old spelling of the same flag
		}
		if code != 2 || !strings.Contains(errOut, want) {
			t.Errorf("%s with a bad address: exit %d %s", flag, code, errOut)
		}
	}
}
