package imapsync

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/catchall/catchall/archive"
	"github.com/catchall/catchall/archive/archivetest"
	"github.com/catchall/catchall/internal/imaptest"
	"github.com/catchall/catchall/serverurl"
)

// testMessage is a message put on the test server.
type testMessage struct {
	folder string
	raw    []byte
	flags  []string
	date   time.Time
}

func oddMessages() []testMessage {
	d := time.Date(2019, 3, 4, 5, 6, 7, 0, time.FixedZone("", 3600))
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB body
	return []testMessage{
		{"INBOX", []byte("From: a@example.com\r\nTo: adobe@catchall.test\r\nMessage-ID: <1@x>\r\nSubject: hi\r\n\r\nhello\r\n"), []string{`\Seen`}, d},
		{"INBOX", []byte("From: a@example.com\nTo: bare@catchall.test\nSubject: bare LF\n\nline\n"), nil, d.Add(time.Hour)},
		{"INBOX", []byte("Subject: nul\r\n\r\nbefore\x00after\r\n"), []string{`\Flagged`, "$label1"}, d.Add(2 * time.Hour)},
		{"INBOX", []byte("Subject: =?utf-8?q?caf=C3=A9?= \xe9t\xe9\r\nFrom: J\xfcrgen <j@example.de>\r\n\r\n8bit\r\n"), nil, d},
		{"INBOX", []byte("no header at all, just text\r\n"), nil, d},
		{"INBOX", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR binary"), nil, d},
		{"INBOX", []byte("Message-ID: <dup@x>\r\n\r\none\r\n"), nil, d},
		{"INBOX", []byte("Message-ID: <dup@x>\r\n\r\ntwo\r\n"), nil, d},
		{"INBOX", append([]byte("Subject: big\r\n\r\n"), big...), []string{`\Seen`, `\Answered`}, d},
		{"Sent", []byte("From: adobe@catchall.test\r\nTo: b@example.com\r\n\r\nsent\r\n"), []string{`\Seen`}, d},
		{"Archive/2019", []byte("Subject: nested\r\n\r\nx\r\n"), []string{`\Seen`, `\Deleted`}, d},
		{"Réception/Factures", []byte("Subject: non-ascii folder\r\n\r\nx\r\n"), nil, d},
		{"日本語 フォルダ", []byte("Subject: cjk\r\n\r\nx\r\n"), []string{`\Draft`}, d},
		{"Q&A", []byte("Subject: ampersand\r\n\r\nx\r\n"), nil, d},
	}
}

// testIdle is the idle timeout of the test servers' clients: long, so that a
// busy machine (-race, both cores loaded) never makes a healthy connection
// look dead; tests of the timeout itself set their own.
const testIdle = 30 * time.Second

type fixture struct {
	t    *testing.T
	srv  *imaptest.Server
	dir  string
	arc  *archive.Archive
	msgs []testMessage
}

func newFixture(t *testing.T, msgs []testMessage) *fixture {
	t.Helper()
	srv, err := imaptest.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if err := srv.CreateMailbox("Empty"); err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if _, err := srv.Append(m.folder, m.raw, m.flags, m.date); err != nil {
			t.Fatalf("append to %s: %v", m.folder, err)
		}
	}
	fx := &fixture{t: t, srv: srv, dir: filepath.Join(t.TempDir(), "archive"), msgs: msgs}
	fx.reopen()
	return fx
}

func (fx *fixture) reopen() {
	if fx.arc != nil {
		fx.arc.Close()
	}
	arc, err := archive.Open(fx.dir)
	if err != nil {
		fx.t.Fatal(err)
	}
	fx.arc = arc
	fx.t.Cleanup(func() { arc.Close() })
}

func (fx *fixture) server(addr string) *Server {
	u, err := serverurl.Parse(fmt.Sprintf("imap+plain://%s@%s", fx.srv.Username, addr), "imap")
	if err != nil {
		fx.t.Fatal(err)
	}
	return &Server{URL: u, Password: fx.srv.Password, IdleTimeout: testIdle}
}

