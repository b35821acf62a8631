package testtools

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files (testtools.Golden) instead of comparing with them")

// Golden compares got with the golden file at path, or, with the test flag
// -update, rewrites the file. rerun says how to rewrite it (e.g. "run make
// docs"); a test fails with it when the file is missing or differs, naming
// the first line that does.
func Golden(t testing.TB, path string, got []byte, rerun string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (%s)", err, rerun)
	}
	if bytes.Equal(got, want) {
		return
	}
	gl, wl := bytes.SplitAfter(got, []byte("\n")), bytes.SplitAfter(want, []byte("\n"))
	n := 0
	for n < len(gl) && n < len(wl) && bytes.Equal(gl[n], wl[n]) {
		n++
	}
	line := func(l [][]byte) []byte {
		if n < len(l) && len(l[n]) > 0 { // SplitAfter ends with "" after a final newline
			return l[n]
		}
		return []byte("(end of file)")
	}
	t.Errorf("%s differs from the golden file (%s after checking the change); first at line %d:\n got: %q\nwant: %q",
		path, rerun, n+1, line(gl), line(wl))
}
