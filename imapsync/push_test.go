package imapsync

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/catchall/catchall/archive"
	"github.com/catchall/catchall/archive/archivetest"
	"github.com/catchall/catchall/classify"
	"github.com/catchall/catchall/serverurl"
)

// destServer is an in-memory destination that records every APPEND.
type destServer struct {
	Addr string
	User *imapmemserver.User
	opts destOptions

	mu       sync.Mutex
	appended map[string]int // SHA-256 of the bytes received → APPENDs accepted
	appends  int
	drops    int               // connections closed by dropAfter
	names    map[string]string // lower case → folder name (for caseInsensitive)
}

type destOptions struct {
	noUIDPlus   bool                  // no UIDPLUS: no APPENDUID
	appendLimit uint32                // announce APPENDLIMIT (and refuse bigger literals)
	refuse      func(raw []byte) bool // answer NO [TOOBIG] to these
	// Fault injection.
	noListStatus   bool              // no LIST-STATUS: UIDVALIDITY comes from STATUS
	statusNo       bool              // answer NO to STATUS,
	statusCode     imap.ResponseCode // with this response code ("": none)
	searchHeaderNo bool              // answer NO [BADCHARSET] to SEARCH HEADER
	dropAfter      func(int) bool    // close the connection after storing the nth APPEND (from 1), before its OK
	dropOnExamine  bool              // close the connection on EXAMINE once an APPEND drop happened (searches fail)
	// caseInsensitive makes folder names ignore case, as on servers whose
	// mail store lives on a case-insensitive file system.
	caseInsensitive bool
	// courierAppend refuses APPEND while a folder is selected with EXAMINE,
	// as Courier-IMAP does ("NO Current box is selected READ-ONLY.").
	courierAppend bool
	// refuseCreate answers NO to CREATE of these names (Courier: an emoji).
	refuseCreate func(name string) bool
	// cyrusBytes refuses messages with NUL bytes or bare newlines, in
	// Cyrus's words (no response code).
	cyrusBytes bool
}

type destSession struct {
	imapserver.Session
	d        *destServer
	conn     *imapserver.Conn
	readOnly bool // a folder is selected with EXAMINE
}

// canon returns the name of the existing folder that name means on a
// case-insensitive server, or name.
func (s *destSession) canon(name string) string {
	if !s.d.opts.caseInsensitive {
		return name
	}
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	if real, ok := s.d.names[strings.ToLower(name)]; ok {
		return real
	}
	return name
}

func (s *destSession) Create(name string, o *imap.CreateOptions) error {
	if s.d.opts.refuseCreate != nil && s.d.opts.refuseCreate(name) {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Invalid mailbox name."}
	}
	if c := s.canon(name); c != name || s.d.opts.caseInsensitive && s.hasFolder(name) {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAlreadyExists, Text: "Mailbox already exists"}
	}
	if err := s.Session.Create(name, o); err != nil {
		return err
	}
	s.d.mu.Lock()
	s.d.names[strings.ToLower(name)] = name
	s.d.mu.Unlock()
	return nil
}

func (s *destSession) hasFolder(name string) bool {
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	_, ok := s.d.names[strings.ToLower(name)]
	return ok
}

func (s *destSession) Select(name string, o *imap.SelectOptions) (*imap.SelectData, error) {
	s.d.mu.Lock()
	dropped := s.d.drops > 0
	s.d.mu.Unlock()
	if o != nil && o.ReadOnly && s.d.opts.dropOnExamine && dropped {
		s.conn.NetConn().Close()
		return nil, io.EOF
	}
	data, err := s.Session.Select(s.canon(name), o)
	s.readOnly = err == nil && o != nil && o.ReadOnly
	return data, err
}

func (s *destSession) Unselect() error {
	s.readOnly = false
	return s.Session.Unselect()
}

func (s *destSession) Status(name string, o *imap.StatusOptions) (*imap.StatusData, error) {
	if s.d.opts.statusNo {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: s.d.opts.statusCode, Text: "Internal error occurred. Refer to server log for more information."}
	}
	return s.Session.Status(s.canon(name), o)
}

func (s *destSession) Search(kind imapserver.NumKind, crit *imap.SearchCriteria, o *imap.SearchOptions) (*imap.SearchData, error) {
	if s.d.opts.searchHeaderNo && len(crit.Header) > 0 {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeBadCharset, Text: "Unsupported charset"}
	}
	return s.Session.Search(kind, crit, o)
}

func (s *destSession) Namespace() (*imap.NamespaceData, error) {
	return s.Session.(imapserver.SessionNamespace).Namespace()
}

func (s *destSession) Append(mbox string, r imap.LiteralReader, o *imap.AppendOptions) (*imap.AppendData, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if s.d.opts.courierAppend && s.readOnly {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Current box is selected READ-ONLY."}
	}
	if s.d.opts.cyrusBytes {
		if bytes.IndexByte(raw, 0) >= 0 {
			return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Message contains NUL characters"}
		}
		if bytes.Count(raw, []byte("\n")) != bytes.Count(raw, []byte("\r\n")) {
			return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Message contains bare newlines"}
		}
	}
	if s.d.opts.refuse != nil && s.d.opts.refuse(raw) {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTooBig, Text: "Message too large"}
	}
	data, err := s.Session.Append(s.canon(mbox), literal{bytes.NewReader(raw), int64(len(raw))}, o)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(raw)
	s.d.mu.Lock()
	s.d.appended[hex.EncodeToString(sum[:])]++
	s.d.appends++
	n := s.d.appends
	s.d.mu.Unlock()
	if s.d.opts.dropAfter != nil && s.d.opts.dropAfter(n) {
		// Stored, but the client never hears so.
		s.d.mu.Lock()
		s.d.drops++
		s.d.mu.Unlock()
		s.conn.NetConn().Close()
		return nil, io.EOF
	}
	if s.d.opts.noUIDPlus {
		return nil, nil
	}
	return data, nil
}

type limitSession struct{ *destSession }

func (s limitSession) AppendLimit() uint32 { return s.d.opts.appendLimit }

type literal struct {
	*bytes.Reader
	size int64
}

func (l literal) Size() int64 { return l.size }

func startDest(t *testing.T, o destOptions) *destServer {
	t.Helper()
	d := &destServer{opts: o, appended: map[string]int{}, names: map[string]string{"inbox": "INBOX"}}
	mem := imapmemserver.New()
	d.User = imapmemserver.NewUser("bob", "secret")
	if err := d.User.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(d.User)
	caps := imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapNamespace: {}}
	if !o.noListStatus {
		caps[imap.CapListStatus] = struct{}{}
	}
	if !o.noUIDPlus {
		caps[imap.CapUIDPlus] = struct{}{}
	}
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(conn *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			s := &destSession{Session: mem.NewSession(), d: d, conn: conn}
			if o.appendLimit > 0 {
				return limitSession{s}, nil, nil
			}
			return s, nil, nil
		},
		Caps:         caps,
		InsecureAuth: true,
		Logger:       log.New(io.Discard, "", 0),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d.Addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return d
}

