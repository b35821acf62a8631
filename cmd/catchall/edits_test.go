package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/catchall/catchall/classify"
	"github.com/catchall/catchall/forwards"
)

// TestPlanEditsEverywhere makes the edits a person makes in an editor or a
// spreadsheet and runs every step that reads the plan: classify again,
// breach, and forwards in every format. Each edit must mean the same
// everywhere, and no edit may stop the others.
func TestPlanEditsEverywhere(t *testing.T) {
	dir := corpusMaildir(t)
	work := t.TempDir()
	plan := filepath.Join(work, "plan.csv")
	if code, out, errOut := runCLI(t, nil, "classify", "--maildir", dir, "--plan", plan, "--main-mailbox", "me@new.example"); code != 0 {
		t.Fatalf("classify: exit %d\n%s%s", code, out, errOut)
	}
	p, err := classify.ReadPlan(plan)
	if err != nil {
		t.Fatal(err)
	}
	pick := func(f func(classify.Row) bool) string {
		for _, r := range p.Rows {
			if f(r) {
				return r.Alias()
			}
		}
		t.Fatal("no row to edit")
		return ""
	}
	toBlock := pick(func(r classify.Row) bool { return r["tag"] == "disposable" && r["action"] == "forward" })
	toForward := pick(func(r classify.Row) bool { return r["action"] == "block" })
	retag := pick(func(r classify.Row) bool { return r["tag"] == "personal" })
	deleted := pick(func(r classify.Row) bool {
		return r["action"] == "forward" && r.Alias() != toBlock && r.Alias() != retag && r["tag"] == "disposable"
	})

	// The edits, on the file's text as an editor sees it.
	data, _ := os.ReadFile(plan)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	var kept []string
	for _, l := range lines {
		f := strings.SplitN(l, ",", 5)
		switch f[0] {
		case toBlock: // flip to block: action alone, forward_to left as it was
			f[2] = "block"
		case toForward: // flip back with an empty forward_to
			f[2], f[3] = "forward", ""
		case retag:
			f[1] = "business"
		case deleted:
			continue
		}
		kept = append(kept, strings.Join(f, ","))
	}
	kept = append(kept,
		"hand@catchall.test,personal,forward,friend@new.example", // a new 4-column row
		"short@catchall.test,disposable,block",                   // a row that stops early
		`"quoted@catchall.test",business,forward,"boss@new.example",,"mine, with a comma"`)
	os.WriteFile(plan, []byte(strings.Join(kept, "\n")+"\n"), 0o600)

	check := func(step string) {
		t.Helper()
		p, err := classify.ReadPlan(plan)
		if err != nil {
			t.Fatalf("after %s: %v", step, err)
		}
		rows := map[string]classify.Row{}
		for _, r := range p.Rows {
			rows[r.Alias()] = r
		}
		want := map[string][3]string{ // action, forward_to, tag ("" = any)
			toBlock:                {"block", "me@new.example", ""},
			toForward:              {"forward", "", ""},
			retag:                  {"", "", "business"},
			"hand@catchall.test":   {"forward", "friend@new.example", "personal"},
			"short@catchall.test":  {"block", "", "disposable"},
			"quoted@catchall.test": {"forward", "boss@new.example", "business"},
		}
		for alias, w := range want {
			r := rows[alias]
			if r == nil || w[0] != "" && r["action"] != w[0] || w[0] != "" && r["forward_to"] != w[1] || w[2] != "" && r["tag"] != w[2] {
				t.Errorf("after %s: %s = %v, want action %q forward_to %q tag %q", step, alias, r, w[0], w[1], w[2])
			}
		}
	}
	check("the edit")
	// Straight after the edit the deleted row is in no config …
	if code, stdout, errOut := runCLI(t, nil, "forwards", "--plan", plan, "--format", "postfix", "--out", filepath.Join(work, "before"), "--forward-to", "me@new.example"); code != 0 {
		t.Fatalf("forwards: exit %d\n%s%s", code, stdout, errOut)
	}
	if b, _ := os.ReadFile(filepath.Join(work, "before", "virtual")); strings.Contains(string(b), deleted+"\t") {
		t.Errorf("the deleted row %s is in the Postfix map", deleted)
	}
	// … and classify, which lists every address that got mail, brings it
	// back as a new row of its own (the README says: block, don't delete).
	if code, out, errOut := runCLI(t, nil, "classify", "--maildir", dir, "--plan", plan, "--main-mailbox", "me@new.example"); code != 0 {
		t.Fatalf("classify again: exit %d\n%s%s", code, out, errOut)
	}
	check("classify again")
	if p, _ := classify.ReadPlan(plan); !slices.ContainsFunc(p.Rows, func(r classify.Row) bool { return r.Alias() == deleted && r["source"] == "auto" }) {
		t.Errorf("classify did not list %s again", deleted)
	}
	breaches, _ := filepath.Abs("../../classify/breach/testdata/breaches.json")
	if code, out, errOut := runCLI(t, nil, "breach", "--plan", plan, "--breaches", breaches); code != 0 {
		t.Fatalf("breach: exit %d\n%s%s", code, out, errOut)
	}
	check("breach")

	// forwards, every format: all rows are written, as the plan says.
	var names []string
	for n := range forwards.Formats() {
		names = append(names, n)
	}
	slices.Sort(names)
	out := filepath.Join(work, "configs")
	code, stdout, errOut := runCLI(t, nil, "forwards", "--plan", plan, "--format", strings.Join(names, ","), "--out", out, "--forward-to", "me@new.example")
	if code != 0 || errOut != "" {
		t.Fatalf("forwards: exit %d\n%s%s", code, stdout, errOut)
	}
	virtual, _ := os.ReadFile(filepath.Join(out, "postfix", "virtual"))
	access, _ := os.ReadFile(filepath.Join(out, "postfix", "access"))
	has := func(b []byte, alias, value string) bool {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, "\t"); ok && k == alias && strings.HasPrefix(v, value) {
				return true
			}
		}
		return false
	}
	for _, c := range []struct {
		alias, table, value string
	}{
		{toBlock, "access", "550 5.1.1"},
		{toForward, "virtual", "me@new.example"},
		{"hand@catchall.test", "virtual", "friend@new.example"},
		{"short@catchall.test", "access", "550 5.1.1"},
		{"quoted@catchall.test", "virtual", "boss@new.example"},
	} {
		other := map[string][]byte{"access": virtual, "virtual": access}[c.table]
		b := map[string][]byte{"access": access, "virtual": virtual}[c.table]
		if !has(b, c.alias, c.value) || has(other, c.alias, "") {
			t.Errorf("postfix: %s should be only in %s with %q", c.alias, c.table, c.value)
		}
	}
	// Each format's importer reads the edits back as the plan says.
	for name, imp := range forwards.Importers() {
		if slices.Contains([]string{"csv", "json"}, name) {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(out, name, "*"))
		var all []byte
		for _, f := range files {
			if strings.HasSuffix(f, ".txt") || strings.HasSuffix(f, ".snippet") || strings.HasSuffix(f, ".tf") ||
				strings.HasSuffix(f, ".json") && name != "forwardemail" || strings.HasSuffix(f, "catchall-domains") {
				continue
			}
			b, _ := os.ReadFile(f)
			all = append(all, b...)
		}
		rules, err := imp.Import(all)
		if err != nil {
			t.Errorf("%s: import of its own files: %v", name, err)
			continue
		}
		got := map[string]forwards.Rule{}
		for _, r := range rules {
			got[r.Alias] = r
		}
		if r := got["hand@catchall.test"]; !slices.Equal(r.Targets, []string{"friend@new.example"}) {
			t.Errorf("%s: hand@ → %v", name, r.Targets)
		}
		if r := got[toForward]; !slices.Equal(r.Targets, []string{"me@new.example"}) {
			t.Errorf("%s: %s (unblocked, empty forward_to) → %v", name, toForward, r.Targets)
		}
	}
}

