package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/catchall/catchall/classify"
	"github.com/catchall/catchall/internal/corpus"
)

func corpusMaildir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "maildir")
	c := corpus.Generate(&corpus.Options{Seed: 4, Messages: 800, HugeMessages: -1})
	if err := c.WriteMaildir(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestAliasesCLI(t *testing.T) {
	dir := corpusMaildir(t)
	code, out, errOut := runCLI(t, nil, "aliases", "--maildir", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.HasPrefix(lines[0], "ALIAS ") || !strings.Contains(lines[len(lines)-1], "aliases at catchall.test in ") ||
		!strings.Contains(lines[len(lines)-1], "final mailbox me@catchall.test") {
		t.Errorf("table:\n%s", out)
	}
	code, out, _ = runCLI(t, nil, "aliases", "--maildir", dir, "--format", "json")
	var doc struct {
		Domains []string `json:"domains"`
		Aliases []struct {
			Alias    string `json:"alias"`
			Messages int    `json:"messages"`
		} `json:"aliases"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil || len(doc.Aliases) < 50 || doc.Domains[0] != "catchall.test" {
		t.Errorf("json: exit %d, %d aliases", code, len(doc.Aliases))
	}
	code, out, _ = runCLI(t, nil, "aliases", "--maildir", dir, "--format", "csv", "--domain", "catchall.test")
	if code != 0 || !strings.HasPrefix(out, "alias,messages,sent,first_seen") || strings.Count(out, "\n") != len(doc.Aliases)+1 {
		t.Errorf("csv: exit %d\n%.300s", code, out)
	}
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"aliases"}, 2, "exactly one of --archive, --maildir and --mbox"},
		{[]string{"aliases", "--maildir", dir, "--mbox", "x"}, 2, "exactly one"},
		{[]string{"aliases", "--maildir", dir, "--format", "xml"}, 2, "--format must be"},
		{[]string{"aliases", "--maildir", filepath.Join(dir, "nope")}, 1, "is not a directory"},
		{[]string{"aliases", "--archive", dir}, 1, "is not an archive"},
		{[]string{"classify", "--maildir", dir}, 2, "--plan is required"},
	} {
		code, _, errOut := runCLI(t, nil, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.msg) {
			t.Errorf("%v: exit %d, %q; want %d, %q", tc.args, code, errOut, tc.code, tc.msg)
		}
	}
}

func TestClassifyCLIKeepsEdits(t *testing.T) {
	dir := corpusMaildir(t)
	work := t.TempDir()
	plan := filepath.Join(work, "plan.csv")
	cfg := filepath.Join(work, "catchall.toml")
	os.WriteFile(cfg, []byte(`main-mailbox = "Me@New.example"
business-mailbox = "work@new.example"
[known]
"shop-bluepeak" = "business"
[[rule]]
pattern = "news"
tag = "disposable"
action = "block"
`), 0o600)
	code, out, errOut := runCLI(t, nil, "classify", "--maildir", dir, "--plan", plan, "--config", cfg)
	if code != 0 || !strings.Contains(out, "plan "+plan+": ") || !strings.Contains(out, " new, 0 refreshed, 0 kept") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	p, err := classify.ReadPlan(plan)
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]classify.Row{}
	for _, r := range p.Rows {
		rows[r.Alias()] = r
	}
	if r := rows["news@catchall.test"]; r["action"] != "block" || r["forward_to"] != "" || !strings.Contains(r["reasons"], `rule "news"`) {
		t.Errorf("rule not applied: %v", r)
	}
	if r := rows["invoices@catchall.test"]; r != nil && r["forward_to"] != "work@new.example" {
		t.Errorf("business forward_to: %v", r)
	}
	var victim string
	for _, r := range p.Rows {
		if r["tag"] == "disposable" && r["action"] == "forward" {
			victim = r.Alias()
			if r["forward_to"] != "me@new.example" {
				t.Errorf("%s forward_to %q", victim, r["forward_to"])
			}
			break
		}
	}

	// Edit: block it by hand, then re-run: the edit stays.
	data, _ := os.ReadFile(plan)
	edited := strings.Replace(string(data), victim+",disposable,forward,me@new.example,", victim+",disposable,block,,", 1)
	if edited == string(data) {
		t.Fatalf("%s row not found in the plan", victim)
	}
	os.WriteFile(plan, []byte(edited), 0o600)
	code, out, _ = runCLI(t, nil, "classify", "--maildir", dir, "--plan", plan, "--config", cfg)
	if code != 0 || !strings.Contains(out, "1 kept as you edited them") {
		t.Fatalf("re-run: exit %d\n%s", code, out)
	}
	p, _ = classify.ReadPlan(plan)
	for _, r := range p.Rows {
		if r.Alias() == victim && (r["action"] != "block" || r["source"] != "manual") {
			t.Errorf("edit lost: %v", r)
		}
	}
	if st, _ := os.Stat(plan); st.Mode().Perm() != 0o600 {
		t.Errorf("plan mode %v", st.Mode().Perm())
	}

	// A broken plan is reported, not overwritten.
	os.WriteFile(plan, []byte("alias,tag\nx@y.z,friend\n"), 0o600)
	code, _, errOut = runCLI(t, nil, "classify", "--maildir", dir, "--plan", plan)
	if code != 2 || !strings.Contains(errOut, `required column "action" is missing`) {
		t.Errorf("broken plan: exit %d %s", code, errOut)
	}
	if b, _ := os.ReadFile(plan); string(b) != "alias,tag\nx@y.z,friend\n" {
		t.Error("a broken plan was overwritten")
	}
	os.WriteFile(cfg, []byte("[known]\nadobe = \"friend\"\n"), 0o600)
	code, _, errOut = runCLI(t, nil, "classify", "--maildir", dir, "--plan", filepath.Join(work, "p2.csv"), "--config", cfg)
	if code != 2 || !strings.Contains(errOut, `tag "friend" must be`) {
		t.Errorf("bad config: exit %d %s", code, errOut)
	}
}

// TestClassifyCLIDomains: the detected domains and their evidence are
// printed; a mailbox whose delivery headers do not tell stops with exit 2
// and asks for --domain; rows of a domain that is no longer the user's are
// dropped, or kept marked foreign when edited, and left out of configs.
func TestClassifyCLIDomains(t *testing.T) {
	dir := corpusMaildir(t)
	work := t.TempDir()
	plan := filepath.Join(work, "plan.csv")
	code, out, errOut := runCLI(t, nil, "classify", "--maildir", dir, "--plan", plan)
	if code != 0 || !strings.HasPrefix(out, "domains: catchall.test (") || !strings.Contains(out, "messages delivered") ||
		!strings.Contains(out, "final mailbox)") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "check these first (lowest confidence):") {
		t.Errorf("no lowest-confidence rows printed:\n%s", out)
	}

	// A wrong --domain: the To/Cc addresses at it become rows …
	other := filepath.Join(work, "wrong.csv")
	if code, out, errOut := runCLI(t, nil, "classify", "--maildir", dir, "--plan", other, "--domain", "gmail.com"); code != 0 {
		t.Fatalf("--domain gmail.com: exit %d\n%s%s", code, out, errOut)
	}
	p, err := classify.ReadPlan(other)
	if err != nil || len(p.Rows) < 2 {
		t.Fatalf("wrong-domain plan: %v, %d rows", err, len(p.Rows))
	}
	kept := p.Rows[0].Alias()
	p.Rows[0]["action"], p.Rows[0]["forward_to"] = "block", ""
	p.Write(other)
	// … and the run without it drops them, but the one the user edited.
	code, out, errOut = runCLI(t, nil, "classify", "--maildir", dir, "--plan", other)
	if code != 0 || !strings.Contains(out, "not at catchall.test: ") {
		t.Fatalf("re-run: exit %d\n%s%s", code, out, errOut)
	}
	p, _ = classify.ReadPlan(other)
	for _, r := range p.Rows {
		switch {
		case r.Alias() == kept:
			if !r.Foreign() || r["action"] != "block" {
				t.Errorf("edited row %v: want kept and marked foreign", r)
			}
		case classify.Domain(r.Alias()) != "catchall.test":
			t.Errorf("foreign row %s kept", r.Alias())
		}
	}
	cfgs := filepath.Join(work, "configs")
	code, out, errOut = runCLI(t, nil, "forwards", "--plan", other, "--format", "postfix", "--out", cfgs, "--to", "me@new.example")
	if code != 0 || !strings.Contains(errOut, "left out: "+kept) {
		t.Fatalf("forwards: exit %d\n%s%s", code, out, errOut)
	}
	for _, f := range []string{"virtual", "access", "main.cf"} {
		if b, _ := os.ReadFile(filepath.Join(cfgs, f)); strings.Contains(string(b), classify.Domain(kept)) {
			t.Errorf("configs/%s names %s", f, classify.Domain(kept))
		}
	}

	// Mail whose recipients only To/Cc name: no domain is taken, exit 2.
	weak := filepath.Join(t.TempDir(), "weak")
	for _, sub := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(weak, sub), 0o700)
	}
	for i := range 30 {
		os.WriteFile(filepath.Join(weak, "cur", fmt.Sprintf("%d.x:2,S", i)),
			[]byte(fmt.Sprintf("From: a%d@sender.example\r\nTo: bbb@zzz.org\r\nSubject: hi\r\n\r\nbody\r\n", i)), 0o600)
	}
	for _, args := range [][]string{
		{"classify", "--maildir", weak, "--plan", filepath.Join(work, "weak.csv")},
		{"aliases", "--maildir", weak},
	} {
		code, _, errOut := runCLI(t, nil, args...)
		if code != 2 || !strings.Contains(errOut, "could not tell which domain") || !strings.Contains(errOut, "--domain") {
			t.Errorf("%v: exit %d, %q; want 2 asking for --domain", args[0], code, errOut)
		}
	}
	if _, err := os.Stat(filepath.Join(work, "weak.csv")); err == nil {
		t.Error("a plan was written for a mailbox whose domain is unknown")
	}
}
