package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/catchall/catchall/archive"
	"github.com/catchall/catchall/archive/archivetest"
)

func TestState(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Current("a", "x") {
		t.Fatal("empty state says a is done")
	}
	if err := s.Mark("a", "x", time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	s, _ = Load(path)
	if !s.Current("a", "x") || s.Current("a", "y") || s.Current("b", "x") {
		t.Fatalf("after reload: %+v", s.Steps)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %04o", fi.Mode().Perm())
	}
	s.Forget("a")
	if s, _ = Load(path); s.Current("a", "x") {
		t.Error("Forget did not stick")
	}
	os.WriteFile(path, []byte("{garbage"), 0o600)
	if s, err = Load(path); err != nil || len(s.Steps) != 0 {
		t.Errorf("damaged state: %v, %v", s.Steps, err)
	}
}

func TestHasher(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "plan.csv")
	sum := func(h *Hasher) string {
		t.Helper()
		s, err := h.Sum()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	absent := sum(NewHasher().File("plan", f))
	os.WriteFile(f, []byte("a"), 0o600)
	one := sum(NewHasher().File("plan", f))
	os.WriteFile(f, []byte("b"), 0o600)
	two := sum(NewHasher().File("plan", f))
	if absent == one || one == two {
		t.Error("file contents do not change the fingerprint")
	}
	if sum(NewHasher().String("a", "1").String("b", "2")) != sum(NewHasher().String("b", "2").String("a", "1")) {
		t.Error("order of parts changes the fingerprint")
	}
	if sum(NewHasher().String("a", "1")) == sum(NewHasher().String("a", "2")) {
		t.Error("settings do not change the fingerprint")
	}

	arc, err := archive.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer arc.Close()
	a0 := sum(NewHasher().Archive("a", dir))
	if sum(NewHasher().Archive("a", dir)) != a0 {
		t.Error("an unchanged archive changed the fingerprint")
	}
	archivetest.Put(t, arc, "INBOX", 1, 1, "one")
	a1 := sum(NewHasher().Archive("a", dir))
	if err := arc.MarkGone(context.Background(), "INBOX", 1, []uint32{1}); err != nil {
		t.Fatal(err)
	}
	a2 := sum(NewHasher().Archive("a", dir))
	if a0 == a1 || a1 == a2 {
		t.Error("new or gone messages do not change the archive fingerprint")
	}
	if _, err := NewHasher().Archive("a", t.TempDir()).Sum(); err == nil {
		t.Error("a directory without an index gave a fingerprint")
	}
}
