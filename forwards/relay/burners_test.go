package relay

import (
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// oldSchema is the store as catchall made it before the burners table
// (schema version 1, no "schema" key in meta).
const oldSchema = `
CREATE TABLE aliases (
	alias      TEXT PRIMARY KEY,
	tag        TEXT NOT NULL,
	action     TEXT NOT NULL,
	forward_to TEXT NOT NULL,
	source     TEXT NOT NULL,
	created    INTEGER NOT NULL
);
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value INTEGER NOT NULL
);
CREATE TABLE stats (
	alias     TEXT PRIMARY KEY,
	forwarded INTEGER NOT NULL DEFAULT 0,
	refused   INTEGER NOT NULL DEFAULT 0,
	deferred  INTEGER NOT NULL DEFAULT 0,
	failed    INTEGER NOT NULL DEFAULT 0,
	last_seen INTEGER NOT NULL DEFAULT 0
);`

// TestStoreMigration opens a relay.db made with the old schema: every
// alias, statistic and the import generation survive, and the burners the
// relay registered are in the new burners table.
func TestStoreMigration(t *testing.T) {
	registered := time.Date(2024, 3, 4, 5, 6, 7, 0, time.UTC)
	lastEvent := time.Date(2024, 9, 1, 0, 0, 0, 0, time.UTC)
	spool := oldStore(t, oldSchema,
		`INSERT INTO aliases VALUES ('shop@example.org', 'disposable', 'forward', 'me@dest.test', 'plan', 1700000000)`,
		`INSERT INTO aliases VALUES ('leaked@example.org', 'disposable', 'block', '', 'plan', 1700000000)`,
		`INSERT INTO aliases VALUES ('ad-obe_2.k3x9qa@example.org', 'disposable', 'forward', 'me@dest.test', 'burner', `+unix(registered)+`)`,
		`INSERT INTO aliases VALUES ('quiet.aaaaaa@example.org', 'disposable', 'forward', 'me@dest.test', 'burner', `+unix(registered)+`)`,
		`INSERT INTO stats VALUES ('ad-obe_2.k3x9qa@example.org', 2, 1, 0, 0, `+unix(lastEvent)+`)`,
		`INSERT INTO stats VALUES ('shop@example.org', 5, 0, 1, 0, 1700000100)`,
		`INSERT INTO meta VALUES ('generation', 7)`)

	for round := range 2 { // the second open finds nothing to do
		st, err := OpenStore(spool)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if st.Len() != 4 {
			t.Errorf("round %d: %d aliases, want 4", round, st.Len())
		}
		if a, ok := st.Lookup("shop@example.org"); !ok || a.Source != SourcePlan || strings.Join(a.Targets, " ") != "me@dest.test" {
			t.Errorf("round %d: shop@ %+v", round, a)
		}
		// Kept; the burner note added in round 0 counts as a change.
		if g, err := st.Generation(); err != nil || g != int64(7+round) {
			t.Errorf("round %d: generation %d, %v", round, g, err)
		}
		stats, err := st.Stats()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]Stat{}
		for _, s := range stats {
			got[s.Alias] = s
		}
		if s := got["shop@example.org"]; s.Forwarded != 5 || s.Deferred != 1 || s.LastSeen.Unix() != 1700000100 {
			t.Errorf("round %d: shop@ statistics %+v", round, s)
		}
		bs, err := st.Burners()
		if err != nil {
			t.Fatal(err)
		}
		if len(bs) != 2 {
			t.Fatalf("round %d: %d burners, want the 2 registered: %+v", round, len(bs), bs)
		}
		b, note := bs[0], ""
		if round == 1 {
			note = "Adobe ID" // added in round 0
		}
		if b.Address != "ad-obe_2.k3x9qa@example.org" || b.Service != "ad-obe_2" || b.Note != note || !b.Created.Equal(registered) ||
			!b.FirstMail.Equal(registered) || !b.LastMail.Equal(lastEvent) || b.Forwarded != 2 || b.Refused != 1 ||
			b.Entry == nil || b.Entry.Source != SourceBurner || strings.Join(b.Entry.Targets, " ") != "me@dest.test" {
			t.Errorf("round %d: migrated burner %+v (entry %+v)", round, b, b.Entry)
		}
		if q := bs[1]; q.Service != "quiet" || !q.FirstMail.Equal(registered) || !q.LastMail.Equal(registered) {
			t.Errorf("round %d: burner without statistics %+v", round, q)
		}
		if round == 0 {
			// A note for a registered burner: its created time stays.
			if err := st.AddBurner("ad-obe_2.k3x9qa@example.org", "ad-obe_2", "Adobe ID", time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if v := storeSchema(t, spool); v != schemaVersion {
		t.Errorf("schema version %d", v)
	}
}

// oldStore makes a relay.db as an older catchall left it, with queries,
// and returns its spool directory.
func oldStore(t *testing.T, queries ...string) string {
	t.Helper()
	spool := t.TempDir()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(spool, "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range queries {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	return spool
}

// storeSchema returns the schema version the store of spool records.
func storeSchema(t *testing.T, spool string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(spool, "relay.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow(`SELECT value FROM meta WHERE key = 'schema'`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// TestAddBurner: burner new records a burner before any mail; again with
// a note replaces the note, without one keeps it; created stays the first.
func TestAddBurner(t *testing.T) {
	spool := t.TempDir()
	st, err := OpenStore(spool)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	steps := []struct {
		note string
		at   time.Time
		want string
	}{
		{"first note", t0, "first note"},
		{"", t0.Add(time.Hour), "first note"},
		{"second note", t0.Add(2 * time.Hour), "second note"},
	}
	for _, s := range steps {
		if err := st.AddBurner("shop.abcdef@example.org", "shop", s.note, s.at); err != nil {
			t.Fatal(err)
		}
		bs, err := st.Burners()
		if err != nil {
			t.Fatal(err)
		}
		if len(bs) != 1 || bs[0].Note != s.want || !bs[0].Created.Equal(t0) || !bs[0].FirstMail.IsZero() || bs[0].Entry != nil {
			t.Errorf("after note %q: %+v", s.note, bs)
		}
	}
	// Not an alias of the relay until its first mail.
	if _, ok := st.Lookup("shop.abcdef@example.org"); ok || st.Len() != 0 {
		t.Error("burner new made an alias")
	}
	if ServiceOf("a.b.c@example.org") != "a.b" || ServiceOf("nodot@example.org") != "" || ServiceOf(".x@example.org") != "" {
		t.Error("ServiceOf")
	}
}

// TestBurnerMailTimes: a burner made with burner new keeps its note and
// created time when the relay registers it; first and last mail are set
// when a message is accepted, not when it is refused; a burner the relay
// registers itself is recorded too; plan aliases are not burners.
func TestBurnerMailTimes(t *testing.T) {
	sk := newSink(t)
	cfg := testConfig(t, sk.addr)
	made := cfg.Clock.Now().Add(-48 * time.Hour).Truncate(time.Second)
	adobe, _ := cfg.Burner.Address("adobe", "example.org")
	ebay, _ := cfg.Burner.Address("ebay", "example.org")
	refused, _ := cfg.Burner.Address("refused", "example.org")
	{
		st, err := OpenStore(cfg.Spool)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.AddBurner(adobe, "adobe", "Adobe ID", made); err != nil {
			t.Fatal(err)
		}
		st.Close()
	}
	tr := startRelay(t, cfg)
	before := tr.clock.Now().Truncate(time.Second) // the relay's clock, not the machine's
	if err := sendMail(t, tr.addr, "a@far.test", []string{adobe, ebay, "shop@example.org"}, simpleMessage); err != nil {
		t.Fatal(err)
	}
	// Registered at RCPT, then refused in DATA: no mail accepted.
	c := dialRelay(t, tr.addr)
	if code := c.data("a@far.test", refused, "Subject: x\r\n\r\nbare\nLF\r\n.\r\n"); code != 550 {
		t.Errorf("bare LF: %d", code)
	}
	c.cmd("QUIT")
	sk.wait(1)
	if err := tr.store.Flush(); err != nil {
		t.Fatal(err)
	}
	after := tr.clock.Now()
	bs, err := tr.store.Burners()
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]Burner{}
	for _, b := range bs {
		by[b.Address] = b
	}
	if len(bs) != 3 {
		t.Fatalf("%d burners, want adobe, ebay and the refused one: %+v", len(bs), bs)
	}
	inRange := func(tm time.Time) bool { return !tm.Before(before) && !tm.After(after) }
	a := by[adobe]
	if a.Note != "Adobe ID" || !a.Created.Equal(made) || !inRange(a.FirstMail) || !a.LastMail.Equal(a.FirstMail) ||
		a.Entry == nil || a.Entry.Source != SourceBurner {
		t.Errorf("adobe: %+v (entry %+v)", a, a.Entry)
	}
	e := by[ebay]
	if e.Service != "ebay" || e.Note != "" || !inRange(e.Created) || !inRange(e.FirstMail) || !inRange(e.LastMail) {
		t.Errorf("ebay: %+v", e)
	}
	if r := by[refused]; r.Entry == nil || !r.FirstMail.IsZero() || !r.LastMail.IsZero() {
		t.Errorf("refused in DATA: %+v", r)
	}

	// Later mail moves the last; one accepted earlier (a session that
	// started before, flushed after) the first. The times reach the
	// database when the relay stops, too.
	first := a.FirstMail
	tr.store.Accepted(adobe, first.Add(time.Hour))
	tr.store.Accepted(adobe, first.Add(-time.Hour))
	tr.store.Accepted("shop@example.org", first) // not a burner: nothing
	tr.stop(t)
	st, err := OpenStore(cfg.Spool)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	bs, _ = st.Burners()
	for _, b := range bs {
		if b.Address == adobe && (!b.FirstMail.Equal(first.Add(-time.Hour)) || !b.LastMail.Equal(first.Add(time.Hour))) {
			t.Errorf("adobe after more mail: first %v last %v", b.FirstMail, b.LastMail)
		}
	}
	if len(bs) != 3 {
		t.Errorf("%d burners after a restart", len(bs))
	}
	if _, err := os.Stat(filepath.Join(cfg.Spool, "relay.db")); err != nil {
		t.Fatal(err)
	}
}

// TestStoreFileModes: every file of a new store is 0600, whatever the
// umask (SQLite's -wal and -shm files take the database file's mode).
func TestStoreFileModes(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	spool := t.TempDir()
	st, err := OpenStore(spool)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Register(&Alias{Address: "x.abcdef@example.org", Action: "forward", Targets: []string{"me@dest.test"}, Source: SourceBurner, Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"relay.db", "relay.db-wal", "relay.db-shm"} {
		fi, err := os.Stat(filepath.Join(spool, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", name, fi.Mode().Perm())
		}
	}
}
