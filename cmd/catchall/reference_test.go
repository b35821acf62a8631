package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/catchall/catchall/internal/testtools"
)

// TestReference keeps docs/REFERENCE.md equal to the commands' own help.
func TestReference(t *testing.T) {
	var buf bytes.Buffer
	// A fixed home so that defaults derived from it read the same everywhere.
	t.Setenv("HOME", "/home/you")
	t.Setenv("STATE_DIRECTORY", "")
	t.Setenv("XDG_STATE_HOME", "")
	writeReference(&buf, newRoot(&globals{}))
	// -update (make docs) rewrites it.
	testtools.Golden(t, "../../docs/REFERENCE.md", buf.Bytes(), "run make docs")
	for _, cmd := range []string{"## catchall fetch", "## catchall relay stats", "## catchall migrate", "`--from URL`"} {
		if !strings.Contains(buf.String(), cmd) {
			t.Errorf("reference lacks %q", cmd)
		}
	}
}

// TestCompletion: the shell completion scripts come out, bash's parses, and
// the completion protocol they call answers with commands and flag values.
func TestCompletion(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish"} {
		code, out, errOut := runCLI(t, nil, "completion", sh)
		if code != 0 || !strings.Contains(out, "catchall") {
			t.Fatalf("completion %s: exit %d\n%s", sh, code, errOut)
		}
		if sh == "bash" {
			if _, err := exec.LookPath("bash"); err == nil {
				cmd := exec.Command("bash", "-n")
				cmd.Stdin = strings.NewReader(out)
				if b, err := cmd.CombinedOutput(); err != nil {
					t.Errorf("bash -n on the completion script: %v\n%s", err, b)
				}
			}
		}
	}
	_, out, _ := runCLI(t, nil, "__complete", "mi")
	if !strings.Contains(out, "migrate") {
		t.Errorf("completing \"mi\": %q", out)
	}
	_, out, _ = runCLI(t, nil, "__complete", "forwards", "--format", "s")
	if !strings.Contains(out, "sieve") || !strings.Contains(out, "simplelogin") {
		t.Errorf("completing forwards --format: %q", out)
	}
}
