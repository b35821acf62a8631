package archive

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestJournal(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a")
	a, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	// No journal yet: reading creates nothing.
	j, err := a.Journal("bob@host:143")
	if err != nil || len(j) != 0 {
		t.Fatalf("empty journal: %v %v", j, err)
	}
	var n int
	a.DB().QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'push_journal'`).Scan(&n)
	if n != 0 {
		t.Fatal("reading created the journal")
	}
	if err := a.InitJournal(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rows := []JournalEntry{
		{Message: 1, SHA256: "aa", Folder: "INBOX", UIDValidity: 7, State: JournalInFlight},
		{Message: 2, SHA256: "bb", Folder: "INBOX.Sent", UIDValidity: 7, State: JournalInFlight},
	}
	if err := a.JournalPut(ctx, "bob@host:143", rows); err != nil {
		t.Fatal(err)
	}
	if err := a.JournalPut(ctx, "other@host:143", rows[:1]); err != nil {
		t.Fatal(err)
	}
	rows[0].State, rows[0].UID = JournalDone, 42
	if err := a.JournalPut(ctx, "bob@host:143", rows[:1]); err != nil {
		t.Fatal(err)
	}
	if err := a.JournalForget(ctx, "bob@host:143", []int64{2}); err != nil {
		t.Fatal(err)
	}
	if err := a.JournalPut(ctx, "bob@host:143", []JournalEntry{{Message: 3, State: "bogus"}}); err == nil {
		t.Error("bad state accepted")
	}
	// What was committed survives closing and reopening (a crash).
	a.Close()
	a, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	j, err = a.Journal("bob@host:143")
	if err != nil {
		t.Fatal(err)
	}
	if len(j) != 1 || time.Since(j[1].Updated) > time.Minute {
		t.Fatalf("journal: %+v", j)
	}
	j[1].Updated = time.Time{}
	if *j[1] != (JournalEntry{Message: 1, SHA256: "aa", Folder: "INBOX", UIDValidity: 7, UID: 42, State: JournalDone}) {
		t.Fatalf("journal: %+v", j[1])
	}
	if j, _ := a.Journal("other@host:143"); len(j) != 1 || j[1].State != JournalInFlight {
		t.Fatalf("other destination: %+v", j)
	}
	st, err := os.Stat(filepath.Join(dir, IndexFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("index mode %v %v", st.Mode(), err)
	}
}

// TestJournalUpgrade: an index whose journal predates push --repair is read
// as it is and upgraded by InitJournal, its rows kept.
func TestJournalUpgrade(t *testing.T) {
	a, err := Open(filepath.Join(t.TempDir(), "a"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.DB().Exec(`CREATE TABLE push_journal (dest TEXT NOT NULL, message INTEGER NOT NULL, sha256 TEXT NOT NULL,
		folder TEXT NOT NULL, uidvalidity INTEGER NOT NULL DEFAULT 0, uid INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL,
		updated_at TEXT NOT NULL, PRIMARY KEY (dest, message));
		INSERT INTO push_journal VALUES ('d', 1, 'aa', 'INBOX', 7, 3, 'done', '2025-01-01T00:00:00Z')`); err != nil {
		t.Fatal(err)
	}
	if j, err := a.Journal("d"); err != nil || j[1] == nil || j[1].UID != 3 || j[1].SentSHA256 != "" {
		t.Fatalf("old journal: %v %v", j, err)
	}
	if err := a.InitJournal(); err != nil {
		t.Fatal(err)
	}
	if err := a.JournalPut(context.Background(), "d", []JournalEntry{{Message: 2, SHA256: "bb", Folder: "INBOX", State: JournalDone, SentSHA256: "cc", SentSize: 12}}); err != nil {
		t.Fatal(err)
	}
	j, err := a.Journal("d")
	if err != nil || j[1] == nil || j[1].UID != 3 || j[2] == nil || j[2].SentSHA256 != "cc" || j[2].SentSize != 12 {
		t.Fatalf("upgraded journal: %+v %+v %v", j[1], j[2], err)
	}
}
