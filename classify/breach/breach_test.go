package breach

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/catchall/catchall/classify"
)

func fixture(t *testing.T) []Breach {
	t.Helper()
	list, err := LoadList("testdata/breaches.json")
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func TestParseBreaches(t *testing.T) {
	list := fixture(t)
	if len(list) != 16 {
		t.Fatalf("%d breaches, want 16 (the one without a name dropped)", len(list))
	}
	byName := map[string]Breach{}
	for _, b := range list {
		byName[b.Name] = b
	}
	if d := byName["Adobe"].Date(); !d.Equal(time.Date(2013, 10, 4, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("Adobe date %v", d)
	}
	if b := byName["OnlinerSpambot"]; b.Domain != "" || b.Weak() != "spam list" {
		t.Errorf("spam list: %+v", b)
	}
	if b := byName["FakeForum"]; b.Weak() != "fabricated" || b.PwnCount != 0 || b.DataClasses != nil {
		t.Errorf("nulls: %+v", b)
	}
	if parseDate("2016-01-01T00:00:00").IsZero() || parseDate("2013-12-04T00:00:00Z").IsZero() {
		t.Error("timestamps with and without Z must parse")
	}
	if _, err := ParseBreaches([]byte(`{"Name": "not an array"}`)); !errors.Is(err, ErrBadList) {
		t.Errorf("err = %v", err)
	}
}

func FuzzParseBreaches(f *testing.F) {
	data, _ := os.ReadFile("testdata/breaches.json")
	f.Add(data)
	f.Add([]byte(`[{"Name":"x","BreachDate":null,"Domain":null}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		list, err := ParseBreaches(b)
		if err != nil {
			return
		}
		for _, br := range list {
			br.Date()
			if br.Name == "" {
				t.Fatal("nameless breach kept")
			}
		}
	})
}

func row(alias, tag, service, first string) classify.Row {
	return classify.Row{"alias": alias, "tag": tag, "action": "forward", "forward_to": "me@new.example", "service_domain": service,
		"first_seen": first, "source": "auto", "auto_tag": tag, "auto_action": "forward", "auto_forward_to": "me@new.example"}
}

func TestDecide(t *testing.T) {
	p := &classify.Plan{Columns: []string{"alias", "tag", "action", "forward_to"}, Rows: []classify.Row{
		row("adobe2012@example.com", "disposable", "adobe.com", "2012-03-01"),     // before the 2013 breach
		row("adobe2016@example.com", "disposable", "adobe.com", "2016-02-01"),     // after it
		row("canva@example.com", "disposable", "", "2018-01-01"),                  // by name only
		row("linkedin@example.com", "business", "linkedin.com", "2011-05-01"),     // business: flagged only
		row("tumblr@example.com", "disposable", "tumblr.com", "2012-01-01"),       // pinned by the user
		row("shop@example.com", "disposable", "fake-forum.example", "2010-06-01"), // only a fabricated breach
		row("quiet@example.com", "disposable", "quiet.example", "2015-01-01"),     // leak signal
		row("anna@example.com", "personal", "", "2010-01-01"),
	}}
	p.Rows[4]["source"] = classify.SourceManual
	p.Rows[6]["leak_since"], p.Rows[6]["unrelated_senders"] = "2019-03-01", "4"
	results := Decide(p, &Input{List: fixture(t)})
	want := map[string]struct {
		verdict Verdict
		action  string
		hits    string
	}{
		"adobe2012@example.com": {VerdictBreached, "block", "Adobe (2013-10-04)"},
		"adobe2016@example.com": {VerdictClean, "forward", ""},
		"canva@example.com":     {VerdictBreached, "block", "Canva (2019-05-24)"},
		"linkedin@example.com":  {VerdictBreached, "forward", "LinkedIn (2012-05-05)"},
		"dropbox@example.com":   {VerdictClean, "forward", ""},
		"tumblr@example.com":    {VerdictBreached, "forward", "Tumblr (2013-02-28)"},
		"shop@example.com":      {VerdictAggregate, "forward", "FakeForum (2015-01-01, fabricated)"},
		"quiet@example.com":     {VerdictLeaked, "block", ""},
		"anna@example.com":      {VerdictClean, "forward", ""},
	}
	for i, r := range p.Rows {
		w := want[r.Alias()]
		if Verdict(r["breach_verdict"]) != w.verdict || r["action"] != w.action || r["breaches"] != w.hits {
			t.Errorf("%s: verdict %s action %s breaches %q; want %s %s %q", r.Alias(), r["breach_verdict"], r["action"], r["breaches"], w.verdict, w.action, w.hits)
		}
		if r["action"] == "block" && r["auto_action"] != "block" {
			t.Errorf("%s blocked but auto_action %q", r.Alias(), r["auto_action"])
		}
		_ = i
	}
	if !results[4].Pinned || results[4].Blocked {
		t.Errorf("pinned row: %+v", results[4])
	}

	// An alias first seen right after the breach, in the archive's first
	// month: it may be older than the archive, so nobody can tell.
	q := &classify.Plan{Rows: []classify.Row{
		row("dropbox@example.com", "disposable", "dropbox.com", "2012-07-20"),
		row("first@example.com", "disposable", "first.example", "2012-07-02"),
	}}
	res := Decide(q, &Input{List: fixture(t)})
	if res[0].Verdict != VerdictClean || !strings.Contains(strings.Join(res[0].Notes, " "), "too late to tell") {
		t.Errorf("dropbox: %s, notes %q", res[0].Verdict, res[0].Notes)
	}

	// classify runs again: the block stands (breach_action), edits stay.
	fresh := []classify.Row{row("adobe2012@example.com", "disposable", "adobe.com", "2012-03-01")}
	p.Merge(fresh)
	for _, r := range p.Rows {
		if r.Alias() == "adobe2012@example.com" && (r["action"] != "block" || r["source"] != "auto") {
			t.Errorf("after classify re-run: %v", r)
		}
	}

	// The user unblocks it in the plan (source still auto): breach running
	// again (catchall migrate after the edit) keeps the user's forward.
	for _, r := range p.Rows {
		if r.Alias() == "adobe2012@example.com" {
			r["action"], r["forward_to"] = "forward", "me@new.example"
		}
	}
	res = Decide(p, &Input{List: fixture(t)})
	for i, r := range p.Rows {
		if r.Alias() == "adobe2012@example.com" && (r["action"] != "forward" || !res[i].Pinned) {
			t.Errorf("an edited row was blocked again: %v, pinned %v", r, res[i].Pinned)
		}
	}
}

// hibpServer mimics the HIBP API: key checks, 429 with Retry-After, 404.
type hibpServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests []string
	keys     []string
	agents   []string
	throttle int // answer 429 this many times first
}

func newHIBP(t *testing.T) *hibpServer {
	h := &hibpServer{throttle: 1}
	list, _ := os.ReadFile("testdata/breaches.json")
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.requests = append(h.requests, r.URL.Path)
		h.keys = append(h.keys, r.Header.Get("hibp-api-key"))
		h.agents = append(h.agents, r.Header.Get("User-Agent"))
		throttle := h.throttle > 0 && strings.HasPrefix(r.URL.Path, "/breachedaccount/")
		if throttle {
			h.throttle--
		}
		h.mu.Unlock()
		if r.Header.Get("User-Agent") == "" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		if r.URL.Path == "/breaches" {
			w.Write(list)
			return
		}
		switch r.Header.Get("hibp-api-key") {
		case "good-key":
		case "":
			w.WriteHeader(http.StatusUnauthorized)
			return
		default:
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"statusCode":401,"message":"Access denied due to invalid hibp-api-key."}`)
			return
		}
		if throttle {
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		switch {
		case r.URL.Path == "/subscription/status":
			fmt.Fprint(w, `{"SubscriptionName":"Pwned 1","Description":"x","SubscribedUntil":"2027-01-01T00:00:00","Rpm":10,"DomainSearchMaxBreachedAccounts":25}`)
		case r.URL.Path == "/breachedaccount/adobe@example.com":
			fmt.Fprint(w, `[{"Name":"Adobe","Domain":"adobe.com","BreachDate":"2013-10-04","IsVerified":true,"LogoPath":null}]`)
		case r.URL.Path == "/breachedaccount/spam@example.com":
			fmt.Fprint(w, `[{"Name":"OnlinerSpambot","Domain":"","BreachDate":"2017-08-28","IsVerified":true,"IsSpamList":true}]`)
		case strings.HasPrefix(r.URL.Path, "/breachedaccount/"):
			w.WriteHeader(http.StatusNotFound)
		case r.URL.Path == "/breacheddomain/example.com":
			fmt.Fprint(w, `{"adobe":["Adobe"],"spam":["OnlinerSpambot"]}`)
		case strings.HasPrefix(r.URL.Path, "/breacheddomain/"):
			w.WriteHeader(http.StatusForbidden)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(h.Close)
	return h
}

// waitClock is a fake clock that a goroutine moves on, a second at a time,
// whenever the client waits on it; it records each wait.
type waitClock struct {
	*clockwork.FakeClock
	mu    sync.Mutex
	waits []time.Duration
}

func newWaitClock(t *testing.T) *waitClock {
	c := &waitClock{FakeClock: clockwork.NewFakeClockAt(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c.BlockUntilContext(ctx, 1) == nil {
			c.Advance(time.Second)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return c
}

func (c *waitClock) NewTimer(d time.Duration) clockwork.Timer {
	c.mu.Lock()
	c.waits = append(c.waits, d)
	c.mu.Unlock()
	return c.FakeClock.NewTimer(d)
}

func (c *waitClock) slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.waits)
}

// TestRetryAfterCapped: a 429 asking for a year's wait is waited on for
// MaxRetryAfter (and the second more) only.
func TestRetryAfterCapped(t *testing.T) {
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n++; n == 1 {
			w.Header().Set("Retry-After", "31536000")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusNotFound)
	}))
	defer srv.Close()
	clock := &waitClock{FakeClock: clockwork.NewFakeClock()}
	client := &Client{BaseURL: srv.URL, APIKey: "k", Clock: clock}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, _, err := client.Account(ctx, "a@example.com")
		done <- err
	}()
	bctx, bcancel := context.WithTimeout(ctx, time.Minute)
	defer bcancel()
	if err := clock.BlockUntilContext(bctx, 1); err != nil {
		t.Fatal("the client did not wait after the 429")
	}
	clock.Advance(MaxRetryAfter + time.Second)
	if w := clock.slept(); len(w) != 1 || w[0] != MaxRetryAfter+time.Second {
		t.Errorf("waits %v after Retry-After: 31536000, want %v", w, MaxRetryAfter+time.Second)
		cancel()
	}
	<-done
}

func TestOnline(t *testing.T) {
	h := newHIBP(t)
	clock := newWaitClock(t)
	client := &Client{BaseURL: h.URL, APIKey: "good-key", UserAgent: "catchall-test", Clock: clock}
	plan := func() *classify.Plan {
		return &classify.Plan{Columns: []string{"alias"}, Rows: []classify.Row{
			row("adobe@example.com", "disposable", "adobe.com", "2015-01-01"), // after the breach date, but HIBP lists it
			row("spam@example.com", "disposable", "", "2015-01-01"),
			row("clean@example.com", "disposable", "", "2015-01-01"),
		}}
	}
	cache := &Cache{Dir: t.TempDir()}
	for _, domainSearch := range []bool{false, true} {
		p := plan()
		results, err := Check(context.Background(), p, &Options{Online: true, DomainSearch: domainSearch, Client: client, Cache: cache, List: fixture(t)})
		if err != nil {
			t.Fatal(err)
		}
		got := []Verdict{results[0].Verdict, results[1].Verdict, results[2].Verdict}
		if want := []Verdict{VerdictBreached, VerdictAggregate, VerdictClean}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("domainSearch=%v: verdicts %v, want %v", domainSearch, got, want)
		}
	}
	// 429 → Retry-After + 1 s; pacing at 10 requests per minute (6 s apart).
	slept := clock.slept()
	has4 := false
	for _, d := range slept {
		if d == 4*time.Second {
			has4 = true
		}
	}
	if !has4 || len(slept) < 2 || slept[0] != 6*time.Second {
		t.Errorf("sleeps %v: want 6 s between keyed requests and 4 s after a 429 with Retry-After 3", slept)
	}
	for i, path := range h.requests {
		if h.agents[i] == "" {
			t.Errorf("%s sent without a user agent", path)
		}
		if path == "/breaches" && h.keys[i] != "" {
			t.Error("the key was sent to the key-free endpoint")
		}
	}
	// A second run answers from the cache: no account or domain requests.
	n := len(h.requests)
	if _, err := Check(context.Background(), plan(), &Options{Online: true, Client: client, Cache: cache, List: fixture(t)}); err != nil {
		t.Fatal(err)
	}
	for _, path := range h.requests[n:] {
		if strings.HasPrefix(path, "/breached") {
			t.Errorf("cached answer asked again: %s", path)
		}
	}
	if st, err := os.Stat(filepath.Join(cache.Dir, "answers.json")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("cache file: %v", err)
	}

	// Errors: bad key (401), unverified domain (403); the key is never shown.
	bad := &Client{BaseURL: h.URL, APIKey: "s3cret-bad-key", Clock: clock}
	_, err := Check(context.Background(), plan(), &Options{Online: true, Client: bad})
	if !errors.Is(err, ErrUnauthorized) || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("bad key: %v", err)
	}
	p := &classify.Plan{Rows: []classify.Row{row("x@other.example", "disposable", "", "2015-01-01")}}
	_, err = Check(context.Background(), p, &Options{Online: true, DomainSearch: true, Client: client})
	if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "other.example") {
		t.Errorf("unverified domain: %v", err)
	}
}

