package pipeline

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"
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

	db, err := sql.Open("sqlite", filepath.Join(dir, "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.Exec(`CREATE TABLE messages (id INTEGER PRIMARY KEY, gone INTEGER NOT NULL DEFAULT 0)`)
	a0 := sum(NewHasher().Archive("a", dir))
	db.Exec(`INSERT INTO messages (id) VALUES (1)`)
	a1 := sum(NewHasher().Archive("a", dir))
	db.Exec(`UPDATE messages SET gone = 1`)
	a2 := sum(NewHasher().Archive("a", dir))
	if a0 == a1 || a1 == a2 {
		t.Error("new or gone messages do not change the archive fingerprint")
	}
	if _, err := NewHasher().Archive("a", t.TempDir()).Sum(); err == nil {
		t.Error("a directory without an index gave a fingerprint")
	}
}
