package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Entry is one message row of the index.
type Entry struct {
	ID           int64
	Folder       string
	UIDValidity  uint32
	UID          uint32
	InternalDate time.Time
	Flags        []string // system flags and keywords, sorted
	Size         int64
	SHA256       string // hex
	MessageID    string // without angle brackets
	Path         string // relative to the archive
	Gone         bool   // the server no longer has it
}

const entryCols = `id, folder, uidvalidity, uid, internal_date, flags, size, sha256, message_id, path, gone`

func scanEntry(row interface{ Scan(...any) error }) (*Entry, error) {
	var e Entry
	var date, flags string
	if err := row.Scan(&e.ID, &e.Folder, &e.UIDValidity, &e.UID, &date, &flags, &e.Size, &e.SHA256, &e.MessageID, &e.Path, &e.Gone); err != nil {
		return nil, err
	}
	e.InternalDate, _ = time.Parse(time.RFC3339, date)
	e.Flags = strings.Fields(flags)
	return &e, nil
}

// Entries calls fn for each message of folder in UID order; uidValidity zero
// means every generation. fn must not call other Archive methods.
func (a *Archive) Entries(folder string, uidValidity uint32, fn func(*Entry) error) error {
	q := `SELECT ` + entryCols + ` FROM messages WHERE folder = ?`
	args := []any{folder}
	if uidValidity != 0 {
		q += ` AND uidvalidity = ?`
		args = append(args, uidValidity)
	}
	rows, err := a.db.Query(q+` ORDER BY uidvalidity, uid`, args...)
	return eachEntry(rows, err, fn)
}

// eachEntry calls fn for each row of a query of entryCols (whose error is
// err), stopping at the first error.
func eachEntry(rows *sql.Rows, err error, fn func(*Entry) error) error {
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Known is what a sync needs to know about an archived message: small, so
// that a folder of a million messages fits in memory.
type Known struct {
	Flags string // space-separated, sorted
	Gone  bool
}

// KnownUIDs returns the UIDs of folder's generation uidValidity.
func (a *Archive) KnownUIDs(folder string, uidValidity uint32) (map[uint32]Known, error) {
	rows, err := a.db.Query(`SELECT uid, flags, gone FROM messages WHERE folder = ? AND uidvalidity = ?`, folder, uidValidity)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[uint32]Known)
	for rows.Next() {
		var uid uint32
		var k Known
		if err := rows.Scan(&uid, &k.Flags, &k.Gone); err != nil {
			return nil, err
		}
		out[uid] = k
	}
	return out, rows.Err()
}

// Count returns the number of messages of folder's generation uidValidity
// that the server still has.
func (a *Archive) Count(folder string, uidValidity uint32) (int, error) {
	var n int
	err := a.db.QueryRow(`SELECT count(*) FROM messages WHERE folder = ? AND uidvalidity = ? AND gone = 0`, folder, uidValidity).Scan(&n)
	return n, err
}

// MaildirFlags returns the Maildir info letters for IMAP flags.
func MaildirFlags(flags []string) string {
	var b []byte
	for _, f := range flags {
		switch strings.ToLower(f) {
		case `\draft`:
			b = append(b, 'D')
		case `\flagged`:
			b = append(b, 'F')
		case `\answered`:
			b = append(b, 'R')
		case `\seen`:
			b = append(b, 'S')
		case `\deleted`:
			b = append(b, 'T')
		}
	}
	slices.Sort(b)
	return string(slices.Compact(b))
}

// FileName returns the Maildir file name of a message.
func FileName(date time.Time, uidValidity, uid uint32, flags []string) string {
	return fmt.Sprintf("%d.V%dU%d.catchall:2,%s", date.Unix(), uidValidity, uid, MaildirFlags(flags))
}

