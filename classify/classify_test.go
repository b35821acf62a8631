package classify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func msg(to, from string) string {
	return fmt.Sprintf("X-Original-To: %s\r\nDelivered-To: me@example.com\r\nReceived: from a by mx.example.com; Mon, 1 Jan 2024 00:00:00 +0000\r\nFrom: %s\r\nSubject: x\r\n\r\nbody\r\n", to, from)
}

// collect walks a source and returns folder → count, and the roles seen.
func collect(t *testing.T, src Source) (map[string]int, map[string]Role) {
	t.Helper()
	var mu sync.Mutex
	counts, roles := map[string]int{}, map[string]Role{}
	_, err := src.Walk(context.Background(), 1, func(m *Message) {
		mu.Lock()
		counts[m.Folder]++
		roles[m.Folder] = m.Role
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	return counts, roles
}

func TestMaildirPlusPlus(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "cur", "1.a:2,S"), msg("adobe@example.com", "news@adobe.com"))
	write(t, filepath.Join(dir, "new", "2.a"), msg("ebay@example.com", "ebay@ebay.com"))
	write(t, filepath.Join(dir, ".Sent", "cur", "3.a:2,S"), "From: anna@example.com\r\nTo: friend@gmail.com\r\n\r\nhi\r\n")
	write(t, filepath.Join(dir, ".Archive.2019", "cur", "4.a:2,"), msg("adobe@example.com", "news@adobe.com"))
	write(t, filepath.Join(dir, ".R&AOk-ception.Factures", "cur", "5.a:2,"), msg("invoices@example.com", "x@supplier.de"))
	os.MkdirAll(filepath.Join(dir, ".Empty", "cur"), 0o700)
	write(t, filepath.Join(dir, "dovecot-uidlist"), "not a message")
	counts, roles := collect(t, &MaildirSource{Dir: dir})
	want := map[string]int{"INBOX": 2, "Sent": 1, "Archive/2019": 1, "Réception/Factures": 1}
	for f, n := range want {
		if counts[f] != n {
			t.Errorf("folder %q: %d messages, want %d (all: %v)", f, counts[f], n, counts)
		}
	}
	if roles["Sent"] != RoleSent {
		t.Errorf("Sent folder role %q", roles["Sent"])
	}
	inv, err := Build(context.Background(), &MaildirSource{Dir: dir}, &Options{Domains: []string{"Example.COM"}})
	if err != nil {
		t.Fatal(err)
	}
	if s := inv.Aliases["adobe@example.com"]; s == nil || s.Received != 2 || s.Folders["Archive/2019"] != 1 {
		t.Errorf("adobe: %+v", s)
	}
	if s := inv.Aliases["anna@example.com"]; s == nil || s.Sent != 1 || s.SentToPeople != 1 || s.SentToFree != 1 {
		t.Errorf("anna: %+v", s)
	}
}

