package relay

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/catchall/catchall/classify"
)

func day0(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t.Add(12 * time.Hour)
}

// exportPlanCSV is a plan as classify writes it, with a user's column
// (mine), rows export must leave alone, and burner rows of an earlier
// export: one the user edited (blocked), one untouched, one the plan gave
// the relay, and one whose source is manual.
const exportPlanCSV = `alias,tag,action,forward_to,confidence,first_seen,last_seen,service_domain,source,auto_tag,auto_action,auto_forward_to,mine
adobe@example.org,disposable,block,,0.9,2012-01-05,2020-03-01,adobe.com,auto,disposable,block,,keep me
blocked.aaaaaa@example.org,disposable,block,me@dest.test,,2025-01-01,2025-01-02,blocked,burner,disposable,forward,me@dest.test,
fresh.bbbbbb@example.org,disposable,forward,,,,,fresh,burner,disposable,forward,,
jobs@example.org,business,forward,me@dest.test,0.8,2019-01-01,2024-01-01,jobs.example,auto,business,forward,me@dest.test,"a, b"
manual.dddddd@example.org,personal,forward,other@dest.test,,2024-12-01,2025-03-01,,manual,,,,mine
planned.cccccc@example.org,business,forward,work@dest.test,,,,,burner,disposable,forward,,
`

func exportBurners() []Burner {
	fwd := func(source string, to ...string) *Alias {
		return &Alias{Tag: classify.TagDisposable, Action: classify.ActionForward, Targets: to, Source: source}
	}
	return []Burner{
		// New: registered, and made with burner new but no mail yet.
		{Address: "new.eeeeee@example.org", Service: "new", Note: "=HYPERLINK(\"x\")", FirstMail: day0("2025-06-01"), LastMail: day0("2025-06-09"),
			Entry: fwd(SourceBurner, "me@dest.test")},
		{Address: "zzz.ffffff@example.org", Service: "zzz", Note: "not used yet"},
		// In the plan.
		{Address: "blocked.aaaaaa@example.org", Service: "blocked", Note: "spam after a week", FirstMail: day0("2024-12-30"), LastMail: day0("2025-02-01"),
			Entry: fwd(SourceBurner, "me@dest.test")},
		{Address: "fresh.bbbbbb@example.org", Service: "fresh", FirstMail: day0("2025-04-01"), LastMail: day0("2025-04-02"),
			Entry: fwd(SourceBurner, "me@dest.test")},
		{Address: "planned.cccccc@example.org", Service: "planned", Note: "from the store", Entry: fwd(SourcePlan, "work@dest.test")},
		{Address: "manual.dddddd@example.org", Service: "manual", FirstMail: day0("2025-01-01"), LastMail: day0("2025-01-02"),
			Entry: fwd(SourceBurner, "me@dest.test")},
	}
}

