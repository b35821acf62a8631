package forwards

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/catchall/catchall/classify"
	"github.com/catchall/catchall/internal/testtools"
)

// awkwardPlan has the cases every format must get right: an IDN domain, a
// subaddress, upper case in the input, several targets, a blocked alias,
// characters special to Sieve, regular expressions, shells and HCL.
func awkwardPlan() *classify.Plan {
	rows := [][4]string{
		{"Adobe@Example.com", "disposable", "forward", "me@new.example"},
		{"news+heise@example.com", "disposable", "forward", "me@new.example"},
		{"shop@bücher.example", "disposable", "forward", "Me@New.example"},
		{"family@example.com", "personal", "forward", "me@new.example anna@family.example"},
		{"leaked@example.com", "disposable", "block", ""},
		{"o'brien@example.com", "personal", "forward", "me@new.example"},
		{"a=b/c{d}$e^f|g?h*i#j&k%l@example.com", "disposable", "forward", "me@new.example"},
		{"price.$%{x}@example.com", "disposable", "block", ""},
	}
	p := &classify.Plan{Columns: []string{"alias", "tag", "action", "forward_to"}}
	for _, r := range rows {
		p.Rows = append(p.Rows, classify.Row{"alias": r[0], "tag": r[1], "action": r[2], "forward_to": r[3]})
	}
	return p
}

func awkwardInput(t *testing.T) *Input {
	t.Helper()
	in, err := FromPlan(awkwardPlan(), "", "catchall@new.example")
	if err != nil {
		t.Fatal(err)
	}
	in.Burners = &Burners{TagLen: 6, Targets: in.DefaultTargets("")}
	return in
}

// golden compares got with testdata/golden/<format>/<name>, or rewrites it
// with -update (testtools.Golden).
func golden(t *testing.T, format, name string, got []byte) {
	t.Helper()
	testtools.Golden(t, filepath.Join("testdata", "golden", format, name), got, "run go test ./forwards -run Golden -update")
}

func TestGoldenCore(t *testing.T) {
	in := awkwardInput(t)
	for _, f := range []Format{Postfix{}, Sieve{}, PlanCSV{}, PlanJSON{}} {
		out, err := f.Generate(in)
		if err != nil {
			t.Fatalf("%s: %v", f.Name(), err)
		}
		for _, file := range out.Files {
			golden(t, f.Name(), file.Name, file.Data)
		}
		golden(t, f.Name(), "INSTALL.txt", []byte(out.Install))
	}
}

func TestFromPlan(t *testing.T) {
	in := awkwardInput(t)
	var aliases []string
	for _, r := range in.Rules {
		aliases = append(aliases, r.Alias)
	}
	want := []string{"a=b/c{d}$e^f|g?h*i#j&k%l@example.com", "adobe@example.com", "family@example.com", "leaked@example.com",
		"news+heise@example.com", "o'brien@example.com", "price.$%{x}@example.com", "shop@xn--bcher-kva.example"}
	if !slices.Equal(aliases, want) {
		t.Errorf("aliases %q", aliases)
	}
	if !slices.Equal(in.Domains, []string{"example.com", "xn--bcher-kva.example"}) {
		t.Errorf("domains %q", in.Domains)
	}
	// Refused: quotes, backslashes, spaces, control characters, loops,
	// forwards without a target.
	bad := &classify.Plan{Rows: []classify.Row{
		{"alias": `"quoted"@example.com`, "action": "forward", "forward_to": "x@y.example"},
		{"alias": `back\slash@example.com`, "action": "forward", "forward_to": "x@y.example"},
		{"alias": "loop@example.com", "action": "forward", "forward_to": "loop@example.com"},
		{"alias": "empty@example.com", "action": "forward", "forward_to": ""},
		{"alias": "evil@example.com", "action": "forward", "forward_to": "x@y.example\";redirect\"z@z.example"},
		{"alias": "ctl\x01@example.com", "action": "block"},
	}}
	// Each is left out with its reason; the others stay.
	bad.Rows = append(bad.Rows, classify.Row{"alias": "fine@example.com", "action": "block", "forward_to": "kept@y.example"})
	got, err := FromPlan(bad, "", "")
	if err != nil {
		t.Fatal(err)
	}
	var skipped []string
	for _, s := range got.Skipped {
		skipped = append(skipped, s.String())
	}
	all := strings.Join(skipped, "\n")
	for _, want := range []string{`"\"quoted\"@example.com"`, `back\\slash`, "mail loop", `redirect`, "ctl"} {
		if !strings.Contains(all, want) {
			t.Errorf("skipped rows lack %q:\n%s", want, all)
		}
	}
	// An empty forward_to without --forward-to is never guessed; forward_to
	// on a block row is kept in the plan and ignored.
	if !strings.Contains(all, "empty@example.com: "+ReasonNoTarget) {
		t.Errorf("empty forward_to:\n%s", all)
	}
	if len(got.Skipped) != 6 || len(got.Rules) != 1 || got.Rules[0].Alias != "fine@example.com" || len(got.Rules[0].Targets) != 0 {
		t.Errorf("rules %+v, skipped %d", got.Rules, len(got.Skipped))
	}
	in2, err := FromPlan(&classify.Plan{Rows: []classify.Row{{"alias": "empty@example.com", "action": "forward"}}}, "Default@New.example", "")
	if err != nil || !slices.Equal(in2.Rules[0].Targets, []string{"default@new.example"}) {
		t.Errorf("--to: %v %v", in2, err)
	}
}

