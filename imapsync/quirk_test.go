package imapsync

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/catchall/catchall/internal/archive"
	"github.com/catchall/catchall/internal/serverurl"
)

// uidLastServer is a minimal scripted IMAP server holding one folder whose
// FETCH responses put UID after the BODY[] literal — legal (RFC 3501 §7.4.2
// leaves the order free) but go-imap v2 then cannot match the response to
// the UID FETCH command and silently drops it.
type uidLastServer struct {
	ln   net.Listener
	msgs []string // UID i+1 holds msgs[i]
}

func startUIDLastServer(t *testing.T, msgs []string) *uidLastServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &uidLastServer{ln: ln, msgs: msgs}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

var (
	reRange = regexp.MustCompile(`^(\d+)(?::(\d+|\*))?$`)
	reUID   = regexp.MustCompile(`(?i)SEARCH UID (\d+)`)
)

func (s *uidLastServer) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	fmt.Fprint(w, "* OK [CAPABILITY IMAP4rev1] scripted\r\n")
	w.Flush()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		tag, rest, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		cmd := strings.ToUpper(rest)
		n := len(s.msgs)
		switch {
		case strings.HasPrefix(cmd, "LOGIN"), strings.HasPrefix(cmd, "NOOP"), strings.HasPrefix(cmd, "UNSELECT"):
		case strings.HasPrefix(cmd, "LOGOUT"):
			fmt.Fprintf(w, "* BYE\r\n%s OK bye\r\n", tag)
			w.Flush()
			return
		case strings.HasPrefix(cmd, "CAPABILITY"):
			fmt.Fprint(w, "* CAPABILITY IMAP4rev1\r\n")
		case strings.HasPrefix(cmd, "LIST"):
			fmt.Fprint(w, "* LIST () \"/\" INBOX\r\n")
		case strings.HasPrefix(cmd, "STATUS"):
			fmt.Fprintf(w, "* STATUS INBOX (MESSAGES %d UIDNEXT %d UIDVALIDITY 7)\r\n", n, n+1)
		case strings.HasPrefix(cmd, "EXAMINE"), strings.HasPrefix(cmd, "SELECT"):
			fmt.Fprintf(w, "* %d EXISTS\r\n* OK [UIDVALIDITY 7] x\r\n* OK [UIDNEXT %d] x\r\n* FLAGS (\\Seen)\r\n", n, n+1)
			tagOK(w, tag, "[READ-ONLY] ")
			continue
		case reUID.MatchString(rest):
			uid, _ := strconv.Atoi(reUID.FindStringSubmatch(rest)[1])
			if strings.HasPrefix(cmd, "UID SEARCH") {
				fmt.Fprintf(w, "* SEARCH %d\r\n", uid)
			} else {
				fmt.Fprintf(w, "* SEARCH %d\r\n", uid) // sequence number == UID here
			}
		case strings.HasPrefix(cmd, "UID SEARCH"):
			fmt.Fprint(w, "* SEARCH")
			for i := 1; i <= n; i++ {
				fmt.Fprintf(w, " %d", i)
			}
			fmt.Fprint(w, "\r\n")
		case strings.HasPrefix(cmd, "UID FETCH"), strings.HasPrefix(cmd, "FETCH"):
			f := strings.Fields(rest)
			set := f[1]
			if strings.HasPrefix(cmd, "UID") {
				set = f[2]
			}
			body := strings.Contains(cmd, "BODY.PEEK[]")
			for _, part := range strings.Split(set, ",") {
				m := reRange.FindStringSubmatch(part)
				lo, _ := strconv.Atoi(m[1])
				hi := lo
				if m[2] == "*" {
					hi = n
				} else if m[2] != "" {
					hi, _ = strconv.Atoi(m[2])
				}
				for i := lo; i <= hi && i <= n; i++ {
					msg := s.msgs[i-1]
					if body {
						fmt.Fprintf(w, "* %d FETCH (FLAGS (\\Seen) INTERNALDATE \"01-Feb-2020 10:00:00 +0000\" RFC822.SIZE %d BODY[] {%d}\r\n%s UID %d)\r\n",
							i, len(msg), len(msg), msg, i)
					} else {
						fmt.Fprintf(w, "* %d FETCH (UID %d FLAGS (\\Seen) RFC822.SIZE %d)\r\n", i, i, len(msg))
					}
				}
			}
		default:
			fmt.Fprintf(w, "%s BAD unknown\r\n", tag)
			w.Flush()
			continue
		}
		tagOK(w, tag, "")
	}
}

func tagOK(w *bufio.Writer, tag, code string) {
	fmt.Fprintf(w, "%s OK %sdone\r\n", tag, code)
	w.Flush()
}

func TestFetchUIDAfterBody(t *testing.T) {
	msgs := []string{"Subject: one\r\n\r\n1\r\n", "Subject: two\r\n\r\n2\r\n", "Subject: three\r\n\r\n3\r\n"}
	s := startUIDLastServer(t, msgs)
	u, _ := serverurl.Parse("imap+plain://u@"+s.ln.Addr().String(), "imap")
	dir := filepath.Join(t.TempDir(), "a")
	arc, err := archive.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer arc.Close()
	rep, err := Fetch(context.Background(), &Server{URL: u, Password: "x", IdleTimeout: 5 * time.Second}, arc, &FetchOptions{Retries: 1, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Failures) > 0 || rep.Messages != len(msgs) {
		t.Fatalf("fetched %d of %d, failures %v", rep.Messages, len(msgs), rep.Failures)
	}
	got := map[string]uint32{}
	arc.Entries("INBOX", 7, func(e *archive.Entry) error {
		got[e.SHA256] = e.UID
		return nil
	})
	for i, m := range msgs {
		sum := sha256.Sum256([]byte(m))
		if uid := got[hex.EncodeToString(sum[:])]; uid != uint32(i+1) {
			t.Errorf("message %d archived as uid %d", i+1, uid)
		}
	}
}
