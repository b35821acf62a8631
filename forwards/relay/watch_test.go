package relay

import (
	"encoding/json"
	"io"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/jonboulle/clockwork"

	"github.com/catchall/catchall/classify"
)

// breachList is an httptest HIBP public list the test changes.
type breachList struct {
	body atomic.Pointer[string] // "" answers 500
}

func (b *breachList) set(body string) { b.body.Store(&body) }

func (b *breachList) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body := b.body.Load()
	if r.URL.Path != "/api/v3/breaches" || body == nil || *body == "" {
		http.Error(w, "down", 500)
		return
	}
	io.WriteString(w, *body)
}

// watchPlan writes a plan as classify and breach leave it (auto columns,
// breach columns), and returns its lines by alias.
func watchPlan(t *testing.T, path string) map[string]string {
	t.Helper()
	row := func(alias, tag, source, service string) classify.Row {
		return classify.Row{"alias": alias, "tag": tag, "action": "forward", "forward_to": "me@dest.test",
			"auto_tag": tag, "auto_action": "forward", "auto_forward_to": "me@dest.test", "source": source,
			"service_domain": service, "first_seen": "2010-01-01", "breaches": "", "breach_verdict": "clean", "breach_notes": "", "breach_action": ""}
	}
	p := &classify.Plan{Columns: []string{"alias", "tag", "action", "forward_to", "auto_tag", "auto_action", "auto_forward_to", "source",
		"service_domain", "first_seen", "breaches", "breach_verdict", "breach_notes", "breach_action"},
		Rows: []classify.Row{
			row("adobe@example.org", "disposable", "auto", "adobe.com"),
			row("bank@example.org", "business", "auto", "bank.test"),
			row("mine@example.org", "disposable", "manual", "adobe.com"),
			row("quiet@example.org", "disposable", "auto", "quiet.test"),
		}}
	if err := p.Write(path); err != nil {
		t.Fatal(err)
	}
	return planLines(t, path)
}

func planLines(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		a, _, _ := strings.Cut(l, ",")
		m[a] = l
	}
	return m
}

const adobeBreach = `{"Name":"Adobe","Domain":"adobe.com","BreachDate":"2013-10-04","IsVerified":true}`
const bankBreach = `{"Name":"BankCo","Domain":"bank.test","BreachDate":"2015-01-01","IsVerified":true}`

func health(t *testing.T, tr *testRelay) (int, Health) {
	t.Helper()
	rec := httptest.NewRecorder()
	tr.AdminHandler().ServeHTTP(rec, httptest.NewRequest("GET", "http://127.0.0.1:9125/healthz", nil))
	var h Health
	if err := json.Unmarshal(rec.Body.Bytes(), &h); err != nil {
		t.Fatalf("/healthz is not JSON: %v\n%s", err, rec.Body.String())
	}
	return rec.Code, h
}

// TestBreachWatch: the list gains breaches between two polls; the
// disposable alias is blocked, the business one flagged, the user's row
// and the quiet one untouched (their lines byte-identical); a later poll
// repeats nothing; a list that cannot be fetched is said once and shows on
// /healthz, with a 503 after two periods.
func TestBreachWatch(t *testing.T) {
	sk := newSink(t)
	list := &breachList{}
	list.set("[]")
	srv := httptest.NewServer(list)
	defer srv.Close()
	cfg := testConfig(t, sk.addr)
	before := watchPlan(t, cfg.Plan)
	cfg.BreachWatch, cfg.Breaches = 24*time.Hour, srv.URL+"/api/v3/breaches"
	tr := startRelay(t, cfg)
	tr.settle(t)
	if evs, _ := tr.Store().BreachEvents(time.Time{}); len(evs) != 0 {
		t.Fatalf("events from an empty list: %v", evs)
	}

	list.set("[" + adobeBreach + "," + bankBreach + "]")
	tr.advance(t, 24*time.Hour)
	evs, err := tr.Store().BreachEvents(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, e.Alias+" "+e.Breach+" "+e.BreachDate+" "+e.Done)
	}
	slices.Sort(got)
	if want := []string{"adobe@example.org Adobe 2013-10-04 blocked", "bank@example.org BankCo 2015-01-01 flagged"}; !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
	if a, _ := tr.Store().Lookup("adobe@example.org"); a == nil || a.Action != classify.ActionBlock {
		t.Errorf("adobe@ in the store: %+v, want blocked", a)
	}
	if a, _ := tr.Store().Lookup("bank@example.org"); a == nil || a.Action != classify.ActionForward {
		t.Errorf("bank@ in the store: %+v, want forwarded still", a)
	}
	after := planLines(t, cfg.Plan)
	for _, a := range []string{"alias", "mine@example.org", "quiet@example.org"} {
		if after[a] != before[a] {
			t.Errorf("%s's line changed:\n%s\n%s", a, before[a], after[a])
		}
	}
	p, err := classify.ReadPlan(cfg.Plan)
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]classify.Row{}
	for _, r := range p.Rows {
		rows[r.Alias()] = r
	}
	if r := rows["adobe@example.org"]; r["action"] != "block" || r["breach_action"] != "block" || r["breaches"] != "Adobe (2013-10-04)" || r["breach_verdict"] != "breached" || r.Edited() {
		t.Errorf("adobe@ row: %v", r)
	}
	if r := rows["bank@example.org"]; r["action"] != "forward" || r["breaches"] != "BankCo (2015-01-01)" || r["breach_verdict"] != "breached" {
		t.Errorf("bank@ row: %v", r)
	}

	planBytes, _ := os.ReadFile(cfg.Plan)
	tr.advance(t, 24*time.Hour)
	if evs2, _ := tr.Store().BreachEvents(time.Time{}); len(evs2) != len(evs) {
		t.Errorf("a second poll recorded again: %v", evs2)
	}
	if again, _ := os.ReadFile(cfg.Plan); string(again) != string(planBytes) {
		t.Errorf("a second poll rewrote the plan")
	}
	if code, h := health(t, tr); code != 200 || h.BreachList.LastOK == nil || h.BreachList.Error != nil {
		t.Errorf("/healthz %d %+v", code, h)
	}

	list.set("")
	tr.advance(t, 24*time.Hour)
	if code, h := health(t, tr); code != 200 || h.BreachList.Error == nil {
		t.Errorf("after one failed poll: /healthz %d %+v, want 200 with the error", code, h)
	}
	tr.advance(t, 24*time.Hour)
	tr.advance(t, 24*time.Hour)
	tr.advance(t, 2*time.Second)
	if code, h := health(t, tr); code != 503 || h.Status != "attention" || len(h.Problems) != 1 || !strings.Contains(h.Problems[0], "breach list") {
		t.Errorf("after three failed polls: /healthz %d %+v, want 503", code, h)
	}
	if n := strings.Count(tr.logs.String(), "breach list cannot be read"); n != 1 {
		t.Errorf("the failure logged %d times, want once per streak", n)
	}
}