func (d *destServer) server(t *testing.T) *Server {
	u, err := serverurl.Parse("imap+plain://bob@"+d.Addr, "imap")
	if err != nil {
		t.Fatal(err)
	}
	return &Server{URL: u, Password: "secret", IdleTimeout: testIdle}
}

func (d *destServer) appendCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.appends
}

// destMessage is a message read back from the destination.
type destMessage struct {
	uid   imap.UID
	flags []string
	date  time.Time
	body  []byte
}

// dialDest logs in to the destination as bob; the caller closes it.
func dialDest(t *testing.T, d *destServer) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(d.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login("bob", "secret").Wait(); err != nil {
		c.Close()
		t.Fatal(err)
	}
	return c
}

// readDest lists every folder of the destination and its messages.
func readDest(t *testing.T, d *destServer) map[string][]destMessage {
	t.Helper()
	c := dialDest(t, d)
	defer c.Close()
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]destMessage{}
	for _, l := range list {
		sel, err := c.Select(l.Mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		out[l.Mailbox] = nil
		if sel.NumMessages == 0 {
			continue
		}
		var seq imap.SeqSet
		seq.AddRange(1, sel.NumMessages)
		msgs, err := c.Fetch(seq, &imap.FetchOptions{
			UID: true, Flags: true, InternalDate: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}},
		}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			dm := destMessage{uid: m.UID, date: m.InternalDate, flags: flagStrings(m.Flags)}
			for _, b := range m.BodySection {
				dm.body = b.Bytes
			}
			out[l.Mailbox] = append(out[l.Mailbox], dm)
		}
	}
	return out
}

func pushMessages() []testMessage {
	d := time.Date(2018, 7, 8, 9, 10, 11, 0, time.FixedZone("", -5*3600))
	return []testMessage{
		{"INBOX", []byte("From: a@example.com\r\nTo: adobe@catchall.test\r\nMessage-ID: <p1@x>\r\nSubject: one\r\n\r\nhello\r\n"), []string{`\Seen`}, d},
		{"INBOX", []byte("From: b@example.com\r\nTo: linkedin@catchall.test\r\nMessage-ID: <p2@x>\r\nSubject: two\r\n\r\nhello again\r\n"), []string{`\Flagged`, "$label1", "Work"}, d.Add(time.Hour)},
		{"INBOX", []byte("From: c@example.com\r\nSubject: no message-id\r\n\r\nbody\r\n"), nil, d.Add(2 * time.Hour)},
		{"INBOX", []byte("Message-ID: <twin@x>\r\nSubject: twin\r\n\r\nsame\r\n"), nil, d},
		{"INBOX", []byte("Message-ID: <twin@x>\r\nSubject: twin\r\n\r\nsame\r\n"), nil, d},
		{"Sent", []byte("From: adobe@catchall.test\r\nTo: b@example.com\r\nMessage-ID: <s1@x>\r\n\r\nsent\r\n"), []string{`\Seen`, `\Answered`}, d},
		{"Archive/2019", []byte("Message-ID: <a1@x>\r\nTo: adobe@catchall.test\r\nSubject: nested\r\n\r\nx\r\n"), []string{`\Seen`, `\Deleted`}, d},
		{"Réception/Factures", []byte("Message-ID: <r1@x>\r\nSubject: non-ascii folder\r\n\r\nx\r\n"), nil, d},
		{"日本語 フォルダ", []byte("Message-ID: <j1@x>\r\nSubject: cjk\r\n\r\nx\r\n"), []string{`\Draft`}, d},
		{"Q&A", []byte("Message-ID: <q1@x>\r\nSubject: ampersand\r\n\r\nx\r\n"), nil, d},
	}
}

// pushFixture fetches msgs from a source server into a fresh archive.
func pushFixture(t *testing.T, msgs []testMessage) *fixture {
	t.Helper()
	fx := newFixture(t, msgs)
	fx.fetch(nil)
	return fx
}

func doPush(t *testing.T, d *destServer, arc *archive.Archive, opts *PushOptions) *PushReport {
	t.Helper()
	if opts == nil {
		opts = &PushOptions{}
	}
	opts.Backoff = 10 * time.Millisecond
	if opts.Settle == 0 {
		opts.Settle = 20 * time.Millisecond
	}
	rep, err := Push(context.Background(), d.server(t), arc, opts)
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	return rep
}