func TestExport(t *testing.T) {
	p, err := classify.ParsePlan([]byte(exportPlanCSV), false)
	if err != nil {
		t.Fatal(err)
	}
	orig, _ := classify.ParsePlan([]byte(exportPlanCSV), false)
	res := Export(p, exportBurners())
	if res != (ExportResult{Burners: 6, Added: 2, Refreshed: 4}) || res.String() != "6 burners: 2 added, 4 refreshed" {
		t.Errorf("result %+v %q", res, res)
	}
	var order []string
	by := map[string]classify.Row{}
	for _, r := range p.Rows {
		order = append(order, r.Alias())
		by[r.Alias()] = r
	}
	if want := []string{"adobe@example.org", "blocked.aaaaaa@example.org", "fresh.bbbbbb@example.org", "jobs@example.org",
		"manual.dddddd@example.org", "new.eeeeee@example.org", "planned.cccccc@example.org", "zzz.ffffff@example.org"}; !slices.Equal(order, want) {
		t.Errorf("rows %q", order)
	}
	if want := []string{"alias", "tag", "action", "forward_to", "confidence", "first_seen", "last_seen", "service_domain", "source",
		"auto_tag", "auto_action", "auto_forward_to", "mine", "note"}; !slices.Equal(p.Columns, want) {
		t.Errorf("columns %q", p.Columns)
	}
	// Rows that are not burners: exactly as they were.
	for _, a := range []string{"adobe@example.org", "jobs@example.org"} {
		var o classify.Row
		for _, r := range orig.Rows {
			if r.Alias() == a {
				o = r
			}
		}
		if got := by[a]; len(got) != len(o) || got["note"] != "" || got["mine"] != o["mine"] || got["first_seen"] != o["first_seen"] {
			t.Errorf("%s changed: %v", a, got)
		}
	}
	for _, tc := range []struct {
		alias string
		want  map[string]string
	}{
		{"new.eeeeee@example.org", map[string]string{"tag": "disposable", "action": "forward", "forward_to": "me@dest.test", "source": "burner",
			"service_domain": "new", "note": "=HYPERLINK(\"x\")", "first_seen": "2025-06-01", "last_seen": "2025-06-09",
			"auto_tag": "disposable", "auto_action": "forward", "auto_forward_to": "me@dest.test"}},
		// No mail yet: the default target (empty forward_to), no dates.
		{"zzz.ffffff@example.org", map[string]string{"tag": "disposable", "action": "forward", "forward_to": "", "source": "burner",
			"service_domain": "zzz", "note": "not used yet", "first_seen": "", "last_seen": ""}},
		// Edited (blocked): kept; dates widened, note refreshed.
		{"blocked.aaaaaa@example.org", map[string]string{"tag": "disposable", "action": "block", "forward_to": "me@dest.test",
			"auto_action": "forward", "source": "burner", "note": "spam after a week", "first_seen": "2024-12-30", "last_seen": "2025-02-01"}},
		// Not edited: the store's target now that the relay registered it.
		{"fresh.bbbbbb@example.org", map[string]string{"action": "forward", "forward_to": "me@dest.test", "auto_forward_to": "me@dest.test",
			"first_seen": "2025-04-01", "last_seen": "2025-04-02", "note": ""}},
		// The plan gave it to the relay: the plan's values stay.
		{"planned.cccccc@example.org", map[string]string{"tag": "business", "action": "forward", "forward_to": "work@dest.test",
			"auto_tag": "disposable", "auto_forward_to": "", "note": "from the store", "service_domain": "planned"}},
		// Manual: the user's values, note column the user's own (the store has none).
		{"manual.dddddd@example.org", map[string]string{"tag": "personal", "forward_to": "other@dest.test", "source": "manual",
			"first_seen": "2024-12-01", "last_seen": "2025-03-01", "service_domain": "manual", "mine": "mine"}},
	} {
		r := by[tc.alias]
		for k, v := range tc.want {
			if r[k] != v {
				t.Errorf("%s: %s = %q, want %q", tc.alias, k, r[k], v)
			}
		}
	}

	// Again: nothing new, the same plan.
	before, _ := p.Encode(false)
	res = Export(p, exportBurners())
	after, _ := p.Encode(false)
	if res.Added != 0 || res.Refreshed != 6 || !bytes.Equal(before, after) {
		t.Errorf("second export: %+v, changed %v", res, !bytes.Equal(before, after))
	}
}

