package forwards

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/catchall/catchall/classify"
)

func TestGenerate(t *testing.T) {
	dir := t.TempDir()
	plan := filepath.Join(dir, "plan.csv")
	os.WriteFile(plan, []byte("alias,tag,action,forward_to\n"+
		"shop@example.org,disposable,block,\n"+
		"me@example.org,personal,forward,me@new.example\n"+
		"empty@example.org,personal,forward,\n"+
		"#x@example.org,personal,forward,me@new.example\n"), 0o600)
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
