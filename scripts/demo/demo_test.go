package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/catchall/catchall/internal/testtools"
)

// TestDemo runs make demo's program twice with the built binary
// (CATCHALL_BIN, set by make test) and checks that it succeeds, writes what
// the README promises, and prints the same thing both times apart from
// timings.
func TestDemo(t *testing.T) {
	bin := testtools.NeedBinary(t)
	if err := os.Chdir("../.."); err != nil { // the demo uses the bundled breach sample
		t.Fatal(err)
	}
	var outs []string
	for i := 0; i < 2; i++ {
		out := filepath.Join(t.TempDir(), "demo-out")
		var buf bytes.Buffer
		if err := run(&buf, bin, out, 600); err != nil {
			t.Fatalf("demo: %v\n%s", err, buf.String())
		}
		for _, f := range []string{"archive/index.db", "plan.csv", "report.html", "configs/postfix/virtual", "configs/sieve/catchall.sieve", "configs/csv"} {
			if _, err := os.Stat(filepath.Join(out, f)); err != nil {
				t.Errorf("demo did not write %s: %v", f, err)
			}
		}
		outs = append(outs, normalise(strings.ReplaceAll(buf.String(), out, "OUT")))
	}
	if outs[0] != outs[1] {
		t.Errorf("two demo runs differ beyond timings:\n--- first\n%s\n--- second\n%s", outs[0], outs[1])
	}
	for _, want := range []string{"[5/5] report", "classify: up to date", "The plan, ", "breach check:"} {
		if !strings.Contains(outs[0], want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}

var timings = regexp.MustCompile(`time=\S+|in [0-9.]+(ms|s|m)|[0-9.]+ (msgs/s|[KMG]?B/s)`)

func normalise(s string) string { return timings.ReplaceAllString(s, "T") }
