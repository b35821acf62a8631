package imapsync

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/catchall/catchall/internal/imaptest"
	"github.com/catchall/catchall/serverurl"
)

// mailboxServer is a scripted server with the capabilities caps and one
// mailbox, INBOX: it records the commands it receives but LOGIN and
// CAPABILITY.
type mailboxServer struct {
	addr string
	caps string
	mu   sync.Mutex
	cmds []string
}

func startMailboxServer(t *testing.T, caps string) *mailboxServer {
	s := &mailboxServer{caps: caps}
	s.addr = serveScripted(t, s.serve).Addr().String()
	return s
}

// serveScripted listens on 127.0.0.1 until the test ends and runs serve on
// every connection.
func serveScripted(t *testing.T, serve func(net.Conn)) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
	return ln
}

// commandLoop greets the client of a scripted server, announcing caps,
// then hands answer each command line (its tag and the rest, without the
// line end) until the client goes or answer returns false.
func commandLoop(c net.Conn, caps string, answer func(w *bufio.Writer, tag, cmd string) bool) {
	defer c.Close()
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	fmt.Fprintf(w, "* OK [CAPABILITY %s] scripted\r\n", caps)
	w.Flush()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		tag, cmd, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		if !answer(w, tag, cmd) {
			return
		}
	}
}

func (s *mailboxServer) serve(c net.Conn) {
	commandLoop(c, s.caps, s.answer)
}

func (s *mailboxServer) answer(w *bufio.Writer, tag, cmd string) bool {
	cmd = strings.ReplaceAll(cmd, `"`, "") // go-imap quotes every mailbox name
	verb, arg, _ := strings.Cut(cmd, " ")
	if verb != "LOGIN" && verb != "CAPABILITY" {
		s.mu.Lock()
		s.cmds = append(s.cmds, cmd)
		s.mu.Unlock()
	}
	switch {
	case verb == "LOGIN", verb == "UNSELECT" && strings.Contains(s.caps, "UNSELECT"):
	case verb == "CAPABILITY":
		fmt.Fprintf(w, "* CAPABILITY %s\r\n", s.caps)
	case (verb == "SELECT" || verb == "EXAMINE") && arg == "INBOX":
		fmt.Fprint(w, "* 0 EXISTS\r\n* OK [UIDVALIDITY 7] x\r\n* FLAGS (\\Seen)\r\n")
	case verb == "SELECT" || verb == "EXAMINE":
		fmt.Fprintf(w, "%s NO [NONEXISTENT] no such mailbox\r\n", tag)
		return w.Flush() == nil
	default:
		fmt.Fprintf(w, "%s BAD unknown\r\n", tag)
		return w.Flush() == nil
	}
	tagOK(w, tag, "")
	return true
}

// commands returns the commands received since the last call.
func (s *mailboxServer) commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	cmds := s.cmds
	s.cmds = nil
	return cmds
}

