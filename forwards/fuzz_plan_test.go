package forwards

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/catchall/catchall/classify"
)

// FuzzPlanFormats: arbitrary plan bytes never make the reader panic; a
// plan it accepts is written back byte-identically after a second read;
// and every format either writes each rule so that its importer gives the
// same rule back, or leaves the rule out and names it (a skip or a limit)
// — never a file that means something else.
func FuzzPlanFormats(f *testing.F) {
	for _, s := range []string{
		"alias,tag,action,forward_to\nadobe@example.com,disposable,forward,me@new.example\n",
		"alias,tag,action,forward_to\n#leaked@example.com,disposable,block,\nx@example.com,personal,forward\n",
		"alias,tag,action,forward_to\n'=1+2@example.com,disposable,forward,\n\"+cmd|'/ccalc'!a0@example.com\",business,block,me@new.example\n",
		"alias,tag,action,forward_to\na/../../b@example.com,disposable,forward,\n\"\"\"quoted local\"\"@example.com\",personal,forward,\n@x,disposable,block,\n",
		"alias,tag,action,forward_to,note\nj\xc3\xb6rg@example.com,personal,forward,,\"a, b\"\n" + strings.Repeat("a", 300) + "@example.com,disposable,forward\n",
		"Alias,Tag,Action,Forward_To\n\xef\xbb\xbfX@Example.COM,personal,forward,Me@New.Example other@new.example\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := classify.ParsePlan(data, false)
		if err != nil {
			return
		}
		first, err := p.Encode(false)
		if err != nil {
			t.Fatal(err)
		}
		p2, err := classify.ParsePlan(first, false)
		if err != nil {
			t.Fatalf("a plan written by catchall does not read back: %v\n%q", err, first)
		}
		if second, _ := p2.Encode(false); !bytes.Equal(first, second) {
			t.Fatalf("write → read → write changed the plan:\n%q\n%q", first, second)
		}
		in, err := FromPlan(p, "me@new.example", "")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range in.Rules {
			if a, err := CheckAddress(r.Alias); err != nil || a != r.Alias {
				t.Fatalf("rule for %q passed FromPlan: %v", r.Alias, err)
			}
		}
		for name, format := range Formats() {
			fin, _ := in.For(format)
			out, err := format.Generate(fin)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			imp := Importers()[name]
			limits := strings.Join(out.Limits, "\n")
			written := 0
			for _, r := range fin.Rules {
				if !strings.Contains(limits, r.Alias) {
					written++
				}
			}
			if imp == nil || written == 0 {
				continue
			}
			rules, err := imp.Import(importable(out, name))
			if err != nil {
				t.Fatalf("%s: its own output does not import: %v", name, err)
			}
			got := map[string]string{}
			for _, r := range rules {
				got[r.Alias] = fmt.Sprint(r.Action, r.Targets)
			}
			for _, r := range fin.Rules {
				if r.Action == classify.ActionBlock && (name == "simplelogin" || name == "addy" || name == "improvmx") {
					continue // they cannot express a block, and say so
				}
				if want := fmt.Sprint(r.Action, r.Targets); got[r.Alias] != want && !strings.Contains(limits, r.Alias) {
					t.Errorf("%s: %s came back as %q, want %q, and the limits do not name it", name, r.Alias, got[r.Alias], want)
				}
			}
		}
	})
}