func TestUpdate(t *testing.T) {
	h := newHIBP(t)
	list, raw, err := (&Client{BaseURL: h.URL}).Breaches(context.Background())
	if err != nil || len(list) != 16 {
		t.Fatalf("%d breaches, %v", len(list), err)
	}
	var back []map[string]any
	if json.Unmarshal(raw, &back) != nil || len(back) != 17 {
		t.Error("the raw list is not kept as downloaded")
	}
}

// An address nobody was given is not "leaked" (that means its service lost
// it): it has its own verdict, even with unrelated senders and a breach of
// a service its name happens to match.
func TestNeverGivenIsNotLeaked(t *testing.T) {
	p := &classify.Plan{Columns: []string{"alias", "tag", "action", "forward_to"}, Rows: []classify.Row{{
		"alias": "adobe@example.com", "tag": "disposable", "action": "block", "forward_to": "",
		"reasons": classify.ReasonNeverGiven + "; 5 messages from 5 different senders", "first_seen": "2010-01-01",
		"leak_since": "2011-01-01", "unrelated_senders": "5",
	}}}
	res := Decide(p, &Input{List: []Breach{{Name: "Adobe", Domain: "adobe.com", BreachDate: "2013-10-04"}}})
	if res[0].Verdict != VerdictNeverGiven || p.Rows[0]["breach_verdict"] != "never-given" || p.Rows[0]["breaches"] != "" {
		t.Errorf("verdict %s, row %v", res[0].Verdict, p.Rows[0])
	}
}

