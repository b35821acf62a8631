package relay

import (
	"cmp"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jonboulle/clockwork"
	_ "modernc.org/sqlite" // the SQLite driver

	"github.com/catchall/catchall/classify"
	"github.com/catchall/catchall/forwards"
)

// Alias sources in the store.
const (
	SourcePlan   = "plan"   // imported from the plan
	SourceBurner = "burner" // a signed burner, registered when its first mail came
	SourceSent   = "sent"   // an address a user of the submission port sent from first
)

// Alias is one address the relay knows.
type Alias struct {
	Address string
	Tag     classify.Tag
	Action  classify.Action
	Targets []string
	Source  string
	Created time.Time
	Note    string // the plan's note column (plan aliases)
}

// Store is the relay's alias table, its burners and per-alias statistics,
// in SQLite at SPOOL/relay.db. Lookups are served from memory; the database
// is written on import, when a burner is made or registered and when
// statistics are flushed.
type Store struct {
	db *storeDB

	mu      sync.RWMutex
	aliases map[string]*Alias
	burners map[string]bool // addresses in the burners table

	statMu sync.Mutex
	stats  map[string]*statDelta
	mail   map[string]*mailDelta // burners' accepted mail, not yet flushed
	daily  map[dayKey]*dayDelta  // per alias per day, not yet flushed
	pruned int64                 // the day old daily rows were last removed

	clock clockwork.Clock // dates imported rows and the statistics' last event

	// Writes the store could not take (QueueWrites), in order, for Flush;
	// registrations among them are kept in memory by Load meanwhile.
	pendMu      sync.Mutex
	replayMu    sync.Mutex // one replay at a time
	pending     []pendingWrite
	queueWrites bool

	loadedGen    atomic.Int64 // the generation Load read
	persistedGen atomic.Int64 // the generation of the aliases last written to the snapshot
	state        storeState

	snapPath string     // the snapshot file (PersistTo); "" for none
	snapMu   sync.Mutex // one snapshot written at a time
	log      *slog.Logger

	// users is the users table as Users last read it (name → password
	// hash), or as the snapshot had it; nil when never read. Under mu.
	users map[string]string
}

// newStore is the Store of d, with nothing loaded.
func newStore(d *storeDB) *Store {
	return &Store{db: d, stats: map[string]*statDelta{}, mail: map[string]*mailDelta{}, daily: map[dayKey]*dayDelta{},
		clock: clockwork.NewRealClock(), aliases: map[string]*Alias{}, burners: map[string]bool{}}
}

type statDelta struct {
	forwarded, refused, deferred, failed, sent int64
	lastSeen                                   time.Time
}

// dayKey is one alias on one day (days since 1970-01-01, UTC).
type dayKey struct {
	alias string
	day   int64
}

type dayDelta struct {
	forwarded, refused int64
	lastSeen           time.Time
}

// dayOf returns the UTC day number of t.
func dayOf(t time.Time) int64 { return t.Unix() / 86400 }

// mailDelta is the first and last accepted message to a burner since the
// last Flush.
type mailDelta struct{ first, last time.Time }

