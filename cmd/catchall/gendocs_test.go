package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestManPages: gen-docs writes one page per command (and none for the
// hidden ones), each listing exactly the flags its --help lists, and its
// description as --help has it (not taken for Markdown: "<alias>" stays).
func TestManPages(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("SOURCE_DATE_EPOCH", "1767225600") // 2026-01-01
	if code, _, errOut := runCLI(t, nil, "gen-docs", "--man", dir, "--completions", filepath.Join(dir, "completions")); code != 0 {
		t.Fatalf("gen-docs: exit %d\n%s", code, errOut)
	}
	var want []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		want = append(want, strings.ReplaceAll(c.CommandPath(), " ", "-")+".1")
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				walk(sub)
			}
		}
	}
	walk(newRoot(&globals{stdout: os.Stdout, stderr: os.Stderr}))
	slices.Sort(want)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		if !e.IsDir() {
			got = append(got, e.Name())
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("man pages %v\nwant %v", got, want)
	}
	if !slices.Contains(got, "catchall-relay-check.1") || slices.Contains(got, "catchall-gen-docs.1") {
		t.Errorf("man pages: %v", got)
	}

	manFlag := regexp.MustCompile(`(?m)^\\fB(?:-[a-zA-Z]\\fP, \\fB)?--([a-z0-9-]+)\\fP`)
	helpFlag := regexp.MustCompile(`(?m)^\s+(?:-[a-zA-Z], )?--([a-z0-9-]+)`)
	names := func(re *regexp.Regexp, s string) []string {
		var out []string
		for _, m := range re.FindAllStringSubmatch(s, -1) {
			out = append(out, m[1])
		}
		slices.Sort(out)
		return out
	}
	for _, page := range got {
		b, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil {
			t.Fatal(err)
		}
		args := append(strings.Split(strings.TrimSuffix(page, ".1"), "-")[1:], "--help")
		code, help, _ := runCLI(t, nil, args...)
		if code != 0 {
			t.Errorf("%v: exit %d", args, code)
		}
		// The flag tables of --help: "Flags:" and "Global Flags:", each up
		// to an empty line.
		var tables string
		for _, part := range strings.Split(help, "\n\n") {
			if strings.HasPrefix(part, "Flags:\n") || strings.HasPrefix(part, "Global Flags:\n") {
				tables += part + "\n"
			}
		}
		if m, h := names(manFlag, string(b)), names(helpFlag, tables); !slices.Equal(m, h) || len(m) == 0 {
			t.Errorf("%s lists the flags %v\n--help lists %v", page, m, h)
		}
		if !strings.Contains(string(b), `.TH "`+strings.ToUpper(strings.TrimSuffix(page, ".1"))+`" "1" "Jan 2026"`) {
			t.Errorf("%s: header %q", page, strings.SplitN(string(b), "\n", 3)[:2])
		}
	}
	relay, _ := os.ReadFile(filepath.Join(dir, "catchall-relay.1"))
	if !strings.Contains(string(relay), "X-Catchall-Alias: <alias>") {
		t.Error("catchall-relay.1 lost <alias> of its description")
	}
	for _, f := range []string{"catchall", "_catchall", "catchall.fish"} {
		if b, err := os.ReadFile(filepath.Join(dir, "completions", f)); err != nil || !strings.Contains(string(b), "__complete") {
			t.Errorf("completion %s: %v", f, err)
		}
	}
}
