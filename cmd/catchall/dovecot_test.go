package main

// The whole migration against the real Dovecot of scripts/test.sh (make
// test), on the generated corpus in user alice's account: the plan must hold
// every alias of the corpus with mostly the right tags and its breached
// disposable aliases blocked, Postfix's postmap must resolve every alias of
// the generated maps as the plan says, Pigeonhole's sievec must compile the
// generated script, and the report must list every alias. Push is left to
// the imapsync acceptance tests, which own the destination accounts.

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/catchall/catchall/classify"
	"github.com/catchall/catchall/internal/corpus"
	"github.com/catchall/catchall/internal/testtools"
)

func TestDovecotMigrate(t *testing.T) {
	env := testtools.NeedDovecot(t)
	testtools.NeedTools(t, "postmap", "sievec", "runuser")
	truth, err := corpus.ReadTruth(env.Corpus)
	if err != nil {
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
		"--from", "imap+plain://alice@"+env.IMAPAddr, "--archive", arch, "--out", out,
		"--forward-to", "me@new.test", "--breaches", breaches) // no --domain: as the README runs it
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
			table, want = "access", "550 5.1.1"
		}
		got, _ := postfix.Postmap("-q", alias, "hash:"+filepath.Join(pf, table)).Output()
		if g := strings.ReplaceAll(strings.TrimSpace(string(got)), ", ", ","); !strings.HasPrefix(g, want) {
			t.Errorf("postmap -q %s %s = %q, want %q", alias, table, g, want)
		}
	}

	// The Sieve script compiles (as an unprivileged user: Dovecot's tools refuse root).
	script := filepath.Join(out, "configs", "sieve", "catchall.sieve")
	os.Chmod(dir, 0o755)
	for _, d := range []string{out, filepath.Join(out, "configs"), filepath.Dir(script)} {
		os.Chmod(d, 0o755)
	}
	os.Chmod(script, 0o644)
	dc := testtools.NewDovecot(t)
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

// TestDovecotMigrateEveryMailbox runs migrate as the README does (no
// --domain) on every mailbox scripts/test.sh seeded: three generated
// mailboxes in both namespace styles, and one holding CPython's email test
// messages among generated mail. The plan must name exactly the true
// domains, tag at least 97 % of aliases right, block every address that
// was never given out and no personal or business one, and call exactly
// the truly breached or leaked aliases breached or leaked. Then, on the
// CPython mailbox, a run with a wrong --domain followed by one without
// leaves no foreign row in any config.
func TestDovecotMigrateEveryMailbox(t *testing.T) {
	env := testtools.NeedDovecot(t)
	if len(env.Mailboxes) == 0 {
		t.Skip("no seeded mailboxes (CATCHALL_TEST_MAILBOXES): run make test (scripts/test.sh) for the acceptance tests")
	}
	breaches, _ := filepath.Abs("../../classify/breach/testdata/breaches.json")
	for _, mb := range env.Mailboxes {
		user := mb.User
		t.Run(user, func(t *testing.T) {
			truth, err := corpus.ReadTruth(mb.Corpus)
			if err != nil {
				t.Fatal(err)
			}
			domains := truth.Domains
			if len(domains) == 0 {
				domains = []string{truth.Domain}
			}
			dir := t.TempDir()
			arch, out := filepath.Join(dir, "archive"), filepath.Join(dir, "out")
			args := []string{"migrate", "--from", "imap+plain://" + user + "@" + env.IMAPAddr,
				"--archive", arch, "--out", out, "--forward-to", "me@new.test", "--breaches", breaches}
			code, stdout, stderr := runCLI(t, map[string]string{"CATCHALL_PASSWORD": "secret"}, args...)
			if code != 0 {
				t.Fatalf("migrate exit %d\n%s\n%s", code, stdout, stderr)
			}
			want := "domains: " + strings.Join(domains, " (")
			if !strings.Contains(stdout, "domains: "+domains[0]+" (") || strings.Count(stdout, "messages delivered") != len(domains) {
				t.Errorf("migrate did not print exactly the domains %v (%q):\n%s", domains, want, stdout)
			}
			rows := planRows(t, filepath.Join(out, "plan.csv"))
			for alias := range rows {
				if !slices.Contains(domains, classify.Domain(alias)) {
					t.Errorf("plan row %s is not at the true domains %v", alias, domains)
				}
			}
			scoreMailbox(t, truth, rows)
			noForeignConfig(t, filepath.Join(out, "configs"), domains)

			if user != "pyemail" {
				return
			}
			// A wrong --domain first (one of the CPython files' domains), an
			// edit of one of its rows, then the run as the README says.
			out2 := filepath.Join(dir, "out2")
			wrong := append(args[:len(args):len(args)], "--no-fetch", "--domain", "python.org")
			wrong[slices.Index(wrong, "--out")+1] = out2
			if code, stdout, stderr := runCLI(t, nil, wrong...); code != 0 {
				t.Fatalf("migrate --domain python.org exit %d\n%s\n%s", code, stdout, stderr)
			}
			plan, err := classify.ReadPlan(filepath.Join(out2, "plan.csv"))
			if err != nil || len(plan.Rows) == 0 {
				t.Fatalf("the wrong --domain made no python.org rows: %v", err)
			}
			edited := plan.Rows[0].Alias()
			plan.Rows[0]["action"], plan.Rows[0]["forward_to"] = "block", ""
			if err := plan.Write(filepath.Join(out2, "plan.csv")); err != nil {
				t.Fatal(err)
			}
			right := slices.Clone(wrong[:len(wrong)-2])
			if code, stdout, stderr := runCLI(t, nil, right...); code != 0 {
				t.Fatalf("migrate again without --domain: exit %d\n%s\n%s", code, stdout, stderr)
			}
			rows = planRows(t, filepath.Join(out2, "plan.csv"))
			for alias, r := range rows {
				switch {
				case alias == edited:
					if r["domain_status"] != classify.DomainStatusForeign || r["action"] != "block" {
						t.Errorf("the edited foreign row %s: %v; want kept, marked foreign", alias, r)
					}
				case !slices.Contains(domains, classify.Domain(alias)):
					t.Errorf("foreign row %s still in the plan", alias)
				}
			}
			noForeignConfig(t, filepath.Join(out2, "configs"), domains)
		})
	}
}

