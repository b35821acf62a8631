package imapsync

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/catchall/catchall/archive"
	"github.com/catchall/catchall/serverurl"
)

type csMsg struct {
	uid    int
	body   string
	flags  string
	modseq int
}

// csServer is a scripted one-folder IMAP server with CONDSTORE, whose
// messages the test can change between runs.
type csServer struct {
	ln   net.Listener
	mu   sync.Mutex
	msgs []csMsg
	uv   int
	log  []string
	// uidLast puts UID after the BODY[] literal in FETCH responses: legal
	// (RFC 3501 §7.4.2 leaves the order free), but go-imap v2 then cannot
	// match the response to a UID FETCH and silently drops it.
	uidLast bool
}

func startCS(t *testing.T, bodies ...string) *csServer {
	s := &csServer{uv: 7}
	for i, b := range bodies {
		s.msgs = append(s.msgs, csMsg{i + 1, b, `\Seen`, i + 1})
	}
	s.ln = serveScripted(t, s.serve)
	return s
}

func (s *csServer) state() (n, uidnext, hms int) {
	n = len(s.msgs)
	uidnext = 1
	for _, m := range s.msgs {
		uidnext = m.uid + 1
		hms = max(hms, m.modseq)
	}
	if hms == 0 {
		hms = 1
	}
	return
}

var reCS = regexp.MustCompile(`(?i)CHANGEDSINCE (\d+)`)

func (s *csServer) serve(c net.Conn) {
	commandLoop(c, "IMAP4rev1 CONDSTORE", func(w *bufio.Writer, tag, rest string) bool {
		cmd := strings.ToUpper(rest)
		s.mu.Lock()
		s.log = append(s.log, rest)
		n, uidnext, hms := s.state()
		msgs := append([]csMsg(nil), s.msgs...)
		uv, uidLast := s.uv, s.uidLast
		s.mu.Unlock()
		switch {
		case strings.HasPrefix(cmd, "LOGIN"), strings.HasPrefix(cmd, "NOOP"):
		case strings.HasPrefix(cmd, "LOGOUT"):
			fmt.Fprintf(w, "* BYE\r\n%s OK bye\r\n", tag)
			w.Flush()
			return false
		case strings.HasPrefix(cmd, "CAPABILITY"):
			fmt.Fprint(w, "* CAPABILITY IMAP4rev1 CONDSTORE\r\n")
		case strings.HasPrefix(cmd, "LIST"):
			fmt.Fprint(w, "* LIST () \"/\" INBOX\r\n")
		case strings.HasPrefix(cmd, "STATUS"):
			fmt.Fprintf(w, "* STATUS INBOX (MESSAGES %d UIDNEXT %d UIDVALIDITY %d HIGHESTMODSEQ %d)\r\n", n, uidnext, uv, hms)
		case strings.HasPrefix(cmd, "EXAMINE"), strings.HasPrefix(cmd, "SELECT"):
			fmt.Fprintf(w, "* %d EXISTS\r\n* OK [UIDVALIDITY %d] x\r\n* OK [UIDNEXT %d] x\r\n* OK [HIGHESTMODSEQ %d] x\r\n* FLAGS (\\Seen)\r\n", n, uv, uidnext, hms)
			tagOK(w, tag, "[READ-ONLY] ")
			return true
		case reUID.MatchString(rest) && !strings.HasPrefix(cmd, "UID FETCH"):
			uid, _ := strconv.Atoi(reUID.FindStringSubmatch(rest)[1])
			fmt.Fprint(w, "* SEARCH")
			for i, m := range msgs {
				if m.uid == uid {
					fmt.Fprintf(w, " %d", i+1)
				}
			}
			fmt.Fprint(w, "\r\n")
		case strings.HasPrefix(cmd, "UID SEARCH"):
			fmt.Fprint(w, "* SEARCH")
			for _, m := range msgs {
				fmt.Fprintf(w, " %d", m.uid)
			}
			fmt.Fprint(w, "\r\n")
		case strings.HasPrefix(cmd, "UID FETCH"), strings.HasPrefix(cmd, "FETCH"):
			f := strings.Fields(rest)
			isUID := strings.HasPrefix(cmd, "UID")
			set := f[1]
			if isUID {
				set = f[2]
			}
			since := 0
			if m := reCS.FindStringSubmatch(rest); m != nil {
				since, _ = strconv.Atoi(m[1])
			}
			body := strings.Contains(cmd, "BODY.PEEK[]")
			maxv := n
			if isUID && n > 0 {
				maxv = msgs[n-1].uid
			}
			sent := map[int]bool{}
			for _, part := range strings.Split(set, ",") {
				m := reRange.FindStringSubmatch(part)
				lo, _ := strconv.Atoi(m[1])
				hi := lo
				if m[2] == "*" {
					hi = maxv
				} else if m[2] != "" {
					hi, _ = strconv.Atoi(m[2])
				}
				if lo > hi { // n:* with n > max: RFC 3501 says the range is max:n
					lo, hi = hi, lo
				}
				for i, msg := range msgs {
					key := msg.uid
					if !isUID {
						key = i + 1
					}
					if key < lo || key > hi || sent[i] || msg.modseq <= since {
						continue
					}
					sent[i] = true
					if body && uidLast {
						fmt.Fprintf(w, "* %d FETCH (FLAGS (%s) INTERNALDATE \"01-Feb-2020 10:00:00 +0000\" RFC822.SIZE %d BODY[] {%d}\r\n%s UID %d)\r\n",
							i+1, msg.flags, len(msg.body), len(msg.body), msg.body, msg.uid)
					} else if body {
						fmt.Fprintf(w, "* %d FETCH (UID %d FLAGS (%s) INTERNALDATE \"01-Feb-2020 10:00:00 +0000\" RFC822.SIZE %d BODY[] {%d}\r\n%s)\r\n",
							i+1, msg.uid, msg.flags, len(msg.body), len(msg.body), msg.body)
					} else {
						fmt.Fprintf(w, "* %d FETCH (UID %d FLAGS (%s) RFC822.SIZE %d MODSEQ (%d))\r\n", i+1, msg.uid, msg.flags, len(msg.body), msg.modseq)
					}
				}
			}
		default:
			fmt.Fprintf(w, "%s BAD unknown\r\n", tag)
			w.Flush()
			return true
		}
		tagOK(w, tag, "")
		return true
	})
}

