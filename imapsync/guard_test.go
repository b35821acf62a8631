package imapsync

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/catchall/catchall/archive"
	"github.com/catchall/catchall/internal/imaptest"
	"github.com/catchall/catchall/internal/testtools"
	"github.com/catchall/catchall/serverurl"
)

// pipeGuard returns a guard reading stream, as imapclient would see it.
func pipeGuard(t *testing.T, stream io.Reader) *guard {
	t.Helper()
	client, server := net.Pipe()
	t.Cleanup(func() { client.Close(); server.Close() })
	go func() {
		io.Copy(server, stream)
		server.Close()
	}()
	return newGuard(client, "")
}

func TestGuardPassesStream(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 3*maxNameLiteral) // larger than any name may be
	var in bytes.Buffer
	in.WriteString("* OK ready\r\n")
	in.WriteString("* LIST (\\HasNoChildren) \"/\" {8}\r\nEntw\xc3\xbcrfe\r\n") // raw UTF-8 in a literal
	in.WriteString("* LIST () \".\" \"INBOX.Entw&APw-rfe\"\r\n")
	in.WriteString("* STATUS \"&ZeVnLIqe-\" (MESSAGES 3)\r\n")
	fmt.Fprintf(&in, "* 1 FETCH (UID 7 FLAGS (\\Seen) BODY[] {%d}\r\n%s)\r\n", len(body), body)
	fmt.Fprintf(&in, "* 2 FETCH (BODY[HEADER.FIELDS (MESSAGE-ID)]<0> {%d}\r\n%s UID 8)\r\n", len(body), body)
	fmt.Fprintf(&in, "* 3 fetch (rfc822 {%d}\r\n%s)\r\n", len(body), body)
	in.WriteString("* 4 FETCH (ENVELOPE (NIL {5}\r\nhello NIL))\r\n")
	in.WriteString("A1 OK done\r\n")
	want := in.Bytes()
	g := pipeGuard(t, bytes.NewReader(want))
	got, err := io.ReadAll(g)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("stream changed:\n got %q\nwant %q", got[:min(len(got), 300)], want[:300])
	}
	if bad := g.BadNames(); len(bad) != 0 {
		t.Errorf("BadNames = %q", bad)
	}
}

// endless is a reader of n bytes that allocates nothing.
type endless struct{ n int64 }

func (e *endless) Read(p []byte) (int, error) {
	if e.n <= 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), e.n)
	clear(p[:n])
	e.n -= n
	return int(n), nil
}

func TestGuardRefusesHugeNameLiteral(t *testing.T) {
	for _, head := range []string{
		"* LIST () \"/\" {3221225472}\r\n",
		"* STATUS {3221225472}\r\n",
		"* 1 FETCH (ENVELOPE ({3221225472}\r\n",
		"* ID (\"name\" {3221225472}\r\n",
		"* 1 FETCH (BODY[] {10}\r\n0123456789 FLAGS {3221225472}\r\n",
	} {
		stream := io.MultiReader(strings.NewReader("* OK hi\r\n"+head), &endless{n: 3 << 30})
		g := pipeGuard(t, stream)
		_, err := io.Copy(io.Discard, g)
		var lim *LimitError
		if !errors.As(err, &lim) || lim.Size != 3221225472 {
			t.Errorf("%q: err = %v, want a LimitError of 3 GiB", head, err)
		}
	}
}

