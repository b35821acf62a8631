package archive_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/catchall/catchall/archive"
	"github.com/catchall/catchall/archive/archivetest"
)

// TestFingerprint: every change to the archive's mail changes the
// fingerprint, anything else leaves it as it was, and its form stays the
// one catchall migrate's state files hold.
func TestFingerprint(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := archive.Fingerprint(dir); err == nil {
		t.Error("a directory without an index gave a fingerprint")
	}
	if _, err := os.Stat(filepath.Join(dir, archive.IndexFile)); err == nil {
		t.Error("Fingerprint created an index")
	}
	arc, err := archive.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer arc.Close()
	seen := map[string]string{}
	check := func(step, want string) {
		t.Helper()
		fp, err := archive.Fingerprint(dir)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if fp != want {
			t.Errorf("%s: fingerprint %q, want %q", step, fp, want)
		}
		if prev, ok := seen[fp]; ok && prev != step {
			t.Errorf("%s: the same fingerprint as %s", step, prev)
		}
		seen[fp] = step
	}
	check("empty", "0/0/0")
	check("empty", "0/0/0") // nothing changed

	archivetest.Put(t, arc, "INBOX", 1, 1, "one")
	archivetest.Put(t, arc, "INBOX", 1, 2, "two")
	check("two messages", "2/2/0")
	inbox, _ := arc.Folder("INBOX")
	if err := arc.UpdateFlags(ctx, inbox, 1, map[uint32][]string{1: {`\Seen`}}); err != nil {
		t.Fatal(err)
	}
	if res, err := arc.Reconcile(ctx, inbox); err != nil || res != (archive.ReconcileResult{}) {
		t.Fatalf("reconcile with nothing to do: %+v %v", res, err)
	}
	check("two messages", "2/2/0") // flags and a no-op reconcile are no change

	if err := arc.MarkGone(ctx, "INBOX", 1, []uint32{1}); err != nil {
		t.Fatal(err)
	}
	check("one gone", "2/2/1")

	archivetest.Put(t, arc, "INBOX", 1, 3, "three")
	check("three", "3/3/1")

	// A message forgotten and another archived: as many rows as before,
	// but not the same ones.
	var second string
	arc.Entries("INBOX", 1, func(e *archive.Entry) error {
		if e.UID == 2 {
			second = e.Path
		}
		return nil
	})
	if err := os.Remove(filepath.Join(dir, second)); err != nil {
		t.Fatal(err)
	}
	if res, err := arc.Reconcile(ctx, inbox); err != nil || res.Forgotten != 1 {
		t.Fatalf("reconcile after a lost file: %+v %v", res, err)
	}
	check("one forgotten", "2/3/1")
	archivetest.Put(t, arc, "INBOX", 1, 4, "four")
	check("one replaced", "3/4/1")

	if s, err := arc.Summary(ctx); err != nil || s != (archive.Summary{Messages: 3, LastID: 4, Gone: 1}) {
		t.Errorf("Summary = %+v, %v", s, err)
	}
	var ids []int64
	arc.Walk(ctx, func(e *archive.Entry) error { ids = append(ids, e.ID); return nil })
	if fmt.Sprint(ids) != "[1 3 4]" {
		t.Errorf("Walk gave rows %v, want [1 3 4]", ids)
	}
}
