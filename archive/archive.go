// Package archive is catchall's local copy of a mail account: one Maildir per
// folder plus an SQLite index. Every later step (classify, push, verify) reads
// it; only imapsync writes messages into it. Other packages reach the index
// only through this package's methods (their tests through archivetest): no
// other package names a table or column.
//
// The package is public, not under internal/, because the public packages
// take an *Archive (imapsync.Fetch, Push, Verify; classify reads one): a
// program outside this module could not use them otherwise, and the layout
// below is part of the user's contract anyway (CONTRACT.md, "archive
// layout"). Plumbing that no public API needs stays in internal/.
//
// # Layout
//
//	DIR/index.db                   SQLite index (see Schema)
//	DIR/<folder>/{cur,new,tmp}     one Maildir per folder
//
// <folder> is the folder's UTF-8 name with "/" as hierarchy separator,
// whatever the server's delimiter or namespace prefix ("INBOX" for the inbox),
// so "Archive/2019" lives in DIR/Archive/2019/cur. A name component that would
// collide with the Maildir structure ("cur", "new", "tmp", ".", "..", an empty
// component, or "index.db" at the top) or contains a byte that cannot appear in
// a file name gets its first byte percent-encoded ("%6Eew" for "new"); the
// index keeps the true name.
//
// Directories are created 0700 and files 0600: the archive is somebody's life.
//
// # Message files
//
// A message file holds exactly the bytes the server returned for BODY[].
// Its name is
//
//	<internaldate unix seconds>.V<uidvalidity>U<uid>.catchall:2,<flags>
//
// where flags are the Maildir letters D (\Draft), F (\Flagged), R (\Answered),
// S (\Seen) and T (\Deleted) in ASCII order, and the file's mtime is the
// message's INTERNALDATE, so Dovecot, mutt and notmuch read the archive as is.
// The part before the colon is the message's key: it never changes, even when
// a mail reader renames the file to change its flags.
//
// # Exactly once
//
// A message is written to tmp/, flushed to disk (fsync, or one syncfs per
// batch on Linux), renamed into cur/, the directory is
// fsynced, and only then is its row committed to the index. A crash between
// the rename and the commit leaves a file without a row; Reconcile adopts such
// files (it can, because the key names the folder generation and UID) and
// forgets rows whose files are gone, so a re-run downloads neither twice nor
// never.
//
// # Push journal
//
// catchall push uploads archived messages to another account and must never
// upload one twice, even after kill -9. The journal table records, per
// destination account and archived message, where the message went:
//
//	push_journal(dest, message, sha256, folder, uidvalidity, uid, state, updated_at)
//
// A row is written in state JournalInFlight, and committed, before the APPEND
// is sent; once the server answers OK it becomes JournalDone with the UID from
// APPENDUID (RFC 4315 §3), or UID 0 when the server has no UIDPLUS. An
// in-flight row found by a later run means the outcome is unknown: the
// message may or may not be on the server, and push searches for it before
// appending it again. A done row whose folder's UIDVALIDITY has changed since
// is just as unknown.
package archive

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite", pure Go
)

// Schema is the SQL that creates the index. Columns are documented inline;
// other tools may read the index but should not write it while catchall runs.
const Schema = `
CREATE TABLE IF NOT EXISTS meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS folders (
	name          TEXT PRIMARY KEY,           -- UTF-8, '/' separated, 'INBOX' for the inbox
	dir           TEXT NOT NULL UNIQUE,       -- Maildir directory relative to the archive
	remote        TEXT NOT NULL DEFAULT '',   -- the folder's name on the server (decoded)
	delimiter     TEXT NOT NULL DEFAULT '',   -- the server's hierarchy delimiter
	attrs         TEXT NOT NULL DEFAULT '',   -- LIST attributes, e.g. '\Sent'
	uidvalidity   INTEGER NOT NULL DEFAULT 0, -- current generation on the server
	uidnext       INTEGER NOT NULL DEFAULT 0, -- UIDNEXT when the folder was last complete
	highestmodseq INTEGER NOT NULL DEFAULT 0, -- CONDSTORE HIGHESTMODSEQ when last complete
	state         TEXT NOT NULL DEFAULT 'new',-- 'new', 'partial' or 'complete'
	synced_at     TEXT NOT NULL DEFAULT ''    -- RFC 3339 time of the last complete sync
);
CREATE TABLE IF NOT EXISTS messages (
	id            INTEGER PRIMARY KEY,
	folder        TEXT NOT NULL REFERENCES folders(name),
	uidvalidity   INTEGER NOT NULL,
	uid           INTEGER NOT NULL,
	internal_date TEXT NOT NULL,              -- RFC 3339, with the server's zone
	flags         TEXT NOT NULL DEFAULT '',   -- space-separated flags and keywords
	size          INTEGER NOT NULL,           -- bytes of the file
	sha256        TEXT NOT NULL,              -- hex SHA-256 of the file
	message_id    TEXT NOT NULL DEFAULT '',   -- Message-ID without angle brackets, '' if none
	path          TEXT NOT NULL UNIQUE,       -- file path relative to the archive
	gone          INTEGER NOT NULL DEFAULT 0, -- 1 once the server no longer has it
	UNIQUE (folder, uidvalidity, uid)
);
CREATE INDEX IF NOT EXISTS messages_sha256 ON messages(folder, sha256);
`

// IndexFile is the name of the SQLite index inside the archive directory.
const IndexFile = "index.db"

// Folder states.
const (
	StateNew      = "new"
	StatePartial  = "partial"
	StateComplete = "complete"
)

