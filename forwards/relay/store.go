package relay

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the SQLite driver

	"github.com/catchall/catchall/classify"
	"github.com/catchall/catchall/forwards"
)

// Alias sources in the store.
const (
	SourcePlan   = "plan"   // imported from the plan
	SourceBurner = "burner" // a signed burner, registered when its first mail came
)

// Alias is one address the relay knows.
type Alias struct {
	Address string
	Tag     classify.Tag
	Action  classify.Action
	Targets []string
	Source  string
	Created time.Time
}

// Store is the relay's alias table and per-alias statistics, in SQLite at
// SPOOL/relay.db. Lookups are served from memory; the database is written
// on import, when a burner is registered and when statistics are flushed.
type Store struct {
	db *sql.DB

	mu      sync.RWMutex
	aliases map[string]*Alias

	statMu sync.Mutex
	stats  map[string]*statDelta
}

type statDelta struct {
	forwarded, refused, deferred, failed int64
	lastSeen                             time.Time
}

const schema = `
CREATE TABLE IF NOT EXISTS aliases (
	alias      TEXT PRIMARY KEY,
	tag        TEXT NOT NULL,
	action     TEXT NOT NULL,
	forward_to TEXT NOT NULL,
	source     TEXT NOT NULL,
	created    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
	key   TEXT PRIMARY KEY,
	value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS stats (
	alias     TEXT PRIMARY KEY,
	forwarded INTEGER NOT NULL DEFAULT 0,
	refused   INTEGER NOT NULL DEFAULT 0,
	deferred  INTEGER NOT NULL DEFAULT 0,
	failed    INTEGER NOT NULL DEFAULT 0,
	last_seen INTEGER NOT NULL DEFAULT 0
);`

