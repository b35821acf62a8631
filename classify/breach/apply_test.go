package breach

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/catchall/catchall/classify"
)

func TestApply(t *testing.T) {
	dir := t.TempDir()
	plan := filepath.Join(dir, "plan.csv")
	os.WriteFile(plan, []byte("alias,tag,action,forward_to,service_domain,first_seen,source,auto_tag,auto_action,auto_forward_to\n"+
		"adobe@example.com,disposable,forward,me@new.example,adobe.com,2012-01-01,auto,disposable,forward,me@new.example\n"), 0o600)
	empty := &Cache{Dir: filepath.Join(dir, "cache")}
	var ie *classify.InputError
	for _, tc := range []struct {
		name string
		opts ApplyOptions
		is   error
	}{
		{"no list, offline", ApplyOptions{Plan: plan, Cache: empty}, ErrNoList},
		{"a list that is not there", ApplyOptions{Plan: plan, List: filepath.Join(dir, "none.json"), Cache: empty}, os.ErrNotExist},
		{"no plan", ApplyOptions{Plan: filepath.Join(dir, "none.csv"), List: "testdata/breaches.json"}, os.ErrNotExist},
		{"online without a key", ApplyOptions{Plan: plan, Online: true, Cache: empty}, nil},
	} {
		_, err := Apply(context.Background(), &tc.opts)
		if !errors.As(err, &ie) || tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%s: %v, want an InputError (%v)", tc.name, err, tc.is)
		}
	}
	results, err := Apply(context.Background(), &ApplyOptions{Plan: plan, List: "testdata/breaches.json", Cache: empty})
	if err != nil || len(results) != 1 || results[0].Verdict != VerdictBreached {
		t.Fatalf("Apply: %v %+v", err, results)
	}
	p, err := classify.ReadPlan(plan)
	if err != nil || p.Rows[0]["breach_verdict"] != "breached" || p.Rows[0]["action"] != "block" {
		t.Errorf("the plan is not updated: %v %v", p.Rows, err)
	}
}