// TestDigest: a week with a breach, a new burner, refusals and a deferred
// delivery gives one digest on Monday at 08:00 with every section; a
// restart does not send it again, and a quiet week sends none.
func TestDigest(t *testing.T) {
	sk := newSink(t)
	var refuseOther atomic.Bool
	refuseOther.Store(true)
	sk.rcptErr = func(to string) error {
		if refuseOther.Load() && to == "other@dest.test" {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
		}
		return nil
	}
	cfg := testConfig(t, sk.addr)
	cfg.Clock = clockwork.NewFakeClockAt(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)) // a Wednesday
	cfg.Digest, cfg.DefaultTargets = DigestWeekly, []string{"me@dest.test"}
	tr := startRelay(t, cfg)
	tr.settle(t)

	tr.advance(t, time.Hour)
	now := tr.clock.Now()
	if err := tr.Store().addBreachEvents([]BreachEvent{{Alias: "shop@example.org", Breach: "ShopLeak", BreachDate: "2026-11-01", Done: BreachBlocked, At: now}}); err != nil {
		t.Fatal(err)
	}
	if err := tr.Store().AddBurner("forum.abcdefgh@example.org", "forum", "the knitting forum", now); err != nil {
		t.Fatal(err)
	}
	sendMail(t, tr.addr, "x@sender.test", []string{"leaked@example.org"}, simpleMessage) // refused
	if err := sendMail(t, tr.addr, "x@sender.test", []string{"two@example.org"}, simpleMessage); err != nil {
		t.Fatal(err)
	}
	tr.advance(t, time.Hour) // me@ gets it, other@ is deferred
	digests := func() []string {
		var out []string
		for _, m := range sk.messages() {
			if strings.Contains(m.Data, "Subject: catchall:") {
				out = append(out, m.Data)
			}
		}
		return out
	}
	tr.advance(t, 24*time.Hour)
	if d := digests(); len(d) != 0 {
		t.Fatalf("a digest before Monday: %q", d)
	}

	// Restart in the middle of the week.
	tr.stop(t)
	tr = startRelay(t, cfg)
	tr.settle(t)
	monday := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	tr.advance(t, monday.Sub(tr.clock.Now()))
	d := digests()
	if len(d) != 1 {
		t.Fatalf("%d digests on Monday, want 1", len(d))
	}
	head, body, _ := strings.Cut(d[0], "\r\n\r\n")
	text, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Subject: catchall: the week of Mon 23 Nov 2026", "From: catchall relay <postmaster@example.org>", "To: me@dest.test"} {
		if !strings.Contains(head, want) {
			t.Errorf("header lacks %q:\n%s", want, head)
		}
	}
	for _, want := range []string{"New breaches", "shop@example.org: ShopLeak (2026-11-01), blocked",
		"New burners", "forum.abcdefgh@example.org (forum): the knitting forum",
		"Aliases refusing the most", "leaked@example.org: 1 refused",
		"Deliveries deferred or failed", "deferred ", "Spool disk: "} {
		if !strings.Contains(string(text), want) {
			t.Errorf("digest lacks %q:\n%s", want, text)
		}
	}

	// A restart right after does not send it again; a quiet week sends none.
	refuseOther.Store(false)
	tr.advanceUntil(t, "the deferred message delivered", func() bool { return tr.queue.len() == 0 })
	tr.stop(t)
	tr = startRelay(t, cfg)
	tr.settle(t)
	tr.advance(t, 7*24*time.Hour)
	if d := digests(); len(d) != 1 {
		t.Errorf("%d digests after a restart and a quiet week, want still 1", len(d))
	}
}