func archivedCount(t *testing.T, arc *archive.Archive) int {
	t.Helper()
	sum, err := arc.Summary(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return int(sum.Messages)
}

// checkDest checks that every archived message is in its folder on the
// destination exactly once, with its bytes, flags and INTERNALDATE.
func checkDest(t *testing.T, d *destServer, arc *archive.Archive, folderOf func(*archive.Entry) string) {
	t.Helper()
	got := readDest(t, d)
	folders, _ := arc.Folders()
	want := map[string][]*archive.Entry{}
	for _, f := range folders {
		arc.Entries(f.Name, 0, func(e *archive.Entry) error {
			want[folderOf(e)] = append(want[folderOf(e)], e)
			return nil
		})
	}
	total := 0
	for folder, es := range want {
		have := got[folder]
		total += len(have)
		if len(have) != len(es) {
			t.Errorf("%s: %d messages on the destination, want %d", folder, len(have), len(es))
		}
		used := map[imap.UID]bool{}
		for _, e := range es {
			raw, err := os.ReadFile(filepath.Join(arc.Dir(), e.Path))
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(have, func(m destMessage) bool { return !used[m.uid] && bytes.Equal(m.body, served(raw)) })
			if i < 0 {
				t.Errorf("%s: archived %s uid %d not on the destination", folder, e.Folder, e.UID)
				continue
			}
			m := have[i]
			used[m.uid] = true
			if !slices.Equal(archive.NormalizeFlags(m.flags), archive.NormalizeFlags(e.Flags)) {
				t.Errorf("%s uid %d: flags %q, want %q", folder, m.uid, m.flags, e.Flags)
			}
			if !m.date.Equal(e.InternalDate) {
				t.Errorf("%s uid %d: internal date %v, want %v", folder, m.uid, m.date, e.InternalDate)
			}
		}
	}
	// Exactly the bytes were appended, each once per archived copy.
	d.mu.Lock()
	defer d.mu.Unlock()
	sums := map[string]int{}
	for _, es := range want {
		for _, e := range es {
			sums[e.SHA256]++
		}
	}
	for sum, n := range sums {
		if d.appended[sum] != n {
			t.Errorf("message %s appended %d times, want %d", sum[:12], d.appended[sum], n)
		}
	}
}

func sameFolder(e *archive.Entry) string { return e.Folder }

func TestPushRoundTrip(t *testing.T) {
	fx := pushFixture(t, pushMessages())
	d := startDest(t, destOptions{})
	rep := doPush(t, d, fx.arc, nil)
	if len(rep.Failures) > 0 {
		t.Fatalf("failures: %v", rep.Failures)
	}
	n := archivedCount(t, fx.arc)
	if rep.Messages != n || rep.Already != 0 {
		t.Fatalf("pushed %d (already %d), want %d", rep.Messages, rep.Already, n)
	}
	checkDest(t, d, fx.arc, sameFolder)

	// Second run: nothing appended, one connection.
	before := d.appendCount()
	rep = doPush(t, d, fx.arc, &PushOptions{Connections: 4})
	if rep.Messages != 0 || rep.Already != n || d.appendCount() != before || rep.Connections != 1 {
		t.Fatalf("second run: pushed %d, already %d, %d new APPENDs, %d connections", rep.Messages, rep.Already, d.appendCount()-before, rep.Connections)
	}

	vr, err := VerifyDest(context.Background(), d.server(t), fx.arc, &DestVerifyOptions{Hashes: true})
	if err != nil {
		t.Fatal(err)
	}
	if !vr.OK() || vr.Total.Verified != n {
		t.Fatalf("verify --to: %+v %v", vr.Total, vr.Problems)
	}
}

// setJournal rewrites every journal row of the destination with fn.
func setJournal(t *testing.T, arc *archive.Archive, d *destServer, fn func(*archive.JournalEntry)) {
	t.Helper()
	key := DestKey(d.server(t))
	j, err := arc.Journal(key)
	if err != nil {
		t.Fatal(err)
	}
	var rows []archive.JournalEntry
	for _, e := range j {
		fn(e)
		rows = append(rows, *e)
	}
	if err := arc.JournalPut(context.Background(), key, rows); err != nil {
		t.Fatal(err)
	}
}

// loseJournal forgets every journal row of the destination.
func loseJournal(t *testing.T, arc *archive.Archive, d *destServer) {
	t.Helper()
	key := DestKey(d.server(t))
	j, err := arc.Journal(key)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for id := range j {
		ids = append(ids, id)
	}
	if err := arc.JournalForget(context.Background(), key, ids); err != nil {
		t.Fatal(err)
	}
}

func TestPushCrashRecovery(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  destOptions
		crash func(*archive.JournalEntry)
	}{
		// kill -9 after the APPENDs were sent, before their answers were recorded.
		{"in flight, UIDPLUS", destOptions{}, func(e *archive.JournalEntry) { e.State, e.UID = archive.JournalInFlight, 0 }},
		{"in flight, no UIDPLUS", destOptions{noUIDPlus: true}, func(e *archive.JournalEntry) { e.State, e.UID = archive.JournalInFlight, 0 }},
		// The destination renumbered its folders.
		{"UIDVALIDITY changed", destOptions{}, func(e *archive.JournalEntry) { e.UIDValidity += 1000 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := pushFixture(t, pushMessages())
			d := startDest(t, tc.opts)
			rep := doPush(t, d, fx.arc, nil)
			if len(rep.Failures) > 0 {
				t.Fatalf("failures: %v", rep.Failures)
			}
			setJournal(t, fx.arc, d, tc.crash)
			before := d.appendCount()
			rep = doPush(t, d, fx.arc, nil)
			if len(rep.Failures) > 0 {
				t.Fatalf("failures: %v", rep.Failures)
			}
			if d.appendCount() != before || rep.Messages != 0 || rep.Already != archivedCount(t, fx.arc) {
				t.Errorf("after the crash: %d appended again, report %d pushed %d already", d.appendCount()-before, rep.Messages, rep.Already)
			}
			checkDest(t, d, fx.arc, sameFolder)
			// The journal is whole again: a third run needs no search.
			j, _ := fx.arc.Journal(DestKey(d.server(t)))
			for _, e := range j {
				if e.State != archive.JournalDone {
					t.Errorf("journal row %d still %s", e.Message, e.State)
				}
			}
		})
	}
}

// TestPushCrashBeforeAppend: rows in flight for messages that never reached
// the server (killed between the journal commit and the APPEND) are appended.
func TestPushCrashBeforeAppend(t *testing.T) {
	fx := pushFixture(t, pushMessages())
	d := startDest(t, destOptions{})
	key := DestKey(d.server(t))
	if err := fx.arc.InitJournal(); err != nil {
		t.Fatal(err)
	}
	var rows []archive.JournalEntry
	fx.arc.Entries("INBOX", 0, func(e *archive.Entry) error {
		rows = append(rows, archive.JournalEntry{Message: e.ID, SHA256: e.SHA256, Folder: "INBOX", UIDValidity: 1, State: archive.JournalInFlight})
		return nil
	})
	if err := fx.arc.JournalPut(context.Background(), key, rows); err != nil {
		t.Fatal(err)
	}
	rep := doPush(t, d, fx.arc, nil)
	if len(rep.Failures) > 0 || rep.Messages != archivedCount(t, fx.arc) {
		t.Fatalf("pushed %d, failures %v", rep.Messages, rep.Failures)
	}
	checkDest(t, d, fx.arc, sameFolder)
}

func TestPushRefusals(t *testing.T) {
	big := append([]byte("Message-ID: <big@x>\r\nSubject: big\r\n\r\n"), bytes.Repeat([]byte("0123456789\r\n"), 2000)...)
	msgs := append(pushMessages(), testMessage{"INBOX", big, nil, time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)})
	for _, tc := range []struct {
		name string
		opts destOptions
		want string
	}{
		{"TOOBIG", destOptions{refuse: func(raw []byte) bool { return len(raw) > 10000 }}, "[TOOBIG]"},
		{"APPENDLIMIT", destOptions{appendLimit: 10000}, "APPENDLIMIT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := pushFixture(t, msgs)
			d := startDest(t, tc.opts)
			rep := doPush(t, d, fx.arc, &PushOptions{Connections: 2})
			if len(rep.Failures) != 1 || !strings.Contains(rep.Failures[0].Err.Error(), tc.want) {
				t.Fatalf("failures %v, want one mentioning %s", rep.Failures, tc.want)
			}
			n := archivedCount(t, fx.arc)
			if rep.Messages != n-1 {
				t.Errorf("pushed %d, want %d", rep.Messages, n-1)
			}
			got := readDest(t, d)
			total := 0
			for _, ms := range got {
				total += len(ms)
			}
			if total != n-1 {
				t.Errorf("destination holds %d messages, want %d", total, n-1)
			}
			// Again: the refused one is tried again (and refused), nothing else.
			before := d.appendCount()
			rep = doPush(t, d, fx.arc, nil)
			if len(rep.Failures) != 1 || d.appendCount() != before {
				t.Errorf("second run: failures %v, %d appended", rep.Failures, d.appendCount()-before)
			}
		})
	}
}

