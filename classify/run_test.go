package classify

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRun: the classify step writes the plan, and a second run keeps the
// user's edit and says so.
func TestRun(t *testing.T) {
	src := memSource(many(40, func(i int) *Message { return delivered(fmt.Sprintf("a%d@home.example", i%4), i) }))
	path := filepath.Join(t.TempDir(), "plan.csv")
	opts := &RunOptions{Source: src, Plan: path, Config: &Config{MainMailbox: "me@new.example"}}
	res, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Plan.Rows) != 4 || res.Merge.New != 4 || res.Inventory.Messages != 40 {
		t.Fatalf("first run: %d rows, %+v, %d messages", len(res.Plan.Rows), res.Merge, res.Inventory.Messages)
	}
	p, err := ReadPlan(path)
	if err != nil || len(p.Rows) != 4 {
		t.Fatalf("plan written: %v %v", p, err)
	}
	p.Rows[0]["tag"] = "business"
	if err := p.Write(path); err != nil {
		t.Fatal(err)
	}
	res, err = Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Merge.KeptEdits != 1 || res.Merge.New != 0 || res.Plan.Rows[0]["tag"] != "business" {
		t.Errorf("second run: %+v, row %v", res.Merge, res.Plan.Rows[0])
	}

	os.WriteFile(path, []byte("alias,tag\nx@home.example,friend\n"), 0o600)
	var ie *InputError
	if _, err := Run(context.Background(), opts); !errors.As(err, &ie) || !errors.Is(err, ErrPlan) {
		t.Errorf("a plan that cannot be read: %v, want an InputError", err)
	}
	var de *DomainError
	toCc := memSource(many(50, func(i int) *Message {
		return &Message{Folder: "INBOX", Header: []byte(fmt.Sprintf("From: a%d@sender.example\r\nTo: x%d@home.example\r\n\r\n", i, i))}
	}))
	if _, err := Run(context.Background(), &RunOptions{Source: toCc, Plan: filepath.Join(t.TempDir(), "p.csv")}); !errors.As(err, &de) {
		t.Errorf("no domains: %v, want a DomainError", err)
	}
}

func TestConfigValidate(t *testing.T) {
	good := &Config{Known: map[string]Tag{"shop": TagBusiness}, Rules: []Rule{{Pattern: "*-news", Tag: TagDisposable, Action: ActionBlock}}}
	if err := good.Validate(); err != nil {
		t.Errorf("good config: %v", err)
	}
	bad := &Config{Known: map[string]Tag{"shop": "friend"}, Rules: []Rule{{Tag: TagPersonal}, {Pattern: "x", Tag: TagPersonal, Action: "drop"}, {Pattern: "y", Tag: TagPersonal}}}
	err := bad.Validate()
	for _, want := range []string{`[known] "shop": tag "friend"`, "[[rule]] 1:", "[[rule]] 2:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad config: %v, want %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "[[rule]] 3") {
		t.Errorf("a good rule reported: %v", err)
	}
}

func TestLowestConfidence(t *testing.T) {
	p := &Plan{Rows: []Row{
		{"alias": "a@x.example", "confidence": "0.70"},
		{"alias": "b@x.example", "confidence": "0.40"},
		{"alias": "c@x.example", "confidence": "0.90"},
		{"alias": "d@x.example", "confidence": "0.10", "source": SourceManual},
		{"alias": "e@x.example", "confidence": "0.50", "domain_status": DomainStatusForeign},
		{"alias": "f@x.example", "confidence": "0.60"},
	}}
	var got []string
	for _, r := range p.LowestConfidence(2) {
		got = append(got, r.Alias())
	}
	if strings.Join(got, " ") != "b@x.example f@x.example" {
		t.Errorf("lowest: %v", got)
	}
}
