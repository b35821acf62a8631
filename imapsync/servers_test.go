package imapsync

// The IMAP suite against servers this project was not developed on: a real
// Courier-IMAP and Cyrus IMAP from Debian, started by scripts/testenv
// (courier.sh, cyrus.sh) with the generated corpus seeded into them.
// fetch (compared byte for byte with an independent imaplib listing),
// incremental fetch, verify, then push of the Dovecot archive (every odd
// message, the 50 MB one, non-ASCII folders) into each, a second push, and
// verify --to; and a folder name the server will not create.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/catchall/catchall/archive"
)

// realServer is one of the servers scripts/test.sh starts.
type realServer struct {
	name      string // also the listing's file name: real-<name>.list
	env       string // CATCHALL_TEST_<NAME>_ADDR
	src, dest string // users: seeded with the corpus, and empty for push
	// alters says whether the server changes a message it accepted, so that
	// verify --to cannot find it byte for byte; nil: it changes nothing.
	alters func(raw []byte) bool
	// refuses says whether the server refuses a message for good even as
	// push --repair sends it; nil: it refuses nothing.
	refuses func(raw []byte) bool
}

var realServers = []realServer{
	// Courier drops every lone CR of an appended message (x\ry → xy).
	{name: "courier", env: "CATCHALL_TEST_COURIER_ADDR", src: "courier", dest: "courierdest", alters: hasLoneCR},
	// Cyrus replaces 8-bit header bytes by X (munge8bit) and refuses a
	// header whose first line is folded or has no colon; it refuses NUL and
	// bare LF too, which --repair fixes.
	{name: "cyrus", env: "CATCHALL_TEST_CYRUS_ADDR", src: "cyrususer", dest: "cyrusdest", alters: has8bitHeader, refuses: hasInvalidHeader},
}

// header returns the header of raw, repaired as push --repair sends it.
func header(raw []byte) []byte {
	fixed, _ := repairMessage(raw)
	if i := bytes.Index(fixed, []byte("\r\n\r\n")); i >= 0 {
		return fixed[:i+2]
	}
	return fixed
}