func TestApply(t *testing.T) {
	dir := t.TempDir()
	plan := filepath.Join(dir, "plan.csv")
	os.WriteFile(plan, []byte("alias,tag,action,forward_to,service_domain,first_seen,source,auto_tag,auto_action,auto_forward_to\n"+
		"adobe@example.com,disposable,forward,me@new.example,adobe.com,2012-01-01,auto,disposable,forward,me@new.example\n"), 0o600)
	empty := &Cache{Dir: filepath.Join(dir, "cache")}
	var ie *classify.InputError
	for _, tc := range []struct {
		name string
		opts ApplyOptions
		is   error
	}{
		{"no list, offline", ApplyOptions{Plan: plan, Cache: empty}, ErrNoList},
		{"a list that is not there", ApplyOptions{Plan: plan, List: filepath.Join(dir, "none.json"), Cache: empty}, os.ErrNotExist},
		{"no plan", ApplyOptions{Plan: filepath.Join(dir, "none.csv"), List: "testdata/breaches.json"}, os.ErrNotExist},
		{"online without a key", ApplyOptions{Plan: plan, Online: true, Cache: empty}, nil},
	} {
		_, err := Apply(context.Background(), &tc.opts)
		if !errors.As(err, &ie) || tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%s: %v, want an InputError (%v)", tc.name, err, tc.is)
		}
	}
	results, err := Apply(context.Background(), &ApplyOptions{Plan: plan, List: "testdata/breaches.json", Cache: empty})
	if err != nil || len(results) != 1 || results[0].Verdict != VerdictBreached {
		t.Fatalf("Apply: %v %+v", err, results)
	}
	p, err := classify.ReadPlan(plan)
	if err != nil || p.Rows[0]["breach_verdict"] != "breached" || p.Rows[0]["action"] != "block" {
		t.Errorf("the plan is not updated: %v %v", p.Rows, err)
	}
}