func TestGuardDropsBadNames(t *testing.T) {
	in := "* LIST () \"/\" INBOX\r\n" +
		"* LIST () \"/\" Q&A\r\n" + // the reported case: "&" not escaped
		"* LIST (\\HasNoChildren) \"/\" \"Ok &- fine\"\r\n" +
		"* LIST () \"/\" \"&AGE-\"\r\n" + // "a" in base64: not allowed
		"* LIST () \"/\" {4}\r\n\xff\xfe\xfd\xfc\r\n" + // not UTF-8
		"* LIST () \"/\" \"&Jjo-&Jjo-\"\r\n" + // two shifts in a row
		"* LSUB () \"/\" \"Half&Jj\"\r\n" + // unterminated
		"* STATUS \"R&AOk-ception\" (MESSAGES 1)\r\n" +
		"* STATUS Q&A (MESSAGES 1)\r\n" +
		"* LIST (\\Marked (\"x\" {1}\r\ny)) NIL \"Deep&-\" (CHILDINFO (\"SUBSCRIBED\"))\r\n" +
		"A2 OK LIST done\r\n"
	g := pipeGuard(t, strings.NewReader(in))
	got, err := io.ReadAll(g)
	if err != nil {
		t.Fatal(err)
	}
	want := "* LIST () \"/\" INBOX\r\n" +
		"* LIST (\\HasNoChildren) \"/\" \"Ok &- fine\"\r\n" +
		"* STATUS \"R&AOk-ception\" (MESSAGES 1)\r\n" +
		"* LIST (\\Marked (\"x\" {1}\r\ny)) NIL \"Deep&-\" (CHILDINFO (\"SUBSCRIBED\"))\r\n" +
		"A2 OK LIST done\r\n"
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	wantBad := []string{"Q&A", "&AGE-", "\xff\xfe\xfd\xfc", "&Jjo-&Jjo-", "Half&Jj"}
	if bad := g.BadNames(); strings.Join(bad, "|") != strings.Join(wantBad, "|") {
		t.Errorf("BadNames = %q, want %q", bad, wantBad)
	}
}

func TestValidMailboxName(t *testing.T) {
	for name, want := range map[string]bool{
		"INBOX": true, "inbox": true, "Sent": true, "Q&-A": true, "&ZeVnLIqe-": true,
		"Entw&APw-rfe": true, "Entwürfe": true, "&2D3eAA-": true, // U+1F600 as a surrogate pair
		"Q&A": false, "&": false, "&AGE-": false, "&2D0-": false, "a\x01b": false, "a\x7fb": false,
		"&Jjo-&Jjo-": false, "&Jjo=-": false, "\xc3": false,
	} {
		if got := validMailboxName([]byte(name)); got != want {
			t.Errorf("validMailboxName(%q) = %v, want %v", name, got, want)
		}
	}
}

// scripted is a server announcing caps that answers each command with
// what answer writes (untagged data) and a tagged OK.
func scripted(t *testing.T, caps string, answer func(w io.Writer, cmd string)) string {
	t.Helper()
	return serveScripted(t, func(c net.Conn) {
		commandLoop(c, caps, func(w *bufio.Writer, tag, cmd string) bool {
			answer(w, cmd)
			fmt.Fprintf(w, "%s OK done\r\n", tag)
			return w.Flush() == nil
		})
	}).Addr().String()
}

