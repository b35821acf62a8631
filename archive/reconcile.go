package archive

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ReconcileResult says what Reconcile changed in one folder.
type ReconcileResult struct {
	Adopted    int // files without a row, now indexed
	Forgotten  int // rows whose file was gone, now deleted (re-fetched if still on the server)
	Moved      int // rows whose file a mail reader renamed (new flags), path updated
	TmpRemoved int // unfinished downloads removed from tmp/
	Foreign    int // files catchall did not write, left alone
}

// fileDate returns the INTERNALDATE second encoded at the start of a message
// file name (UTC: the zone is lost), or mtime if the name has none.
func fileDate(name string, mtime time.Time) time.Time {
	secs, _, _ := strings.Cut(name, ".")
	if n, err := strconv.ParseInt(secs, 10, 64); err == nil && n > 0 {
		return time.Unix(n, 0).UTC()
	}
	return mtime.UTC()
}

// Reconcile brings folder's index rows and files into agreement, in both
// directions, after a crash or after a mail reader touched the Maildir.
// Adopted files get their date (in UTC) and flags from the file name; a
// later sync corrects the flags from the server.
func (a *Archive) Reconcile(ctx context.Context, folder *Folder) (ReconcileResult, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var res ReconcileResult
	base := filepath.Join(a.dir, folder.Dir)

	// tmp/ holds only downloads that never finished.
	if ents, err := os.ReadDir(filepath.Join(base, "tmp")); err == nil {
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".catchall") && os.Remove(filepath.Join(base, "tmp", e.Name())) == nil {
				res.TmpRemoved++
			}
		}
	}

	// Files by key.
	files := map[string]string{} // key → relative path
	for _, sub := range []string{"cur", "new"} {
		ents, err := os.ReadDir(filepath.Join(base, sub))
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return res, err
		}
		for _, e := range ents {
			if !e.Type().IsRegular() {
				continue
			}
			if _, _, ok := ParseFileName(e.Name()); !ok {
				res.Foreign++
				continue
			}
			key, _, _ := strings.Cut(e.Name(), ":")
			files[key] = filepath.Join(folder.Dir, sub, e.Name())
		}
	}

	tx, err := a.db.BeginTx(ctx, nil)
	if err != nil {
		return res, err
	}
	defer tx.Rollback()
	type rowInfo struct {
		id   int64
		path string
	}
	var rows []rowInfo
	q, err := tx.QueryContext(ctx, `SELECT id, path FROM messages WHERE folder = ?`, folder.Name)
	if err != nil {
		return res, err
	}
	for q.Next() {
		var r rowInfo
		if err := q.Scan(&r.id, &r.path); err != nil {
			q.Close()
			return res, err
		}
		rows = append(rows, r)
	}
	q.Close()
	for _, r := range rows {
		key, _, _ := strings.Cut(filepath.Base(r.path), ":")
		actual, ok := files[key]
		delete(files, key)
		switch {
		case !ok:
			if _, err := tx.ExecContext(ctx, `DELETE FROM messages WHERE id = ?`, r.id); err != nil {
				return res, err
			}
			res.Forgotten++
		case actual != r.path:
			if _, err := tx.ExecContext(ctx, `UPDATE messages SET path = ? WHERE id = ?`, actual, r.id); err != nil {
				return res, err
			}
			res.Moved++
		}
	}
	for _, rel := range files {
		name := filepath.Base(rel)
		uidValidity, uid, _ := ParseFileName(name)
		abs := filepath.Join(a.dir, rel)
		st, err := os.Stat(abs)
		if err != nil {
			return res, err
		}
		size, sum, head, err := HashFile(abs)
		if err != nil {
			return res, fmt.Errorf("reading %s: %w", rel, err)
		}
		_, info, _ := strings.Cut(name, ":2,")
		flags := flagsFromMaildir(info)
		if _, err := tx.ExecContext(ctx, `INSERT INTO messages (folder, uidvalidity, uid, internal_date, flags, size, sha256, message_id, path)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (folder, uidvalidity, uid) DO NOTHING`,
			folder.Name, uidValidity, uid, fileDate(name, st.ModTime()).Format(time.RFC3339), strings.Join(flags, " "), size, sum, MessageID(head), rel); err != nil {
			return res, err
		}
		res.Adopted++
	}
	return res, tx.Commit()
}

func flagsFromMaildir(info string) []string {
	var out []string
	for _, c := range info {
		switch c {
		case 'D':
			out = append(out, `\Draft`)
		case 'F':
			out = append(out, `\Flagged`)
		case 'R':
			out = append(out, `\Answered`)
		case 'S':
			out = append(out, `\Seen`)
		case 'T':
			out = append(out, `\Deleted`)
		}
	}
	return NormalizeFlags(out)
}
