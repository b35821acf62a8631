package testtools

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// recorder is a testing.TB that keeps what a helper reports.
type recorder struct {
	testing.TB
	msgs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

// golden runs Golden on a recorder and returns what it reported.
func golden(path, got string) string {
	r := &recorder{}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		Golden(r, path, []byte(got), "run the thing")
	}()
	wg.Wait()
	return strings.Join(r.msgs, "\n")
}

func TestGolden(t *testing.T) {
	path := filepath.Join(t.TempDir(), "want.txt")
	if msg := golden(path, "a\n"); !strings.Contains(msg, "no such file") || !strings.Contains(msg, "(run the thing)") {
		t.Errorf("missing golden file: %q", msg)
	}
	os.WriteFile(path, []byte("one\ntwo\nthree\n"), 0o644)
	if msg := golden(path, "one\ntwo\nthree\n"); msg != "" {
		t.Errorf("equal output reported: %q", msg)
	}
	for got, want := range map[string][]string{
		"one\n2\nthree\n": {"line 2", `got: "2\n"`, `want: "two\n"`, "run the thing after checking"},
		"one\ntwo\n":      {"line 3", `got: "(end of file)"`, `want: "three\n"`},
		"one\ntwo\nthree": {"line 3", `got: "three"`, `want: "three\n"`},
	} {
		msg := golden(path, got)
		for _, w := range want {
			if !strings.Contains(msg, w) {
				t.Errorf("output %q: report %q lacks %q", got, msg, w)
			}
		}
	}
}