// ParseFileName returns the generation and UID encoded in a file name written
// by FileName; ok is false for any other name.
func ParseFileName(name string) (uidValidity, uid uint32, ok bool) {
	key, _, _ := strings.Cut(name, ":")
	parts := strings.Split(key, ".")
	if len(parts) != 3 || parts[2] != "catchall" || !strings.HasPrefix(parts[1], "V") {
		return 0, 0, false
	}
	if _, err := strconv.ParseInt(parts[0], 10, 64); err != nil {
		return 0, 0, false
	}
	v, u, found := strings.Cut(parts[1][1:], "U")
	if !found {
		return 0, 0, false
	}
	uv, err1 := strconv.ParseUint(v, 10, 32)
	ui, err2 := strconv.ParseUint(u, 10, 32)
	if err1 != nil || err2 != nil || uv == 0 || ui == 0 {
		return 0, 0, false
	}
	return uint32(uv), uint32(ui), true
}

// NormalizeFlags returns flags sorted and without duplicates, \Recent dropped
// (it is session state, not message state).
func NormalizeFlags(flags []string) []string {
	out := make([]string, 0, len(flags))
	for _, f := range flags {
		if f == "" || strings.EqualFold(f, `\Recent`) {
			continue
		}
		out = append(out, f)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

var tmpCounter atomic.Uint64

// headerCap bounds how much of a message is kept in memory to find its
// Message-ID; a header field past it is not found.
const headerCap = 32 << 10

// Incoming is a message being written into a folder's tmp/ directory. Write
// the body to it, then pass it to Commit, or Abort it.
type Incoming struct {
	folder *Folder
	path   string // absolute tmp path
	f      *os.File
	h      hash.Hash
	n      int64
	head   []byte // the first bytes, until Close extracts the Message-ID
	msgID  string

	closed   bool
	closeErr error

	// Set by the caller before Commit.
	UIDValidity  uint32
	UID          uint32
	InternalDate time.Time
	Flags        []string
}

// Create starts a new message in folder's tmp/ directory.
func (a *Archive) Create(folder *Folder) (*Incoming, error) {
	name := fmt.Sprintf("%d.%d_%d.catchall", time.Now().UnixNano(), os.Getpid(), tmpCounter.Add(1))
	path := filepath.Join(a.dir, folder.Dir, "tmp", name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("creating message file: %w", err)
	}
	return &Incoming{folder: folder, path: path, f: f, h: sha256.New()}, nil
}

// Write writes message bytes.
func (in *Incoming) Write(p []byte) (int, error) {
	n, err := in.f.Write(p)
	in.h.Write(p[:n])
	in.n += int64(n)
	if len(in.head) < headerCap {
		in.head = append(in.head, p[:min(n, headerCap-len(in.head))]...)
	}
	return n, err
}

// Size returns the number of bytes written so far.
func (in *Incoming) Size() int64 { return in.n }

// Abort removes the partial file.
func (in *Incoming) Abort() {
	if !in.closed {
		in.f.Close()
		in.closed = true
	}
	os.Remove(in.path)
}

// Close ends the message: the file is closed (after an fsync where the
// platform has no syncfs; see flushFiles), its mtime set to InternalDate, and
// its Message-ID extracted. Set InternalDate before. Commit closes messages
// not closed yet. A message failing to close is removed.
func (in *Incoming) Close() error {
	if in.closed {
		return in.closeErr
	}
	in.closed = true
	in.msgID, in.head = MessageID(in.head), nil
	var err error
	if perFileSync {
		err = in.f.Sync()
	}
	if cerr := in.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(in.path)
		in.closeErr = fmt.Errorf("writing message file: %w", err)
		return in.closeErr
	}
	if !in.InternalDate.IsZero() {
		os.Chtimes(in.path, in.InternalDate, in.InternalDate)
	}
	return nil
}

// Commit makes messages durable: their data is flushed, they are moved into cur/,
// the directories are fsynced, and then the rows are committed in one
// transaction. A message byte-identical to one of an earlier generation of the
// same folder (after a UIDVALIDITY change) is not stored twice: the earlier
// copy is renamed and re-keyed instead. Messages that fail are left out
// and reported in the joined error; the others are stored.
func (a *Archive) Commit(ctx context.Context, msgs []*Incoming) error {
	if len(msgs) == 0 {
		return nil
	}
	// Close and flush the data first, outside the lock, so that connections
	// flush in parallel.
	var errs []error
	ok := msgs[:0:0]
	for _, in := range msgs {
		if err := in.Close(); err != nil {
			errs = append(errs, err)
			continue
		}
		ok = append(ok, in)
	}
	msgs = ok
	if err := flushFiles(a.root); err != nil {
		for _, in := range msgs {
			in.Abort()
		}
		return fmt.Errorf("flushing messages to disk: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	type row struct {
		in      *Incoming
		rel     string
		sha     string
		reuseID int64 // row of an earlier generation taken over
	}
	rows := make([]row, 0, len(msgs))
	dirs := map[string]bool{}
	taken := map[int64]bool{} // old-generation rows taken over in this batch
	for _, in := range msgs {
		r := row{in: in, sha: hex.EncodeToString(in.h.Sum(nil))}
		r.rel = filepath.Join(in.folder.Dir, "cur", FileName(in.InternalDate, in.UIDValidity, in.UID, in.Flags))
		// After a UIDVALIDITY change, take over an identical old copy.
		var oldID int64
		var oldPath string
		var err error
		for {
			err = a.db.QueryRowContext(ctx, `SELECT id, path FROM messages WHERE folder = ? AND sha256 = ? AND uidvalidity != ? AND id > ? ORDER BY id LIMIT 1`,
				in.folder.Name, r.sha, in.UIDValidity, oldID).Scan(&oldID, &oldPath)
			if err != nil || !taken[oldID] {
				break
			}
		}
		if err == nil {
			if err := os.Rename(filepath.Join(a.dir, oldPath), filepath.Join(a.dir, r.rel)); err == nil {
				os.Remove(in.path)
				if !in.InternalDate.IsZero() {
					os.Chtimes(filepath.Join(a.dir, r.rel), in.InternalDate, in.InternalDate)
				}
				dirs[filepath.Dir(oldPath)] = true
				taken[oldID] = true
				r.reuseID = oldID
				rows = append(rows, r)
				dirs[filepath.Dir(r.rel)] = true
				continue
			}
		} else if !errors.Is(err, sql.ErrNoRows) {
			in.Abort()
			errs = append(errs, err)
			continue
		}
		if err := os.Rename(in.path, filepath.Join(a.dir, r.rel)); err != nil {
			os.Remove(in.path)
			errs = append(errs, fmt.Errorf("storing message: %w", err))
			continue
		}
		rows = append(rows, r)
		dirs[filepath.Dir(r.rel)] = true
	}
	for dir := range dirs {
		if err := syncDir(filepath.Join(a.dir, dir)); err != nil {
			return err
		}
	}
	tx, err := a.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, r := range rows {
		in := r.in
		date := in.InternalDate.Format(time.RFC3339)
		flags := strings.Join(NormalizeFlags(in.Flags), " ")
		if r.reuseID != 0 {
			_, err = tx.ExecContext(ctx, `UPDATE messages SET uidvalidity = ?, uid = ?, internal_date = ?, flags = ?, path = ?, gone = 0 WHERE id = ?`,
				in.UIDValidity, in.UID, date, flags, r.rel, r.reuseID)
		} else {
			_, err = tx.ExecContext(ctx, `INSERT INTO messages (folder, uidvalidity, uid, internal_date, flags, size, sha256, message_id, path)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (folder, uidvalidity, uid) DO UPDATE SET internal_date = excluded.internal_date, flags = excluded.flags,
				size = excluded.size, sha256 = excluded.sha256, message_id = excluded.message_id, path = excluded.path, gone = 0`,
				in.folder.Name, in.UIDValidity, in.UID, date, flags, in.n, r.sha, in.msgID, r.rel)
		}
		if err != nil {
			return fmt.Errorf("indexing message: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing index: %w", err)
	}
	return errors.Join(errs...)
}

// UpdateFlags sets the flags of folder's messages given by UID and renames
// their files to match. Unknown UIDs are ignored.
func (a *Archive) UpdateFlags(ctx context.Context, folder *Folder, uidValidity uint32, flags map[uint32][]string) error {
	if len(flags) == 0 {
		return nil
	}
	return a.inTx(ctx, func(tx *sql.Tx) error {
		for uid, fl := range flags {
			fl = NormalizeFlags(fl)
			var path string
			err := tx.QueryRowContext(ctx, `SELECT path FROM messages WHERE folder = ? AND uidvalidity = ? AND uid = ?`, folder.Name, uidValidity, uid).Scan(&path)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			} else if err != nil {
				return err
			}
			key, _, _ := strings.Cut(filepath.Base(path), ":")
			newPath := filepath.Join(filepath.Dir(path), key+":2,"+MaildirFlags(fl))
			if newPath != path {
				if err := os.Rename(filepath.Join(a.dir, path), filepath.Join(a.dir, newPath)); err != nil {
					return fmt.Errorf("renaming for new flags: %w", err)
				}
			}
			if _, err := tx.ExecContext(ctx, `UPDATE messages SET flags = ?, path = ? WHERE folder = ? AND uidvalidity = ? AND uid = ?`,
				strings.Join(fl, " "), newPath, folder.Name, uidValidity, uid); err != nil {
				return err
			}
		}
		return nil
	})
}

// MarkGone records that the server no longer has these messages. Their files
// stay: the archive keeps what the server deletes.
func (a *Archive) MarkGone(ctx context.Context, folder string, uidValidity uint32, uids []uint32) error {
	if len(uids) == 0 {
		return nil
	}
	return a.inTx(ctx, func(tx *sql.Tx) error {
		for _, uid := range uids {
			if _, err := tx.ExecContext(ctx, `UPDATE messages SET gone = 1 WHERE folder = ? AND uidvalidity = ? AND uid = ?`, folder, uidValidity, uid); err != nil {
				return err
			}
		}
		return nil
	})
}

// inTx runs fn in one transaction under the archive's write lock and commits
// it if fn succeeds.
func (a *Archive) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	tx, err := a.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// MessageID returns the Message-ID in a message's header, without angle
// brackets, or "" if there is none. It tolerates any bytes.
func MessageID(msg []byte) string {
	for len(msg) > 0 {
		line := msg
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			line, msg = msg[:i], msg[i+1:]
		} else {
			msg = nil
		}
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 {
			return "" // end of header
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || !bytes.EqualFold(bytes.TrimSpace(name), []byte("message-id")) {
			continue
		}
		// Unfold continuation lines.
		v := append([]byte(nil), value...)
		for len(msg) > 0 && (msg[0] == ' ' || msg[0] == '\t') {
			next := msg
			if i := bytes.IndexByte(msg, '\n'); i >= 0 {
				next, msg = msg[:i], msg[i+1:]
			} else {
				msg = nil
			}
			v = append(v, bytes.TrimRight(next, "\r")...)
		}
		v = bytes.TrimSpace(v)
		if i := bytes.IndexByte(v, '<'); i >= 0 {
			if j := bytes.IndexByte(v[i:], '>'); j > 0 {
				v = v[i+1 : i+j]
			}
		}
		v = bytes.TrimSpace(v)
		if len(v) > 998 {
			v = v[:998]
		}
		return strings.ToValidUTF8(string(v), "\uFFFD")
	}
	return ""
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

// HashFile returns the size and hex SHA-256 of the file at path.
func HashFile(path string) (int64, string, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", nil, err
	}
	defer f.Close()
	h := sha256.New()
	head := make([]byte, headerCap)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	h.Write(head)
	rest, err := io.Copy(h, f)
	if err != nil {
		return 0, "", nil, err
	}
	return int64(n) + rest, hex.EncodeToString(h.Sum(nil)), head, nil
}