func planRows(t *testing.T, path string) map[string]classify.Row {
	t.Helper()
	plan, err := classify.ReadPlan(path)
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]classify.Row{}
	for _, r := range plan.Rows {
		rows[r.Alias()] = r
	}
	return rows
}

// scoreMailbox compares the plan with the corpus's ground truth.
func scoreMailbox(t *testing.T, truth *corpus.Truth, rows map[string]classify.Row) {
	t.Helper()
	type want struct {
		tag, action string
		neverGiven  bool
		compromised bool
		ambiguous   bool // folds several subaddresses: no breach verdict expected
	}
	// As far as mail can show it (as classify/breach's truth test): a leak
	// is visible once two spam messages arrived; an address that folds
	// several subaddresses (news+heise@, news+spiegel@) has no one service.
	spam, folded := map[string]int{}, map[string]int{}
	for _, m := range truth.Messages {
		if m.Origin == "spam" {
			spam[strings.ToLower(m.Alias)]++
		}
	}
	for _, a := range truth.Aliases {
		base, _ := classify.SplitSubaddress(a.Address)
		folded[base]++
	}
	wants := map[string]*want{}
	for _, a := range truth.Aliases {
		base, _ := classify.SplitSubaddress(a.Address)
		if wants[base] != nil && base != a.Address {
			continue // alias+tag@ folds into alias@, whose own entry decides
		}
		compromised := len(a.Breaches) > 0 || !a.Leaked.IsZero() && spam[a.Address] >= 2
		wants[base] = &want{tag: a.Tag, action: a.Action, neverGiven: a.NeverGiven, compromised: compromised && !a.NeverGiven,
			ambiguous: folded[base] > 1}
	}
	agree := 0
	var wrong []string
	for alias, w := range wants {
		r, ok := rows[alias]
		if !ok {
			t.Errorf("alias %s of the corpus is not in the plan", alias)
			continue
		}
		if r["tag"] == w.tag {
			agree++
		} else {
			wrong = append(wrong, fmt.Sprintf("%s: %s, want %s (%s)", alias, r["tag"], w.tag, r["reasons"]))
		}
		if w.neverGiven && r["action"] != "block" {
			t.Errorf("%s was never given out, but the plan says %s (%s)", alias, r["action"], r["reasons"])
		}
		if (r["tag"] == "personal" || r["tag"] == "business" || w.tag != "disposable") && r["action"] == "block" {
			t.Errorf("%s (%s, truly %s) is blocked: %s; %s", alias, r["tag"], w.tag, r["reasons"], r["breach_verdict"])
		}
		v := r["breach_verdict"]
		if got := v == "breached" || v == "leaked"; got != w.compromised && !w.ambiguous {
			t.Errorf("%s: breach verdict %q, truly breached or leaked: %v (%s)", alias, v, w.compromised, r["breach_notes"])
		}
	}
	for alias := range rows {
		if wants[alias] == nil {
			t.Errorf("plan row %s is not an alias of the corpus", alias)
		}
	}
	slices.Sort(wrong)
	for _, w := range wrong {
		t.Log("  ", w)
	}
	if agree*100 < len(wants)*97 {
		t.Errorf("tags agree with the corpus for %d of %d aliases, want at least 97%%", agree, len(wants))
	}
}

// noForeignConfig checks that no generated config names a domain that is
// not one of domains.
func noForeignConfig(t *testing.T, dir string, domains []string) {
	t.Helper()
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, ".txt") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, foreign := range []string{"python.org", "zzz.org", "example.com", "dom.ain"} {
			if !slices.Contains(domains, foreign) && strings.Contains(string(b), "@"+foreign) {
				t.Errorf("%s names %s", path, foreign)
			}
		}
		return nil
	})
}