// TestExportPlanFile: the CSV file gets the burners; other rows' lines stay
// byte for byte (the plan has every column already); a second run does
// not rewrite it; a missing file is created (JSON too); a broken plan is a
// plan error.
func TestExportPlanFile(t *testing.T) {
	dir := t.TempDir()
	st, err := OpenStore(filepath.Join(dir, "spool"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.AddBurner("shop.abcdef@example.org", "shop", "the corner shop", time.Now()); err != nil {
		t.Fatal(err)
	}
	reg := &Alias{Address: "adobe.k3x9qa@example.org", Tag: classify.TagDisposable, Action: classify.ActionForward,
		Targets: []string{"me@dest.test"}, Source: SourceBurner, Created: time.Now()}
	if err := st.Register(reg); err != nil {
		t.Fatal(err)
	}
	st.Accepted(reg.Address, day0("2025-05-05"))
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}

	plan := filepath.Join(dir, "plan.csv")
	orig := "alias,tag,action,forward_to,first_seen,last_seen,service_domain,source,note,auto_tag,auto_action,auto_forward_to\n" +
		"aaa@example.org,personal,forward,me@dest.test,2010-01-01,2020-01-01,,manual,my own note,,,\n" +
		"zed@example.org,business,block,,,,,auto,,business,block,\n"
	if err := os.WriteFile(plan, []byte(orig), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := ExportPlan(st, plan)
	if err != nil || res.String() != "2 burners: 2 added, 0 refreshed" {
		t.Fatalf("%v, %v", res, err)
	}
	got, _ := os.ReadFile(plan)
	lines := strings.Split(string(got), "\n")
	want := []string{
		"alias,tag,action,forward_to,first_seen,last_seen,service_domain,source,note,auto_tag,auto_action,auto_forward_to",
		"aaa@example.org,personal,forward,me@dest.test,2010-01-01,2020-01-01,,manual,my own note,,,",
		"adobe.k3x9qa@example.org,disposable,forward,me@dest.test,2025-05-05,2025-05-05,adobe,burner,,disposable,forward,me@dest.test",
		"shop.abcdef@example.org,disposable,forward,,,,shop,burner,the corner shop,disposable,forward,",
		"zed@example.org,business,block,,,,,auto,,business,block,",
		"",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("plan:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	if _, err := forwardsReadable(plan); err != nil {
		t.Errorf("the relay cannot import the exported plan: %v", err)
	}
	past := time.Now().Add(-time.Hour) // a rewrite would move the mtime on, however coarse the file system's clock
	os.Chtimes(plan, past, past)
	fi, _ := os.Stat(plan)
	res, err = ExportPlan(st, plan)
	fi2, _ := os.Stat(plan)
	if err != nil || res.Added != 0 || res.Refreshed != 2 || !fi2.ModTime().Equal(fi.ModTime()) {
		t.Errorf("second run: %v %v, rewritten %v", res, err, !fi2.ModTime().Equal(fi.ModTime()))
	}

	// A new file, CSV and JSON.
	for _, name := range []string{"new.csv", "new.json"} {
		path := filepath.Join(dir, name)
		if _, err := ExportPlan(st, path); err != nil {
			t.Fatal(err)
		}
		p, err := classify.ReadPlan(path)
		if err != nil || len(p.Rows) != 2 || p.Rows[1]["note"] != "the corner shop" || p.Rows[0]["source"] != "burner" {
			t.Errorf("%s: %v %v", name, p, err)
		}
		if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v", name, fi.Mode())
		}
	}

	// A broken plan is left alone and reported as a plan error.
	bad := "alias,tag,action,forward_to\nx@example.org,personal,maybe,\n"
	os.WriteFile(plan, []byte(bad), 0o600)
	if _, err := ExportPlan(st, plan); !errors.Is(err, classify.ErrPlan) {
		t.Errorf("broken plan: %v", err)
	}
	if b, _ := os.ReadFile(plan); string(b) != bad {
		t.Error("a broken plan was rewritten")
	}
	if _, err := ExportPlan(st, dir); !errors.Is(err, classify.ErrPlan) {
		t.Errorf("a directory as the plan: %v", err)
	}
}

// forwardsReadable imports the plan into a fresh store, as relay import
// and relay --plan do.
func forwardsReadable(plan string) (ImportResult, error) {
	st, err := OpenStore(filepath.Join(filepath.Dir(plan), "import-check"))
	if err != nil {
		return ImportResult{}, err
	}
	defer st.Close()
	res, err := ImportPlan(st, plan, nil)
	return res.ImportResult, err
}
