// Package archivetest fills and damages archives for the tests of the
// packages that read them, so that those tests name no table or column of
// the index: the schema is package archive's alone.
package archivetest

import (
	"context"
	"testing"
	"time"

	"github.com/catchall/catchall/archive"
)

// Put archives data as the message uid of folder's generation uidValidity,
// creating the folder if the archive has none of that name, and fails t if
// it cannot.
func Put(t testing.TB, arc *archive.Archive, folder string, uidValidity, uid uint32, data string) {
	t.Helper()
	f, err := arc.AddFolder(folder, folder, "/", "")
	if err == nil {
		var in *archive.Incoming
		if in, err = arc.Create(f); err == nil {
			in.Write([]byte(data))
			in.UIDValidity, in.UID, in.InternalDate = uidValidity, uid, time.Unix(1600000000, 0)
			err = arc.Commit(context.Background(), []*archive.Incoming{in})
		}
	}
	if err != nil {
		t.Fatalf("archiving %s uid %d: %v", folder, uid, err)
	}
}

// DropRows deletes the index rows of the first n messages of folder and
// keeps their files: what kill -9 between a message's rename into cur/ and
// the commit of its row leaves.
func DropRows(t testing.TB, arc *archive.Archive, folder string, n int) {
	t.Helper()
	if _, err := arc.DB().Exec(`DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE folder = ? ORDER BY id LIMIT ?)`, folder, n); err != nil {
		t.Fatal(err)
	}
}

// Renumber adds delta to the ID of every message, as if the index had been
// rebuilt and the same messages archived again under new rows; the push
// journal keeps naming the old ones.
func Renumber(t testing.TB, arc *archive.Archive, delta int64) {
	t.Helper()
	if _, err := arc.DB().Exec(`UPDATE messages SET id = id + ?`, delta); err != nil {
		t.Fatal(err)
	}
}

// HasJournal reports whether the index has a push journal, even an empty
// one (Archive.Journal returns an empty map for both).
func HasJournal(t testing.TB, arc *archive.Archive) bool {
	t.Helper()
	var n int
	if err := arc.DB().QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'push_journal'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}