// TestFetchHugeFolderName: a server answering LIST with a 3 GiB name costs
// the client neither the memory nor the log it used to (20 GB held, 6 GB
// of transcript), and fetch says what happened. Checked by the bytes the
// process allocates, not by time.
func TestFetchHugeFolderName(t *testing.T) {
	addr := scripted(t, "IMAP4rev1", func(w io.Writer, cmd string) {
		switch {
		case strings.HasPrefix(cmd, "CAPABILITY"):
			io.WriteString(w, "* CAPABILITY IMAP4rev1\r\n")
		case strings.HasPrefix(cmd, "LIST"):
			io.WriteString(w, "* LIST () \"/\" {3221225472}\r\n")
			io.Copy(w, &endless{n: 3 << 30}) // until the client hangs up
		}
	})
	u, err := serverurl.Parse("imap+plain://alice@"+addr, "imap")
	if err != nil {
		t.Fatal(err)
	}
	// go-imap may still write a CAPABILITY it sends in the background
	// after Fetch returns: the transcript is read under its lock.
	var transcript testtools.Buffer
	srv := &Server{URL: u, Password: "secret", IdleTimeout: testIdle, Debug: &transcript}
	arc := openArchive(t)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = Fetch(context.Background(), srv, arc, &FetchOptions{Backoff: time.Millisecond})
	runtime.ReadMemStats(&after)
	var lim *LimitError
	if !errors.As(err, &lim) || !strings.Contains(err.Error(), "listing folders") {
		t.Fatalf("err = %v, want a LimitError while listing folders", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 64<<20 {
		t.Errorf("fetch allocated %d MiB against a 3 GiB name", n>>20)
	}
	if transcript.Len() > 1<<20 {
		t.Errorf("transcript has %d bytes", transcript.Len())
	}
	t.Log(err)
}

// TestFetchBadUTF7Folder: one folder whose name is not valid modified
// UTF-7 (a server sending "Q&A" raw) is reported; every other folder is
// fetched. Before, imapclient failed to decode LIST and the fetch stopped.
func TestFetchBadUTF7Folder(t *testing.T) {
	msgs := oddMessages()
	fx := newFixture(t, msgs)
	proxy := rewriteProxy(t, fx.srv.Addr, "Q&-A", "Q&A")
	rep, err := Fetch(context.Background(), fx.server(proxy), fx.arc, &FetchOptions{Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Failures) != 1 || rep.Failures[0].Folder != "Q&A" || !errors.Is(rep.Failures[0].Err, errBadName) {
		t.Fatalf("failures = %v, want one for Q&A", rep.Failures)
	}
	var rest []testMessage
	for _, m := range msgs {
		if m.folder != "Q&A" {
			rest = append(rest, m)
		}
	}
	fx.checkArchive(rest)

	vr, err := Verify(context.Background(), fx.server(proxy), fx.arc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if vr.OK() || vr.Unreadable != 1 || vr.Total.Verified != len(rest) || vr.Total.Missing != 0 {
		t.Errorf("verify: ok=%v unreadable=%d verified=%d missing=%d problems=%v", vr.OK(), vr.Unreadable, vr.Total.Verified, vr.Total.Missing, vr.Problems)
	}
}

// rewriteProxy forwards to target, replacing from with to in every line the
// server sends.
func rewriteProxy(t *testing.T, target, from, to string) string {
	t.Helper()
	return serveScripted(t, func(c net.Conn) {
		defer c.Close()
		s, err := net.Dial("tcp", target)
		if err != nil {
			return
		}
		go func() { io.Copy(s, c); s.Close() }()
		r := bufio.NewReader(s)
		for {
			line, err := r.ReadBytes('\n')
			c.Write(bytes.ReplaceAll(line, []byte(from), []byte(to)))
			if err != nil {
				return
			}
		}
	}).Addr().String()
}

// TestFetchStartTLS: STARTTLS, now done by dial itself, works against
// go-imap's server, and the capabilities come afresh after TLS.
func TestFetchStartTLS(t *testing.T) {
	cert, pool := testtools.Cert(t)
	serverTLS := &tls.Config{Certificates: []tls.Certificate{cert}}
	srv, err := imaptest.Start(&imaptest.Options{TLSConfig: serverTLS})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	msg := []byte("Subject: over TLS\r\n\r\nhello\r\n")
	if _, err := srv.Append("INBOX", msg, nil, time.Unix(1e9, 0)); err != nil {
		t.Fatal(err)
	}
	u, err := serverurl.Parse("imap://alice@"+srv.Addr, "imap")
	if err != nil {
		t.Fatal(err)
	}
	var transcript testtools.Buffer
	s := &Server{URL: u, Password: srv.Password, TLSConfig: &tls.Config{RootCAs: pool}, IdleTimeout: testIdle, Debug: &transcript}
	rep, err := Fetch(context.Background(), s, openArchive(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Messages != 1 {
		t.Errorf("fetched %d messages, want 1", rep.Messages)
	}
	if strings.Contains(transcript.String(), srv.Password) {
		t.Error("the transcript holds the password")
	}
	if !strings.Contains(transcript.String(), "STARTTLS") {
		t.Errorf("transcript lacks the STARTTLS exchange:\n%s", transcript.String())
	}
}

// TestStartTLSInjection: bytes the server sends after its STARTTLS OK and
// before TLS are refused, not read as if they came over TLS.
func TestStartTLSInjection(t *testing.T) {
	addr := scripted(t, "IMAP4rev1 STARTTLS", func(w io.Writer, cmd string) {
		if cmd == "STARTTLS" {
			io.WriteString(w, "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n") // untagged before the answer is fine
		}
	})
	// The scripted server's OK is followed by no TLS: a handshake failure.
	for _, tc := range []struct {
		addr, want string
	}{
		{addr, "STARTTLS"},
		{injector(t), "after its OK"},
	} {
		u, err := serverurl.Parse("imap://alice@"+tc.addr, "imap")
		if err != nil {
			t.Fatal(err)
		}
		_, err = Fetch(context.Background(), &Server{URL: u, Password: "x", IdleTimeout: 2 * time.Second, DialTimeout: 500 * time.Millisecond}, openArchive(t), nil)
		if !errors.Is(err, ErrConnect) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want ErrConnect mentioning %q", err, tc.want)
		}
	}
}

// injector is a server that answers STARTTLS with OK and, in the same
// write, an injected response.
func injector(t *testing.T) string {
	t.Helper()
	return serveScripted(t, func(c net.Conn) {
		defer c.Close()
		io.WriteString(c, "* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n")
		line, _ := bufio.NewReader(c).ReadString('\n')
		tag, _, _ := strings.Cut(line, " ")
		io.WriteString(c, tag+" OK begin TLS\r\n* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] injected\r\n")
		io.Copy(io.Discard, c)
	}).Addr().String()
}

// FuzzGuard: whatever the server sends, guard neither panics nor invents
// bytes: its output is the input with whole responses left out.
func FuzzGuard(f *testing.F) {
	f.Add([]byte("* LIST () \"/\" Q&A\r\n* 1 FETCH (BODY[] {3}\r\nabc)\r\nA OK\r\n"))
	f.Add([]byte("* STATUS {2}\r\nab (MESSAGES 1)\r\n"))
	f.Add([]byte("* LIST (\\X (\"a\" {1}\r\nb)) \"/\" \"x\\\"y\"\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		g := newGuard(&readConn{r: bytes.NewReader(in)}, "")
		out, err := io.ReadAll(g)
		var lim *LimitError
		if err != nil && !errors.As(err, &lim) && err != io.ErrUnexpectedEOF { // cut inside a literal
			t.Fatalf("err = %v", err)
		}
		if len(out) > len(in) {
			t.Fatalf("output longer than input")
		}
	})
}

// readConn is a net.Conn reading from r.
type readConn struct {
	net.Conn
	r io.Reader
}

func (c *readConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func openArchive(t *testing.T) *archive.Archive {
	t.Helper()
	arc, err := archive.Open(filepath.Join(t.TempDir(), "archive"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { arc.Close() })
	return arc
}

// TestTranscriptBoundsLines: a line of the protocol transcript is cut at
// maxTranscriptLine whatever arrives, in one write or many.
func TestTranscriptBoundsLines(t *testing.T) {
	var out bytes.Buffer
	r := &redactor{w: &out, mu: new(sync.Mutex), prefix: "[conn 1] "}
	r.Write([]byte("* OK short\r\n* LIST () \"/\" {3000}\r\n"))
	for range 30 {
		r.Write(bytes.Repeat([]byte("n"), 100))
	}
	r.Write([]byte("\r\nA1 OK\r\n"))
	want := "[conn 1] * OK short\r\n[conn 1] * LIST () \"/\" {3000}\r\n[conn 1] " + strings.Repeat("n", maxTranscriptLine) + "… (1978 bytes more)\n[conn 1] A1 OK\r\n"
	if out.String() != want {
		t.Errorf("transcript:\n%q\nwant\n%q", out.String(), want)
	}
}
