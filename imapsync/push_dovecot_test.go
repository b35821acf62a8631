package imapsync

// Acceptance tests of push against the real Dovecot of scripts/test.sh: the
// corpus fetched from alice is pushed into dest ("/" separator, no prefix)
// and destcourier ("INBOX." prefix, "." separator), verified, pushed again,
// and pushed by the real binary while it is killed with SIGKILL.

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/catchall/catchall/archive"
	"github.com/catchall/catchall/internal/testtools"
)

// wipeAccount deletes every folder but INBOX and empties INBOX, before and
// after a test, so that counts on the destination are exact.
func wipeAccount(t *testing.T, srv *Server) {
	t.Helper()
	c, err := srv.dial(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(list, func(a, b *imap.ListData) int { return len(b.Mailbox) - len(a.Mailbox) })
	for _, l := range list {
		if !strings.EqualFold(l.Mailbox, "INBOX") {
			if err := c.Delete(l.Mailbox).Wait(); err != nil {
				t.Logf("DELETE %q: %v", l.Mailbox, err)
			}
		}
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	var all imap.UIDSet
	all.AddRange(1, 0)
	c.Store(all, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Close()
	if err := c.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	c.Logout().Wait()
}

// fetchAlice fetches alice's account into a new archive.
func fetchAlice(t *testing.T, addr string) (*archive.Archive, string) {
	t.Helper()
	arc, dir, _ := fetchNew(t, dovecotServer(t, "imap+plain", "alice", addr), &FetchOptions{Connections: 4})
	return arc, dir
}

// checkPushed verifies the destination by hashes and checks that each
// destination folder holds exactly the archived messages pushed there: no
// duplicates, nothing missing.
func checkPushed(t *testing.T, srv *Server, arc *archive.Archive, n int) {
	t.Helper()
	vr, err := VerifyDest(context.Background(), srv, arc, &DestVerifyOptions{Hashes: true})
	if err != nil {
		t.Fatal(err)
	}
	if !vr.OK() || vr.Total.Verified != n || vr.Total.OnServer != n {
		t.Errorf("verify --to: %+v; first problems %v", vr.Total, vr.Problems[:min(5, len(vr.Problems))])
	}
	c, err := srv.dial(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, f := range vr.Folders {
		st, err := c.Status(f.Name, &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil {
			t.Errorf("STATUS %q: %v", f.Name, err)
			continue
		}
		if int(*st.NumMessages) != f.OnServer {
			t.Errorf("%s holds %d messages, %d archived messages went there", f.Name, *st.NumMessages, f.OnServer)
		}
	}
}

func TestDovecotPush(t *testing.T) {
	addr := testtools.NeedDovecot(t).IMAPAddr
	arc, _ := fetchAlice(t, addr)
	n := archivedCount(t, arc)
	for _, tc := range []struct {
		user    string
		folders []string // destination names that must exist afterwards
	}{
		{"dest", []string{"INBOX", "Archive/2019", "Réception/Factures", "Q&A"}},
		{"destcourier", []string{"INBOX", "INBOX.Archive.2019", "INBOX.Réception.Factures", "INBOX.Q&A"}},
	} {
		t.Run(tc.user, func(t *testing.T) {
			srv := dovecotServer(t, "imap+plain", tc.user, addr)
			wipeAccount(t, srv)
			t.Cleanup(func() { wipeAccount(t, srv) })
			rep, err := Push(context.Background(), srv, arc, &PushOptions{Connections: 4})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Failures) > 0 || rep.Messages != n {
				t.Fatalf("pushed %d of %d; failures %v", rep.Messages, n, rep.Failures)
			}
			t.Logf("pushed %d messages (%d bytes) in %v over %d connections; notes %q", rep.Messages, rep.Bytes, rep.Elapsed, rep.Connections, rep.Notes)
			for _, note := range rep.Notes {
				if strings.Contains(note, "keywords") {
					t.Errorf("Dovecot keeps keywords, but: %s", note)
				}
			}
			names := map[string]bool{}
			for _, f := range rep.Folders {
				names[f.Name] = true
			}
			for _, f := range tc.folders {
				if !names[f] {
					t.Errorf("folder %q not pushed; have %v", f, names)
				}
			}
			checkPushed(t, srv, arc, n)

			again, err := Push(context.Background(), srv, arc, &PushOptions{Connections: 4})
			if err != nil {
				t.Fatal(err)
			}
			if again.Messages != 0 || again.Already != n || again.Connections != 1 {
				t.Errorf("second run: %d appended, %d already there, %d connections", again.Messages, again.Already, again.Connections)
			}
		})
	}
}

// TestDovecotPushKill9Resume kills the real binary with SIGKILL at random
// moments of a push, then lets it finish: every message must be on the
// destination exactly once.
func TestDovecotPushKill9Resume(t *testing.T) {
	addr := testtools.NeedDovecot(t).IMAPAddr
	bin := testtools.NeedBinary(t)
	arc, dir := fetchAlice(t, addr)
	n := archivedCount(t, arc)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 2))
	t.Logf("random seed %d", seed)
	for _, user := range []string{"destcourier", "dest"} {
		t.Run(user, func(t *testing.T) {
			srv := dovecotServer(t, "imap+plain", user, addr)
			wipeAccount(t, srv)
			t.Cleanup(func() { wipeAccount(t, srv) })
			run := func() *exec.Cmd {
				cmd := exec.Command(bin, "push", "--archive", dir, "--to", "imap+plain://"+user+"@"+addr, "--quiet", "--connections", "3")
				cmd.Env = append(os.Environ(), "CATCHALL_DEST_PASSWORD=secret")
				return cmd
			}
			// Kill each run once it has made some progress: after a random
			// number of newly journalled messages (so the kill lands in the
			// middle of the push, whatever the machine's speed).
			journalled := func() int {
				j, _ := arc.Journal(DestKey(srv))
				return len(j)
			}
			inFlight := func() int {
				j, _ := arc.Journal(DestKey(srv))
				c := 0
				for _, e := range j {
					if e.State == archive.JournalInFlight {
						c++
					}
				}
				return c
			}
			kills, killsInFlight := 0, 0
			for i := 0; i < 10 && kills < 5; i++ {
				before := journalled()
				if before >= n {
					break
				}
				target := before + 1 + rng.IntN(max(1, (n-before)/3))
				cmd := run()
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- cmd.Wait() }()
				killed := false
			wait:
				for {
					select {
					case err := <-done:
						t.Logf("run %d finished before %d messages were journalled (err %v)", i, target, err)
						break wait
					case <-time.After(2 * time.Millisecond):
						if journalled() >= target {
							cmd.Process.Signal(syscall.SIGKILL)
							<-done
							killed = true
							break wait
						}
					}
				}
				if killed {
					kills++
					f := inFlight()
					if f > 0 {
						killsInFlight++
					}
					t.Logf("run %d killed with %d of %d messages journalled, %d in flight", i, journalled(), n, f)
				}
			}
			if kills == 0 {
				t.Fatal("every run finished before it could be killed")
			}
			if killsInFlight == 0 {
				t.Fatal("no kill left journal rows in flight: the resume path was not exercised")
			}
			out, err := run().CombinedOutput()
			if err != nil {
				t.Fatalf("final run: %v\n%s", err, out)
			}
			t.Logf("final run: %s", bytes.TrimSpace(out))
			checkPushed(t, srv, arc, n)
			// And the verify command agrees.
			cmd := exec.Command(bin, "verify", "--archive", dir, "--to", "imap+plain://"+user+"@"+addr)
			cmd.Env = append(os.Environ(), "CATCHALL_DEST_PASSWORD=secret")
			if out, err := cmd.CombinedOutput(); err != nil || !bytes.Contains(out, []byte("total: ")) {
				t.Errorf("catchall verify --to: %v\n%s", err, out)
			}
		})
	}
}

// TestDovecotPushSizeLimit pushes into an account whose quota plugin refuses
// messages above quota_max_mail_size (user destsmall of
// scripts/testenv/dovecot.sh, named by CATCHALL_TEST_DEST_LIMIT_USER). The
// big message is refused with its reason, everything else arrives.
func TestDovecotPushSizeLimit(t *testing.T) {
	addr := testtools.NeedDovecot(t).IMAPAddr
	user := os.Getenv("CATCHALL_TEST_DEST_LIMIT_USER")
	if user == "" {
		t.Fatal("CATCHALL_TEST_DEST_LIMIT_USER not set: scripts/testenv/dovecot.sh env sets it")
	}
	limit := int64(1 << 20)
	arc, _ := fetchAlice(t, addr)
	var n, over int
	arc.Walk(context.Background(), func(e *archive.Entry) error {
		n++
		if e.Size > limit {
			over++
		}
		return nil
	})
	if over == 0 {
		t.Fatal("no archived message is over 1 MiB: the corpus must have a huge message (gencorpus -huge 1)")
	}
	srv := dovecotServer(t, "imap+plain", user, addr)
	wipeAccount(t, srv)
	t.Cleanup(func() { wipeAccount(t, srv) })
	rep, err := Push(context.Background(), srv, arc, &PushOptions{Connections: 4, Backoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Failures) != over || rep.Messages != n-over {
		t.Fatalf("pushed %d, failures %v; want %d pushed, %d refused", rep.Messages, rep.Failures, n-over, over)
	}
	for _, f := range rep.Failures {
		t.Logf("refused: %s", f)
		if !strings.Contains(f.Err.Error(), "refused") && !strings.Contains(f.Err.Error(), "APPENDLIMIT") {
			t.Errorf("reason: %v", f.Err)
		}
	}
}