func TestPushDryRunChangesNothing(t *testing.T) {
	fx := pushFixture(t, pushMessages())
	d := startDest(t, destOptions{})
	rep := doPush(t, d, fx.arc, &PushOptions{DryRun: true})
	n := archivedCount(t, fx.arc)
	var msgs, created int
	for _, f := range rep.Folders {
		msgs += f.Messages
		if f.Create {
			created++
		}
	}
	if msgs != n || created != 5 {
		t.Errorf("dry run: %d messages, %d folders to create; want %d, 5", msgs, created, n)
	}
	names := map[string]bool{}
	for _, f := range rep.Folders {
		names[f.Name] = true
	}
	for _, want := range []string{"Réception/Factures", "日本語 フォルダ"} {
		if !names[want] {
			t.Errorf("dry-run report lacks folder %q: %v", want, names)
		}
	}
	if got := readDest(t, d); len(got) != 1 || len(got["INBOX"]) != 0 {
		t.Errorf("destination changed: %v", got)
	}
	if archivetest.HasJournal(t, fx.arc) {
		t.Error("dry run created the push journal")
	}
}

// TestPushRoute: with a Route (catchall push --split-by), messages go where
// it says, the others keep their folder, and verify finds them there.
func TestPushRoute(t *testing.T) {
	fx := pushFixture(t, pushMessages())
	route := func(head []byte) string {
		for _, f := range classify.ParseHeader(head) {
			if f.Is("To") && strings.HasSuffix(f.Value, "@catchall.test") {
				return "Aliases/" + strings.TrimSuffix(f.Value, "@catchall.test")
			}
		}
		return ""
	}
	want := map[string]string{"p1@x": "Aliases/adobe", "p2@x": "Aliases/linkedin", "a1@x": "Aliases/adobe"}
	d := startDest(t, destOptions{})
	rep := doPush(t, d, fx.arc, &PushOptions{Route: route})
	if len(rep.Failures) > 0 {
		t.Fatal(rep.Failures)
	}
	folderOf := func(e *archive.Entry) string {
		if f, ok := want[e.MessageID]; ok {
			return f
		}
		return e.Folder
	}
	checkDest(t, d, fx.arc, folderOf)
	// verify --to finds them through the journal, and through the route.
	for _, r := range []func([]byte) string{nil, route} {
		if r != nil {
			// A journal lost: the route alone says where they went.
			loseJournal(t, fx.arc, d)
		}
		vr, err := VerifyDest(context.Background(), d.server(t), fx.arc, &DestVerifyOptions{Route: r})
		if err != nil || !vr.OK() {
			t.Fatalf("verify --to: %v %+v %v", err, vr.Total, vr.Problems)
		}
	}
}

func TestVerifyDestFindsMissing(t *testing.T) {
	fx := pushFixture(t, pushMessages())
	d := startDest(t, destOptions{})
	doPush(t, d, fx.arc, nil)
	// Somebody deletes a message on the destination.
	c := dialDest(t, d)
	defer c.Close()
	c.Select("Sent", nil).Wait()
	c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
	if err := c.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	vr, err := VerifyDest(context.Background(), d.server(t), fx.arc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if vr.OK() || vr.Total.Missing != 1 || len(vr.Problems) != 1 || vr.Problems[0].Folder != "Sent" {
		t.Fatalf("verify: %+v %v", vr.Total, vr.Problems)
	}
	if len(vr.Folders) == 0 {
		t.Fatal("verify: no folders in the report")
	}
	for _, f := range vr.Folders {
		if f.Name == "Sent" && (f.Verified != 0 || f.OnServer != 1 || f.Missing != 1) {
			t.Errorf("Sent: %+v, want 0/1 verified, 1 missing", f)
		}
	}
	// push does not know (its journal says done): verify is what tells.
	// After the journal is told otherwise, push searches and puts it back.
	setJournal(t, fx.arc, d, func(e *archive.JournalEntry) { e.State = archive.JournalInFlight })
	rep := doPush(t, d, fx.arc, nil)
	if rep.Messages != 1 || len(rep.Failures) > 0 {
		t.Fatalf("push after the loss: %d appended, failures %v", rep.Messages, rep.Failures)
	}
	if vr, err := VerifyDest(context.Background(), d.server(t), fx.arc, &DestVerifyOptions{Hashes: true}); err != nil || !vr.OK() {
		t.Fatalf("verify after repair: %v %+v", err, vr)
	}
}

func TestFolderMapper(t *testing.T) {
	courier := &folderMapper{prefix: "INBOX.", delim: "."}
	plain := &folderMapper{delim: "/"}
	roles := &folderMapper{delim: "/", roles: map[imap.MailboxAttr]string{imap.MailboxAttrSent: "Sent Messages", imap.MailboxAttrTrash: "Deleted"}}
	roles.addRole("Sent", `\HasChildren \Sent`)
	roles.addRole("Trash", `\Trash`)
	roles.addRole("Junk", `\Junk`) // the destination has no \Junk folder
	cases := []struct {
		m          *folderMapper
		name, want string
		renamed    bool
	}{
		{courier, "INBOX", "INBOX", false},
		{courier, "Archive/2019", "INBOX.Archive.2019", false},
		{courier, "Réception/Factures", "INBOX.Réception.Factures", false},
		{courier, "john.doe", "INBOX.john_doe", true},
		{courier, "a%2Fb", "INBOX.a/b", false},
		{plain, "a%2Fb", "a_b", true},
		{plain, "Archive/2019", "Archive/2019", false},
		{plain, "john.doe", "john.doe", false},
		{plain, "50% off", "50_ off", true},
		{roles, "Sent", "Sent Messages", false},
		{roles, "Sent/2019", "Sent Messages/2019", false},
		{roles, "Trash", "Deleted", false},
		{roles, "Junk", "Junk", false},
	}
	for _, tc := range cases {
		got, note := tc.m.remote(tc.name)
		if got != tc.want || (note != "") != tc.renamed {
			t.Errorf("remote(%q) with prefix %q delim %q = %q, note %q; want %q (renamed %v)", tc.name, tc.m.prefix, tc.m.delim, got, note, tc.want, tc.renamed)
		}
	}
}

func TestAllowedFlags(t *testing.T) {
	all := []imap.Flag{imap.FlagSeen, imap.FlagFlagged, imap.FlagWildcard}
	only := []imap.Flag{imap.FlagSeen, "Work"}
	cases := []struct {
		perm          []imap.Flag
		keep, dropped string
	}{
		{all, `\Seen \Flagged $label1 Work`, ``},
		{only, `\Seen \Flagged Work`, `$label1`},
	}
	for _, tc := range cases {
		keep, dropped := allowedFlags([]string{`\Seen`, `\Flagged`, `\Recent`, "$label1", "Work"}, tc.perm, true)
		if got := strings.Join(flagStrings(keep), " "); got != tc.keep || strings.Join(dropped, " ") != tc.dropped {
			t.Errorf("perm %v: keep %q dropped %q; want %q, %q", tc.perm, got, dropped, tc.keep, tc.dropped)
		}
	}
}

// deleteDest deletes, in folder, the first message whose Message-ID is id.
func deleteDest(t *testing.T, d *destServer, folder, id string) {
	t.Helper()
	c := dialDest(t, d)
	defer c.Close()
	if _, err := c.Select(folder, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	data, err := c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: id}}}, nil).Wait()
	if err != nil || len(data.AllUIDs()) == 0 {
		t.Fatalf("search %s: %v %v", id, data, err)
	}
	uids := data.AllUIDs()
	if err := c.Store(imap.UIDSetNum(uids[0]), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
}