func csFetch(t *testing.T, s *csServer, arc *archive.Archive) *Report {
	u, _ := serverurl.Parse("imap+plain://u@"+s.ln.Addr().String(), "imap")
	rep, err := Fetch(context.Background(), &Server{URL: u, Password: "x", IdleTimeout: testIdle}, arc, &FetchOptions{Retries: 1, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// A message file deleted from the Maildir is forgotten by Reconcile but never
// fetched again on a CONDSTORE server.

// A message file deleted from a complete folder's Maildir must be fetched
// again, also when CONDSTORE makes the scan incremental.
func TestForgottenFileRefetched(t *testing.T) {
	s := startCS(t, "Subject: 1\r\n\r\n1\r\n", "Subject: 2\r\n\r\n2\r\n", "Subject: 3\r\n\r\n3\r\n")
	arc, dir := newArchive(t)
	csFetch(t, s, arc)
	files, _ := filepath.Glob(filepath.Join(dir, "INBOX", "cur", "*"))
	if len(files) != 3 {
		t.Fatalf("%d files after the first run", len(files))
	}
	os.Remove(files[1])
	rep := csFetch(t, s, arc)
	files, _ = filepath.Glob(filepath.Join(dir, "INBOX", "cur", "*"))
	if rep.Messages != 1 || len(files) != 3 {
		t.Errorf("after deleting a file: fetched %d, %d files; want 1 and 3", rep.Messages, len(files))
	}
	if rep = csFetch(t, s, arc); !rep.Folders[0].Skipped {
		t.Errorf("third run did not skip the complete folder: %+v", rep.Folders[0])
	}
}

// The incremental path: new message, flag and keyword change, expunge.
func TestCondstoreIncremental(t *testing.T) {
	s := startCS(t, "Subject: 1\r\n\r\n1\r\n", "Subject: 2\r\n\r\n2\r\n", "Subject: 3\r\n\r\n3\r\n")
	arc, _ := newArchive(t)
	csFetch(t, s, arc)
	s.mu.Lock()
	s.msgs[0].flags, s.msgs[0].modseq = `\Seen $Work`, 10
	s.msgs = append(s.msgs[:1], s.msgs[2:]...) // expunge uid 2
	s.msgs = append(s.msgs, csMsg{4, "Subject: 4\r\n\r\n4\r\n", ``, 11})
	s.log = nil
	s.mu.Unlock()
	rep := csFetch(t, s, arc)
	fr := rep.Folders[0]
	if fr.New != 1 || fr.FlagUpdates != 1 || fr.Gone != 1 {
		t.Errorf("incremental run: %+v", fr)
	}
	s.mu.Lock()
	var full bool
	for _, l := range s.log {
		if strings.Contains(l, "1:*") && !strings.Contains(strings.ToUpper(l), "CHANGEDSINCE") {
			full = true
		}
	}
	s.mu.Unlock()
	if full {
		t.Error("the incremental run listed every message instead of asking CHANGEDSINCE")
	}
}