func (fx *fixture) fetch(opts *FetchOptions) *Report {
	fx.t.Helper()
	if opts == nil {
		opts = &FetchOptions{}
	}
	if opts.Backoff == 0 {
		opts.Backoff = 10 * time.Millisecond
	}
	rep, err := Fetch(context.Background(), fx.server(fx.srv.Addr), fx.arc, opts)
	if err != nil {
		fx.t.Fatalf("fetch: %v", err)
	}
	for _, f := range rep.Failures {
		fx.t.Errorf("failure: %s", f)
	}
	return rep
}

// served returns the bytes the memory server sends for BODY[] of raw: it
// re-serialises headers (bare LF becomes CRLF in the header) and returns
// nothing for data without a header. Byte-exact means exactly these bytes.
func served(raw []byte) []byte {
	return imapserver.ExtractBodySection(bytes.NewReader(raw), &imap.FetchItemBodySection{Peek: true})
}

// checkArchive checks that the archive holds every message of want exactly
// once, byte for byte, with its flags and date.
func (fx *fixture) checkArchive(want []testMessage) {
	fx.t.Helper()
	type key struct {
		folder, sha string
	}
	expect := map[key]int{}
	for _, m := range want {
		sum := sha256.Sum256(served(m.raw))
		expect[key{m.folder, hex.EncodeToString(sum[:])}]++
	}
	got := map[key]int{}
	folders, err := fx.arc.Folders()
	if err != nil {
		fx.t.Fatal(err)
	}
	files := 0
	for _, f := range folders {
		err := fx.arc.Entries(f.Name, 0, func(e *archive.Entry) error {
			b, err := os.ReadFile(filepath.Join(fx.dir, e.Path))
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			if hex.EncodeToString(sum[:]) != e.SHA256 || int64(len(b)) != e.Size {
				fx.t.Errorf("%s: file does not match its index row", e.Path)
			}
			got[key{f.Name, e.SHA256}]++
			return nil
		})
		if err != nil {
			fx.t.Fatal(err)
		}
		for _, sub := range []string{"cur", "new"} {
			ents, _ := os.ReadDir(filepath.Join(fx.dir, f.Dir, sub))
			files += len(ents)
		}
	}
	for k, n := range expect {
		if got[k] != n {
			fx.t.Errorf("folder %q message %s: archived %d times, want %d", k.folder, k.sha[:12], got[k], n)
		}
	}
	for k, n := range got {
		if expect[k] == 0 {
			fx.t.Errorf("folder %q: unexpected message %s archived %d times", k.folder, k.sha[:12], n)
		}
	}
	if files != len(want) {
		fx.t.Errorf("%d message files on disk, want %d", files, len(want))
	}
}