// TestPushTwinsNoUIDPlus: two archived messages with the same bytes, a
// server without UIDPLUS (done rows have no UID). One copy disappears and
// the journal says twin B is in flight: the copy left is twin A's, so B
// must be appended again, not taken for found.
func TestPushTwinsNoUIDPlus(t *testing.T) {
	fx := pushFixture(t, pushMessages())
	d := startDest(t, destOptions{noUIDPlus: true})
	if rep := doPush(t, d, fx.arc, nil); len(rep.Failures) > 0 {
		t.Fatal(rep.Failures)
	}
	deleteDest(t, d, "INBOX", "<twin@x>")
	var twinB int64
	fx.arc.Entries("INBOX", 0, func(e *archive.Entry) error {
		if e.MessageID == "twin@x" || e.MessageID == "<twin@x>" {
			twinB = max(twinB, e.ID)
		}
		return nil
	})
	if twinB == 0 {
		t.Fatal("no twin in the archive")
	}
	setJournal(t, fx.arc, d, func(e *archive.JournalEntry) {
		if e.Message == twinB {
			e.State = archive.JournalInFlight
		}
	})
	rep := doPush(t, d, fx.arc, nil)
	if len(rep.Failures) > 0 || rep.Messages != 1 {
		t.Errorf("re-push: %d appended, failures %v; want 1", rep.Messages, rep.Failures)
	}
	checkTwinsThere(t, d, fx.arc)
}

// TestPushReadRefusals: a NO to STATUS or to SEARCH HEADER says nothing
// about what is in a folder: a re-run after a crash must search (another
// way) rather than append again.
func TestPushReadRefusals(t *testing.T) {
	inFlight := func(e *archive.JournalEntry) { e.State, e.UID = archive.JournalInFlight, 0 }
	for _, tc := range []struct {
		name  string
		opts  destOptions
		crash func(*archive.JournalEntry)
	}{
		{"SEARCH HEADER refused", destOptions{searchHeaderNo: true}, inFlight},
		{"SEARCH HEADER refused, no UIDPLUS", destOptions{searchHeaderNo: true, noUIDPlus: true}, inFlight},
		{"STATUS refused, done rows", destOptions{noListStatus: true, statusNo: true}, func(*archive.JournalEntry) {}},
		{"STATUS refused, in flight", destOptions{noListStatus: true, statusNo: true}, inFlight},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := pushFixture(t, pushMessages())
			d := startDest(t, tc.opts)
			if rep := doPush(t, d, fx.arc, nil); len(rep.Failures) > 0 {
				t.Fatal(rep.Failures)
			}
			setJournal(t, fx.arc, d, tc.crash)
			before := d.appendCount()
			rep := doPush(t, d, fx.arc, nil)
			if len(rep.Failures) > 0 {
				t.Fatalf("failures: %v", rep.Failures)
			}
			if d.appendCount() != before || rep.Already != archivedCount(t, fx.arc) {
				t.Errorf("%d appended again; %d already there", d.appendCount()-before, rep.Already)
			}
			checkDest(t, d, fx.arc, sameFolder)
		})
	}
}

// TestPushCaseInsensitiveFolders: the destination has "archive", the
// archive "Archive", and the server's folder names ignore case. The
// messages go to "archive", journalled as such; a second run appends
// nothing.
func TestPushCaseInsensitiveFolders(t *testing.T) {
	d0 := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	msgs := []testMessage{
		{"INBOX", []byte("Message-ID: <i1@x>\r\nSubject: inbox\r\n\r\nx\r\n"), nil, d0},
		{"Archive", []byte("Message-ID: <c1@x>\r\nSubject: one\r\n\r\nx\r\n"), nil, d0},
		{"Archive", []byte("Message-ID: <c2@x>\r\nSubject: two\r\n\r\ny\r\n"), nil, d0},
	}
	fx := pushFixture(t, msgs)
	d := startDest(t, destOptions{caseInsensitive: true})
	if err := d.User.Create("archive", nil); err != nil {
		t.Fatal(err)
	}
	d.names["archive"] = "archive"
	rep := doPush(t, d, fx.arc, nil)
	if len(rep.Failures) > 0 || rep.Messages != 3 || rep.Created != 0 {
		t.Fatalf("push: %d appended, %d created, failures %v", rep.Messages, rep.Created, rep.Failures)
	}
	j, _ := fx.arc.Journal(DestKey(d.server(t)))
	for _, e := range j {
		if e.Folder == "Archive" {
			t.Errorf("journal row %d names %q, not the server's spelling", e.Message, e.Folder)
		}
	}
	before := d.appendCount()
	rep = doPush(t, d, fx.arc, nil)
	if d.appendCount() != before || rep.Already != 3 || len(rep.Failures) > 0 {
		t.Errorf("second run: %d appended, %d already, failures %v", d.appendCount()-before, rep.Already, rep.Failures)
	}
	if got := readDest(t, d); len(got["archive"]) != 2 {
		t.Errorf("archive holds %d messages, want 2", len(got["archive"]))
	}
}

// TestPushReconnectNoDuplicate: the server stores a message and the
// connection drops before its OK. The worker reconnects, finds the message
// and appends only what is missing.
func TestPushReconnectNoDuplicate(t *testing.T) {
	for _, noUIDPlus := range []bool{false, true} {
		for _, at := range []int{1, 3, 4, 5} { // 4 and 5 are INBOX's twins
			t.Run(fmt.Sprintf("UIDPLUS=%v/drop at %d", !noUIDPlus, at), func(t *testing.T) {
				fx := pushFixture(t, pushMessages())
				d := startDest(t, destOptions{noUIDPlus: noUIDPlus, dropAfter: func(n int) bool { return n == at }})
				rep := doPush(t, d, fx.arc, &PushOptions{Connections: 1})
				if len(rep.Failures) > 0 {
					t.Fatal(rep.Failures)
				}
				// The dropped one at least is found (the server may also
				// have stored what was pipelined after it).
				if n := archivedCount(t, fx.arc); rep.Messages+rep.Already != n || rep.Already < 1 || rep.Connections < 2 {
					t.Errorf("%d appended, %d found, %d connections; want %d in all, 1+ found, 2+ connections", rep.Messages, rep.Already, rep.Connections, n)
				}
				checkDest(t, d, fx.arc, sameFolder)
			})
		}
	}
}

