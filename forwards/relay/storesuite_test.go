package relay

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/catchall/catchall/classify"
	"github.com/catchall/catchall/forwards"
	"github.com/catchall/catchall/internal/testtools"
)

// storeEngines are the store's engines for the suite: SQLite always,
// PostgreSQL when the acceptance suite's cluster runs (make test).
var storeEngines = []struct {
	name string
	url  func(t *testing.T) string
}{
	{"sqlite", func(t *testing.T) string { return StoreURL("", t.TempDir()) }},
	{"postgres", func(t *testing.T) string { return testtools.NeedPostgres(t).URL }},
}

// TestStoreSuite runs every store test on both engines: the relay must
// not behave differently on either.
func TestStoreSuite(t *testing.T) {
	tests := []struct {
		name string
		f    func(t *testing.T, url string)
	}{
		{"ImportLoadLookup", suiteImport},
		{"RegisterAndBurners", suiteBurners},
		{"Senders", suiteSenders},
		{"StatisticsAggregated", suiteStats},
		{"Reverse", suiteReverse},
		{"BreachEventsAndDigest", suiteBreachDigest},
		{"Users", suiteUsers},
		{"OpenTogether", suiteOpenTogether},
		{"QueuedWrites", suiteQueuedWrites},
		{"Unreachable", suiteUnreachable},
	}
	for _, e := range storeEngines {
		t.Run(e.name, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) { tc.f(t, e.url(t)) })
			}
		})
	}
}

var suiteT0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

func openSuite(t *testing.T, url string) (*Store, *clockwork.FakeClock) {
	t.Helper()
	st, err := OpenStoreURL(url)
	if err != nil {
		t.Fatal(err)
	}
	clock := clockwork.NewFakeClockAt(suiteT0)
	st.clock = clock
	t.Cleanup(func() { st.Close() })
	return st, clock
}

func rule(alias, action, to string) forwards.Rule {
	return forwards.Rule{Alias: alias, Tag: classify.TagBusiness, Action: classify.Action(action), Targets: strings.Fields(to)}
}

func suiteImport(t *testing.T, url string) {
	st, _ := openSuite(t, url)
	g0, err := st.Generation()
	if err != nil {
		t.Fatal(err)
	}
	res, err := st.Import([]forwards.Rule{rule("a@example.org", "forward", "me@dest.test"), rule("b@example.org", "block", ""),
		rule("c@example.org", "forward", "x@dest.test y@dest.test")})
	if err != nil || res != (ImportResult{Added: 3}) {
		t.Fatalf("import: %+v %v", res, err)
	}
	if a, ok := st.Lookup("a+tag@example.org"); !ok || a.Address != "a@example.org" || a.Targets[0] != "me@dest.test" {
		t.Errorf("subaddress lookup: %+v %v", a, ok)
	}
	res, err = st.importPlan([]forwards.Rule{rule("a@example.org", "block", ""), rule("c@example.org", "forward", "x@dest.test y@dest.test")},
		map[string]string{"c@example.org": "a note"})
	if err != nil || res != (ImportResult{Changed: 2, Removed: 1}) {
		t.Fatalf("second import: %+v %v", res, err)
	}
	if g, _ := st.Generation(); g != g0+2 {
		t.Errorf("generation %d after two imports from %d", g, g0)
	}
	// Another process's view: a second store on the same database.
	other, _ := openSuite(t, url)
	if a, ok := other.Lookup("a@example.org"); !ok || a.Action != classify.ActionBlock {
		t.Errorf("other instance: a@ %+v", a)
	}
	if a, ok := other.Lookup("c@example.org"); !ok || a.Note != "a note" || len(a.Targets) != 2 {
		t.Errorf("other instance: c@ %+v", a)
	}
	if _, ok := other.Lookup("b@example.org"); ok || other.Len() != 2 {
		t.Errorf("removed alias still there (%d aliases)", other.Len())
	}
}