// TestSelectedMailbox: a connection's selected mailbox is what the server
// last opened with OK, and nothing after a refused SELECT or an unselect,
// with or without UNSELECT.
func TestSelectedMailbox(t *testing.T) {
	for _, tc := range []struct {
		caps string
		via  string // the command unselect sends
	}{
		{"IMAP4rev1 UNSELECT", "UNSELECT"},
		{"IMAP4rev1", "EXAMINE catchall-no-such-folder-"},
	} {
		t.Run(tc.caps, func(t *testing.T) {
			s := startMailboxServer(t, tc.caps)
			u, err := serverurl.Parse("imap+plain://u@"+s.addr, "imap")
			if err != nil {
				t.Fatal(err)
			}
			c, err := (&Server{URL: u, Password: "x", IdleTimeout: testIdle}).dial(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer closeConn(c)
			check := func(what, name string, cmds ...string) {
				t.Helper()
				if c.selected != name || (name == "") != (c.uidValid == 0) {
					t.Errorf("%s: selected %q (UIDVALIDITY %d), want %q", what, c.selected, c.uidValid, name)
				}
				got := s.commands()
				if len(got) != len(cmds) {
					t.Errorf("%s: sent %q, want %q", what, got, cmds)
					return
				}
				for i := range got {
					if !strings.HasPrefix(got[i], cmds[i]) {
						t.Errorf("%s: sent %q, want %q", what, got, cmds)
					}
				}
			}
			ro := &imap.SelectOptions{ReadOnly: true}
			if _, err := c.selectMailbox("INBOX", ro); err != nil {
				t.Fatal(err)
			}
			check("EXAMINE INBOX", "INBOX", "EXAMINE INBOX")
			if data, err := c.ensureSelected("INBOX", ro); err != nil || data != nil {
				t.Errorf("ensureSelected of the selected mailbox: data %v, err %v", data, err)
			}
			check("ensureSelected INBOX", "INBOX")
			if _, err := c.selectMailbox("Nope", ro); !errors.As(err, new(*imap.Error)) {
				t.Fatalf("EXAMINE Nope: %v, want a refusal", err)
			}
			check("refused EXAMINE", "", "EXAMINE Nope")
			if data, err := c.ensureSelected("INBOX", nil); err != nil || data == nil {
				t.Errorf("ensureSelected after a refusal: data %v, err %v", data, err)
			}
			check("SELECT INBOX", "INBOX", "SELECT INBOX")
			if err := c.unselect(); err != nil {
				t.Fatal(err)
			}
			check("unselect", "", tc.via)
		})
	}
}

// TestConnSetCancel: ending the context closes every connection of the
// set, and the set counts what it opened.
func TestConnSetCancel(t *testing.T) {
	srv, err := imaptest.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	u, err := serverurl.Parse(fmt.Sprintf("imap+plain://%s@%s", srv.Username, srv.Addr), "imap")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := newConnSet(ctx, &Server{URL: u, Password: srv.Password, IdleTimeout: testIdle})
	defer s.close()
	var cs []*conn
	for range 3 {
		c, err := s.dial(ctx)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	s.hangUp(cs[2])
	if n := s.count(); n != 3 {
		t.Errorf("count %d, want 3", n)
	}
	if isClosed(cs[0]) || isClosed(cs[1]) {
		t.Fatal("open connections closed before the context ended")
	}
	cancel()
	for i, c := range cs[:2] {
		select {
		case <-c.Closed():
		case <-time.After(10 * time.Second):
			t.Fatalf("connection %d still open after the context ended", i)
		}
	}
}

func TestBackoff(t *testing.T) {
	fetch := backoff{first: time.Second, max: time.Minute}
	push := backoff{first: time.Second, max: 30 * time.Second}
	tiny := backoff{first: time.Millisecond, max: 30 * time.Second}
	for _, tc := range []struct {
		b    backoff
		n    int
		want time.Duration
	}{
		{fetch, 1, time.Second},
		{fetch, 2, 2 * time.Second},
		{fetch, 6, 32 * time.Second},
		{fetch, 7, time.Minute},
		{fetch, 1000, time.Minute},
		{push, 5, 16 * time.Second},
		{push, 6, 30 * time.Second},
		{push, 1 << 30, 30 * time.Second},
		{tiny, 11, 1024 * time.Millisecond},
		{tiny, 20, 30 * time.Second},
		{backoff{first: 2 * time.Minute, max: time.Minute}, 1, time.Minute},
	} {
		if got := tc.b.delay(tc.n); got != tc.want {
			t.Errorf("%v up to %v, retry %d: %v, want %v", tc.b.first, tc.b.max, tc.n, got, tc.want)
		}
	}
}

// TestLocalError: both ways a failure of this machine reaches a caller
// (fetch writing a message, push writing its journal) are one kind,
// found by errors.As through wrapping, with their cause found by errors.Is.
func TestLocalError(t *testing.T) {
	full := &fs.PathError{Op: "write", Path: "tmp/1", Err: syscall.ENOSPC}
	for _, err := range []error{
		&localError{"writing archive", full},
		fmt.Errorf("%w; %v", &localError{"local error", full}, "and more"),
	} {
		if !isLocal(err) || !errors.Is(err, syscall.ENOSPC) || retryable(err) {
			t.Errorf("%v: local %v, ENOSPC %v, retryable %v", err, isLocal(err), errors.Is(err, syscall.ENOSPC), retryable(err))
		}
	}
	if err := fmt.Errorf("UID FETCH: %w", syscall.ECONNRESET); isLocal(err) {
		t.Errorf("%v taken for a local error", err)
	}
}
