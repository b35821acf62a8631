package relay

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/catchall/catchall/classify"
)

// TestEditPlan: an edit changes only the named columns of its row (a new
// column is appended), and the store serves it at once; an unknown alias
// or an invalid value changes nothing.
func TestEditPlan(t *testing.T) {
	sk := newSink(t)
	cfg := testConfig(t, sk.addr)
	tr := startRelay(t, cfg)
	block, note, bad := "block", "my shop", "sometimes"
	if err := tr.EditPlan(map[string]AliasEdit{"shop@example.org": {Action: &block, Note: &note}}); err != nil {
		t.Fatal(err)
	}
	if a, _ := tr.Store().Lookup("shop@example.org"); a == nil || a.Action != classify.ActionBlock {
		t.Errorf("store: %+v, want blocked", a)
	}
	p, err := classify.ReadPlan(cfg.Plan)
	if err != nil {
		t.Fatal(err)
	}
	if p.Columns[len(p.Columns)-1] != "note" {
		t.Errorf("columns %v, want note appended", p.Columns)
	}
	for _, r := range p.Rows {
		if r.Alias() == "shop@example.org" && (r["action"] != "block" || r["note"] != "my shop" || r["forward_to"] != "me@dest.test") {
			t.Errorf("row %v", r)
		}
	}
	before, _ := os.ReadFile(cfg.Plan)
	if err := tr.EditPlan(map[string]AliasEdit{"nobody@example.org": {Action: &block}}); !errors.Is(err, ErrUnknownAlias) {
		t.Errorf("unknown alias: %v", err)
	}
	if err := tr.EditPlan(map[string]AliasEdit{"bank@example.org": {Tag: &bad}}); !errors.Is(err, ErrInvalidEdit) || !strings.Contains(err.Error(), "sometimes") {
		t.Errorf("invalid tag: %v", err)
	}
	if after, _ := os.ReadFile(cfg.Plan); string(after) != string(before) {
		t.Errorf("a refused edit wrote the plan")
	}
}