// TestPushParallelDrops: a folder of many messages sent in several batches
// over parallel connections, some of which drop in the middle of a batch
// (run with -race: searches and sends share the folder's state).
func TestPushParallelDrops(t *testing.T) {
	d0 := time.Date(2022, 1, 2, 3, 4, 5, 0, time.UTC)
	var msgs []testMessage
	for i := 0; i < 150; i++ {
		body := fmt.Sprintf("Message-ID: <m%d@x>\r\nSubject: %d\r\n\r\nbody %d\r\n", i, i, i)
		if i%25 == 0 {
			body = "Message-ID: <same@x>\r\nSubject: twin\r\n\r\nsame\r\n" // identical twins
		}
		date := d0.Add(time.Duration(i) * time.Minute)
		if i%25 == 0 {
			date = d0
		}
		msgs = append(msgs, testMessage{"INBOX", []byte(body), nil, date})
	}
	for _, noUIDPlus := range []bool{false, true} {
		t.Run(fmt.Sprintf("UIDPLUS=%v", !noUIDPlus), func(t *testing.T) {
			fx := pushFixture(t, msgs)
			d := startDest(t, destOptions{noUIDPlus: noUIDPlus, dropAfter: func(n int) bool { return n == 30 || n == 77 || n == 78 || n == 121 }})
			rep := doPush(t, d, fx.arc, &PushOptions{Connections: 3, BatchMessages: 20})
			if len(rep.Failures) > 0 {
				t.Fatal(rep.Failures)
			}
			if rep.Messages+rep.Already != len(msgs) {
				t.Errorf("%d appended + %d found, want %d", rep.Messages, rep.Already, len(msgs))
			}
			checkDest(t, d, fx.arc, sameFolder)
		})
	}
}

// TestPushSearchFailuresEnd: when the destination cannot be searched after
// a broken batch, the worker gives up on the batch after Retries+1 tries
// (its messages listed as failed, still in flight in the journal) instead of
// trying forever.
func TestPushSearchFailuresEnd(t *testing.T) {
	fx := pushFixture(t, pushMessages())
	d := startDest(t, destOptions{dropOnExamine: true, dropAfter: func(n int) bool { return n == 2 }})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rep, err := Push(ctx, d.server(t), fx.arc, &PushOptions{Connections: 1, Retries: 2, Backoff: time.Millisecond, Settle: time.Millisecond})
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	if len(rep.Failures) == 0 {
		t.Fatal("no failures")
	}
	// The batch that was cut off cannot be searched for; the later ones
	// cannot even be sent (each attempt's EXAMINE is dropped too).
	searched := 0
	for _, f := range rep.Failures {
		switch msg := f.Err.Error(); {
		case strings.Contains(msg, "could not be searched"):
			searched++
		case strings.Contains(msg, "before it could be sent"):
		default:
			t.Errorf("failure %v", f)
		}
	}
	if searched == 0 {
		t.Error("no failure of the cut-off batch")
	}
	j, _ := fx.arc.Journal(DestKey(d.server(t)))
	inFlight := 0
	for _, e := range j {
		if e.State == archive.JournalInFlight {
			inFlight++
		}
	}
	if inFlight != searched {
		t.Errorf("%d rows in flight, %d messages of the cut-off batch failed", inFlight, searched)
	}
	if archivedCount(t, fx.arc) != rep.Messages+len(rep.Failures) {
		t.Errorf("%d appended, %d failed, of %d", rep.Messages, len(rep.Failures), archivedCount(t, fx.arc))
	}
}

// TestPushRefusedLiteralPipelined: the server answers NO to a synchronizing
// literal while an earlier APPEND of the pipeline is unanswered. go-imap
// completes that earlier APPEND with the same error: its outcome is unknown,
// not refused, and its journal row stays in flight.
func TestPushRefusedLiteralPipelined(t *testing.T) {
	d0 := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	big := append([]byte("Message-ID: <big@x>\r\n\r\n"), bytes.Repeat([]byte("0123456789\r\n"), 1000)...)
	fx := pushFixture(t, []testMessage{
		{"INBOX", []byte("Message-ID: <small@x>\r\n\r\nsmall\r\n"), nil, d0},
		{"INBOX", big, nil, d0},
	})
	if err := fx.arc.InitJournal(); err != nil {
		t.Fatal(err)
	}
	var entries []*archive.Entry
	fx.arc.Entries("INBOX", 0, func(e *archive.Entry) error { entries = append(entries, e); return nil })
	slices.SortFunc(entries, func(a, b *archive.Entry) int { return int(a.Size - b.Size) })

	cli, srvSide := net.Pipe()
	defer cli.Close()
	go func() {
		defer srvSide.Close()
		br := bufio.NewReader(srvSide)
		lit := regexp.MustCompile(`^(\S+) APPEND .*\{(\d+)\}\r\n$`)
		io.WriteString(srvSide, "* OK [CAPABILITY IMAP4rev1] ready\r\n")
		for i := 0; ; i++ {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			m := lit.FindStringSubmatch(line)
			if m == nil {
				return
			}
			if i == 1 {
				// Refuse the second literal, the first still unanswered.
				io.WriteString(srvSide, m[1]+" NO [TOOBIG] Message too large\r\n")
				io.Copy(io.Discard, br)
				return
			}
			n, _ := strconv.Atoi(m[2])
			io.WriteString(srvSide, "+ go ahead\r\n")
			if _, err := io.CopyN(io.Discard, br, int64(n)+2); err != nil {
				return
			}
		}
	}()
	wd := &watchdogConn{Conn: cli, idle: 5 * time.Second}
	c := &conn{Client: imapclient.New(wd, nil), raw: wd}
	c.setSelected("INBOX", 1) // the scripted server knows only APPEND
	if err := c.WaitGreeting(); err != nil {
		t.Fatal(err)
	}
	u, err := serverurl.Parse("imap+plain://test@127.0.0.1:1", "imap") // never dialled
	if err != nil {
		t.Fatal(err)
	}
	p := newPusher(context.Background(), &Server{URL: u}, fx.arc, &PushOptions{Retries: 5})
	defer p.conns.close()
	df := p.folder("INBOX")
	df.exists, df.uidValidity = true, 1
	small, bigMsg := &pushMsg{e: entries[0], dest: df}, &pushMsg{e: entries[1], dest: df}
	rest, retry, err := p.send(context.Background(), c, df, []*pushMsg{small, bigMsg})
	if err == nil {
		t.Error("send: no error, but the connection is gone")
	}
	if len(rest) != 1 || rest[0] != small || len(retry) != 0 {
		t.Errorf("rest %d, retry %d; want the small message's outcome unknown", len(rest), len(retry))
	}
	if len(p.report.Failures) != 1 || p.report.Failures[0].UID != bigMsg.e.UID || !strings.Contains(p.report.Failures[0].Err.Error(), "TOOBIG") {
		t.Errorf("failures %v; want the big message refused", p.report.Failures)
	}
	if small.attempts != 0 {
		t.Errorf("small message: %d attempts counted", small.attempts)
	}
	j, _ := fx.arc.Journal(p.dest)
	if r := j[small.e.ID]; r == nil || r.State != archive.JournalInFlight {
		t.Errorf("journal row of the small message: %+v, want in flight", r)
	}
}

