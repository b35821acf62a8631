package relay

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReverseStoreMigration opens a store of schema version 3 (before the
// reverse table): it gains the table, and a reverse address is made once
// per (alias, correspondent) pair, in its form, and found again.
func TestReverseStoreMigration(t *testing.T) {
	spool := t.TempDir()
	path := filepath.Join(spool, "relay.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	v3, _, ok := strings.Cut(schema, "CREATE TABLE IF NOT EXISTS reverse")
	if !ok {
		t.Fatal("schema has no reverse table")
	}
	for _, q := range []string{v3,
		`INSERT INTO meta VALUES ('schema', 3)`,
		`INSERT INTO aliases VALUES ('shop@example.org', 'disposable', 'forward', 'me@dest.test', 'plan', 1700000000)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	var first string
	for round := range 2 {
		st, err := OpenStore(spool)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := st.Lookup("shop@example.org"); !ok {
			t.Fatalf("round %d: the alias is gone", round)
		}
		ra, err := st.ReverseAddress("shop@example.org", "clerk@store.test", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		local, domain, _ := strings.Cut(ra, "@")
		if domain != "example.org" || !isReverseLocal(local) {
			t.Errorf("reverse address %q", ra)
		}
		if round == 0 {
			first = ra
		} else if ra != first {
			t.Errorf("the same pair got %q, then %q", first, ra)
		}
		other, err := st.ReverseAddress("shop@example.org", "boss@store.test", time.Now())
		if err != nil || other == ra {
			t.Errorf("another correspondent: %q, %v", other, err)
		}
		if a, c, ok, err := st.Reverse(ra); !ok || err != nil || a != "shop@example.org" || c != "clerk@store.test" {
			t.Errorf("Reverse(%s) = %q %q %v %v", ra, a, c, ok, err)
		}
		if _, _, ok, _ := st.Reverse("ra-aaaaaaaaaaaaaaaaaaaa@example.org"); ok {
			t.Error("an address never made is found")
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
	db, _ = sql.Open("sqlite", "file:"+path+"?mode=ro")
	defer db.Close()
	var v int
	if err := db.QueryRow(`SELECT value FROM meta WHERE key = 'schema'`).Scan(&v); err != nil || v != 4 {
		t.Errorf("schema version %d, %v", v, err)
	}
}

// TestReverseForm: a reverse address is never a burner's SERVICE.TAG.
func TestReverseForm(t *testing.T) {
	s := &Signer{Secret: testSecret, Len: MaxTagLen}
	for _, l := range []string{"ra-abcdefghijklmnopqrst", "ra-234567abcdefghijklmn"} {
		if !isReverseLocal(l) {
			t.Errorf("%s is not a reverse form", l)
		}
		if _, ok := s.Verify(l); ok {
			t.Errorf("%s is a burner", l)
		}
	}
	for _, l := range []string{"ra-abc", "ra.abcdefghijklmnopqrst", "ra-abcdefghijklmnopqrs1", "RA-abcdefghijklmnopqrst", "shop"} {
		if isReverseLocal(l) {
			t.Errorf("%s taken for a reverse address", l)
		}
	}
}