// schema is the store's layout (schemaVersion) for both engines:
// PostgreSQL's has BIGINT for INTEGER (pgSchema). Tables made by an older
// version get the missing columns from migrate.
const schema = `
CREATE TABLE IF NOT EXISTS aliases (
	alias      TEXT PRIMARY KEY,
	tag        TEXT NOT NULL,
	action     TEXT NOT NULL,
	forward_to TEXT NOT NULL,
	source     TEXT NOT NULL,
	created    INTEGER NOT NULL,
	note       TEXT NOT NULL DEFAULT ''
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
	last_seen INTEGER NOT NULL DEFAULT 0,
	sent      INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS burners (
	alias      TEXT PRIMARY KEY,
	service    TEXT NOT NULL,
	note       TEXT NOT NULL DEFAULT '',
	created    INTEGER NOT NULL,
	first_mail INTEGER NOT NULL DEFAULT 0,
	last_mail  INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS senders (
	alias   TEXT PRIMARY KEY,
	"user"  TEXT NOT NULL,
	created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS reverse (
	address       TEXT PRIMARY KEY,
	alias         TEXT NOT NULL,
	correspondent TEXT NOT NULL,
	created       INTEGER NOT NULL,
	UNIQUE (alias, correspondent)
);
CREATE TABLE IF NOT EXISTS daily (
	alias     TEXT NOT NULL,
	day       INTEGER NOT NULL,
	forwarded INTEGER NOT NULL DEFAULT 0,
	refused   INTEGER NOT NULL DEFAULT 0,
	last_seen INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (alias, day)
);
CREATE TABLE IF NOT EXISTS breach_events (
	alias       TEXT NOT NULL,
	breach      TEXT NOT NULL,
	breach_date TEXT NOT NULL,
	done        TEXT NOT NULL,
	at          INTEGER NOT NULL,
	PRIMARY KEY (alias, breach)
);
CREATE TABLE IF NOT EXISTS digest_refused (
	alias   TEXT PRIMARY KEY,
	refused INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
	name    TEXT PRIMARY KEY,
	hash    TEXT NOT NULL,
	created INTEGER NOT NULL
);`

// schemaVersion is the store's layout, kept in meta under "schema":
//
//	0, 1  aliases, meta, stats (no "schema" key yet)
//	2     burners: one row per burner (catchall burner new, or registered
//	      by the relay on its first mail) with its service, note, created
//	      time and first and last accepted mail
//	3     senders: the addresses a user of the submission port sent from,
//	      with the first user and when; stats.sent
//	4     reverse: the reverse addresses of --reverse-aliases, each
//	      standing for one correspondent of one alias
//	5     daily: forwarded and refused messages per alias per UTC day
//	      (day = Unix time / 86400) and the last event that day, kept
//	      for DailyKeep days; aliases.note, the plan's note column
//	6     breach_events: each breach the breach watch found for an alias,
//	      once, with what it did (blocked or flagged); digest_refused: the
//	      refusal counts at the last digest (and meta "digest_last")
//	7     users: the submission port's accounts kept in the store
//	      (--users store) rather than a file; the first PostgreSQL layout
//
// Every change only adds (a table, or a column with a default), so that an
// older relay still runs on a newer store.
const schemaVersion = 7

