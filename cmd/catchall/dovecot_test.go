package main

// The whole migration against the real Dovecot of scripts/test.sh (make
// test), on the generated corpus in user alice's account: the plan must hold
// every alias of the corpus with mostly the right tags and its breached
// disposable aliases blocked, Postfix's postmap must resolve every alias of
// the generated maps as the plan says, Pigeonhole's sievec must compile the
// generated script, and the report must list every alias. Push is left to
// the imapsync acceptance tests, which own the destination accounts.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/catchall/catchall/classify"
	"github.com/catchall/catchall/internal/corpus"
	"github.com/catchall/catchall/internal/testtools"
)

func TestDovecotMigrate(t *testing.T) {
	if os.Getenv("CATCHALL_TEST_DOVECOT") != "1" || os.Getenv("CATCHALL_TEST_TOOLS") != "1" {
		t.Skip("no Dovecot: run make test (scripts/test.sh) for the acceptance tests")
	}
	var truth corpus.Truth
	b, err := os.ReadFile(filepath.Join(os.Getenv("CATCHALL_TEST_CORPUS"), "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &truth); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "catchall-migrate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	arch, out := filepath.Join(dir, "archive"), filepath.Join(dir, "out")
	breaches, _ := filepath.Abs("../../classify/breach/testdata/breaches.json")
	code, stdout, stderr := runCLI(t, map[string]string{"CATCHALL_PASSWORD": "secret"}, "migrate",
		"--from", "imap+plain://alice@"+os.Getenv("CATCHALL_TEST_IMAP_ADDR"), "--archive", arch, "--out", out,
		"--domain", truth.Domain, "--forward-to", "me@new.test", "--breaches", breaches)
	if code != 0 {
		t.Fatalf("migrate exit %d\n%s\n%s", code, stdout, stderr)
	}
	t.Logf("migrate:\n%s", stdout)

	plan, err := classify.ReadPlan(filepath.Join(out, "plan.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]classify.Row{}
	for _, r := range plan.Rows {
		rows[r.Alias()] = r
	}
	agree := 0
	for _, a := range truth.Aliases {
		// Subaddresses (alias+tag@) count under their alias, as classify does.
		base, _ := classify.SplitSubaddress(a.Address)
		r, ok := rows[base]
		if !ok {
			t.Errorf("alias %s of the corpus is not in the plan", a.Address)
			continue
		}
		if r["tag"] == a.Tag {
			agree++
		}
		if a.Tag == "disposable" && len(a.Breaches) > 0 && r["action"] != "block" {
			t.Errorf("%s was in breaches %v but the plan says %s", a.Address, a.Breaches, r["action"])
		}
	}
	if agree*100 < len(truth.Aliases)*90 {
		t.Errorf("tags agree with the corpus for %d of %d aliases, want at least 90%%", agree, len(truth.Aliases))
	}

	// The Postfix maps, built and queried by postmap.
	pf := filepath.Join(out, "configs", "postfix")
	postfix := testtools.NewPostfix(t)
	if b, err := postfix.Postmap(filepath.Join(pf, "virtual"), filepath.Join(pf, "access")).CombinedOutput(); err != nil {
		t.Fatalf("postmap: %v\n%s", err, b)
	}
	for alias, r := range rows {
		table, want := "virtual", strings.ReplaceAll(r["forward_to"], " ", ",")
		if r["action"] == "block" {
			table, want = "access", "REJECT"
		}
		got, _ := postfix.Postmap("-q", alias, "hash:"+filepath.Join(pf, table)).Output()
		if g := strings.ReplaceAll(strings.TrimSpace(string(got)), ", ", ","); !strings.HasPrefix(g, want) {
			t.Errorf("postmap -q %s %s = %q, want %q", alias, table, g, want)
		}
	}

	// The Sieve script compiles (as an unprivileged user: Dovecot's tools refuse root).
	user := os.Getenv("CATCHALL_TEST_USER")
	if user == "" {
		user = "catchalltest"
	}
	script := filepath.Join(out, "configs", "sieve", "catchall.sieve")
	os.Chmod(dir, 0o755)
	for _, d := range []string{out, filepath.Join(out, "configs"), filepath.Dir(script)} {
		os.Chmod(d, 0o755)
	}
	os.Chmod(script, 0o644)
	dc := testtools.NewDovecot(t, user)
	if b, err := dc.Command("sievec", script, filepath.Join(dc.Dir, "catchall.svbin")).CombinedOutput(); err != nil {
		t.Fatalf("sievec: %v\n%s", err, b)
	}

	// The report names every alias.
	html, err := os.ReadFile(filepath.Join(out, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	for alias := range rows {
		if !strings.Contains(string(html), alias) {
			t.Errorf("report lacks %s", alias)
			break
		}
	}
}