// TestWatchdogSlowWrites: a write that keeps moving outlives the fixed
// write deadline go-imap sets for a literal; one that stops times out after
// the idle time.
func TestWatchdogSlowWrites(t *testing.T) {
	cli, srv := net.Pipe()
	defer cli.Close()
	defer srv.Close()
	// Margins for a busy machine: a 16 KiB chunk takes the reader about 40 ms,
	// 25 times less than idle, while the whole write takes at least 1.28 s
	// (128 reads, 10 ms apart), more than idle.
	const idle = time.Second
	wd := &watchdogConn{Conn: cli, idle: idle}
	go func() {
		buf := make([]byte, 4096)
		for {
			time.Sleep(10 * time.Millisecond)
			if _, err := srv.Read(buf); err != nil {
				return
			}
		}
	}()
	// What imapclient does before a literal (here a short one).
	wd.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	start := time.Now()
	if _, err := wd.Write(make([]byte, 512<<10)); err != nil { // 128 reads, ≥ 1.28 s
		t.Fatalf("slow but moving write failed after %v: %v", time.Since(start), err)
	}
	if time.Since(start) < idle {
		t.Fatalf("the write did not wait for the reader (%v): the test proves nothing", time.Since(start))
	}

	cli2, srv2 := net.Pipe()
	defer cli2.Close()
	defer srv2.Close()
	wd2 := &watchdogConn{Conn: cli2, idle: 100 * time.Millisecond}
	start = time.Now()
	_, err := wd2.Write(make([]byte, 1024))               // nobody reads
	if err == nil || time.Since(start) > 30*time.Second { // only a guard against a hang
		t.Fatalf("stalled write: err %v after %v", err, time.Since(start))
	}
}

// TestPushRecheck: a message deleted on the destination after it was
// pushed stays deleted on a normal re-run (the journal says it is there)
// and comes back with Recheck, which appends nothing else.
func TestPushRecheck(t *testing.T) {
	for _, noUIDPlus := range []bool{false, true} {
		t.Run(fmt.Sprintf("UIDPLUS=%v", !noUIDPlus), func(t *testing.T) {
			fx := pushFixture(t, pushMessages())
			d := startDest(t, destOptions{noUIDPlus: noUIDPlus})
			if rep := doPush(t, d, fx.arc, nil); len(rep.Failures) > 0 {
				t.Fatal(rep.Failures)
			}
			deleteDest(t, d, "INBOX", "<twin@x>") // one of two identical copies
			if rep := doPush(t, d, fx.arc, nil); rep.Messages != 0 {
				t.Errorf("plain re-run appended %d", rep.Messages)
			}
			rep := doPush(t, d, fx.arc, &PushOptions{Recheck: true})
			if len(rep.Failures) > 0 || rep.Messages != 1 {
				t.Errorf("recheck: %d appended, failures %v; want 1", rep.Messages, rep.Failures)
			}
			checkTwinsThere(t, d, fx.arc)
			if rep := doPush(t, d, fx.arc, &PushOptions{Recheck: true}); rep.Messages != 0 {
				t.Errorf("second recheck appended %d", rep.Messages)
			}
		})
	}
}

// checkTwinsThere checks, after a twin of pushMessages was deleted on the
// destination and pushed again, that verify --to --hashes passes and INBOX
// holds its 5 messages (both twins).
func checkTwinsThere(t *testing.T, d *destServer, arc *archive.Archive) {
	t.Helper()
	vr, err := VerifyDest(context.Background(), d.server(t), arc, &DestVerifyOptions{Hashes: true})
	if err != nil {
		t.Fatal(err)
	}
	if !vr.OK() {
		t.Errorf("verify --to --hashes: %+v %v", vr.Total, vr.Problems)
	}
	if got := readDest(t, d)["INBOX"]; len(got) != 5 {
		t.Errorf("INBOX holds %d messages, want 5", len(got))
	}
}

// TestPushArchiveRowsRenumbered: the journal names archive rows; when the
// archive holds the same messages under new rows (files re-adopted by
// Reconcile, messages fetched again), a re-run looks for them instead of
// appending them again.
func TestPushArchiveRowsRenumbered(t *testing.T) {
	fx := pushFixture(t, pushMessages())
	d := startDest(t, destOptions{})
	first := doPush(t, d, fx.arc, nil)
	if len(first.Failures) > 0 {
		t.Fatal(first.Failures)
	}
	archivetest.Renumber(t, fx.arc, 1000)
	rep := doPush(t, d, fx.arc, nil)
	if rep.Messages != 0 || rep.Already != first.Messages {
		t.Errorf("after renumbering: %d appended, %d found; want 0 and %d", rep.Messages, rep.Already, first.Messages)
	}
	checkDest(t, d, fx.arc, sameFolder)
}

// TestPushRecheckWithoutJournal: with Recheck, messages the journal does
// not know (it was lost, or the server was named differently) are looked
// for before being appended.
func TestPushRecheckWithoutJournal(t *testing.T) {
	fx := pushFixture(t, pushMessages())
	d := startDest(t, destOptions{})
	first := doPush(t, d, fx.arc, nil)
	if len(first.Failures) > 0 {
		t.Fatal(first.Failures)
	}
	loseJournal(t, fx.arc, d)
	rep := doPush(t, d, fx.arc, &PushOptions{Recheck: true})
	if rep.Messages != 0 || rep.Already != first.Messages {
		t.Errorf("recheck without journal: %d appended, %d found; want 0 and %d", rep.Messages, rep.Already, first.Messages)
	}
	checkDest(t, d, fx.arc, sameFolder)
}

