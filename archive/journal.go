package archive

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// JournalSchema creates the push journal. Columns are documented inline.
const JournalSchema = `
CREATE TABLE IF NOT EXISTS push_journal (
	dest        TEXT NOT NULL,               -- destination account, e.g. 'me@imap.example.com:993'
	message     INTEGER NOT NULL,            -- messages.id of the archived message
	sha256      TEXT NOT NULL,               -- hex SHA-256 of the bytes appended
	folder      TEXT NOT NULL,               -- destination folder as the server names it (decoded)
	uidvalidity INTEGER NOT NULL DEFAULT 0,  -- the folder's UIDVALIDITY when appended (0 unknown)
	uid         INTEGER NOT NULL DEFAULT 0,  -- UID from APPENDUID, 0 if the server gave none
	state       TEXT NOT NULL,               -- 'inflight' (APPEND sent, no answer yet) or 'done'
	updated_at  TEXT NOT NULL,               -- RFC 3339
	sent_sha256 TEXT NOT NULL DEFAULT '',    -- push --repair: hex SHA-256 of the repaired bytes sent, '' if sent as archived
	sent_size   INTEGER NOT NULL DEFAULT 0,  -- push --repair: their size
	PRIMARY KEY (dest, message)
);
`

// journalColumns are the columns added to push_journal after its first
// release, with their definitions: InitJournal adds those an older index
// lacks.
var journalColumns = [][2]string{
	{"sent_sha256", "TEXT NOT NULL DEFAULT ''"},
	{"sent_size", "INTEGER NOT NULL DEFAULT 0"},
}

// Journal states.
const (
	JournalInFlight = "inflight"
	JournalDone     = "done"
)

// JournalEntry is one row of the push journal.
type JournalEntry struct {
	Message     int64 // Entry.ID of the archived message
	SHA256      string
	Folder      string // destination folder (server name, decoded)
	UIDValidity uint32
	UID         uint32
	State       string    // JournalInFlight or JournalDone
	Updated     time.Time // when the row was last written (second precision); zero when writing
	// SentSHA256 and SentSize describe the bytes appended when push
	// --repair changed them (bare line ends to CRLF, NUL to a space);
	// SHA256 stays the archived message's. Empty and 0 otherwise.
	SentSHA256 string
	SentSize   int64
}

// InitJournal creates the push journal if the index has none yet.
func (a *Archive) InitJournal() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.db.Exec(JournalSchema); err != nil {
		return fmt.Errorf("creating push journal: %w", err)
	}
	have := map[string]bool{}
	rows, err := a.db.Query(`SELECT name FROM pragma_table_info('push_journal')`)
	if err != nil {
		return fmt.Errorf("reading push journal columns: %w", err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return err
		}
		have[n] = true
	}
	rows.Close()
	for _, c := range journalColumns {
		if !have[c[0]] {
			if _, err := a.db.Exec(`ALTER TABLE push_journal ADD COLUMN ` + c[0] + ` ` + c[1]); err != nil {
				return fmt.Errorf("upgrading push journal: %w", err)
			}
		}
	}
	return nil
}

// Journal returns the journal rows of dest by message ID. An index without a
// journal (nothing was ever pushed) gives an empty map and creates nothing.
func (a *Archive) Journal(dest string) (map[int64]*JournalEntry, error) {
	out := map[int64]*JournalEntry{}
	var n int
	if err := a.db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'push_journal'`).Scan(&n); err != nil {
		return nil, err
	}
	if n == 0 {
		return out, nil
	}
	cols := "message, sha256, folder, uidvalidity, uid, state, updated_at"
	var sent int
	if err := a.db.QueryRow(`SELECT count(*) FROM pragma_table_info('push_journal') WHERE name = 'sent_sha256'`).Scan(&sent); err != nil {
		return nil, err
	}
	if sent > 0 {
		cols += ", sent_sha256, sent_size"
	} else {
		cols += ", '', 0" // an index from before push --repair, not yet upgraded
	}
	rows, err := a.db.Query(`SELECT `+cols+` FROM push_journal WHERE dest = ?`, dest)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var e JournalEntry
		var updated string
		if err := rows.Scan(&e.Message, &e.SHA256, &e.Folder, &e.UIDValidity, &e.UID, &e.State, &updated, &e.SentSHA256, &e.SentSize); err != nil {
			return nil, err
		}
		e.Updated, _ = time.Parse(time.RFC3339Nano, updated)
		out[e.Message] = &e
	}
	return out, rows.Err()
}

// JournalPut writes rows for dest in one transaction, replacing earlier rows
// of the same messages. Call it with state JournalInFlight before sending the
// APPENDs and with JournalDone after the server accepted them; it returns only
// once the rows are committed.
func (a *Archive) JournalPut(ctx context.Context, dest string, rows []JournalEntry) error {
	if len(rows) == 0 {
		return nil
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	return a.inTx(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `INSERT INTO push_journal (dest, message, sha256, folder, uidvalidity, uid, state, updated_at, sent_sha256, sent_size)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (dest, message) DO UPDATE SET sha256 = excluded.sha256, folder = excluded.folder,
			uidvalidity = excluded.uidvalidity, uid = excluded.uid, state = excluded.state, updated_at = excluded.updated_at,
			sent_sha256 = excluded.sent_sha256, sent_size = excluded.sent_size`)
		if err != nil {
			return fmt.Errorf("writing push journal: %w", err)
		}
		defer st.Close()
		for _, r := range rows {
			if r.State != JournalInFlight && r.State != JournalDone {
				return fmt.Errorf("writing push journal: bad state %q", r.State)
			}
			if _, err := st.ExecContext(ctx, dest, r.Message, r.SHA256, r.Folder, r.UIDValidity, r.UID, r.State, now, r.SentSHA256, r.SentSize); err != nil {
				return fmt.Errorf("writing push journal: %w", err)
			}
		}
		return nil
	})
}

// JournalForget removes the rows of dest for these messages: the server
// refused them, or a search proved they never arrived.
func (a *Archive) JournalForget(ctx context.Context, dest string, messages []int64) error {
	if len(messages) == 0 {
		return nil
	}
	return a.inTx(ctx, func(tx *sql.Tx) error {
		for _, id := range messages {
			if _, err := tx.ExecContext(ctx, `DELETE FROM push_journal WHERE dest = ? AND message = ?`, dest, id); err != nil {
				return fmt.Errorf("writing push journal: %w", err)
			}
		}
		return nil
	})
}