func suiteBurners(t *testing.T, url string) {
	st, clock := openSuite(t, url)
	if err := st.AddBurner("shop.aaaaaa@example.org", "shop", "made first", suiteT0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// An earlier created time wins, an empty note keeps the one there.
	if err := st.AddBurner("shop.aaaaaa@example.org", "shop", "", suiteT0); err != nil {
		t.Fatal(err)
	}
	a := &Alias{Address: "shop.aaaaaa@example.org", Tag: classify.TagDisposable, Action: classify.ActionForward,
		Targets: []string{"me@dest.test"}, Source: SourceBurner, Created: suiteT0.Add(2 * time.Hour)}
	if err := st.Register(a); err != nil {
		t.Fatal(err)
	}
	if err := st.Register(&Alias{Address: "new.bbbbbb@example.org", Tag: classify.TagDisposable, Action: classify.ActionForward,
		Targets: []string{"me@dest.test"}, Source: SourceBurner, Created: suiteT0}); err != nil {
		t.Fatal(err)
	}
	st.Accepted("new.bbbbbb@example.org", suiteT0.Add(3*time.Hour))
	st.Accepted("new.bbbbbb@example.org", suiteT0.Add(time.Hour))
	st.Accepted("new.bbbbbb@example.org", suiteT0.Add(5*time.Hour))
	clock.Advance(time.Minute)
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	other, _ := openSuite(t, url)
	bs, err := other.Burners()
	if err != nil || len(bs) != 2 {
		t.Fatalf("burners: %+v %v", bs, err)
	}
	if b := bs[1]; b.Address != "shop.aaaaaa@example.org" || b.Note != "made first" || !b.Created.Equal(suiteT0) || b.Entry == nil ||
		b.Entry.Source != SourceBurner {
		t.Errorf("shop burner %+v entry %+v", b, b.Entry)
	}
	if b := bs[0]; !b.FirstMail.Equal(suiteT0.Add(time.Hour)) || !b.LastMail.Equal(suiteT0.Add(5*time.Hour)) || b.Service != "new" {
		t.Errorf("new burner %+v", b)
	}
	if _, ok := other.Lookup("new.bbbbbb@example.org"); !ok {
		t.Error("a registered burner is not loaded by another instance")
	}
}

func suiteSenders(t *testing.T, url string) {
	st, _ := openSuite(t, url)
	if err := st.AddSender("me@example.org", "anna", suiteT0); err != nil {
		t.Fatal(err)
	}
	if err := st.AddSender("me@example.org", "bob", suiteT0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if u, err := st.Sender("me@example.org"); err != nil || u != "anna" {
		t.Errorf("sender %q %v, want the first, anna", u, err)
	}
	if u, err := st.Sender("nobody@example.org"); err != nil || u != "" {
		t.Errorf("unknown sender %q %v", u, err)
	}
}

func suiteStats(t *testing.T, url string) {
	st, clock := openSuite(t, url)
	if _, err := st.Import([]forwards.Rule{rule("a@example.org", "forward", "me@dest.test"), rule("b@example.org", "block", "")}); err != nil {
		t.Fatal(err)
	}
	before := st.Queries()
	for range 500 {
		st.Count("a@example.org", StatForwarded)
	}
	st.Count("a@example.org", StatDeferred)
	st.Count("b@example.org", StatRefused)
	st.Count("unknown@example.org", StatRefused) // never grows the table
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	// Aggregated: one transaction, a few multi-row statements, not one
	// per message.
	if q := st.Queries() - before; q > 8 {
		t.Errorf("flushing 503 events took %d statements", q)
	}
	// Nor one per alias: a thousand aliases with mail are a few
	// statements (rows in batches).
	many := []forwards.Rule{rule("a@example.org", "forward", "me@dest.test"), rule("b@example.org", "block", "")}
	for i := range 1000 {
		many = append(many, rule(fmt.Sprintf("m%d@example.org", i), "forward", "me@dest.test"))
	}
	if _, err := st.Import(many); err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		st.Count(fmt.Sprintf("m%d@example.org", i), StatForwarded)
	}
	before = st.Queries()
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	if q := st.Queries() - before; q > 15 {
		t.Errorf("flushing the mail of 1,000 aliases took %d statements", q)
	}
	clock.Advance(24 * time.Hour)
	st.Count("a@example.org", StatForwarded)
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	// Two instances flushing into the same rows add up.
	other, oclock := openSuite(t, url)
	oclock.Advance(24 * time.Hour)
	other.Count("a@example.org", StatForwarded)
	if err := other.Flush(); err != nil {
		t.Fatal(err)
	}
	stats, err := st.Stats()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Stat{}
	for _, s := range stats {
		got[s.Alias] = s
	}
	if s := got["a@example.org"]; s.Forwarded != 502 || s.Deferred != 1 || !s.LastSeen.Equal(suiteT0.Add(24*time.Hour)) {
		t.Errorf("a@ %+v", s)
	}
	if s := got["b@example.org"]; s.Refused != 1 {
		t.Errorf("b@ %+v", s)
	}
	if len(got) != 1002 || got["m999@example.org"].Forwarded != 1 {
		t.Errorf("stats of %d aliases, want 1002 (m999@: %+v)", len(got), got["m999@example.org"])
	}
	act, err := st.Activity(clock.Now(), 30)
	if err != nil {
		t.Fatal(err)
	}
	if a := act["a@example.org"]; a == nil || a.Forwarded != 502 || a.Daily[28] != 500 || a.Daily[29] != 2 {
		t.Errorf("activity %+v", a)
	}
}

func suiteReverse(t *testing.T, url string) {
	st, _ := openSuite(t, url)
	ra, err := st.ReverseAddress("shop@example.org", "news@shop.test", suiteT0)
	if err != nil || !strings.HasPrefix(ra, ReversePrefix) || !strings.HasSuffix(ra, "@example.org") {
		t.Fatalf("reverse address %q %v", ra, err)
	}
	other, _ := openSuite(t, url)
	if again, err := other.ReverseAddress("shop@example.org", "news@shop.test", suiteT0); err != nil || again != ra {
		t.Errorf("another instance made %q (%v), want the same %q", again, err, ra)
	}
	if alias, corr, ok, err := other.Reverse(ra); err != nil || !ok || alias != "shop@example.org" || corr != "news@shop.test" {
		t.Errorf("Reverse: %q %q %v %v", alias, corr, ok, err)
	}
	if _, _, ok, err := other.Reverse(ReversePrefix + "aaaaaaaaaaaaaaaaaaaa@example.org"); ok || err != nil {
		t.Errorf("unknown reverse address: %v %v", ok, err)
	}
}

func suiteBreachDigest(t *testing.T, url string) {
	st, _ := openSuite(t, url)
	evs := []BreachEvent{{Alias: "a@example.org", Breach: "Adobe", BreachDate: "2013-10-04", Done: BreachBlocked, At: suiteT0},
		{Alias: "b@example.org", Breach: "LinkedIn", BreachDate: "2012-05-05", Done: BreachFlagged, At: suiteT0.Add(time.Hour)}}
	if err := st.addBreachEvents(evs); err != nil {
		t.Fatal(err)
	}
	if err := st.addBreachEvents(evs[:1]); err != nil { // recorded once
		t.Fatal(err)
	}
	if got, err := st.BreachEvents(suiteT0.Add(-time.Second)); err != nil || len(got) != 2 || got[0].Breach != "Adobe" {
		t.Errorf("events %+v %v", got, err)
	}
	if seen, err := st.hasBreachEvent("b@example.org", "LinkedIn"); err != nil || !seen {
		t.Errorf("hasBreachEvent %v %v", seen, err)
	}
	if _, ok, err := st.digestLast(); ok || err != nil {
		t.Errorf("digest before the first: %v %v", ok, err)
	}
	if _, err := st.Import([]forwards.Rule{rule("a@example.org", "forward", "me@dest.test")}); err != nil {
		t.Fatal(err)
	}
	st.Count("a@example.org", StatRefused)
	st.Count("a@example.org", StatRefused)
	total, since, err := st.refusals()
	if err != nil || total["a@example.org"] != 2 || since["a@example.org"] != 2 {
		t.Fatalf("refusals %v %v %v", total, since, err)
	}
	if err := st.markDigest(suiteT0, total); err != nil {
		t.Fatal(err)
	}
	st.Count("a@example.org", StatRefused)
	if _, since, err = st.refusals(); err != nil || since["a@example.org"] != 1 {
		t.Errorf("refusals since the digest %v %v", since, err)
	}
	if last, ok, err := st.digestLast(); !ok || err != nil || !last.Equal(suiteT0) {
		t.Errorf("digest last %v %v %v", last, ok, err)
	}
	// Two relays on the store due to send the same digest: one does.
	other, _ := openSuite(t, url)
	next := suiteT0.Add(7 * 24 * time.Hour)
	won1, err1 := st.claimDigest(suiteT0, next)
	won2, err2 := other.claimDigest(suiteT0, next.Add(time.Second))
	if err1 != nil || err2 != nil || !won1 || won2 {
		t.Errorf("claims: %v %v, %v %v; want exactly the first", won1, err1, won2, err2)
	}
}

func suiteUsers(t *testing.T, url string) {
	st, _ := openSuite(t, url)
	hash, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	g0, _ := st.Generation()
	if err := st.SetUser("anna", hash, suiteT0); err != nil {
		t.Fatal(err)
	}
	if err := st.SetUser("bad name", hash, suiteT0); err == nil {
		t.Error("a name with a space was taken")
	}
	if err := st.SetUser("bob", "plaintext", suiteT0); err == nil {
		t.Error("a hash that is not argon2id was taken")
	}
	other, _ := openSuite(t, url)
	u, err := other.Users()
	if err != nil || strings.Join(u.Names(), ",") != "anna" || !u.Check("anna", "correct horse") || u.Check("anna", "wrong") {
		t.Fatalf("users %v %v", u.Names(), err)
	}
	if ok, err := other.DeleteUser("anna"); !ok || err != nil {
		t.Errorf("delete %v %v", ok, err)
	}
	if ok, err := other.DeleteUser("anna"); ok || err != nil {
		t.Errorf("delete again %v %v", ok, err)
	}
	if g, _ := st.Generation(); g != g0+2 {
		t.Errorf("generation %d, want %d: user changes must reach the other relays", g, g0+2)
	}
}

// suiteOpenTogether: instances starting at the same moment on a new store
// make its tables once and all come up.
func suiteOpenTogether(t *testing.T, url string) {
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := OpenStoreURL(url)
			if err == nil {
				err = st.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	st, _ := openSuite(t, url)
	var v int64
	if err := st.db.QueryRow(`SELECT value FROM meta WHERE key = 'schema'`).Scan(&v); err != nil || v != schemaVersion {
		t.Errorf("schema %d %v", v, err)
	}
}

// breakStore makes every statement of st fail as an unreachable store
// would, and returns what makes it reachable again.
func breakStore(t *testing.T, st *Store, url string) (mend func()) {
	t.Helper()
	good := st.db.sql
	broken, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "missing", "x.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	st.db.sql = broken
	return func() {
		st.db.sql = good
		broken.Close()
	}
}

// suiteQueuedWrites: with writes queued (the relay), a store that cannot
// be reached loses nothing: registrations are served from memory and
// survive a reload, statistics add up, and all is written, in order, by
// the first Flush after it is back.
func suiteQueuedWrites(t *testing.T, url string) {
	st, clock := openSuite(t, url)
	st.QueueWrites(true)
	if _, err := st.Import([]forwards.Rule{rule("a@example.org", "forward", "me@dest.test")}); err != nil {
		t.Fatal(err)
	}
	st.Count("a@example.org", StatForwarded)
	mend := breakStore(t, st, url)
	clock.Advance(time.Minute)
	burner := &Alias{Address: "shop.aaaaaa@example.org", Tag: classify.TagDisposable, Action: classify.ActionForward,
		Targets: []string{"me@dest.test"}, Source: SourceBurner, Created: clock.Now()}
	if err := st.Register(burner); err != nil {
		t.Fatalf("register with the store down: %v", err)
	}
	if err := st.AddBurner("made.bbbbbb@example.org", "made", "on the dashboard", clock.Now()); err != nil {
		t.Fatal(err)
	}
	if err := st.AddSender("a@example.org", "anna", clock.Now()); err != nil {
		t.Fatal(err)
	}
	st.Count("a@example.org", StatForwarded)
	st.Count("shop.aaaaaa@example.org", StatForwarded)
	st.Accepted("shop.aaaaaa@example.org", clock.Now())
	if err := st.Flush(); err == nil {
		t.Fatal("Flush with the store down: no error")
	}
	if err := st.Load(); err == nil {
		t.Fatal("Load with the store down: no error")
	}
	if _, ok := st.Lookup("shop.aaaaaa@example.org"); !ok {
		t.Error("the burner registered while the store was down is not served")
	}
	state := st.State()
	if state.Reachable || state.Pending != 3 || state.FailingSince == nil {
		t.Errorf("state while down: %+v", state)
	}
	clock.Advance(time.Minute)
	st.Count("a@example.org", StatForwarded)
	mend()
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := st.Load(); err != nil {
		t.Fatal(err)
	}
	if st.Pending() != 0 || !st.State().Reachable {
		t.Errorf("after the store is back: %+v", st.State())
	}
	other, _ := openSuite(t, url)
	if _, ok := other.Lookup("shop.aaaaaa@example.org"); !ok {
		t.Error("the queued registration was not written")
	}
	stats, err := other.Stats()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int64{}
	for _, s := range stats {
		counts[s.Alias] = s.Forwarded
	}
	if counts["a@example.org"] != 3 || counts["shop.aaaaaa@example.org"] != 1 {
		t.Errorf("forwarded counts after the outage %v, want a@ 3 and shop 1", counts)
	}
	bs, err := other.Burners()
	if err != nil || len(bs) != 2 || bs[0].Note != "on the dashboard" || bs[1].FirstMail.IsZero() {
		t.Errorf("burners after the outage %+v %v", bs, err)
	}
	if u, err := other.Sender("a@example.org"); u != "anna" || err != nil {
		t.Errorf("sender after the outage %q %v", u, err)
	}
}

// suiteUnreachable: without queued writes (the command-line tools) a
// write to an unreachable store fails, naming what was being written.
func suiteUnreachable(t *testing.T, url string) {
	st, _ := openSuite(t, url)
	mend := breakStore(t, st, url)
	defer mend()
	err := st.AddBurner("x.aaaaaa@example.org", "x", "", suiteT0)
	if err == nil || !strings.Contains(err.Error(), "recording the burner x.aaaaaa@example.org") {
		t.Errorf("AddBurner: %v", err)
	}
	if st.Pending() != 0 {
		t.Error("a write was queued although the store does not queue")
	}
}

// TestStoreSuitePostgresTLS: a store URL that asks for a verified TLS
// connection gets one, and a server whose certificate the given CA did
// not sign, or that is not the host named, is refused.
func TestStoreSuitePostgresTLS(t *testing.T) {
	pg := testtools.NeedPostgres(t)
	if pg.CA == "" {
		t.Fatal("the test cluster names no CA (CATCHALL_TEST_POSTGRES_CA)")
	}
	base := strings.Replace(pg.URL, "sslmode=disable", "", 1)
	base = strings.TrimSuffix(base, "?")
	st, err := OpenStoreURL(base + "?sslmode=verify-full&sslrootcert=" + pg.CA)
	if err != nil {
		t.Fatalf("verify-full with the server's CA: %v", err)
	}
	var ssl bool
	if err := st.db.QueryRow(`SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()`).Scan(&ssl); err != nil || !ssl {
		t.Errorf("connection over TLS: %v %v", ssl, err)
	}
	st.Close()

	cert, _ := testtools.Cert(t)
	other, _ := testtools.WriteCert(t, t.TempDir(), "other-ca", cert)
	if _, err := OpenStoreURL(base + "?sslmode=verify-full&sslrootcert=" + other); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("verify-full with another CA: %v, want a certificate error", err)
	}
	wrongHost := strings.Replace(base, "127.0.0.1", "localhost", 1)
	if _, err := OpenStoreURL(wrongHost + "?sslmode=verify-full&sslrootcert=" + pg.CA); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("verify-full to a host the certificate does not name (localhost): %v, want a certificate error", err)
	}
}

