package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/catchall/catchall/classify"
	"github.com/catchall/catchall/internal/corpus"
	"github.com/catchall/catchall/internal/imaptest"
)

// imapServer starts an in-process IMAP server, holding the corpus c if
// not nil; it stops at the end of the test.
func imapServer(t *testing.T, c *corpus.Corpus) *imaptest.Server {
	t.Helper()
	srv, err := imaptest.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if c == nil {
		return srv
	}
	if err := srv.Seed(c); err != nil {
		t.Fatal(err)
	}
	return srv
}

func TestMigrateCLI(t *testing.T) {
	c := corpus.Generate(&corpus.Options{Seed: 3, Messages: 300})
	srv := imapServer(t, c)
	dir := t.TempDir()
	arch, out := filepath.Join(dir, "archive"), filepath.Join(dir, "out")
	env := map[string]string{"CATCHALL_PASSWORD": srv.Password, "HOME": dir}
	breaches, _ := filepath.Abs("../../classify/breach/testdata/breaches.json")
	args := []string{"migrate", "--from", srv.URL(), "--archive", arch, "--out", out,
		"--forward-to", "me@new.test", "--breaches", breaches}

	code, stdout, stderr := runCLI(t, env, append(args, "--relay-config", filepath.Join(dir, "relay.toml"))...)
	if code != 0 {
		t.Fatalf("migrate exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "or point your MX at \"catchall relay --plan") || strings.Contains(stdout, "master plan") {
		t.Errorf("without a relay config the summary should offer the relay:\n%s", stdout)
	}
	// A relay serving another plan: the summary says which file is the master.
	os.WriteFile(filepath.Join(dir, "relay.toml"), []byte("plan = \"/srv/catchall/plan.csv\"\ndomain = [\"example.org\"]\n"), 0o600)
	if code, stdout, stderr := runCLI(t, env, append(args, "--relay-config", filepath.Join(dir, "relay.toml"))...); code != 0 ||
		!strings.Contains(stdout, "serves /srv/catchall/plan.csv: that file is the master plan now") {
		t.Errorf("with a relay config: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{"[1/5] fetch", "[2/5] classify", "[3/5] breach", "[4/5] forwards", "[5/5] report",
		"aliases:", "breach check:", "busiest aliases:", "next:", "Have I Been Pwned"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("first run: no %q in\n%s", want, stdout)
		}
	}
	plan := filepath.Join(out, "plan.csv")
	for _, p := range []string{plan, filepath.Join(out, "report.html"), filepath.Join(out, "configs", "postfix", "virtual"),
		filepath.Join(out, "configs", "sieve"), filepath.Join(out, "configs", "csv"), filepath.Join(out, "logs", "classify.log")} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("not written: %v", err)
		}
		if !fi.IsDir() && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %04o", p, fi.Mode().Perm())
		}
	}
	p, err := classify.ReadPlan(plan)
	if err != nil || len(p.Rows) == 0 {
		t.Fatalf("plan: %v", err)
	}
	if p.Rows[0]["breach_verdict"] == "" {
		t.Error("the breach step did not fill breach_verdict")
	}

	// Nothing changed: every step after fetch is up to date.
	code, stdout, stderr = runCLI(t, env, append(args, "--no-fetch")...)
	if code != 0 {
		t.Fatalf("second run exit %d\n%s%s", code, stdout, stderr)
	}
	for _, s := range []string{"classify", "breach", "forwards", "report"} {
		if !strings.Contains(stdout, s+": up to date") {
			t.Errorf("second run: %s ran again\n%s", s, stdout)
		}
	}

	// The user edits the plan: classify stays, the rest follows the edit, and
	// the edit is kept.
	var edited string
	for _, r := range p.Rows {
		if r["action"] == "forward" {
			edited = r.Alias()
			r["action"], r["forward_to"] = "block", ""
			break
		}
	}
	if err := p.Write(plan); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCLI(t, env, append(args, "--no-fetch")...)
	if code != 0 {
		t.Fatalf("after the edit: exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "classify: up to date") || strings.Contains(stdout, "forwards: up to date") ||
		strings.Contains(stdout, "report: up to date") || strings.Contains(stdout, "breach: up to date") {
		t.Errorf("after the edit, wrong steps ran:\n%s", stdout)
	}
	access, _ := os.ReadFile(filepath.Join(out, "configs", "postfix", "access"))
	if !strings.Contains(string(access), edited) {
		t.Errorf("the edited alias %s is not blocked in the regenerated postfix access map", edited)
	}

	// New mail re-runs classify and what follows.
	if _, err := srv.Append("INBOX", []byte("To: brandnew@"+c.Domain+"\r\nFrom: x@y.test\r\nSubject: new\r\n\r\nhi\r\n"), nil, c.Messages[0].Date); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCLI(t, env, args...)
	if code != 0 || strings.Contains(stdout, "classify: up to date") {
		t.Fatalf("after new mail: exit %d\n%s%s", code, stdout, stderr)
	}
	if p, _ = classify.ReadPlan(plan); !hasAlias(p, "brandnew@"+c.Domain) {
		t.Error("the new alias is not in the plan")
	}
	if p, _ = classify.ReadPlan(plan); !hasAction(p, edited, "block") {
		t.Error("the user's edit was lost")
	}
}

func hasAlias(p *classify.Plan, alias string) bool {
	for _, r := range p.Rows {
		if r.Alias() == alias {
			return true
		}
	}
	return false
}

func hasAction(p *classify.Plan, alias, action string) bool {
	for _, r := range p.Rows {
		if r.Alias() == alias {
			return r["action"] == action
		}
	}
	return false
}

func TestMigrateStops(t *testing.T) {
	dir := t.TempDir()
	if code, _, _ := runCLI(t, nil, "migrate", "--from", "imap+plain://x@127.0.0.1:1", "--out", dir); code != 2 {
		t.Errorf("no --archive: exit %d, want 2", code)
	}
	for _, args := range [][]string{
		{"migrate", "--no-fetch", "--archive", filepath.Join(dir, "none"), "--out", filepath.Join(dir, "o")},
		{"migrate", "--from", "imap+plain://x@127.0.0.1:1", "--archive", filepath.Join(dir, "a"), "--out", filepath.Join(dir, "o"),
			"--to", "imap+plain://y@127.0.0.1:1", "--split-by", "folder"},
	} {
		if code, _, errOut := runCLI(t, nil, args...); code != 2 || errOut == "" {
			t.Errorf("%v: exit %d, want 2 before any step runs", args, code)
		}
	}
	srv := startServer(t)
	code, stdout, stderr := runCLI(t, map[string]string{"CATCHALL_PASSWORD": "wrong"},
		"migrate", "--from", srv.URL(), "--archive", filepath.Join(dir, "a"), "--out", filepath.Join(dir, "o"))
	if code != 3 || !strings.Contains(stderr, "migrate stopped at fetch") || strings.Contains(stdout, "[2/5]") {
		t.Errorf("wrong password: exit %d, want 3 and a stop at fetch\n%s%s", code, stdout, stderr)
	}
}

func TestMigratePush(t *testing.T) {
	src := imapServer(t, corpus.Generate(&corpus.Options{Seed: 5, Messages: 120}))
	dst := imapServer(t, nil)
	dir := t.TempDir()
	env := map[string]string{"CATCHALL_PASSWORD": src.Password, "CATCHALL_DEST_PASSWORD": dst.Password, "HOME": dir}
	breaches, _ := filepath.Abs("../../classify/breach/testdata/breaches.json")
	args := []string{"migrate", "--from", src.URL(), "--archive", filepath.Join(dir, "a"), "--out", filepath.Join(dir, "o"),
		"--forward-to", "me@new.test", "--breaches", breaches, "--to", dst.URL()}
	code, stdout, stderr := runCLI(t, env, args...)
	if code != 0 || !strings.Contains(stdout, "[6/6] push") || !strings.Contains(stdout, "pushed ") {
		t.Fatalf("migrate --to: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI(t, env, "verify", "--to", dst.URL(), "--archive", filepath.Join(dir, "a"))
	if code != 0 || !strings.Contains(stdout, "total: ") {
		t.Fatalf("verify --to after migrate: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, _ = runCLI(t, env, args...)
	if code != 0 || !strings.Contains(stdout, "push: up to date") {
		t.Errorf("second run pushed again:\n%s", stdout)
	}
}

// TestMigrateStepOutput: each step's log holds what the command of the
// same name prints, and the lines under each step come from its result.
func TestMigrateStepOutput(t *testing.T) {
	srv := imapServer(t, corpus.Generate(&corpus.Options{Seed: 7, Messages: 120}))
	dir := t.TempDir()
	arch, out := filepath.Join(dir, "archive"), filepath.Join(dir, "out")
	env := map[string]string{"CATCHALL_PASSWORD": srv.Password, "HOME": dir}
	breaches, _ := filepath.Abs("../../classify/breach/testdata/breaches.json")
	code, stdout, stderr := runCLI(t, env, "migrate", "--from", srv.URL(), "--archive", arch, "--out", out,
		"--formats", "postfix,sieve", "--forward-to", "me@new.test", "--breaches", breaches)
	if code != 0 {
		t.Fatalf("migrate: exit %d\n%s%s", code, stdout, stderr)
	}
	log := func(step string) string {
		b, err := os.ReadFile(filepath.Join(out, "logs", step+".log"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	// The same commands on what migrate left: the same output.
	plan := filepath.Join(out, "plan.csv")
	for _, tc := range []struct {
		step string
		args []string
	}{
		{"forwards", []string{"forwards", "--plan", plan, "--format", "postfix,sieve", "--out", filepath.Join(out, "configs"), "--forward-to", "me@new.test"}},
		{"report", []string{"report", "--plan", plan, "--archive", arch, "--out", filepath.Join(out, "report.html")}},
	} {
		code, cmdOut, errOut := runCLI(t, env, tc.args...)
		if code != 0 || cmdOut != log(tc.step) {
			t.Errorf("%s: exit %d %s\nthe command printed\n%s\nmigrate logged\n%s", tc.step, code, errOut, cmdOut, log(tc.step))
		}
	}
	// Under each step, its summary lines: the last line of fetch, breach
	// and report, classify's domains and plan lines, one line per format.
	lines := func(s string) []string { return strings.Split(strings.TrimSpace(s), "\n") }
	last := func(s string) string { l := lines(s); return l[len(l)-1] }
	want := []string{
		"    " + last(log("fetch")),
		"    " + lines(log("classify"))[0],
		"    " + last(log("classify")),
		"    " + lines(log("breach"))[len(lines(log("breach")))-2], // the attribution is last
		"    " + lines(log("forwards"))[0],
		"    " + last(log("report")),
	}
	for _, w := range want {
		if !strings.Contains(stdout, w+"\n") {
			t.Errorf("no %q under its step in\n%s", w, stdout)
		}
	}
	if !strings.Contains(log("classify"), "domains: ") || !strings.Contains(log("breach"), "aliases: ") || !strings.Contains(stdout, "    sieve: ") {
		t.Errorf("logs or summary lack a step's lines:\n%s", stdout)
	}
}