// OpenStore opens (creating if needed) the store in the spool directory.
func OpenStore(spool string) (*Store, error) {
	if err := os.MkdirAll(spool, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	path := filepath.Join(spool, "relay.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)")
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("spool %s: %w", path, err)
	}
	os.Chmod(path, 0o600)
	s := &Store{db: db, stats: map[string]*statDelta{}}
	if err := s.Load(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close flushes the statistics and closes the database.
func (s *Store) Close() error {
	return errors.Join(s.Flush(), s.db.Close())
}

// ImportResult counts what Import changed.
type ImportResult struct {
	Added, Changed, Removed, Unchanged int
}

func (r ImportResult) String() string {
	return fmt.Sprintf("%d added, %d changed, %d removed, %d unchanged", r.Added, r.Changed, r.Removed, r.Unchanged)
}

// Import makes the plan's rules the store's plan aliases: new ones are
// added, changed ones replaced, plan aliases no longer in the plan removed.
// Registered burners stay unless the plan names them (then the plan wins).
// The store is reloaded afterwards.
func (s *Store) Import(rules []forwards.Rule) (ImportResult, error) {
	var res ImportResult
	tx, err := s.db.Begin()
	if err != nil {
		return res, err
	}
	defer tx.Rollback()
	old := map[string][3]string{}
	rows, err := tx.Query(`SELECT alias, tag, action, forward_to FROM aliases WHERE source = ?`, SourcePlan)
	if err != nil {
		return res, err
	}
	for rows.Next() {
		var a, t, ac, f string
		if err := rows.Scan(&a, &t, &ac, &f); err != nil {
			rows.Close()
			return res, err
		}
		old[a] = [3]string{t, ac, f}
	}
	rows.Close()
	now := time.Now().Unix()
	for _, r := range rules {
		v := [3]string{string(r.Tag), string(r.Action), strings.Join(r.Targets, " ")}
		if o, ok := old[r.Alias]; ok {
			delete(old, r.Alias)
			if o == v {
				res.Unchanged++
				continue
			}
			res.Changed++
		} else {
			res.Added++
		}
		if _, err := tx.Exec(`INSERT INTO aliases (alias, tag, action, forward_to, source, created) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT(alias) DO UPDATE SET tag = excluded.tag, action = excluded.action, forward_to = excluded.forward_to, source = excluded.source`,
			r.Alias, v[0], v[1], v[2], SourcePlan, now); err != nil {
			return res, err
		}
	}
	for a := range old {
		if _, err := tx.Exec(`DELETE FROM aliases WHERE alias = ?`, a); err != nil {
			return res, err
		}
		res.Removed++
	}
	if _, err := tx.Exec(`INSERT INTO meta (key, value) VALUES ('generation', 1) ON CONFLICT(key) DO UPDATE SET value = value + 1`); err != nil {
		return res, err
	}
	if err := tx.Commit(); err != nil {
		return res, err
	}
	return res, s.Load()
}

// Generation counts the imports into the store, by any process: a running
// relay reloads when it changes.
func (s *Store) Generation() (int64, error) {
	var g int64
	err := s.db.QueryRow(`SELECT coalesce((SELECT value FROM meta WHERE key = 'generation'), 0)`).Scan(&g)
	return g, err
}

// Load reads every alias into memory.
func (s *Store) Load() error {
	rows, err := s.db.Query(`SELECT alias, tag, action, forward_to, source, created FROM aliases`)
	if err != nil {
		return fmt.Errorf("reading aliases: %w", err)
	}
	defer rows.Close()
	m := map[string]*Alias{}
	for rows.Next() {
		var a Alias
		var tag, action, to string
		var created int64
		if err := rows.Scan(&a.Address, &tag, &action, &to, &a.Source, &created); err != nil {
			return fmt.Errorf("reading aliases: %w", err)
		}
		a.Tag, a.Action, a.Targets, a.Created = classify.Tag(tag), classify.Action(action), strings.Fields(to), time.Unix(created, 0)
		m[a.Address] = &a
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading aliases: %w", err)
	}
	s.mu.Lock()
	s.aliases = m
	s.mu.Unlock()
	return nil
}

// Lookup returns the alias for a normalised address, trying the address
// without its +subaddress when the full one is unknown.
func (s *Store) Lookup(addr string) (*Alias, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if a, ok := s.aliases[addr]; ok {
		return a, true
	}
	if base, tag := classify.SplitSubaddress(addr); tag != "" {
		a, ok := s.aliases[base]
		return a, ok
	}
	return nil, false
}

// Len returns the number of aliases.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.aliases)
}

// Register adds a new alias (a burner seen for the first time). An alias
// that already exists is left as it is.
func (s *Store) Register(a *Alias) error {
	if _, err := s.db.Exec(`INSERT INTO aliases (alias, tag, action, forward_to, source, created) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(alias) DO NOTHING`,
		a.Address, string(a.Tag), string(a.Action), strings.Join(a.Targets, " "), a.Source, a.Created.Unix()); err != nil {
		return fmt.Errorf("registering %s: %w", a.Address, err)
	}
	s.mu.Lock()
	if _, ok := s.aliases[a.Address]; !ok {
		s.aliases[a.Address] = a
	}
	s.mu.Unlock()
	return nil
}

// Counter names for Count.
const (
	StatForwarded = iota
	StatRefused
	StatDeferred
	StatFailed
)

// Count adds one event for a known alias; Flush writes the counts.
func (s *Store) Count(alias string, stat int) {
	// Only aliases of the store have statistics (relay stats lists those):
	// catch-all mail to made-up names must not grow the table.
	s.mu.RLock()
	_, known := s.aliases[alias]
	s.mu.RUnlock()
	if !known {
		return
	}
	s.statMu.Lock()
	d := s.stats[alias]
	if d == nil {
		d = &statDelta{}
		s.stats[alias] = d
	}
	switch stat {
	case StatForwarded:
		d.forwarded++
	case StatRefused:
		d.refused++
	case StatDeferred:
		d.deferred++
	case StatFailed:
		d.failed++
	}
	d.lastSeen = time.Now()
	s.statMu.Unlock()
}

// Flush adds the counted events to the database.
func (s *Store) Flush() error {
	s.statMu.Lock()
	pending := s.stats
	s.stats = map[string]*statDelta{}
	s.statMu.Unlock()
	if len(pending) == 0 {
		return nil
	}
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for alias, d := range pending {
		if _, err := tx.Exec(`INSERT INTO stats (alias, forwarded, refused, deferred, failed, last_seen) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT(alias) DO UPDATE SET forwarded = forwarded + excluded.forwarded, refused = refused + excluded.refused,
			deferred = deferred + excluded.deferred, failed = failed + excluded.failed, last_seen = max(last_seen, excluded.last_seen)`,
			alias, d.forwarded, d.refused, d.deferred, d.failed, d.lastSeen.Unix()); err != nil {
			return fmt.Errorf("writing statistics: %w", err)
		}
	}
	return tx.Commit()
}

// Stat is one alias's line of `relay stats`.
type Stat struct {
	Alias                                string
	Tag                                  string
	Action                               string
	Source                               string
	Forwarded, Refused, Deferred, Failed int64
	LastSeen                             time.Time // zero: never
}

// Stats returns every alias with its counts, aliases with traffic first.
func (s *Store) Stats() ([]Stat, error) {
	rows, err := s.db.Query(`SELECT a.alias, a.tag, a.action, a.source, coalesce(st.forwarded, 0), coalesce(st.refused, 0),
		coalesce(st.deferred, 0), coalesce(st.failed, 0), coalesce(st.last_seen, 0)
		FROM aliases a LEFT JOIN stats st ON st.alias = a.alias`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Stat
	for rows.Next() {
		var st Stat
		var last int64
		if err := rows.Scan(&st.Alias, &st.Tag, &st.Action, &st.Source, &st.Forwarded, &st.Refused, &st.Deferred, &st.Failed, &last); err != nil {
			return nil, err
		}
		if last > 0 {
			st.LastSeen = time.Unix(last, 0)
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b Stat) int {
		if c := b.LastSeen.Compare(a.LastSeen); c != 0 {
			return c
		}
		return strings.Compare(a.Alias, b.Alias)
	})
	return out, rows.Err()
}