// TestPushCourierReadOnlyAppend: a destination that refuses APPEND while a
// folder is selected with EXAMINE (Courier-IMAP) gets every message, over
// few connections, and the refusal is never taken for a lost connection.
func TestPushCourierReadOnlyAppend(t *testing.T) {
	fx := pushFixture(t, pushMessages())
	d := startDest(t, destOptions{courierAppend: true})
	var logBuf bytes.Buffer
	rep, err := Push(context.Background(), d.server(t), fx.arc, &PushOptions{Connections: 2, Backoff: time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	n := archivedCount(t, fx.arc)
	if len(rep.Failures) > 0 || rep.Messages != n {
		t.Fatalf("pushed %d of %d, failures %v\n%s", rep.Messages, n, rep.Failures, logBuf.String())
	}
	if rep.Connections > 3 {
		t.Errorf("%d connections for %d messages", rep.Connections, n)
	}
	if strings.Contains(logBuf.String(), "connection lost") {
		t.Errorf("a refusal was logged as a lost connection:\n%s", logBuf.String())
	}
	if !strings.Contains(logBuf.String(), "appending with no folder selected from now on") {
		t.Errorf("the fallback is not logged:\n%s", logBuf.String())
	}
	checkDest(t, d, fx.arc, sameFolder)
	// A second run appends nothing.
	before := d.appendCount()
	if rep := doPush(t, d, fx.arc, nil); rep.Messages != 0 || d.appendCount() != before {
		t.Errorf("second run: %d pushed, %d new APPENDs", rep.Messages, d.appendCount()-before)
	}
}

// TestPushFolderFallback: a folder name the destination will not create
// (Courier and an emoji) is created with the characters it cannot hold as
// "_"; its messages go there, the summary says so, a second run appends
// nothing and verify --to finds them.
func TestPushFolderFallback(t *testing.T) {
	d0 := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	fx := pushFixture(t, []testMessage{
		{"INBOX", []byte("Message-ID: <i1@x>\r\nSubject: in\r\n\r\nx\r\n"), nil, d0},
		{"📬 Post/Ärger", []byte("Message-ID: <e1@x>\r\nSubject: emoji\r\n\r\nx\r\n"), []string{`\Seen`}, d0},
		{"📬 Post/Ärger", []byte("Message-ID: <e2@x>\r\nSubject: emoji 2\r\n\r\nx\r\n"), nil, d0},
	})
	d := startDest(t, destOptions{refuseCreate: func(name string) bool { return strings.ContainsFunc(name, func(r rune) bool { return r > 0x7e }) }})
	rep := doPush(t, d, fx.arc, nil)
	if len(rep.Failures) > 0 || rep.Messages != 3 {
		t.Fatalf("pushed %d, failures %v", rep.Messages, rep.Failures)
	}
	got := readDest(t, d)
	if len(got["_ Post/_rger"]) != 2 {
		t.Errorf("destination folders %v; want the two messages in \"_ Post/_rger\"", got)
	}
	if !slices.ContainsFunc(rep.Notes, func(n string) bool { return strings.Contains(n, `its messages went to "_ Post/_rger"`) }) {
		t.Errorf("the notes do not say where they went: %q", rep.Notes)
	}
	if rep.Created != 1 {
		t.Errorf("%d folders created, want 1 (\"_ Post/_rger\")", rep.Created)
	}
	if rep := doPush(t, d, fx.arc, nil); rep.Messages != 0 || rep.Already != 3 || len(rep.Failures) > 0 {
		t.Errorf("second run: %d pushed, %d already, %v", rep.Messages, rep.Already, rep.Failures)
	}
	vr, err := VerifyDest(context.Background(), d.server(t), fx.arc, nil)
	if err != nil || !vr.OK() || vr.Total.Verified != 3 {
		t.Errorf("verify --to: %+v %v %v", vr.Total, vr.Problems, err)
	}
}

// TestPushRepair: a destination that refuses NUL bytes and bare newlines
// (Cyrus). Without --repair those messages are reported as refused for
// good, with the hint; with --repair a repaired copy is appended, the
// journal keeps both hashes, a second run appends nothing and verify --to
// (with hashes) accounts for them.
func TestPushRepair(t *testing.T) {
	d0 := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	nul := []byte("Message-ID: <nul@x>\r\nSubject: nul\r\n\r\na\x00b\r\n")
	lf := []byte("Message-ID: <lf@x>\nSubject: bare\n\nline\n")
	fx := pushFixture(t, []testMessage{
		{"INBOX", []byte("Message-ID: <ok@x>\r\nSubject: fine\r\n\r\nx\r\n"), nil, d0},
		{"INBOX", nul, []string{`\Seen`}, d0},
		{"INBOX", lf, nil, d0},
	})
	d := startDest(t, destOptions{cyrusBytes: true})
	rep := doPush(t, d, fx.arc, nil)
	if rep.Messages != 1 || len(rep.Failures) != 2 {
		t.Fatalf("without --repair: %d pushed, failures %v", rep.Messages, rep.Failures)
	}
	for _, f := range rep.Failures {
		if !f.Permanent || !f.Repairable {
			t.Errorf("%v: permanent %v, repairable %v; want both", f, f.Permanent, f.Repairable)
		}
	}
	rep = doPush(t, d, fx.arc, &PushOptions{Repair: true})
	if rep.Messages != 2 || len(rep.Failures) != 0 {
		t.Fatalf("with --repair: %d pushed, failures %v", rep.Messages, rep.Failures)
	}
	got := map[string]bool{}
	for _, m := range readDest(t, d)["INBOX"] {
		got[string(m.body)] = true
	}
	for _, want := range []string{"Message-ID: <nul@x>\r\nSubject: nul\r\n\r\na b\r\n", "Message-ID: <lf@x>\r\nSubject: bare\r\n\r\nline\r\n"} {
		if !got[want] {
			t.Errorf("repaired copy %q not on the destination: %v", want, got)
		}
	}
	j, _ := fx.arc.Journal(DestKey(d.server(t)))
	repaired := 0
	for _, e := range j {
		if e.SentSHA256 != "" {
			repaired++
			if e.SentSHA256 == e.SHA256 || e.SentSize == 0 {
				t.Errorf("journal row %+v", e)
			}
		}
	}
	if repaired != 2 {
		t.Errorf("%d journal rows with the repaired hash, want 2", repaired)
	}
	before := d.appendCount()
	if rep := doPush(t, d, fx.arc, &PushOptions{Repair: true}); rep.Messages != 0 || rep.Already != 3 || d.appendCount() != before {
		t.Errorf("third run: %d pushed, %d already", rep.Messages, rep.Already)
	}
	vr, err := VerifyDest(context.Background(), d.server(t), fx.arc, &DestVerifyOptions{Hashes: true})
	if err != nil || !vr.OK() || vr.Total.Verified != 3 {
		t.Errorf("verify --to: %+v %v %v", vr.Total, vr.Problems, err)
	}
}

func TestRepairMessage(t *testing.T) {
	for in, want := range map[string]string{
		"a\r\nb\r\n":  "a\r\nb\r\n",
		"a\nb\n":      "a\r\nb\r\n",
		"a\rb\r":      "a\r\nb\r\n",
		"a\r\r\nb":    "a\r\n\r\nb",
		"a\x00b\r\n":  "a b\r\n",
		"no line end": "no line end",
		"\n\r":        "\r\n\r\n",
	} {
		got, changed := repairMessage([]byte(in))
		if string(got) != want || changed != (in != want) {
			t.Errorf("repairMessage(%q) = %q, %v; want %q", in, got, changed, want)
		}
	}
}

// TestRefusalKinds: what is about the message is refused for good; a full
// account (however worded) may go through later.
func TestRefusalKinds(t *testing.T) {
	for _, tc := range []struct {
		e         imap.Error
		permanent bool
		repair    bool
	}{
		{imap.Error{Text: "Message contains NUL characters"}, true, true},
		{imap.Error{Text: "Message contains bare newlines"}, true, true},
		{imap.Error{Text: "Message contains invalid header"}, true, false},
		{imap.Error{Code: imap.ResponseCodeTooBig, Text: "Message too large"}, true, false},
		{imap.Error{Code: imap.ResponseCodeOverQuota, Text: "Quota exceeded (mailbox size)"}, false, false},
		{imap.Error{Text: "Mailbox size limit exceeded"}, false, false},
		{imap.Error{Text: "Current box is selected READ-ONLY."}, false, false},
	} {
		if p, r := permanentRefusal(&tc.e), repairableRefusal(&tc.e); p != tc.permanent || r != tc.repair {
			t.Errorf("%q [%s]: permanent %v repairable %v, want %v %v", tc.e.Text, tc.e.Code, p, r, tc.permanent, tc.repair)
		}
	}
}
