package archive

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
)

// Summary is what the index says of the archive's mail as a whole.
type Summary struct {
	Messages int64 // rows of the index, gone ones included
	LastID   int64 // Entry.ID of the newest row, 0 when there is none
	Gone     int64 // rows whose message the server no longer has
}

const summaryQuery = `SELECT count(*), coalesce(max(id), 0), coalesce(sum(gone), 0) FROM messages`

// Summary returns the index's Summary.
func (a *Archive) Summary(ctx context.Context) (Summary, error) {
	return scanSummary(a.db.QueryRowContext(ctx, summaryQuery))
}

func scanSummary(row *sql.Row) (Summary, error) {
	var s Summary
	err := row.Scan(&s.Messages, &s.LastID, &s.Gone)
	return s, err
}

// Fingerprint returns a short string that names the mail of the archive in
// dir as far as the steps after fetch can tell: its Summary. A message
// archived, forgotten by Reconcile or marked gone changes it; a fetch that
// found nothing new, a read, and a change of flags leave it as it was.
//
// Fingerprint opens the index read-only and creates nothing: a directory
// without an index is an error. The string stays the same from one version of
// catchall to the next, since catchall migrate keeps it (hashed) in its state
// file.
func Fingerprint(dir string) (string, error) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, IndexFile)+"?mode=ro")
	if err != nil {
		return "", err
	}
	defer db.Close()
	s, err := scanSummary(db.QueryRow(summaryQuery))
	if err != nil {
		return "", fmt.Errorf("reading the archive index in %s: %w", dir, err)
	}
	return fmt.Sprintf("%d/%d/%d", s.Messages, s.LastID, s.Gone), nil
}

// Walk calls fn for every message of the archive, gone ones included, in the
// order they were archived (by Entry.ID), and stops at the first error fn
// returns. fn must not call other Archive methods.
func (a *Archive) Walk(ctx context.Context, fn func(*Entry) error) error {
	rows, err := a.db.QueryContext(ctx, `SELECT `+entryCols+` FROM messages ORDER BY id`)
	return eachEntry(rows, err, fn)
}