// Every importer gives back what its format wrote.
func TestRoundTrip(t *testing.T) {
	in := awkwardInput(t)
	for name, imp := range Importers() {
		f, ok := Formats()[name]
		if !ok {
			continue
		}
		t.Run(name, func(t *testing.T) {
			out, err := f.Generate(in)
			if err != nil {
				t.Fatal(err)
			}
			rules, err := imp.Import(importable(out, name))
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, r := range rules {
				got[r.Alias] = fmt.Sprint(r.Action, r.Targets)
			}
			fin, _ := in.For(f) // what the format leaves out, it says so in its limits
			for _, r := range fin.Rules {
				want := fmt.Sprint(r.Action, r.Targets)
				if r.Action == classify.ActionBlock && (name == "simplelogin" || name == "addy" || name == "improvmx") {
					continue // these cannot express a block
				}
				if got[r.Alias] != want {
					t.Errorf("%s: got %q, want %q", r.Alias, got[r.Alias], want)
				}
			}
		})
	}
}

func TestSieveImportRefusesOtherSieve(t *testing.T) {
	_, err := Sieve{}.Import([]byte("require \"fileinto\";\nif header :contains \"subject\" \"x\" { fileinto \"X\"; }\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("err = %v", err)
	}
}

func FuzzImport(f *testing.F) {
	in, _ := FromPlan(awkwardPlan(), "", "c@new.example")
	for _, fm := range []Format{Postfix{}, Sieve{}} {
		out, _ := fm.Generate(in)
		f.Add(out.Files[0].Data)
	}
	f.Add([]byte("if envelope :is \"to\" \"a\\\"b@x.example\" {\n redirect \"c@d.example\";\n}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, imp := range []Importer{Postfix{}, Sieve{}} {
			safeImport(t, imp, data)
		}
	})
}

// safeImport returns what imp reads of data, false if it refuses it, and
// fails the test if an imported alias is not an address every format can
// write again.
func safeImport(t *testing.T, imp Importer, data []byte) ([]Rule, bool) {
	t.Helper()
	rules, err := imp.Import(data)
	if err != nil {
		return nil, false
	}
	for _, r := range rules {
		if _, err := CheckAddress(r.Alias); err != nil {
			t.Fatalf("%s imported an unsafe alias %q", imp.Name(), r.Alias)
		}
	}
	return rules, true
}

// importable is what a format's importer reads of its output: every file
// but the main.cf snippet and, except for json and forwardemail, the JSON.
func importable(out *Output, name string) []byte {
	var all []byte
	for _, file := range out.Files {
		if strings.HasSuffix(file.Name, ".snippet") || strings.HasSuffix(file.Name, ".json") && name != "json" && name != "forwardemail" {
			continue
		}
		all = append(all, file.Data...)
	}
	return all
}

