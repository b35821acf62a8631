package imapsync

// The IMAP suite against servers this project was not developed on: a real
// Courier-IMAP and Cyrus IMAP from Debian, started by scripts/testenv
// (courier.sh, cyrus.sh) with the generated corpus seeded into them.
// fetch (compared byte for byte with an independent imaplib listing),
// incremental fetch, verify, then push of the Dovecot archive (every odd
// message, the 50 MB one, non-ASCII folders) into each, a second push, and
// verify --to; and a folder name the server will not create.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/catchall/catchall/internal/archive"
)

// realServer is one of the servers scripts/test.sh starts.
type realServer struct {
	name      string // also the listing's file name: real-<name>.list
	env       string // CATCHALL_TEST_<NAME>_ADDR
	src, dest string // users: seeded with the corpus, and empty for push
	// alters says whether the server changes a message it accepted, so that
	// verify --to cannot find it byte for byte; nil: it changes nothing.
	alters func(raw []byte) bool
}

var realServers = []realServer{
	// Courier drops every lone CR of an appended message (x\ry → xy).
	{name: "courier", env: "CATCHALL_TEST_COURIER_ADDR", src: "courier", dest: "courierdest", alters: hasLoneCR},
	{name: "cyrus", env: "CATCHALL_TEST_CYRUS_ADDR", src: "cyrususer", dest: "cyrusdest"},
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
			dir := filepath.Join(t.TempDir(), "archive")
			arc, err := archive.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer arc.Close()
			rep, err := Fetch(context.Background(), src, arc, &FetchOptions{Connections: 4})
			if err != nil || len(rep.Failures) > 0 {
				t.Fatalf("fetch: %v %v", err, rep.Failures)
			}
			want := readListing(t, "real-"+rs.name)
			if rep.Messages != len(want) {
				t.Errorf("fetched %d messages, the server has %d", rep.Messages, len(want))
			}
			compareListings(t, want, archiveListing(t, dir))
			folders, _ := arc.Folders()
			var names []string
			for _, f := range folders {
				names = append(names, f.Name)
			}
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
			var n int
			darc.DB().QueryRow(`SELECT count(*) FROM messages`).Scan(&n)
			dest := dovecotServer(t, "imap+plain", rs.dest, addr)
			wipeAccount(t, dest)
			t.Cleanup(func() { wipeAccount(t, dest) })
			start := time.Now()
			prep, err := Push(context.Background(), dest, darc, &PushOptions{Connections: 4, Repair: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("pushed %d of %d messages in %v over %d connections; notes %q", prep.Messages, n, time.Since(start).Round(time.Millisecond), prep.Connections, prep.Notes)
			if len(prep.Failures) > 0 || prep.Messages != n {
				t.Fatalf("push: %d of %d; failures %v", prep.Messages, n, prep.Failures)
			}
			if prep.Connections > 12 {
				t.Errorf("%d connections for one push (reconnect storm?)", prep.Connections)
			}
			// verify --to by hashes: every problem is a message the server
			// changed on APPEND (and said OK).
			altered := map[string]bool{}
			if rs.alters != nil {
				darcFolders, _ := darc.Folders()
				for _, f := range darcFolders {
					darc.Entries(f.Name, 0, func(e *archive.Entry) error {
						if b, err := os.ReadFile(filepath.Join(darc.Dir(), e.Path)); err == nil && rs.alters(b) {
							altered[fmt.Sprintf("%s uid %d", e.Folder, e.UID)] = true
						}
						return nil
					})
				}
			}
			dv, err := VerifyDest(context.Background(), dest, darc, &DestVerifyOptions{Hashes: true})
			if err != nil {
				t.Fatal(err)
			}
			explained := 0
			archivedAs := regexp.MustCompile(`archived as (.+) uid (\d+)`)
			for _, p := range dv.Problems {
				m := archivedAs.FindStringSubmatch(p.Detail)
				if p.Kind == "missing" && m != nil && altered[m[1]+" uid "+m[2]] {
					explained++
					continue
				}
				t.Errorf("verify --to: %s %s uid %d: %s", p.Kind, p.Folder, p.UID, p.Detail)
			}
			if explained != len(altered) || dv.Total.Verified != n-len(altered) {
				t.Errorf("verify --to: %+v; %d altered by the server, %d of them reported", dv.Total, len(altered), explained)
			}
			// A second push appends nothing.
			second, err := Push(context.Background(), dest, darc, &PushOptions{Connections: 4, Repair: true})
			if err != nil || second.Messages != 0 || second.Already != n || len(second.Failures) > 0 {
				t.Errorf("second push: %d appended, %d already, %v %v", second.Messages, second.Already, err, second.Failures)
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