// TestStoreSuitePostgresSnapshot: a relay's store keeps a snapshot in the
// spool. Stopped during an outage, it leaves its queued writes and
// statistics there; started while the store is still down, it serves the
// snapshot's aliases; once the store is back, everything is written once.
func TestStoreSuitePostgresSnapshot(t *testing.T) {
	pg := testtools.NeedPostgres(t)
	snapPath := filepath.Join(t.TempDir(), SnapshotFile)
	st, err := OpenStoreSnapshot(pg.URL, "", snapPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(snapPath); err != nil {
		t.Errorf("no snapshot written at the open: %v", err)
	}
	st.QueueWrites(true)
	if _, err := st.Import([]forwards.Rule{rule("a@example.org", "forward", "me@dest.test"), rule("b@example.org", "block", "")}); err != nil {
		t.Fatal(err)
	}
	st.Count("a@example.org", StatForwarded)
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	hash, _ := HashPassword("s3cret pass")
	if err := st.SetUser("anna", hash, suiteT0); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Users(); err != nil { // as a relay with --users store reads them
		t.Fatal(err)
	}
	pg.Stop(t)
	burner := &Alias{Address: "shop.aaaaaa@example.org", Tag: classify.TagDisposable, Action: classify.ActionForward,
		Targets: []string{"me@dest.test"}, Source: SourceBurner, Created: suiteT0}
	if err := st.Register(burner); err != nil {
		t.Fatal(err)
	}
	st.Count("a@example.org", StatForwarded)
	st.Count("a@example.org", StatForwarded)
	if err := st.Close(); err == nil {
		t.Fatal("Close with the store down: no error")
	}

	// Started again, the store still down: the snapshot (the same
	// database under a URL with other parameters is the same store).
	st, err = OpenStoreSnapshot(pg.URL+"&connect_timeout=3", "", snapPath, nil)
	if err != nil {
		t.Fatalf("open with the store down and a snapshot: %v", err)
	}
	st.QueueWrites(true)
	if a, ok := st.Lookup("b@example.org"); !ok || a.Action != classify.ActionBlock {
		t.Errorf("the snapshot's block: %+v", a)
	}
	if _, ok := st.Lookup("shop.aaaaaa@example.org"); !ok {
		t.Error("the queued registration is not served after the restart")
	}
	if s := st.State(); s.Reachable || s.Pending != 1 {
		t.Errorf("state from the snapshot: %+v", s)
	}
	if u := st.snapshotUsers(); u == nil || !u.Check("anna", "s3cret pass") || u.Check("anna", "wrong pass") {
		t.Errorf("the snapshot's users do not check anna's password (users kept: %v)", u != nil)
	}
	if _, err := st.Users(); err == nil {
		t.Error("Users with the store down: no error")
	}
	st.Count("a@example.org", StatForwarded)
	if err := st.Close(); err == nil {
		t.Fatal("Close with the store down: no error")
	}

	// Without a snapshot of this store, an unreachable store is an error.
	if _, err := OpenStoreSnapshot(pg.URL, "", filepath.Join(t.TempDir(), SnapshotFile), nil); err == nil {
		t.Error("an unreachable store without a snapshot opened")
	}

	pg.Start(t)
	st, err = OpenStoreSnapshot(pg.URL, "", snapPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	st.Close()
	// Opened once more: nothing left to replay, nothing counted twice.
	st, err = OpenStoreSnapshot(pg.URL, "", snapPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.Pending() != 0 {
		t.Errorf("%d writes queued after they were written", st.Pending())
	}
	stats, err := st.Stats()
	if err != nil {
		t.Fatal(err)
	}
	forwarded := int64(-1)
	for _, s := range stats {
		if s.Alias == "a@example.org" {
			forwarded = s.Forwarded
		}
	}
	if forwarded != 4 {
		t.Errorf("a@ forwarded %d, want 4 (1 before the outage, 2 before the restart, 1 after)", forwarded)
	}
	if _, ok := st.Lookup("shop.aaaaaa@example.org"); !ok {
		t.Error("the registration made during the outage is not in the store")
	}

	// A snapshot that cannot be read is kept aside, not overwritten.
	bad := filepath.Join(t.TempDir(), SnapshotFile)
	if err := os.WriteFile(bad, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	st2, err := OpenStoreSnapshot(pg.URL, "", bad, nil)
	if err != nil {
		t.Fatal(err)
	}
	st2.Close()
	if aside, _ := filepath.Glob(bad + ".unused-*"); len(aside) != 1 {
		t.Errorf("the unreadable snapshot was not kept aside: %v", aside)
	}
}