// Archive is an open archive. Its methods are safe for concurrent use.
type Archive struct {
	dir  string
	root *os.File // the archive directory, for syncfs
	db   *sql.DB
	mu   sync.Mutex // serialises writers; SQLite allows one anyway
}

// Open opens the archive in dir, creating it (0700) and its index (0600) if
// needed.
func Open(dir string) (*Archive, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating archive: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	dbPath := filepath.Join(abs, IndexFile)
	// Create the file ourselves so that SQLite does not pick the mode.
	f, err := os.OpenFile(dbPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening index: %w", err)
	}
	f.Close()
	db, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(ON)")
	if err != nil {
		return nil, fmt.Errorf("opening index: %w", err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(Schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening index %s: %w", dbPath, err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		os.Chmod(dbPath+suffix, 0o600)
	}
	root, err := os.Open(abs)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &Archive{dir: abs, root: root, db: db}, nil
}

// Close closes the index.
func (a *Archive) Close() error {
	a.root.Close()
	return a.db.Close()
}

// Dir returns the archive's absolute directory.
func (a *Archive) Dir() string { return a.dir }

// DB returns the index, for archivetest. Other packages read and write the
// archive through the methods: no table or column is named outside this
// package, and the schema is not part of the API.
func (a *Archive) DB() *sql.DB { return a.db }

// Folder is one folder of the archive.
type Folder struct {
	Name          string // UTF-8, "/" separated, "INBOX" for the inbox
	Dir           string // Maildir directory relative to the archive
	Remote        string // name on the server
	Delimiter     string // the server's hierarchy delimiter
	Attrs         string // LIST attributes, space-separated
	UIDValidity   uint32
	UIDNext       uint32
	HighestModSeq uint64
	State         string // StateNew, StatePartial or StateComplete
}

const folderCols = `name, dir, remote, delimiter, attrs, uidvalidity, uidnext, highestmodseq, state`

func scanFolder(row interface{ Scan(...any) error }) (*Folder, error) {
	var f Folder
	err := row.Scan(&f.Name, &f.Dir, &f.Remote, &f.Delimiter, &f.Attrs, &f.UIDValidity, &f.UIDNext, &f.HighestModSeq, &f.State)
	return &f, err
}

// Folder returns the folder called name, or nil if the archive has none.
func (a *Archive) Folder(name string) (*Folder, error) {
	f, err := scanFolder(a.db.QueryRow(`SELECT `+folderCols+` FROM folders WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return f, err
}

// Folders returns every folder of the archive, sorted by name.
func (a *Archive) Folders() ([]*Folder, error) {
	rows, err := a.db.Query(`SELECT ` + folderCols + ` FROM folders ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Folder
	for rows.Next() {
		f, err := scanFolder(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// AddFolder records a folder seen on the server and creates its Maildir. For
// a known folder it updates Remote, Delimiter and Attrs and returns the stored
// folder; a new one starts in StateNew.
func (a *Archive) AddFolder(name, remote, delimiter, attrs string) (*Folder, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f, err := a.Folder(name)
	if err != nil {
		return nil, err
	}
	if f == nil {
		dir := LocalDir(name)
		for i := 2; ; i++ {
			var n int
			if err := a.db.QueryRow(`SELECT count(*) FROM folders WHERE dir = ?`, dir).Scan(&n); err != nil {
				return nil, err
			}
			if n == 0 {
				break
			}
			dir = fmt.Sprintf("%s~%d", LocalDir(name), i)
		}
		f = &Folder{Name: name, Dir: dir, State: StateNew}
		if _, err := a.db.Exec(`INSERT INTO folders (name, dir) VALUES (?, ?)`, name, dir); err != nil {
			return nil, fmt.Errorf("adding folder %q: %w", name, err)
		}
	}
	f.Remote, f.Delimiter, f.Attrs = remote, delimiter, attrs
	if _, err := a.db.Exec(`UPDATE folders SET remote = ?, delimiter = ?, attrs = ? WHERE name = ?`, remote, delimiter, attrs, name); err != nil {
		return nil, err
	}
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(a.dir, f.Dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("creating maildir for %q: %w", name, err)
		}
	}
	return f, nil
}

// SetFolderState records the folder's server state after a sync.
func (a *Archive) SetFolderState(name string, uidValidity, uidNext uint32, modSeq uint64, state string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	syncedAt := ""
	if state == StateComplete {
		syncedAt = time.Now().UTC().Format(time.RFC3339)
	}
	_, err := a.db.Exec(`UPDATE folders SET uidvalidity = ?, uidnext = ?, highestmodseq = ?, state = ?,
		synced_at = CASE WHEN ? != '' THEN ? ELSE synced_at END WHERE name = ?`,
		uidValidity, uidNext, modSeq, state, syncedAt, syncedAt, name)
	return err
}

// LocalDir maps a folder name to its directory relative to the archive, as
// described in the package documentation.
func LocalDir(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		switch {
		case p == "" || p == "." || p == ".." || p == "cur" || p == "new" || p == "tmp" || (i == 0 && strings.HasPrefix(p, IndexFile)):
			if p == "" {
				parts[i] = "%"
			} else {
				parts[i] = fmt.Sprintf("%%%02X", p[0]) + p[1:]
			}
		default:
			var b strings.Builder
			for j := 0; j < len(p); j++ {
				c := p[j]
				if c == 0 || c == '\\' {
					fmt.Fprintf(&b, "%%%02X", c)
				} else {
					b.WriteByte(c)
				}
			}
			parts[i] = b.String()
		}
	}
	return filepath.Join(parts...)
}