// TestWriteSaysWhatItIgnores: a setting a format does not use is in its
// limits, never dropped silently.
func TestWriteSaysWhatItIgnores(t *testing.T) {
	in := awkwardInput(t) // with Burners
	for name, f := range Formats() {
		out, err := Write(f, in)
		if err != nil {
			t.Fatal(err)
		}
		said := strings.Contains(strings.Join(out.Limits, "\n"), "--burners is not used by "+name)
		if _, handles := f.(burnerFormat); said == handles {
			t.Errorf("%s: handles burners %v, but the limits say it ignores them: %v", name, handles, said)
		}
	}
	in.Burners = nil
	if out, _ := Write(Sieve{}, in); strings.Contains(strings.Join(out.Limits, "\n"), "--burners") {
		t.Error("without --burners the limits still mention it")
	}
}

func TestGenerate(t *testing.T) {
	// A row without a target (left out of every format), one Postfix
	// cannot take ('#' starts a comment there), a block and a forward.
	const rows = "alias,tag,action,forward_to\n" +
		"shop@example.org,disposable,block,\n" +
		"me@example.org,personal,forward,me@new.example\n" +
		"empty@example.org,personal,forward,\n" +
		"#x@example.org,personal,forward,me@new.example\n"
	dir := t.TempDir()
	plan := filepath.Join(dir, "plan.csv")
	if err := os.WriteFile(plan, []byte(rows), 0o600); err != nil {
		t.Fatal(err)
	}
	formats, err := ParseFormats("postfix,sieve")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	res, err := Generate(&GenerateOptions{Plan: plan, Formats: formats, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Skipped) != 1 || res.Skipped[0].Reason != ReasonNoTarget {
		t.Errorf("skipped by every format: %v", res.Skipped)
	}
	if len(res.Formats) != 2 || res.Formats[0].Name != "postfix" || res.Formats[0].Dir != filepath.Join(out, "postfix") ||
		res.Formats[1].Rules != 3 || res.Formats[1].Forwarded != 2 || res.Formats[1].Blocked != 1 {
		t.Fatalf("formats: %+v", res.Formats)
	}
	// Postfix cannot take a key starting with '#': left out of it only.
	if len(res.Formats[0].Skipped) != 1 || len(res.Formats[1].Skipped) != 0 || res.SkippedCount() != 2 {
		t.Errorf("skipped per format: %+v %+v", res.Formats[0].Skipped, res.Formats[1].Skipped)
	}
	install, err := os.ReadFile(filepath.Join(out, "postfix", "INSTALL.txt"))
	if err != nil || !strings.Contains(string(install), "What this host cannot do for this plan") {
		t.Errorf("INSTALL.txt: %v\n%s", err, install)
	}
	if _, err := os.Stat(filepath.Join(out, "sieve", "INSTALL.txt")); err != nil {
		t.Error(err)
	}

	var ie *classify.InputError
	for _, opts := range []*GenerateOptions{
		{Plan: filepath.Join(dir, "none.csv"), Formats: formats, Out: out},
		{Plan: plan, Formats: formats, Out: out, DefaultTo: "not an address"},
		{Plan: plan, Formats: formats, Out: out, CatchAll: "x"},
	} {
		if _, err := Generate(opts); !errors.As(err, &ie) {
			t.Errorf("%+v: %v, want an InputError", opts, err)
		}
	}
	os.WriteFile(plan, []byte("alias,tag,action,forward_to\nshop@example.org,disposable,block,\n"), 0o600)
	if res, err := Generate(&GenerateOptions{Plan: plan, Formats: formats, Out: out, Burners: true}); !errors.Is(err, ErrNoBurnerTarget) || res == nil {
		t.Errorf("burners with no target: %v", err)
	}
	if _, err := ParseFormats("postfix,qmail"); err == nil || !strings.Contains(err.Error(), `unknown format "qmail"`) {
		t.Errorf("ParseFormats: %v", err)
	}
}
