package classify

import "testing"

func TestRouter(t *testing.T) {
	plan := &Plan{Rows: []Row{
		{"alias": "shop@example.org", "tag": "disposable"},
		{"alias": "jobs@example.org", "tag": "business"},
		{"alias": "a/b@example.org", "tag": ""},
	}}
	byAlias, err := NewRouter(SplitAlias, plan)
	if err != nil {
		t.Fatal(err)
	}
	byTag, err := NewRouter(SplitTag, plan)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		head       string
		alias, tag string
	}{
		{"To: shop@example.org\r\n\r\n", "Aliases/shop", "Disposable/shop"},
		{"To: Jobs+x@Example.org\r\n\r\n", "Aliases/jobs", "Business/jobs"},
		{"To: a/b@example.org\r\n\r\n", "Aliases/a_b", "Aliases/a_b"},
		{"To: someone@else.example\r\n\r\n", "", ""},
		// Delivered-To names the final mailbox; the alias is further down.
		{"Delivered-To: me@example.org\r\nX-Original-To: jobs@example.org\r\nTo: jobs@example.org\r\n\r\n", "Aliases/jobs", "Business/jobs"},
	} {
		if got := byAlias.Folder([]byte(tc.head)); got != tc.alias {
			t.Errorf("by alias %q: %q, want %q", tc.head, got, tc.alias)
		}
		if got := byTag.Folder([]byte(tc.head)); got != tc.tag {
			t.Errorf("by tag %q: %q, want %q", tc.head, got, tc.tag)
		}
	}
	if r, err := NewRouter(SplitNone, nil); r != nil || err != nil {
		t.Errorf("no split: %v %v", r, err)
	}
	if _, err := NewRouter(SplitTag, nil); err == nil {
		t.Error("split by tag without a plan: no error")
	}
	for _, s := range []string{"folder", "Tag", " alias"} {
		if _, err := ParseSplitBy(s); err == nil {
			t.Errorf("ParseSplitBy(%q): no error", s)
		}
		if _, err := NewRouter(SplitBy(s), plan); err == nil {
			t.Errorf("NewRouter(%q): no error", s)
		}
	}
}