func has8bitHeader(raw []byte) bool {
	for _, c := range header(raw) {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// hasInvalidHeader is Cyrus's "Message contains invalid header": a first
// line that is folded, or a header line without a field name and colon.
func hasInvalidHeader(raw []byte) bool {
	lines := bytes.Split(bytes.TrimSuffix(header(raw), []byte("\r\n")), []byte("\r\n"))
	for i, l := range lines {
		if len(l) > 0 && (l[0] == ' ' || l[0] == '\t') {
			if i == 0 {
				return true
			}
			continue
		}
		name, _, ok := bytes.Cut(l, []byte(":"))
		if !ok || len(name) == 0 || bytes.ContainsAny(name, " \t") {
			return true
		}
	}
	return false
}

func hasLoneCR(b []byte) bool {
	for i, c := range b {
		if c == '\r' && (i+1 == len(b) || b[i+1] != '\n') {
			return true
		}
	}
	return false
}

func TestServersSuite(t *testing.T) {
	dovecot := os.Getenv("CATCHALL_TEST_IMAP_ADDR")
	ran := 0
	for _, rs := range realServers {
		addr := os.Getenv(rs.env)
		t.Run(rs.name, func(t *testing.T) {
			if addr == "" {
				t.Skipf("%s not set: scripts/test.sh starts %s", rs.env, rs.name)
			}
			ran++
			src := dovecotServer(t, "imap+plain", rs.src, addr)

			// fetch, compared with imaplib's listing of the same account.
			arc, dir, rep := fetchNew(t, src, &FetchOptions{Connections: 4})
			want := readListing(t, "real-"+rs.name)
			if rep.Messages != len(want) {
				t.Errorf("fetched %d messages, the server has %d", rep.Messages, len(want))
			}
			compareListings(t, want, archiveListing(t, dir))
			names := folderNames(t, arc)
			for _, n := range []string{"INBOX", "Archive/2019", "Réception/Factures", "Q&A", "日本語 フォルダ"} {
				if !strings.Contains("\n"+strings.Join(names, "\n")+"\n", "\n"+n+"\n") {
					t.Errorf("folder %q missing from %q", n, names)
				}
			}
			// Incremental: nothing new.
			again, err := Fetch(context.Background(), src, arc, nil)
			if err != nil || again.Messages != 0 || len(again.Failures) > 0 {
				t.Errorf("second fetch: %d messages, %v %v", again.Messages, err, again.Failures)
			}
			vr, err := Verify(context.Background(), src, arc, nil)
			if err != nil || !vr.OK() || vr.Total.Verified != len(want) {
				t.Errorf("verify: %+v %v %v", vr.Total, vr.Problems[:min(5, len(vr.Problems))], err)
			}

			// push the Dovecot archive (every odd message) into the server.
			if dovecot == "" {
				t.Skip("no Dovecot archive to push")
			}
			darc, _ := fetchAlice(t, dovecot)
			n := archivedCount(t, darc)
			dest := dovecotServer(t, "imap+plain", rs.dest, addr)
			wipeAccount(t, dest)
			t.Cleanup(func() { wipeAccount(t, dest) })
			start := time.Now()
			prep, err := Push(context.Background(), dest, darc, &PushOptions{Connections: 4, Repair: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("pushed %d of %d messages in %v over %d connections; notes %q", prep.Messages, n, time.Since(start).Round(time.Millisecond), prep.Connections, prep.Notes)
			// What the server cannot take even repaired, it refuses for good;
			// everything else arrives.
			altered, refused := map[string]bool{}, map[string]bool{}
			darcFolders, _ := darc.Folders()
			for _, f := range darcFolders {
				darc.Entries(f.Name, 0, func(e *archive.Entry) error {
					b, err := os.ReadFile(filepath.Join(darc.Dir(), e.Path))
					key := fmt.Sprintf("%s uid %d", e.Folder, e.UID)
					switch {
					case err != nil:
					case rs.refuses != nil && rs.refuses(b):
						refused[key] = true
					case rs.alters != nil && rs.alters(b):
						altered[key] = true
					}
					return nil
				})
			}
			for _, f := range prep.Failures {
				key := fmt.Sprintf("%s uid %d", f.Folder, f.UID)
				if !refused[key] || !f.Permanent {
					t.Errorf("push failure not expected (permanent %v): %v", f.Permanent, f)
				}
				delete(refused, key)
			}
			if len(refused) > 0 || prep.Messages != n-len(prep.Failures) {
				t.Fatalf("push: %d of %d appended; expected refusals not seen: %v", prep.Messages, n, refused)
			}
			for _, f := range prep.Failures {
				refused[fmt.Sprintf("%s uid %d", f.Folder, f.UID)] = true
			}
			if prep.Connections > 12 {
				t.Errorf("%d connections for one push (reconnect storm?)", prep.Connections)
			}
			// verify --to by hashes: every problem is a message the server
			// refused, or changed on APPEND (and said OK).
			dv, err := VerifyDest(context.Background(), dest, darc, &DestVerifyOptions{Hashes: true})
			if err != nil {
				t.Fatal(err)
			}
			explained := 0
			archivedAs := regexp.MustCompile(`archived as (.+?) uid (\d+)`)
			for _, p := range dv.Problems {
				m := archivedAs.FindStringSubmatch(p.Detail)
				if m != nil && (p.Kind == "mismatched" && altered[m[1]+" uid "+m[2]] || p.Kind == "missing" && (altered[m[1]+" uid "+m[2]] || refused[m[1]+" uid "+m[2]])) {
					explained++
					continue
				}
				t.Errorf("verify --to: %s %s uid %d: %s", p.Kind, p.Folder, p.UID, p.Detail)
			}
			if explained != len(altered)+len(refused) || dv.Total.Verified != n-len(altered)-len(refused) {
				t.Errorf("verify --to: %+v; %d altered and %d refused by the server, %d reported", dv.Total, len(altered), len(refused), explained)
			}
			// A second push appends nothing (and refuses the same again).
			second, err := Push(context.Background(), dest, darc, &PushOptions{Connections: 4, Repair: true})
			if err != nil || second.Messages != 0 || second.Already != n-len(refused) || len(second.Failures) != len(refused) {
				t.Errorf("second push: %d appended, %d already, %d failed (want %d), %v", second.Messages, second.Already, len(second.Failures), len(refused), err)
			}

			// A folder name the server will not create (Courier: an emoji).
			fx := pushFixture(t, []testMessage{
				{"INBOX", []byte("Message-ID: <emoji-in@x>\r\nSubject: in\r\n\r\nx\r\n"), nil, time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)},
				{"📬 Post", []byte("Message-ID: <emoji-1@x>\r\nSubject: emoji\r\n\r\nx\r\n"), []string{`\Seen`}, time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)},
			})
			erep, err := Push(context.Background(), dest, fx.arc, nil)
			if err != nil || len(erep.Failures) > 0 || erep.Messages != 2 {
				t.Fatalf("emoji folder: %d pushed, %v %v; notes %q", erep.Messages, err, erep.Failures, erep.Notes)
			}
			t.Logf("emoji folder: notes %q", erep.Notes)
			ev, err := VerifyDest(context.Background(), dest, fx.arc, nil)
			if err != nil || !ev.OK() || ev.Total.Verified != 2 {
				t.Errorf("verify --to after the emoji folder: %+v %v %v", ev.Total, ev.Problems, err)
			}
		})
	}
	if ran == 0 && os.Getenv("CATCHALL_TEST_DOVECOT") == "1" {
		t.Error("make test started neither Courier nor Cyrus")
	}
}