func TestMboxSource(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	for i, to := range []string{"adobe@example.com", "ebay@example.com", "adobe@example.com"} {
		fmt.Fprintf(&b, "From MAILER-DAEMON Mon Jan  %d 10:00:00 2024\n", i+1)
		b.WriteString(strings.ReplaceAll(msg(to, "x@shop.com"), "\r\n", "\n"))
		b.WriteString(">From the body, escaped\nFrom inside a paragraph is not a separator\n\n")
	}
	path := filepath.Join(dir, "Inbox.mbox")
	write(t, path, b.String())
	inv, err := Build(context.Background(), &MboxSource{Path: path}, &Options{Domains: []string{"example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if inv.Messages != 3 {
		t.Errorf("%d messages, want 3", inv.Messages)
	}
	s := inv.Aliases["adobe@example.com"]
	if s == nil || s.Received != 2 || s.Folders["Inbox"] != 2 {
		t.Fatalf("adobe: %+v", s)
	}
	if want := time.Date(2024, 1, 3, 10, 0, 0, 0, time.UTC); !s.Last.Equal(want) {
		t.Errorf("last seen %v, want %v (the From_ line's date)", s.Last, want)
	}
	write(t, filepath.Join(dir, "not.mbox"), "Subject: x\n\nno separator\n")
	if _, err := (&MboxSource{Path: filepath.Join(dir, "not.mbox")}).Walk(context.Background(), 1, func(*Message) {}); err == nil {
		t.Error("a file without From_ lines was accepted as mbox")
	}
}

func TestPlanReadValidate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "plan.csv")
	write(t, path, "\xef\xbb\xbfAlias,Tag,Action,Forward_To,Note\n"+
		"Adobe@Example.com,disposable,block,,leaked 2019\n"+
		"anna@example.com,personal,forward,ME@new.example other@new.example,\n"+
		"bad,friend,delete,not-an-address,\n"+
		"anna@example.com,personal,forward,,\n"+
		"x@example.com,business,block,me@new.example,\n"+
		"short,row\n"+
		"y@example.com,personal,forward,,a,b\n")
	_, err := ReadPlan(path)
	if err == nil {
		t.Fatal("invalid plan accepted")
	}
	for _, want := range []string{
		`line 4: tag "friend" must be personal`, `line 4: action "delete" must be forward or block`,
		"line 5: anna@example.com is already in line 3", "line 8: 6 fields, the header has only 5",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	write(t, path, "alias,tag,action,forward_to,note\nAdobe@Example.com,disposable,block,,leaked 2019\nanna@example.com,personal,forward,ME@new.example other@new.example,\n")
	p, err := ReadPlan(path)
	if err != nil {
		t.Fatal(err)
	}
	if p.Rows[0]["alias"] != "adobe@example.com" || p.Rows[1]["forward_to"] != "me@new.example other@new.example" || p.Rows[0]["note"] != "leaked 2019" {
		t.Errorf("rows %v", p.Rows)
	}
	// JSON round trip keeps every column.
	jpath := filepath.Join(dir, "plan.json")
	if err := p.Write(jpath); err != nil {
		t.Fatal(err)
	}
	q, err := ReadPlan(jpath)
	if err != nil {
		t.Fatal(err)
	}
	if len(q.Rows) != 2 || q.Rows[0]["note"] != "leaked 2019" || q.Rows[1]["tag"] != "personal" {
		t.Errorf("JSON round trip: %v", q.Rows)
	}
	if st, _ := os.Stat(jpath); st.Mode().Perm() != 0o600 {
		t.Errorf("plan mode %v", st.Mode().Perm())
	}
}

func TestPlanMergeKeepsEdits(t *testing.T) {
	fresh := func() []Row {
		mk := func(alias, tag, action, fwd, msgs string) Row {
			return Row{"alias": alias, "tag": tag, "action": action, "forward_to": fwd, "messages": msgs, "source": SourceAuto,
				"auto_tag": tag, "auto_action": action, "auto_forward_to": fwd}
		}
		return []Row{
			mk("adobe@example.com", "disposable", "forward", "me@new.example", "8"),
			mk("anna@example.com", "personal", "forward", "me@new.example", "40"),
			mk("jobs@example.com", "business", "forward", "me@new.example", "3"),
			mk("shop@example.com", "disposable", "forward", "me@new.example", "2"),
		}
	}
	p := &Plan{}
	p.Merge(fresh())
	// The user blocks adobe, re-tags shop, marks jobs manual, adds a column and a row.
	for _, r := range p.Rows {
		switch r.Alias() {
		case "adobe@example.com":
			r["action"], r["forward_to"] = "block", ""
		case "shop@example.com":
			r["tag"] = "business"
		case "jobs@example.com":
			r["source"] = SourceManual
		}
		r["note"] = "mine"
	}
	p.Columns = append(p.Columns, "note")
	p.Rows = append(p.Rows, Row{"alias": "new@example.com", "tag": "personal", "action": "forward", "forward_to": "me@new.example", "note": "added by hand"})

	path := filepath.Join(t.TempDir(), "plan.csv")
	if err := p.Write(path); err != nil {
		t.Fatal(err)
	}
	p, err := ReadPlan(path)
	if err != nil {
		t.Fatal(err)
	}
	next := fresh()
	next[0]["messages"] = "9"
	next[2]["tag"], next[2]["auto_tag"] = "personal", "personal" // the heuristics changed their mind
	res := p.Merge(next)
	if res != (MergeResult{Updated: 1, KeptEdits: 3, KeptOnlyInPlan: 1}) {
		t.Errorf("merge result %+v", res)
	}
	got := map[string]Row{}
	for _, r := range p.Rows {
		got[r.Alias()] = r
	}
	check := func(alias, col, want string) {
		t.Helper()
		if got[alias][col] != want {
			t.Errorf("%s %s = %q, want %q", alias, col, got[alias][col], want)
		}
	}
	check("adobe@example.com", "action", "block")
	check("adobe@example.com", "forward_to", "")
	check("adobe@example.com", "source", SourceManual)
	check("adobe@example.com", "messages", "9") // statistics refreshed
	check("shop@example.com", "tag", "business")
	check("jobs@example.com", "tag", "business")
	check("anna@example.com", "source", SourceAuto)
	check("anna@example.com", "note", "mine")
	check("new@example.com", "note", "added by hand")
	if !slices.Contains(p.Columns, "note") {
		t.Error("the user's column was dropped")
	}
}

func FuzzReadPlan(f *testing.F) {
	f.Add([]byte("alias,tag,action,forward_to\na@b.c,personal,forward,x@y.z\n"), false)
	f.Add([]byte(`[{"alias":"a@b.c","tag":"disposable","action":"block","forward_to":null,"n":1}]`), true)
	f.Add([]byte("alias\n\"unterminated"), false)
	f.Add([]byte("alias,tag,action,forward_to\n'=1+2@b.c,personal,forward\n@x,disposable,block,\n"), false)
	f.Fuzz(func(t *testing.T, data []byte, isJSON bool) {
		p, err := ParsePlan(data, isJSON)
		if err != nil {
			return
		}
		for _, r := range p.Rows {
			if a, err := SafeAddress(r["alias"]); err == nil && a != r["alias"] {
				t.Fatalf("accepted alias %q not normalised (%q)", r["alias"], a)
			}
		}
		// What catchall writes reads back as written.
		first, err := p.Encode(isJSON)
		if err != nil {
			t.Fatal(err)
		}
		p2, err := ParsePlan(first, isJSON)
		if err != nil {
			t.Fatalf("its own plan does not read back: %v\n%q", err, first)
		}
		if second, _ := p2.Encode(isJSON); !bytes.Equal(first, second) {
			t.Fatalf("write → read → write changed the plan:\n%q\n%q", first, second)
		}
	})
}

var reasonNum = regexp.MustCompile(`^(\d+) of (\d+) messages from ([^ ,]+)`)

// checkReasons checks that every reason the tagger gives is true of s.
func checkReasons(t *testing.T, s *Stats, v Verdict) {
	t.Helper()
	for _, r := range v.Reasons {
		switch {
		case reasonNum.MatchString(r):
			m := reasonNum.FindStringSubmatch(r)
			n, _ := strconv.Atoi(m[1])
			of, _ := strconv.Atoi(m[2])
			if of != s.Received || (m[3] != "people" && s.Services[m[3]] != n) || (m[3] == "people" && s.Freemail != n) {
				t.Errorf("%s: reason %q, but %d received, %d from %s", s.Alias, r, s.Received, s.Services[m[3]], m[3])
			}
		case strings.HasPrefix(r, "never sent from"):
			if s.Sent != 0 {
				t.Errorf("%s: %q but sent %d", s.Alias, r, s.Sent)
			}
		case strings.HasPrefix(r, "you sent "):
			if !strings.HasPrefix(r, fmt.Sprintf("you sent %d messages", s.SentToPeople)) {
				t.Errorf("%s: %q but sent to people %d", s.Alias, r, s.SentToPeople)
			}
		case strings.HasSuffix(r, "are bulk mail"):
			if !strings.HasPrefix(r, fmt.Sprintf("%d of %d", s.Bulk, s.Received)) {
				t.Errorf("%s: %q but bulk %d of %d", s.Alias, r, s.Bulk, s.Received)
			}
		case r == "no bulk mail":
			if s.Bulk != 0 {
				t.Errorf("%s: %q but bulk %d", s.Alias, r, s.Bulk)
			}
		case strings.Contains(r, "is a role name"):
			if !roleNames[strings.Trim(strings.Fields(r)[0], `"`)] {
				t.Errorf("%s: %q", s.Alias, r)
			}
		}
	}
}

func TestReasonsByConstruction(t *testing.T) {
	cfg := &Config{MainMailbox: "me@new.example", BusinessMailbox: "work@new.example"}
	cases := []struct {
		stats Stats
		tag   Tag
		act   Action
		fwd   string
		want  string
	}{
		{Stats{Alias: "adobe@example.com", Received: 8, Bulk: 6, Services: map[string]int{"adobe.com": 8}}, TagDisposable, ActionForward, "me@new.example", "8 of 8 messages from adobe.com, which matches the name"},
		{Stats{Alias: "invoices@example.com", Received: 3, Sent: 2}, TagBusiness, ActionForward, "work@new.example", `"invoices" is a role name with real correspondence: you wrote from it 2 times`},
		{Stats{Alias: "anna@example.com", Received: 10, Freemail: 9, Replies: 4, Clients: 7, Sent: 5, SentToPeople: 5, SentToFree: 5}, TagPersonal, ActionForward, "me@new.example", "you sent 5 messages from it to people"},
		// A business tool the user only signed up with is disposable; one
		// the user writes from is business.
		{Stats{Alias: "github@example.com", Received: 4, Bulk: 4, Signup: 1, Services: map[string]int{"github.com": 4}}, TagDisposable, ActionForward, "me@new.example", "a signup: 1 welcome"},
		{Stats{Alias: "github@example.com", Received: 4, Bulk: 3, Sent: 2, Services: map[string]int{"github.com": 4}}, TagBusiness, ActionForward, "work@new.example", "github is a business service"},
		// Never given out: strangers only, whatever the name.
		{Stats{Alias: "xkq7@example.com", Received: 3, Senders: map[string]*Sender{"a.ru": {Messages: 1}, "b.cn": {Messages: 1}, "c.top": {Messages: 1}},
			Services: map[string]int{"a.ru": 1, "b.cn": 1, "c.top": 1}}, TagDisposable, ActionBlock, "", ReasonNeverGiven},
		{Stats{Alias: "admin@example.com", Received: 2, Junk: 2, Clients: 1, Senders: map[string]*Sender{"a.ru": {Messages: 1}, "b.cn": {Messages: 1}},
			Services: map[string]int{"a.ru": 1, "b.cn": 1}}, TagDisposable, ActionBlock, "", "2 of 2 in Junk"},
		{Stats{Alias: "webmaster@example.com", Received: 4, Bulk: 1, Senders: map[string]*Sender{"a.ru": {Messages: 1}, "b.cn": {Messages: 1}, "c.top": {Messages: 1}, "d.biz": {Messages: 1}},
			Services: map[string]int{"a.ru": 1, "b.cn": 1, "c.top": 1, "d.biz": 1}}, TagDisposable, ActionBlock, "", ReasonNeverGiven},
		// Two strangers in the inbox are not enough to block.
		{Stats{Alias: "quiet@example.com", Received: 2, Senders: map[string]*Sender{"a.ru": {Messages: 1}, "b.cn": {Messages: 1}},
			Services: map[string]int{"a.ru": 1, "b.cn": 1}}, TagDisposable, ActionForward, "me@new.example", "never sent from"},
		// A role name needs real correspondence to be business.
		{Stats{Alias: "sales@example.com", Received: 6, Replies: 3, Clients: 4, Senders: map[string]*Sender{"acme.example": {Messages: 4}, "b.example": {Messages: 2}}},
			TagBusiness, ActionForward, "work@new.example", "role name with real correspondence: 3 replies"},
		// postmaster@ and abuse@ are forwarded whatever they get.
		{Stats{Alias: "postmaster@example.com", Received: 3, Junk: 3, Senders: map[string]*Sender{"a.ru": {Messages: 1}, "b.cn": {Messages: 1}, "c.top": {Messages: 1}}},
			TagBusiness, ActionForward, "work@new.example", "RFC 5321"},
		{Stats{Alias: "abuse@example.com", Received: 1, Services: map[string]int{"google.com": 1}}, TagBusiness, ActionForward, "work@new.example", "always forwarded"},
		// Sent from: the user's own correspondence is never "only spam".
		{Stats{Alias: "k7xq@example.com", Received: 3, Sent: 1, Senders: map[string]*Sender{"a.ru": {Messages: 1}, "b.cn": {Messages: 1}, "c.top": {Messages: 1}}},
			TagDisposable, ActionForward, "me@new.example", "no personal or business signal"},
		// A leaked alias still mailed by its service is not "spam only".
		{Stats{Alias: "db@example.com", Received: 5, Senders: map[string]*Sender{"bahn.de": {Messages: 2}, "b.cn": {Messages: 1}, "c.top": {Messages: 1}, "d.ru": {Messages: 1}},
			Services: map[string]int{"bahn.de": 2, "b.cn": 1, "c.top": 1, "d.ru": 1}}, TagDisposable, ActionForward, "me@new.example", "2 of 5 messages from bahn.de"},
	}
	for _, tc := range cases {
		t.Run(tc.stats.Alias, func(t *testing.T) {
			v := cfg.Classify(&tc.stats)
			if v.Tag != tc.tag || v.Action != tc.act || v.ForwardTo != tc.fwd || !strings.Contains(strings.Join(v.Reasons, "; "), tc.want) {
				t.Errorf("got %+v, want %s %s %q with reason %q", v, tc.tag, tc.act, tc.fwd, tc.want)
			}
			checkReasons(t, &tc.stats, v)
		})
	}
	// Config rules and known aliases win over the heuristics.
	cfg.Rules = []Rule{{Pattern: "shop-*", Tag: TagBusiness}}
	cfg.Known = map[string]Tag{"adobe": TagPersonal}
	if v := cfg.Classify(&Stats{Alias: "shop-x@example.com", Bulk: 3, Received: 3}); v.Tag != TagBusiness || v.Confidence != 1 {
		t.Errorf("rule: %+v", v)
	}
	if v := cfg.Classify(&Stats{Alias: "adobe@example.com", Received: 1, Services: map[string]int{"adobe.com": 1}}); v.Tag != TagPersonal {
		t.Errorf("known: %+v", v)
	}
}

// TestRun: the classify step writes the plan, and a second run keeps the
// user's edit and says so.
func TestRun(t *testing.T) {
	src := memSource(many(40, func(i int) *Message { return delivered(fmt.Sprintf("a%d@home.example", i%4), i) }))
	path := filepath.Join(t.TempDir(), "plan.csv")
	opts := &RunOptions{Source: src, Plan: path, Config: &Config{MainMailbox: "me@new.example"}}
	res, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Plan.Rows) != 4 || res.Merge.New != 4 || res.Inventory.Messages != 40 {
		t.Fatalf("first run: %d rows, %+v, %d messages", len(res.Plan.Rows), res.Merge, res.Inventory.Messages)
	}
	p, err := ReadPlan(path)
	if err != nil || len(p.Rows) != 4 {
		t.Fatalf("plan written: %v %v", p, err)
	}
	p.Rows[0]["tag"] = "business"
	if err := p.Write(path); err != nil {
		t.Fatal(err)
	}
	res, err = Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Merge.KeptEdits != 1 || res.Merge.New != 0 || res.Plan.Rows[0]["tag"] != "business" {
		t.Errorf("second run: %+v, row %v", res.Merge, res.Plan.Rows[0])
	}

	os.WriteFile(path, []byte("alias,tag\nx@home.example,friend\n"), 0o600)
	var ie *InputError
	if _, err := Run(context.Background(), opts); !errors.As(err, &ie) || !errors.Is(err, ErrPlan) {
		t.Errorf("a plan that cannot be read: %v, want an InputError", err)
	}
	var de *DomainError
	toCc := memSource(many(50, func(i int) *Message {
		return &Message{Folder: "INBOX", Header: []byte(fmt.Sprintf("From: a%d@sender.example\r\nTo: x%d@home.example\r\n\r\n", i, i))}
	}))
	if _, err := Run(context.Background(), &RunOptions{Source: toCc, Plan: filepath.Join(t.TempDir(), "p.csv")}); !errors.As(err, &de) {
		t.Errorf("no domains: %v, want a DomainError", err)
	}
}