func TestFetchEverythingByteExact(t *testing.T) {
	fx := newFixture(t, oddMessages())
	rep := fx.fetch(nil)
	if rep.Messages != len(fx.msgs) {
		t.Errorf("fetched %d messages, want %d", rep.Messages, len(fx.msgs))
	}
	fx.checkArchive(fx.msgs)

	// Folder names and layout.
	folders, _ := fx.arc.Folders()
	var names []string
	for _, f := range folders {
		names = append(names, f.Name)
		for _, sub := range []string{"cur", "new", "tmp"} {
			if st, err := os.Stat(filepath.Join(fx.dir, f.Dir, sub)); err != nil || !st.IsDir() {
				t.Errorf("folder %q: missing %s/", f.Name, sub)
			}
		}
	}
	for _, want := range []string{"INBOX", "Sent", "Archive/2019", "Réception/Factures", "日本語 フォルダ", "Q&A", "Empty"} {
		if !slices.Contains(names, want) {
			t.Errorf("folder %q not archived; have %q", want, names)
		}
	}
	if _, err := os.Stat(filepath.Join(fx.dir, "Réception", "Factures", "cur")); err != nil {
		t.Errorf("nested non-ASCII folder not at its UTF-8 path: %v", err)
	}

	// Flags, keywords and dates.
	err := fx.arc.Entries("INBOX", 0, func(e *archive.Entry) error {
		if strings.Contains(e.Path, "before") {
			return nil
		}
		b, _ := os.ReadFile(filepath.Join(fx.dir, e.Path))
		switch {
		case bytes.Contains(b, []byte("before\x00after")):
			if !slices.Equal(e.Flags, []string{"$label1", `\Flagged`}) {
				t.Errorf("nul message flags %q", e.Flags)
			}
			if !strings.HasSuffix(e.Path, ":2,F") {
				t.Errorf("nul message file name %q lacks Maildir flag F", e.Path)
			}
			if want := time.Date(2019, 3, 4, 7, 6, 7, 0, time.FixedZone("", 3600)); !e.InternalDate.Equal(want) {
				t.Errorf("internal date %v, want %v", e.InternalDate, want)
			}
			st, _ := os.Stat(filepath.Join(fx.dir, e.Path))
			if !st.ModTime().Equal(e.InternalDate) {
				t.Errorf("file mtime %v, want internal date %v", st.ModTime(), e.InternalDate)
			}
		case bytes.Contains(b, []byte("Message-ID: <1@x>")):
			if e.MessageID != "1@x" {
				t.Errorf("Message-ID %q, want 1@x", e.MessageID)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Permissions: the archive is private.
	filepath.WalkDir(fx.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		st, _ := d.Info()
		if d.IsDir() && st.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v, want 0700", path, st.Mode().Perm())
		}
		if !d.IsDir() && st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", path, st.Mode().Perm())
		}
		return nil
	})
}

func TestFetchIncremental(t *testing.T) {
	fx := newFixture(t, oddMessages())
	fx.fetch(nil)

	// Nothing new: nothing fetched.
	rep := fx.fetch(nil)
	if rep.Messages != 0 {
		t.Errorf("second run fetched %d messages, want 0", rep.Messages)
	}

	// A new message and a flag change.
	newMsg := testMessage{"INBOX", []byte("Subject: new\r\n\r\nnew\r\n"), nil, time.Now()}
	if _, err := fx.srv.Append(newMsg.folder, newMsg.raw, nil, newMsg.date); err != nil {
		t.Fatal(err)
	}
	setFlags(t, fx, "Sent", 1, []string{`\Seen`, `\Flagged`, "Important"})
	rep = fx.fetch(nil)
	if rep.Messages != 1 {
		t.Errorf("third run fetched %d messages, want 1", rep.Messages)
	}
	fx.checkArchive(append(fx.msgs, newMsg))
	fx.arc.Entries("Sent", 0, func(e *archive.Entry) error {
		if !slices.Equal(e.Flags, []string{`\Flagged`, `\Seen`, "important"}) || !strings.HasSuffix(e.Path, ":2,FS") {
			t.Errorf("flags not updated: %q %s", e.Flags, e.Path)
		}
		return nil
	})
}

// setFlags replaces the flags of one message through a real client session.
func setFlags(t *testing.T, fx *fixture, folder string, uid imap.UID, flags []string) {
	t.Helper()
	c, err := fx.server(fx.srv.Addr).dial(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Select(folder, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	fl := make([]imap.Flag, len(flags))
	for i, f := range flags {
		fl[i] = imap.Flag(f)
	}
	if err := c.Store(imap.UIDSetNum(uid), &imap.StoreFlags{Op: imap.StoreFlagsSet, Flags: fl, Silent: true}, nil).Close(); err != nil {
		t.Fatal(err)
	}
}

// firstPath is the file of the first archived message of folder.
func firstPath(t *testing.T, arc *archive.Archive, folder string) string {
	t.Helper()
	var path string
	arc.Entries(folder, 0, func(e *archive.Entry) error {
		if path == "" {
			path = e.Path
		}
		return nil
	})
	if path == "" {
		t.Fatalf("no message archived in %s", folder)
	}
	return path
}

func TestFetchResumesAfterCrash(t *testing.T) {
	fx := newFixture(t, oddMessages())
	fx.fetch(nil)

	// Simulate kill -9 at three points: after the rename but before the index
	// commit (rows lost), a file lost, and a download cut short in tmp/.
	archivetest.DropRows(t, fx.arc, "INBOX", 3)
	os.Remove(filepath.Join(fx.dir, firstPath(t, fx.arc, "Sent")))
	os.WriteFile(filepath.Join(fx.dir, "INBOX", "tmp", "1.2_3.catchall"), []byte("partial"), 0o600)
	folders, _ := fx.arc.Folders()
	for _, f := range folders {
		fx.arc.SetFolderState(f.Name, f.UIDValidity, f.UIDNext, f.HighestModSeq, archive.StatePartial)
	}

	rep := fx.fetch(nil)
	if rep.Messages != 1 {
		t.Errorf("re-run fetched %d messages, want 1 (the lost file)", rep.Messages)
	}
	fx.checkArchive(fx.msgs)
	if ents, _ := os.ReadDir(filepath.Join(fx.dir, "INBOX", "tmp")); len(ents) != 0 {
		t.Errorf("tmp/ not cleaned: %d files", len(ents))
	}
}

func TestFetchUIDValidityChange(t *testing.T) {
	fx := newFixture(t, oddMessages())
	fx.fetch(nil)

	// The server renumbers Sent: delete and re-create it with the same
	// message plus a new one.
	var sent []testMessage
	for _, m := range fx.msgs {
		if m.folder == "Sent" {
			sent = append(sent, m)
		}
	}
	if err := fx.srv.User.Delete("Sent"); err != nil {
		t.Fatal(err)
	}
	extra := testMessage{"Sent", []byte("Subject: after renumbering\r\n\r\nx\r\n"), nil, time.Now()}
	for _, m := range append(sent, extra) {
		if _, err := fx.srv.Append(m.folder, m.raw, m.flags, m.date); err != nil {
			t.Fatal(err)
		}
	}
	rep := fx.fetch(nil)
	var sentRep *FolderReport
	for _, f := range rep.Folders {
		if f.Name == "Sent" {
			sentRep = f
		}
	}
	if sentRep == nil || !sentRep.Reset {
		t.Fatalf("UIDVALIDITY change not reported: %+v", sentRep)
	}
	// The identical message is stored once (taken over), the new one added.
	fx.checkArchive(append(slices.Clone(fx.msgs), extra))
	n := 0
	fx.arc.Entries("Sent", sentRep.UIDValidity, func(*archive.Entry) error { n++; return nil })
	if n != 2 {
		t.Errorf("%d messages in the new generation, want 2", n)
	}
}

func TestFetchSurvivesDroppedConnections(t *testing.T) {
	fx := newFixture(t, oddMessages())
	// The first five connections die after 200 kB: mid-way through the
	// 1 MiB message, or earlier.
	proxy, err := imaptest.StartProxy(fx.srv.Addr, 5, 200_000)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	rep, err := Fetch(context.Background(), fx.server(proxy.Addr), fx.arc, &FetchOptions{Connections: 2, Backoff: 10 * time.Millisecond, BatchMessages: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Failures) > 0 {
		t.Errorf("failures: %v", rep.Failures)
	}
	if proxy.Connections() < 6 {
		t.Errorf("only %d connections: the cuts did not happen", proxy.Connections())
	}
	fx.checkArchive(fx.msgs)
}

func TestFetchWrongPassword(t *testing.T) {
	fx := newFixture(t, nil)
	srv := fx.server(fx.srv.Addr)
	srv.Password = "wrong"
	_, err := Fetch(context.Background(), srv, fx.arc, nil)
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("err = %v, want ErrAuth", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("error reveals the password: %v", err)
	}
}

func TestFetchHungServer(t *testing.T) {
	for _, greet := range []bool{false, true} {
		t.Run(fmt.Sprintf("greet=%v", greet), func(t *testing.T) {
			silent, err := imaptest.StartSilent(greet)
			if err != nil {
				t.Fatal(err)
			}
			defer silent.Close()
			fx := newFixture(t, nil)
			srv := fx.server(silent.Addr)
			srv.IdleTimeout = 300 * time.Millisecond
			done := make(chan error, 1)
			go func() {
				_, err := Fetch(context.Background(), srv, fx.arc, &FetchOptions{Backoff: time.Millisecond})
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("fetch from a silent server succeeded")
				}
				if !errors.Is(err, ErrConnect) {
					t.Errorf("err = %v, want ErrConnect", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("fetch hangs on a silent server")
			}
		})
	}
}

func TestFetchFolderPatterns(t *testing.T) {
	fx := newFixture(t, oddMessages())
	rep := fx.fetch(&FetchOptions{Include: []string{"INBOX", "Archive/*", "Ré*"}, Exclude: []string{"*Factures"}})
	var names []string
	for _, f := range rep.Folders {
		names = append(names, f.Name)
	}
	if want := []string{"INBOX", "Archive/2019"}; !slices.Equal(names, want) {
		t.Errorf("folders %q, want %q", names, want)
	}
}

func TestFetchDryRunWritesNothing(t *testing.T) {
	fx := newFixture(t, oddMessages())
	rep := fx.fetch(&FetchOptions{DryRun: true})
	total := 0
	for _, f := range rep.Folders {
		total += f.New
	}
	if total != len(fx.msgs) {
		t.Errorf("dry run would fetch %d, want %d", total, len(fx.msgs))
	}
	folders, _ := fx.arc.Folders()
	if len(folders) != 0 {
		t.Errorf("dry run created %d folders", len(folders))
	}
}

func TestVerify(t *testing.T) {
	fx := newFixture(t, oddMessages())
	fx.fetch(nil)
	for _, hashes := range []bool{false, true} {
		rep, err := Verify(context.Background(), fx.server(fx.srv.Addr), fx.arc, &VerifyOptions{Hashes: hashes})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() || rep.Total.Verified != len(fx.msgs) || rep.Total.OnServer != len(fx.msgs) {
			t.Errorf("hashes=%v: %+v, problems %v", hashes, rep.Total, rep.Problems)
		}
	}
	// Corrupt one file (same size), delete another.
	a, b := firstPath(t, fx.arc, "Sent"), firstPath(t, fx.arc, "Q&A")
	data, _ := os.ReadFile(filepath.Join(fx.dir, a))
	data[0] ^= 1
	os.WriteFile(filepath.Join(fx.dir, a), data, 0o600)
	os.Remove(filepath.Join(fx.dir, b))
	rep, err := Verify(context.Background(), fx.server(fx.srv.Addr), fx.arc, &VerifyOptions{Hashes: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || rep.Total.Missing != 2 || rep.Total.Verified != len(fx.msgs)-2 {
		t.Errorf("after damage: %+v, problems %v", rep.Total, rep.Problems)
	}
}

func TestFetchCancelStopsAtOnce(t *testing.T) {
	silent, err := imaptest.StartSilent(true) // logs in, then never answers
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	fx := newFixture(t, nil)
	srv := fx.server(silent.Addr)
	srv.IdleTimeout = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err = Fetch(ctx, srv, fx.arc, nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("cancel took %v", d)
	}
}

func TestStartTLSRequired(t *testing.T) {
	fx := newFixture(t, nil) // the memory server offers no STARTTLS
	u, err := serverurl.Parse("imap://alice@"+fx.srv.Addr, "imap")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Fetch(context.Background(), &Server{URL: u, Password: fx.srv.Password, IdleTimeout: testIdle}, fx.arc, nil)
	if !errors.Is(err, ErrConnect) || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("err = %v, want ErrConnect about STARTTLS", err)
	}
	if testing.Verbose() {
		t.Log(err)
	}
}

func TestRetryable(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{errors.New("read tcp: connection reset by peer"), true},
		{&imap.Error{Type: imap.StatusResponseTypeBye, Text: "shutting down"}, true},
		{&imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable, Text: "busy"}, true},
		{&imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeLimit, Text: "too many"}, true},
		{&imap.Error{Type: imap.StatusResponseTypeNo, Text: "Request is throttled. Suggested Backoff Time: 1000 milliseconds"}, true},
		{&imap.Error{Type: imap.StatusResponseTypeNo, Text: "Server busy, try again later"}, true},
		{&imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent, Text: "no such mailbox"}, false},
		{&imap.Error{Type: imap.StatusResponseTypeBad, Text: "parse error"}, false},
		{fmt.Errorf("fetching: %w", ErrAuth), false},
		{errUIDValidityChanged, false},
		{context.Canceled, false},
	}
	for _, tc := range cases {
		if got := retryable(tc.err); got != tc.want {
			t.Errorf("retryable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// A full disk must end the run with a clear error, promptly, not hang.
func TestFetchDiskFull(t *testing.T) {
	var msgs []testMessage
	d := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	big := strings.Repeat("0123456789abcdef", 1<<14) // 256 KiB
	for i := 0; i < 20; i++ {
		msgs = append(msgs, testMessage{"INBOX", []byte(fmt.Sprintf("Subject: %d\r\n\r\n%s\r\n", i, big)), nil, d})
	}
	fx := newFixture(t, msgs)
	dir := smallDisk(t, "2m")
	arc, err := archive.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer arc.Close()
	done := make(chan error, 1)
	go func() {
		_, err := Fetch(context.Background(), fx.server(fx.srv.Addr), arc, &FetchOptions{Connections: 2, Backoff: time.Millisecond})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "no space left") {
			t.Errorf("err = %v, want a fatal error saying the disk is full", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("fetch hangs when the disk is full")
	}
}

// cancelOnBytes is a Progress that cancels a context at the first bytes.
type cancelOnBytes struct{ cancel context.CancelFunc }

func (cancelOnBytes) AddTotal(int, int64) {}
func (cancelOnBytes) ListingDone()        {}
func (c cancelOnBytes) Add(_ int, bytes int64) {
	if bytes > 0 {
		c.cancel()
	}
}

// Verify stops when its context ends, in the middle of a message (10 MB
// to come: more than loopback's socket buffers hold).
func TestVerifyCancel(t *testing.T) {
	var msgs []testMessage
	d := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	big := strings.Repeat("0123456789abcdef", 1<<14)
	for i := 0; i < 40; i++ {
		msgs = append(msgs, testMessage{"INBOX", []byte(fmt.Sprintf("Subject: %d\r\n\r\n%s\r\n", i, big)), nil, d})
	}
	fx := newFixture(t, msgs)
	ctx, cancel := context.WithCancel(context.Background())
	start := time.Now()
	_, err := Verify(ctx, fx.server(fx.srv.Addr), fx.arc, &VerifyOptions{Hashes: true, Progress: cancelOnBytes{cancel}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("verify took %v after cancel", d)
	}
}

func TestMatchFolder(t *testing.T) {
	cases := []struct {
		pattern, name string
		want          bool
	}{
		{"*", "Archive/2019", true},
		{"%", "Archive/2019", false},
		{"Archive/%", "Archive/2019", true},
		{"inbox", "INBOX", true},
		{"inbox/*", "INBOX/Receipts", true},
		{"Inbox*", "INBOX", true},
		{"INBOXES", "INBOX", false},
		{"Archive/201?", "Archive/2019", true},
		{"Réception/*", "Réception/Factures", true},
		{"Sent", "sent", false},
	}
	for _, tc := range cases {
		if got := matchFolder(tc.pattern, tc.name); got != tc.want {
			t.Errorf("matchFolder(%q, %q) = %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
}