// TestPlanHostileRows puts the rows a hostile sender can make (or a
// careless edit) into a plan among good ones: each is reported once,
// naming the row and the reason, and nothing else changes.
func TestPlanHostileRows(t *testing.T) {
	work := t.TempDir()
	plan := filepath.Join(work, "plan.csv")
	good := "alias,tag,action,forward_to\n" +
		"good@example.com,personal,forward,me@new.example\n" +
		"gone@example.com,disposable,block,me@new.example\n"
	hostile := []string{
		`a/../../b@example.com,disposable,forward,`,
		`#x@example.com,disposable,block,`,
		`"""quoted local""@example.com",personal,forward,`,
		"j\xc3\xb6rg@example.com,personal,forward,",
		strings.Repeat("l", 300) + "@example.com,disposable,forward,",
		`'=1+2@example.com,disposable,forward,`,
		`"'+cmd|'/ccalc'!a0@example.com",disposable,block,`,
		`@x,disposable,block,`,
	}
	os.WriteFile(plan, []byte(good+strings.Join(hostile, "\n")+"\n"), 0o600)
	out := filepath.Join(work, "configs")
	code, _, errOut := runCLI(t, nil, "forwards", "--plan", plan, "--format", "postfix,sieve,exim,procmail,simplelogin", "--out", out, "--forward-to", "me@new.example")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, errOut)
	}
	for _, want := range []struct{ alias, why string }{
		{"a/../../b@example.com", "dots at the start, end or twice"},
		{`"quoted local"@example.com`, "may hold only ASCII"},
		{"j\xc3\xb6rg@example.com", "may hold only ASCII"},
		{strings.Repeat("l", 300) + "@example.com", "local part of 300 bytes"},
		{"@x", "not an address"},
		{"#x@example.com", "postfix: a Postfix map key cannot start with #"},
		{"=1+2@example.com", "simplelogin: =1+2@example.com begins with a character a spreadsheet evaluates"},
	} {
		if n := strings.Count(errOut, "left out "+want.alias+": "); n != 1 || !strings.Contains(errOut, want.why) {
			t.Errorf("%s reported %d times, want once with %q:\n%s", want.alias, n, want.why, errOut)
		}
	}
	// Two targets cannot take this one, each for its own reason: once each.
	cmd := "+cmd|'/ccalc'!a0@example.com"
	if n := strings.Count(errOut, "left out "+cmd+": "); n != 2 || !strings.Contains(errOut, "left out "+cmd+": simplelogin: "+cmd+" begins with a character") ||
		!strings.Contains(errOut, "left out "+cmd+": postfix: Postfix refuses a local part with % or !") {
		t.Errorf("%s reported %d times, want once by postfix and once by simplelogin:\n%s", cmd, n, errOut)
	}
	virtual, _ := os.ReadFile(filepath.Join(out, "postfix", "virtual"))
	access, _ := os.ReadFile(filepath.Join(out, "postfix", "access"))
	if !strings.Contains(string(virtual), "good@example.com\tme@new.example\n") || !strings.Contains(string(access), "gone@example.com\t550 5.1.1") {
		t.Errorf("the good rows are not all written:\n%s\n%s", virtual, access)
	}
	for _, l := range strings.Split(string(virtual)+string(access), "\n") {
		if strings.HasPrefix(l, "#x@") || strings.Contains(l, "..") {
			t.Errorf("a hostile key reached a Postfix map: %q", l)
		}
	}
	// The plan itself is spreadsheet-safe when catchall writes it.
	p, err := classify.ReadPlan(plan)
	if err != nil {
		t.Fatal(err)
	}
	p.Write(plan)
	b, _ := os.ReadFile(plan)
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "=") || strings.HasPrefix(l, "+") || strings.HasPrefix(l, "\"+") || strings.HasPrefix(l, "\"=") {
			t.Errorf("a cell a spreadsheet evaluates: %q", l)
		}
	}
	if !strings.Contains(string(b), "'=1+2@example.com,") {
		t.Errorf("=1+2@ is not written with its apostrophe:\n%s", b)
	}
}
