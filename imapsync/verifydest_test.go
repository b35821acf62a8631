package imapsync

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/catchall/catchall/archive"
)

// TestVerifyDestStatusRefused: a destination that lists its folders but
// refuses STATUS (no LIST-STATUS) is verified all the same, whatever the
// refusal's response code.
func TestVerifyDestStatusRefused(t *testing.T) {
	for _, code := range []imap.ResponseCode{"", imap.ResponseCodeServerBug} {
		t.Run("NO "+string(code), func(t *testing.T) {
			fx := pushFixture(t, pushMessages())
			d := startDest(t, destOptions{noListStatus: true, statusNo: true, statusCode: code})
			if rep := doPush(t, d, fx.arc, nil); len(rep.Failures) > 0 {
				t.Fatal(rep.Failures)
			}
			vr, err := VerifyDest(context.Background(), d.server(t), fx.arc, nil)
			if err != nil {
				t.Fatal(err)
			}
			if n := archivedCount(t, fx.arc); !vr.OK() || vr.Total.Verified != n {
				t.Errorf("verify --to: %+v %v; want %d verified", vr.Total, vr.Problems, n)
			}
		})
	}
}

// TestUnreadableArchivedFile: when a route (--split-by) needs the header of
// an archived file that cannot be read, push and verify --to both report
// that message as failed, and go on with the others.
func TestUnreadableArchivedFile(t *testing.T) {
	fx := pushFixture(t, pushMessages())
	route := func(head []byte) string {
		if strings.Contains(string(head), "Subject: two") {
			return "Aliases/linkedin"
		}
		return ""
	}
	d := startDest(t, destOptions{})
	if rep := doPush(t, d, fx.arc, &PushOptions{Route: route}); len(rep.Failures) > 0 {
		t.Fatal(rep.Failures)
	}
	// The journal is lost, so the route alone says where messages went,
	// and the file of the one it routed elsewhere is gone.
	key := DestKey(d.server(t))
	if _, err := fx.arc.DB().Exec(`DELETE FROM push_journal`); err != nil {
		t.Fatal(err)
	}
	var lost *archive.Entry
	fx.arc.Entries("INBOX", 0, func(e *archive.Entry) error {
		if e.MessageID == "p2@x" {
			lost = e
		}
		return nil
	})
	if lost == nil {
		t.Fatal("message p2@x not archived")
	}
	if err := os.Remove(filepath.Join(fx.arc.Dir(), lost.Path)); err != nil {
		t.Fatal(err)
	}
	n := archivedCount(t, fx.arc)

	vr, err := VerifyDest(context.Background(), d.server(t), fx.arc, &DestVerifyOptions{Route: route})
	if err != nil {
		t.Fatal(err)
	}
	if vr.OK() || vr.Total.Verified != n-1 || vr.Total.Missing != 1 || len(vr.Problems) != 1 {
		t.Fatalf("verify --to: %+v %v; want %d verified and the unreadable one missing", vr.Total, vr.Problems, n-1)
	}
	if p := vr.Problems[0]; p.UID != lost.UID || !strings.Contains(p.Detail, "reading archived file") {
		t.Errorf("problem %+v; want uid %d, the file unreadable", p, lost.UID)
	}

	rep := doPush(t, d, fx.arc, &PushOptions{Route: route, Recheck: true})
	if len(rep.Failures) != 1 || rep.Failures[0].UID != lost.UID || !strings.Contains(rep.Failures[0].Err.Error(), "reading archived file") {
		t.Errorf("push: failures %v; want uid %d, the file unreadable", rep.Failures, lost.UID)
	}
	if rep.Messages != 0 || rep.Already != n-1 {
		t.Errorf("push: %d appended, %d already; want 0, %d", rep.Messages, rep.Already, n-1)
	}
	if j, _ := fx.arc.Journal(key); j[lost.ID] != nil {
		t.Errorf("journal row for the unreadable message: %+v", j[lost.ID])
	}
}
