package imapsync

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"testing"

	"github.com/catchall/catchall/archive"
)

var (
	reRange = regexp.MustCompile(`^(\d+)(?::(\d+|\*))?$`)
	reUID   = regexp.MustCompile(`(?i)SEARCH UID (\d+)`)
)

func tagOK(w *bufio.Writer, tag, code string) {
	fmt.Fprintf(w, "%s OK %sdone\r\n", tag, code)
	w.Flush()
}

// TestFetchUIDAfterBody: a server that sends UID after BODY[] makes go-imap
// drop every UID FETCH response; each message is then fetched by sequence
// number, where go-imap can match it.
func TestFetchUIDAfterBody(t *testing.T) {
	msgs := []string{"Subject: one\r\n\r\n1\r\n", "Subject: two\r\n\r\n2\r\n", "Subject: three\r\n\r\n3\r\n"}
	s := startCS(t, msgs...)
	s.mu.Lock()
	s.uidLast = true
	s.mu.Unlock()
	arc, _ := newArchive(t)
	rep := csFetch(t, s, arc)
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