func TestConfigValidate(t *testing.T) {
	good := &Config{Known: map[string]Tag{"shop": TagBusiness}, Rules: []Rule{{Pattern: "*-news", Tag: TagDisposable, Action: ActionBlock}}}
	if err := good.Validate(); err != nil {
		t.Errorf("good config: %v", err)
	}
	bad := &Config{Known: map[string]Tag{"shop": "friend"}, Rules: []Rule{{Tag: TagPersonal}, {Pattern: "x", Tag: TagPersonal, Action: "drop"}, {Pattern: "y", Tag: TagPersonal}}}
	err := bad.Validate()
	for _, want := range []string{`[known] "shop": tag "friend"`, "[[rule]] 1:", "[[rule]] 2:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad config: %v, want %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "[[rule]] 3") {
		t.Errorf("a good rule reported: %v", err)
	}
}

func TestLowestConfidence(t *testing.T) {
	p := &Plan{Rows: []Row{
		{"alias": "a@x.example", "confidence": "0.70"},
		{"alias": "b@x.example", "confidence": "0.40"},
		{"alias": "c@x.example", "confidence": "0.90"},
		{"alias": "d@x.example", "confidence": "0.10", "source": SourceManual},
		{"alias": "e@x.example", "confidence": "0.50", "domain_status": DomainStatusForeign},
		{"alias": "f@x.example", "confidence": "0.60"},
	}}
	var got []string
	for _, r := range p.LowestConfidence(2) {
		got = append(got, r.Alias())
	}
	if strings.Join(got, " ") != "b@x.example f@x.example" {
		t.Errorf("lowest: %v", got)
	}
}
