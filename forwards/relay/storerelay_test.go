package relay

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/catchall/catchall/classify"
	"github.com/catchall/catchall/forwards"
)

// TestStoreStaleAnswers: while the store cannot be reached the relay
// answers from memory, but never 550 for an address it does not know
// (another relay may have imported it); past StoreStale only a signed
// burner (250), which needs no store, is answered, and the rest, blocks
// included, 451 4.3.0; once the store is back, everything is answered
// again.
func TestStoreStaleAnswers(t *testing.T) {
	sk := newSink(t)
	cfg := testConfig(t, sk.addr)
	cfg.StoreStale = 10 * time.Minute
	burner, err := cfg.Burner.Address("adobe", "example.org")
	if err != nil {
		t.Fatal(err)
	}
	// A signed burner that leaked and was blocked in the plan.
	blocked, err := cfg.Burner.Address("leakysvc", "example.org")
	if err != nil {
		t.Fatal(err)
	}
	if err := writeFile(cfg.Plan, testPlan+blocked+",disposable,block,\n"); err != nil {
		t.Fatal(err)
	}
	tr := startRelay(t, cfg)
	mend := breakStore(t, tr.store, "")
	tr.advance(t, 2*time.Second) // a poll: the store is found unreachable
	for rcpt, want := range map[string]int{"shop@example.org": 250, "leaked@example.org": 550, blocked: 550, "unknown@example.org": 451} {
		if code := rcptCode(t, tr.addr, rcpt); code != want {
			t.Errorf("store down, before StoreStale: RCPT %s: %d, want %d", rcpt, code, want)
		}
	}
	tr.advance(t, 11*time.Minute)
	// (a blocked burner is a block, not a signature to trust: 451, never 250)
	for rcpt, want := range map[string]int{"shop@example.org": 451, "leaked@example.org": 451, burner: 250, blocked: 451, "unknown@example.org": 451} {
		if code := rcptCode(t, tr.addr, rcpt); code != want {
			t.Errorf("past StoreStale: RCPT %s: %d, want %d", rcpt, code, want)
		}
	}
	h := tr.Health()
	if h.StoreReachable || h.Store.Reachable || h.Store.Pending != 1 || !strings.Contains(strings.Join(h.Problems, " "), "451") {
		t.Errorf("health while down: %+v", h)
	}
	mend()
	tr.advance(t, 2*time.Second)
	for rcpt, want := range map[string]int{"shop@example.org": 250, "leaked@example.org": 550, blocked: 550, "unknown@example.org": 550} {
		if code := rcptCode(t, tr.addr, rcpt); code != want {
			t.Errorf("after the store is back: RCPT %s: %d, want %d", rcpt, code, want)
		}
	}
	if tr.store.Pending() != 0 {
		t.Errorf("%d writes still queued", tr.store.Pending())
	}
	if _, ok := tr.store.Lookup(burner); !ok {
		t.Error("the burner registered during the outage is not in the store")
	}
}

// TestPlanImportedWhenItChanges: a relay (re)starting with the plan it
// imported before does not import it again — an import by another process
// since (relay import, another relay on a shared store) stays —, but a
// plan whose content changed is imported, at start or while running.
func TestPlanImportedWhenItChanges(t *testing.T) {
	sk := newSink(t)
	cfg := testConfig(t, sk.addr)
	tr := startRelay(t, cfg)
	tr.stop(t)

	st, err := OpenStoreURL(StoreURL("", cfg.Spool))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Import([]forwards.Rule{{Alias: "shop@example.org", Tag: classify.TagDisposable, Action: classify.ActionBlock}}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	tr = startRelay(t, cfg)
	if a, ok := tr.store.Lookup("shop@example.org"); !ok || a.Action != classify.ActionBlock {
		t.Errorf("restart with the same plan undid another import: %+v", a)
	}
	tr.stop(t)

	if err := os.WriteFile(cfg.Plan, []byte(testPlan+"new@example.org,personal,forward,me@dest.test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tr = startRelay(t, cfg)
	if a, ok := tr.store.Lookup("shop@example.org"); !ok || a.Action != classify.ActionForward {
		t.Errorf("a changed plan was not imported at start: %+v", a)
	}
	if _, ok := tr.store.Lookup("new@example.org"); !ok {
		t.Error("the new row of the changed plan is not there")
	}
	// Touched but not changed: nothing imported.
	st2, err := OpenStoreURL(StoreURL("", cfg.Spool))
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	if _, err := st2.Import([]forwards.Rule{{Alias: "bank@example.org", Tag: classify.TagBusiness, Action: classify.ActionBlock}}); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour)
	os.Chtimes(cfg.Plan, future, future)
	tr.advance(t, 2*time.Second)
	if a, ok := tr.store.Lookup("bank@example.org"); !ok || a.Action != classify.ActionBlock {
		t.Errorf("a touched, unchanged plan was imported again: %+v", a)
	}
}

// TestUsersInStore: with Users "store" the submission accounts come from
// the store, and a user added by another process is seen at the next poll.
func TestUsersInStore(t *testing.T) {
	sk := newSink(t)
	cfg := testConfig(t, sk.addr)
	cfg.Users = UsersInStore
	cfg.Submission = "127.0.0.1:0"
	tr := startRelay(t, cfg)
	if u := tr.users.Load(); u == nil || len(u.Names()) != 0 {
		t.Fatalf("users at start: %v", u)
	}
	st, err := OpenStoreURL(StoreURL("", cfg.Spool))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	hash, _ := HashPassword("s3cret pass")
	if err := st.SetUser("anna", hash, time.Now()); err != nil {
		t.Fatal(err)
	}
	tr.advance(t, 2*time.Second)
	if u := tr.users.Load(); u == nil || !u.Check("anna", "s3cret pass") {
		t.Fatal("a user added to the store is not taken")
	}
	if _, err := st.DeleteUser("anna"); err != nil {
		t.Fatal(err)
	}
	tr.advance(t, 2*time.Second)
	if u := tr.users.Load(); u.Check("anna", "s3cret pass") {
		t.Error("a user removed from the store can still log in")
	}
}

// TestStoreURLs: what --store takes, and what it refuses.
func TestStoreURLs(t *testing.T) {
	for _, tc := range []struct {
		url, engine, path, err string
	}{
		{"sqlite:/var/lib/x/relay.db", engineSQLite, "/var/lib/x/relay.db", ""},
		{"sqlite:///var/lib/x/relay.db", engineSQLite, "/var/lib/x/relay.db", ""},
		{"sqlite:", "", "", "give a file"},
		{"postgres://relay@db.example:5432/catchall?sslmode=verify-full", enginePostgres, "", ""},
		{"postgresql://relay@db.example/catchall", enginePostgres, "", ""},
		{"postgres://relay:hunter2@db.example/catchall", "", "", "holds a password"},
		{"postgres://relay@db.example/catchall?sslmode=verify-full&password=hunter2", "", "", "holds a password"},
		{"mysql://x@y/z", "", "", "give sqlite:PATH or postgres://"},
	} {
		engine, path, err := ParseStoreURL(tc.url)
		if engine != tc.engine || path != tc.path || (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %q %q %v", tc.url, engine, path, err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") || strings.Contains(RedactStoreURL(tc.url), "hunter2") {
			t.Errorf("%s: the error or the redacted URL shows the password: %v, %s", tc.url, err, RedactStoreURL(tc.url))
		}
	}
	cfg := testConfig(t, "127.0.0.1:1")
	cfg.Store = "postgres://relay:hunter2@db.example/catchall"
	err := cfg.Validate()
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Field != "Store" || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Validate: %v", err)
	}
}
