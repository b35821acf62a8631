package imapsync

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/catchall/catchall/archive"
)

// newArchive opens an archive in a new temporary directory, closed when the
// test ends.
func newArchive(t *testing.T) (*archive.Archive, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "archive")
	arc, err := archive.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { arc.Close() })
	return arc, dir
}

// fetchNew fetches srv into a new archive (newArchive) and fails the test
// unless every message arrived.
func fetchNew(t *testing.T, srv *Server, opts *FetchOptions) (*archive.Archive, string, *Report) {
	t.Helper()
	arc, dir := newArchive(t)
	rep, err := Fetch(context.Background(), srv, arc, opts)
	if err != nil || len(rep.Failures) > 0 {
		t.Fatalf("fetch: %v %v", err, rep)
	}
	return arc, dir, rep
}

// folderNames lists the names of the archive's folders, sorted.
func folderNames(t *testing.T, arc *archive.Archive) []string {
	t.Helper()
	folders, err := arc.Folders()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range folders {
		names = append(names, f.Name)
	}
	return names
}