// migrate brings a store made by an older catchall to schemaVersion; the
// tables themselves are made by schema. It runs once per store: the
// version is written first, so a second process opening the store at the
// same moment waits for the first and then finds nothing to do.
func migrate(db *storeDB) error {
	var v int64
	if err := db.QueryRow(`SELECT coalesce((SELECT value FROM meta WHERE key = 'schema'), 0)`).Scan(&v); err != nil {
		return err
	}
	if v >= schemaVersion {
		return nil
	}
	// 6 → 7: users, made by schema.
	// 5 → 6: breach_events and digest_refused, made by schema.
	// 4 → 5: the daily table, made by schema; aliases.note (added here in
	// every store, new or old).
	// 3 → 4: the reverse table, made by schema; nothing to move.
	// 2 → 3: stats.sent (schema makes it in a new store).
	for _, c := range []struct{ table, column, def string }{
		{"stats", "sent", "INTEGER NOT NULL DEFAULT 0"},
		{"aliases", "note", "TEXT NOT NULL DEFAULT ''"},
	} {
		var has int
		if err := db.QueryRow(`SELECT count(*) FROM pragma_table_info(?) WHERE name = ?`, c.table, c.column).Scan(&has); err != nil {
			return err
		}
		if has == 0 {
			if _, err := db.Exec(`ALTER TABLE ` + c.table + ` ADD COLUMN ` + c.column + ` ` + c.def); err != nil &&
				!strings.Contains(err.Error(), "duplicate column") { // another process added it meanwhile
				return err
			}
		}
	}
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.Exec(`INSERT INTO meta (key, value) VALUES ('schema', ?)
		ON CONFLICT(key) DO UPDATE SET value = excluded.value WHERE value < excluded.value`, schemaVersion)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return err // another process migrated it meanwhile
	}
	// 1 → 2: the burners the relay registered before there was a burners
	// table. Registration happens at the first mail, so that is its date;
	// the last is the last event of its statistics.
	type old struct {
		alias         string
		created, last int64
	}
	var olds []old
	rows, err := tx.Query(`SELECT a.alias, a.created, coalesce(st.last_seen, 0) FROM aliases a
		LEFT JOIN stats st ON st.alias = a.alias WHERE a.source = ?`, SourceBurner)
	if err != nil {
		return err
	}
	for rows.Next() {
		var o old
		if err := rows.Scan(&o.alias, &o.created, &o.last); err != nil {
			rows.Close()
			return err
		}
		olds = append(olds, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, o := range olds {
		if _, err := tx.Exec(`INSERT INTO burners (alias, service, created, first_mail, last_mail) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT(alias) DO NOTHING`, o.alias, ServiceOf(o.alias), o.created, o.created, max(o.created, o.last)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// OpenStore opens (creating if needed) the SQLite store in the spool
// directory, SPOOL/relay.db.
func OpenStore(spool string) (*Store, error) { return OpenStoreURL(StoreURL("", spool)) }

// OpenStoreURL opens the store of a store URL (ParseStoreURL): a SQLite
// file, made if needed, or a PostgreSQL database, whose tables are made
// or upgraded here (one instance at a time).
func OpenStoreURL(storeURL string) (*Store, error) { return OpenStoreWith(storeURL, "") }

// OpenStoreWith is OpenStoreURL with PostgreSQL's password given
// ("": StorePasswordEnv, ~/.pgpass or PGPASSFILE).
func OpenStoreWith(storeURL, password string) (*Store, error) {
	d, err := openStoreDB(storeURL, password)
	if err != nil {
		return nil, err
	}
	if d.engine == engineSQLite {
		// A new database switched to WAL by several processes at once
		// (a relay and relay import starting together) may be refused
		// with SQLITE_BUSY before the busy timeout applies: tried again.
		var err error
		for deadline := time.Now().Add(d.timeout); ; time.Sleep(50 * time.Millisecond) {
			if _, err = d.Exec(schema); err == nil {
				if err = migrate(d); err != nil {
					err = fmt.Errorf("upgrading the store: %w", err)
				}
			}
			if err == nil || !strings.Contains(err.Error(), "SQLITE_BUSY") || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			d.sql.Close()
			return nil, fmt.Errorf("store %s: %w", d.name, err)
		}
		os.Chmod(d.name, 0o600)
	} else if err := migratePostgres(d); err != nil {
		d.sql.Close()
		hint := ""
		var pe *pgconn.PgError
		if errors.As(err, &pe) && (pe.Code == "28P01" || pe.Code == "28000") {
			hint = "; give the password in " + StorePasswordEnv + ", --store-password-file or ~/.pgpass"
		}
		return nil, fmt.Errorf("store %s: %s%s", d.name, oneLine(err), hint)
	}
	s := newStore(d)
	if err := s.Load(); err != nil {
		d.sql.Close()
		return nil, err
	}
	return s, nil
}

// Close flushes the statistics and closes the database. With a snapshot
// file (PersistTo), what could not be flushed is kept there for the next
// start.
func (s *Store) Close() error {
	err := s.Flush()
	s.persist(err != nil)
	return errors.Join(err, s.db.sql.Close())
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
func (s *Store) Import(rules []forwards.Rule) (ImportResult, error) { return s.importPlan(rules, nil) }

// importPlan is Import that also sets each rule's note from notes (by
// alias); nil notes leave the notes as they are.
func (s *Store) importPlan(rules []forwards.Rule, notes map[string]string) (ImportResult, error) {
	var res ImportResult
	tx, err := s.db.Begin()
	if err != nil {
		return res, err
	}
	defer tx.Rollback()
	old := map[string][4]string{}
	rows, err := tx.Query(`SELECT alias, tag, action, forward_to, note FROM aliases WHERE source = ?`, SourcePlan)
	if err != nil {
		return res, err
	}
	for rows.Next() {
		var a, t, ac, f, n string
		if err := rows.Scan(&a, &t, &ac, &f, &n); err != nil {
			rows.Close()
			return res, err
		}
		old[a] = [4]string{t, ac, f, n}
	}
	rows.Close()
	now := s.clock.Now().Unix()
	for _, r := range rules {
		v := [4]string{string(r.Tag), string(r.Action), strings.Join(r.Targets, " ")}
		o, ok := old[r.Alias]
		if notes != nil {
			v[3] = notes[r.Alias]
		} else {
			v[3] = o[3] // "" for a new alias
		}
		if ok {
			delete(old, r.Alias)
			if o == v {
				res.Unchanged++
				continue
			}
			res.Changed++
		} else {
			res.Added++
		}
		if _, err := tx.Exec(`INSERT INTO aliases (alias, tag, action, forward_to, source, created, note) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT(alias) DO UPDATE SET tag = excluded.tag, action = excluded.action, forward_to = excluded.forward_to, source = excluded.source,
			note = excluded.note`,
			r.Alias, v[0], v[1], v[2], SourcePlan, now, v[3]); err != nil {
			return res, err
		}
	}
	for a := range old {
		if _, err := tx.Exec(`DELETE FROM aliases WHERE alias = ?`, a); err != nil {
			return res, err
		}
		res.Removed++
	}
	if err := tx.changed(); err != nil {
		return res, err
	}
	if err := tx.Commit(); err != nil {
		return res, err
	}
	return res, s.Load()
}

// Generation counts the changes of aliases, burners and users in the
// store (imports, registrations, edits), by any process: a running relay
// reloads when it changes. A generation equal to the one Load read tells
// that the aliases in memory are current (Store.Staleness).
func (s *Store) Generation() (int64, error) {
	g, err := s.generation()
	s.reached(err)
	if err == nil && g == s.loadedGen.Load() {
		s.markSynced()
	}
	return g, err
}

func (s *Store) generation() (int64, error) {
	var g int64
	err := s.db.QueryRow(`SELECT coalesce((SELECT value FROM meta WHERE key = 'generation'), 0)`).Scan(&g)
	return g, err
}

// Load reads every alias into memory. Registrations not yet written (the
// store was unreachable) stay in memory.
func (s *Store) Load() error {
	err := s.load()
	s.reached(err)
	return err
}

func (s *Store) load() error {
	gen, err := s.generation()
	if err != nil {
		return fmt.Errorf("reading aliases: %w", err)
	}
	rows, err := s.db.Query(`SELECT alias, tag, action, forward_to, source, created, note FROM aliases`)
	if err != nil {
		return fmt.Errorf("reading aliases: %w", err)
	}
	defer rows.Close()
	m := map[string]*Alias{}
	for rows.Next() {
		var a Alias
		var tag, action, to string
		var created int64
		if err := rows.Scan(&a.Address, &tag, &action, &to, &a.Source, &created, &a.Note); err != nil {
			return fmt.Errorf("reading aliases: %w", err)
		}
		a.Tag, a.Action, a.Targets, a.Created = classify.Tag(tag), classify.Action(action), strings.Fields(to), time.Unix(created, 0)
		m[a.Address] = &a
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading aliases: %w", err)
	}
	rows.Close()
	b := map[string]bool{}
	brows, err := s.db.Query(`SELECT alias FROM burners`)
	if err != nil {
		return fmt.Errorf("reading burners: %w", err)
	}
	defer brows.Close()
	for brows.Next() {
		var a string
		if err := brows.Scan(&a); err != nil {
			return fmt.Errorf("reading burners: %w", err)
		}
		b[a] = true
	}
	if err := brows.Err(); err != nil {
		return fmt.Errorf("reading burners: %w", err)
	}
	s.pendMu.Lock()
	servePending(s.pending, m, b)
	s.pendMu.Unlock()
	s.mu.Lock()
	s.aliases, s.burners = m, b
	s.mu.Unlock()
	s.loadedGen.Store(gen)
	s.markSynced()
	if s.persistedGen.Swap(gen) != gen {
		s.persist(false) // the snapshot's aliases changed
	}
	return nil
}

// servePending adds the registrations and burners among the queued writes
// ws to the aliases m and burners b, which are served meanwhile.
func servePending(ws []pendingWrite, m map[string]*Alias, b map[string]bool) {
	for _, w := range ws {
		switch w.Kind {
		case pendRegister:
			if _, ok := m[w.Alias.Address]; !ok {
				m[w.Alias.Address] = w.Alias
			}
			if w.Alias.Source == SourceBurner {
				b[w.Alias.Address] = true
			}
		case pendBurner:
			b[w.Address] = true
		}
	}
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
// that already exists is left as it is. A burner (Source SourceBurner) is
// also recorded in the burners table, unless catchall burner new did so
// already (its note and created time stay). The alias is served at once;
// when the store cannot be written and writes are queued (QueueWrites),
// it is written when the store is back.
func (s *Store) Register(a *Alias) error {
	if err := s.write(pendingWrite{Kind: pendRegister, Alias: a}); err != nil {
		return err
	}
	s.mu.Lock()
	if _, ok := s.aliases[a.Address]; !ok {
		s.aliases[a.Address] = a
	}
	if a.Source == SourceBurner {
		s.burners[a.Address] = true
	}
	s.mu.Unlock()
	return nil
}

// AddSender records that user sent from address through the submission
// port (the first user to do so stays).
func (s *Store) AddSender(address, user string, t time.Time) error {
	return s.write(pendingWrite{Kind: pendSender, Address: address, User: user, At: t})
}

// Sender returns the user who first sent from address, or "".
func (s *Store) Sender(address string) (string, error) {
	var u string
	err := s.db.QueryRow(`SELECT "user" FROM senders WHERE alias = ?`, address).Scan(&u)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return u, err
}

// AddBurner records a burner made with catchall burner new: its service,
// note and when it was made, before any mail came. A burner already known
// keeps its service and the earlier created time; its note is replaced
// when note is not empty.
func (s *Store) AddBurner(address, service, note string, created time.Time) error {
	if err := s.write(pendingWrite{Kind: pendBurner, Address: address, Service: service, Note: note, At: created}); err != nil {
		return err
	}
	s.mu.Lock()
	s.burners[address] = true
	s.mu.Unlock()
	return nil
}

// Accepted notes that a message to alias was accepted at t: a burner's
// first and last mail. Other aliases are ignored. Flush writes it.
func (s *Store) Accepted(alias string, t time.Time) {
	s.mu.RLock()
	burner := s.burners[alias]
	s.mu.RUnlock()
	if !burner {
		return
	}
	s.statMu.Lock()
	defer s.statMu.Unlock()
	d := s.mail[alias]
	if d == nil {
		s.mail[alias] = &mailDelta{first: t, last: t}
		return
	}
	if t.Before(d.first) {
		d.first = t
	}
	if t.After(d.last) {
		d.last = t
	}
}

// Counter names for Count.
const (
	StatForwarded = iota
	StatRefused
	StatDeferred
	StatFailed
	StatSent // a message a user sent from the alias (submission)
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
	case StatSent:
		d.sent++
	}
	now := s.clock.Now()
	d.lastSeen = now
	if stat == StatForwarded || stat == StatRefused {
		k := dayKey{alias, dayOf(now)}
		dd := s.daily[k]
		if dd == nil {
			dd = &dayDelta{}
			s.daily[k] = dd
		}
		if stat == StatForwarded {
			dd.forwarded++
		} else {
			dd.refused++
		}
		dd.lastSeen = now
	}
	s.statMu.Unlock()
}

// Flush writes the queued writes (QueueWrites) and adds the counted
// events, and the burners' first and last mail, to the database. When the
// store cannot be written, they are kept for the next Flush.
func (s *Store) Flush() error {
	if err := s.replay(); err != nil {
		return err
	}
	s.statMu.Lock()
	pending, mail, daily := s.stats, s.mail, s.daily
	s.stats, s.mail, s.daily = map[string]*statDelta{}, map[string]*mailDelta{}, map[dayKey]*dayDelta{}
	today := dayOf(s.clock.Now())
	prune := s.pruned != today
	s.pruned = today
	s.statMu.Unlock()
	if len(pending) == 0 && len(mail) == 0 && len(daily) == 0 && !prune {
		return nil
	}
	err := s.flushStats(pending, mail, daily, prune, today)
	s.reached(err)
	if err != nil {
		s.unflush(pending, mail, daily, prune)
		return fmt.Errorf("writing statistics: %w", err)
	}
	return nil
}

// unflush puts statistics Flush could not write back with those counted
// since, for the next Flush.
func (s *Store) unflush(pending map[string]*statDelta, mail map[string]*mailDelta, daily map[dayKey]*dayDelta, prune bool) {
	s.statMu.Lock()
	defer s.statMu.Unlock()
	if prune {
		s.pruned = 0
	}
	for k, d := range pending {
		if n := s.stats[k]; n != nil {
			n.add(d)
		} else {
			s.stats[k] = d
		}
	}
	for k, d := range daily {
		if n := s.daily[k]; n != nil {
			n.add(d)
		} else {
			s.daily[k] = d
		}
	}
	for k, d := range mail {
		if n := s.mail[k]; n != nil {
			n.add(d)
		} else {
			s.mail[k] = d
		}
	}
}

// add adds the counts of d; the later last seen stays.
func (n *statDelta) add(d *statDelta) {
	n.forwarded += d.forwarded
	n.refused += d.refused
	n.deferred += d.deferred
	n.failed += d.failed
	n.sent += d.sent
	n.lastSeen = later(n.lastSeen, d.lastSeen)
}

// add adds the counts of d; the later last seen stays.
func (n *dayDelta) add(d *dayDelta) {
	n.forwarded += d.forwarded
	n.refused += d.refused
	n.lastSeen = later(n.lastSeen, d.lastSeen)
}

// add widens n to the first and last of d too.
func (n *mailDelta) add(d *mailDelta) {
	if d.first.Before(n.first) {
		n.first = d.first
	}
	n.last = later(n.last, d.last)
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func (s *Store) flushStats(pending map[string]*statDelta, mail map[string]*mailDelta, daily map[dayKey]*dayDelta, prune bool, today int64) error {
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// Rows in a fixed order: two relays flushing the same aliases lock
	// them in the same order, so PostgreSQL never sees them deadlock.
	stats := make([][]any, 0, len(pending))
	for _, alias := range slices.Sorted(maps.Keys(pending)) {
		d := pending[alias]
		stats = append(stats, []any{alias, d.forwarded, d.refused, d.deferred, d.failed, d.sent, d.lastSeen.Unix()})
	}
	if err := tx.upsertRows(`INSERT INTO stats (alias, forwarded, refused, deferred, failed, sent, last_seen) VALUES `, stats,
		` ON CONFLICT(alias) DO UPDATE SET forwarded = stats.forwarded + excluded.forwarded, refused = stats.refused + excluded.refused,
		deferred = stats.deferred + excluded.deferred, failed = stats.failed + excluded.failed, sent = stats.sent + excluded.sent,
		last_seen = CASE WHEN excluded.last_seen > stats.last_seen THEN excluded.last_seen ELSE stats.last_seen END`); err != nil {
		return err
	}
	days := make([][]any, 0, len(daily))
	for _, k := range slices.SortedFunc(maps.Keys(daily), func(a, b dayKey) int {
		return cmp.Or(strings.Compare(a.alias, b.alias), cmp.Compare(a.day, b.day))
	}) {
		d := daily[k]
		days = append(days, []any{k.alias, k.day, d.forwarded, d.refused, d.lastSeen.Unix()})
	}
	if err := tx.upsertRows(`INSERT INTO daily (alias, day, forwarded, refused, last_seen) VALUES `, days,
		` ON CONFLICT(alias, day) DO UPDATE SET forwarded = daily.forwarded + excluded.forwarded, refused = daily.refused + excluded.refused,
		last_seen = CASE WHEN excluded.last_seen > daily.last_seen THEN excluded.last_seen ELSE daily.last_seen END`); err != nil {
		return err
	}
	if prune {
		if _, err := tx.Exec(`DELETE FROM daily WHERE day < ?`, today-DailyKeep); err != nil {
			return err
		}
	}
	for _, alias := range slices.Sorted(maps.Keys(mail)) {
		d := mail[alias]
		if _, err := tx.Exec(`UPDATE burners SET first_mail = CASE WHEN first_mail = 0 OR first_mail > ? THEN ? ELSE first_mail END,
			last_mail = CASE WHEN last_mail < ? THEN ? ELSE last_mail END WHERE alias = ?`, d.first.Unix(), d.first.Unix(), d.last.Unix(), d.last.Unix(), alias); err != nil {
			return err
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
	Sent                                 int64     // messages sent from it through the submission port
	LastSeen                             time.Time // zero: never
}

// Stats returns every alias with its counts, aliases with traffic first.
func (s *Store) Stats() ([]Stat, error) {
	rows, err := s.db.Query(`SELECT a.alias, a.tag, a.action, a.source, coalesce(st.forwarded, 0), coalesce(st.refused, 0),
		coalesce(st.deferred, 0), coalesce(st.failed, 0), coalesce(st.sent, 0), coalesce(st.last_seen, 0)
		FROM aliases a LEFT JOIN stats st ON st.alias = a.alias`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Stat
	for rows.Next() {
		var st Stat
		var last int64
		if err := rows.Scan(&st.Alias, &st.Tag, &st.Action, &st.Source, &st.Forwarded, &st.Refused, &st.Deferred, &st.Failed, &st.Sent, &last); err != nil {
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

// Burner is one burner of the store: made with catchall burner new, or
// registered by the relay when its first mail came.
type Burner struct {
	Address   string
	Service   string
	Note      string
	Created   time.Time
	FirstMail time.Time // the first accepted message; zero: none yet
	LastMail  time.Time // the last one; zero: none yet
	// Entry is the relay's alias for it: nil until the relay registers it
	// (or a plan names it); then its tag, action and targets, and Source
	// says which (SourceBurner, or SourcePlan once a plan names it).
	Entry              *Alias
	Forwarded, Refused int64
}

// Burners returns every burner, sorted by address. Counts and mail times
// not yet flushed are not in it.
func (s *Store) Burners() ([]Burner, error) {
	rows, err := s.db.Query(`SELECT b.alias, b.service, b.note, b.created, b.first_mail, b.last_mail,
		a.tag, a.action, a.forward_to, a.source, coalesce(a.created, 0), coalesce(st.forwarded, 0), coalesce(st.refused, 0)
		FROM burners b LEFT JOIN aliases a ON a.alias = b.alias LEFT JOIN stats st ON st.alias = b.alias
		ORDER BY b.alias`)
	if err != nil {
		return nil, fmt.Errorf("reading burners: %w", err)
	}
	defer rows.Close()
	var out []Burner
	for rows.Next() {
		var b Burner
		var created, first, last, aCreated int64
		var tag, action, to, source sql.NullString
		if err := rows.Scan(&b.Address, &b.Service, &b.Note, &created, &first, &last, &tag, &action, &to, &source, &aCreated,
			&b.Forwarded, &b.Refused); err != nil {
			return nil, fmt.Errorf("reading burners: %w", err)
		}
		b.Created = time.Unix(created, 0)
		if first > 0 {
			b.FirstMail = time.Unix(first, 0)
		}
		if last > 0 {
			b.LastMail = time.Unix(last, 0)
		}
		if source.Valid {
			b.Entry = &Alias{Address: b.Address, Tag: classify.Tag(tag.String), Action: classify.Action(action.String),
				Targets: strings.Fields(to.String), Source: source.String, Created: time.Unix(aCreated, 0)}
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// ReversePrefix starts the local part of every reverse address:
// ReversePrefix and reverseLen lower-case base32 characters (100 bits), at
// the alias's domain. It has no dot, so it is never a burner (SERVICE.TAG),
// and no '+' (no subaddress).
const ReversePrefix = "ra-"

const reverseLen = 20

// isReverseLocal reports whether local has the form of a reverse address.
func isReverseLocal(local string) bool {
	rest, ok := strings.CutPrefix(local, ReversePrefix)
	if !ok || len(rest) != reverseLen {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; !('a' <= c && c <= 'z' || '2' <= c && c <= '7') {
			return false
		}
	}
	return true
}

// ReverseAddress returns the reverse address that stands for correspondent
// (a normalised address) towards alias: made the first time, the same
// ever after. It is at the alias's domain and is never an alias of the
// store.
func (s *Store) ReverseAddress(alias, correspondent string, now time.Time) (string, error) {
	_, domain, _ := strings.Cut(alias, "@")
	for try := 0; try < 5; try++ {
		var have string
		err := s.db.QueryRow(`SELECT address FROM reverse WHERE alias = ? AND correspondent = ?`, alias, correspondent).Scan(&have)
		if err == nil {
			return have, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return "", fmt.Errorf("reverse address for %s: %w", alias, err)
		}
		var b [13]byte
		rand.Read(b[:])
		addr := ReversePrefix + strings.ToLower(b32.EncodeToString(b[:]))[:reverseLen] + "@" + domain
		if _, taken := s.Lookup(addr); taken {
			continue
		}
		// Any conflict (the pair made meanwhile by another process, or the
		// same random address) is looked at again by the next round.
		if _, err := s.db.Exec(`INSERT INTO reverse (address, alias, correspondent, created) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			addr, alias, correspondent, now.Unix()); err != nil {
			return "", fmt.Errorf("reverse address for %s: %w", alias, err)
		}
	}
	return "", fmt.Errorf("reverse address for %s: no free address after 5 tries", alias)
}

// Reverse returns the alias and correspondent a reverse address stands
// for; ok is false for an address that is not one.
func (s *Store) Reverse(address string) (alias, correspondent string, ok bool, err error) {
	local, _, _ := strings.Cut(address, "@")
	if !isReverseLocal(local) {
		return "", "", false, nil
	}
	err = s.db.QueryRow(`SELECT alias, correspondent FROM reverse WHERE address = ?`, address).Scan(&alias, &correspondent)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, fmt.Errorf("looking up %s: %w", address, err)
	}
	return alias, correspondent, true, nil
}

// DailyKeep is how many days of per-alias daily counts the store keeps.
const DailyKeep = 400

// Activity is one alias's mail over the last days (Store.Activity).
type Activity struct {
	// Daily holds, per UTC day, oldest first and today last, the messages
	// that came to the alias: forwarded and refused.
	Daily              []int
	Forwarded, Refused int       // over those days
	LastSeen           time.Time // the last forwarded or refused message ever kept; zero: none
}

// Activity returns the activity of every alias with any in the daily
// counts, over the days days up to and including now's (UTC). Counts not
// yet flushed are flushed first.
func (s *Store) Activity(now time.Time, days int) (map[string]*Activity, error) {
	if err := s.Flush(); err != nil {
		return nil, err
	}
	today := dayOf(now)
	first := today - int64(days) + 1
	rows, err := s.db.Query(`SELECT alias, day, forwarded, refused, last_seen FROM daily`)
	if err != nil {
		return nil, fmt.Errorf("reading statistics: %w", err)
	}
	defer rows.Close()
	out := map[string]*Activity{}
	for rows.Next() {
		var alias string
		var day, fwd, ref, last int64
		if err := rows.Scan(&alias, &day, &fwd, &ref, &last); err != nil {
			return nil, fmt.Errorf("reading statistics: %w", err)
		}
		a := out[alias]
		if a == nil {
			a = &Activity{Daily: make([]int, days)}
			out[alias] = a
		}
		if t := time.Unix(last, 0); last > 0 && t.After(a.LastSeen) {
			a.LastSeen = t
		}
		if day >= first && day <= today {
			a.Daily[day-first] += int(fwd + ref)
			a.Forwarded += int(fwd)
			a.Refused += int(ref)
		}
	}
	return out, rows.Err()
}
