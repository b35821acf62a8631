package imapsync

// Acceptance tests against a real Dovecot, started by scripts/test.sh (make
// test) with two users holding the same generated corpus: alice (namespace
// without prefix, "/" separator) and courier (Courier style: "INBOX." prefix,
// "." separator). They compare the archive with an independent listing of
// the server made by scripts/testenv/imaplist.py (Python's imaplib).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/catchall/catchall/archive"
	"github.com/catchall/catchall/internal/imaptest"
	"github.com/catchall/catchall/internal/testtools"
	"github.com/catchall/catchall/serverurl"
)

// listed is one line of imaplist.py's output.
type listed struct {
	folder      string
	uidValidity string
	uid         string
	size        string
	sha256      string
	flags       string
}

func readListing(t *testing.T, user string) []listed {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(os.Getenv("CATCHALL_TEST_LISTINGS"), user+".list"))
	if err != nil {
		t.Fatal(err)
	}
	var out []listed
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) < 5 {
			t.Fatalf("bad listing line %q", sc.Text())
		}
		for len(f) < 6 {
			f = append(f, "")
		}
		out = append(out, listed{f[0], f[1], f[2], f[3], f[4], normFlags(f[5])})
	}
	if len(out) == 0 {
		t.Fatal("empty listing")
	}
	return out
}

func normFlags(s string) string {
	return strings.Join(archive.NormalizeFlags(strings.Fields(s)), " ")
}

// archiveListing lists the archive's current messages in the same format,
// after checking every file against its row.
func archiveListing(t *testing.T, dir string) []listed {
	return archiveListingGone(t, dir, false)
}

// archiveListingGone lists the archive, with or without the messages the
// server no longer has.
func archiveListingGone(t *testing.T, dir string, withGone bool) []listed {
	t.Helper()
	arc, err := archive.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer arc.Close()
	folders, err := arc.Folders()
	if err != nil {
		t.Fatal(err)
	}
	var out []listed
	for _, f := range folders {
		err := arc.Entries(f.Name, f.UIDValidity, func(e *archive.Entry) error {
			if e.Gone && !withGone {
				return nil
			}
			size, sum, _, err := archive.HashFile(filepath.Join(dir, e.Path))
			if err != nil || size != e.Size || sum != e.SHA256 {
				t.Errorf("%s: file does not match its index row (%v)", e.Path, err)
			}
			out = append(out, listed{f.Name, fmt.Sprint(e.UIDValidity), fmt.Sprint(e.UID), fmt.Sprint(e.Size), e.SHA256, strings.Join(e.Flags, " ")})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// compareListings reports every difference between the server and the archive.
func compareListings(t *testing.T, server, arch []listed) {
	t.Helper()
	key := func(l listed) string { return l.folder + "\t" + l.uidValidity + "\t" + l.uid }
	byKey := map[string]listed{}
	for _, l := range arch {
		if _, dup := byKey[key(l)]; dup {
			t.Errorf("duplicate in archive: %q", key(l))
		}
		byKey[key(l)] = l
	}
	missing, bad := 0, 0
	for _, s := range server {
		a, ok := byKey[key(s)]
		delete(byKey, key(s))
		switch {
		case !ok:
			if missing++; missing <= 10 {
				t.Errorf("missing from archive: %q", key(s))
			}
		case a.size != s.size || a.sha256 != s.sha256:
			if bad++; bad <= 10 {
				t.Errorf("%q: archived %s bytes sha %.12s, server %s bytes sha %.12s", key(s), a.size, a.sha256, s.size, s.sha256)
			}
		case a.flags != s.flags:
			if bad++; bad <= 10 {
				t.Errorf("%q: archived flags %q, server %q", key(s), a.flags, s.flags)
			}
		}
	}
	for k := range byKey {
		t.Errorf("in archive but not on server: %q", k)
	}
	if missing+bad > 0 {
		t.Errorf("%d missing, %d different, of %d", missing, bad, len(server))
	}
}

func dovecotServer(t *testing.T, scheme, user, addr string) *Server {
	t.Helper()
	u, err := serverurl.Parse(fmt.Sprintf("%s://%s@%s", scheme, user, addr), "imap")
	if err != nil {
		t.Fatal(err)
	}
	return &Server{URL: u, Password: "secret", IdleTimeout: 30 * time.Second}
}

func TestDovecotFetchMatchesServer(t *testing.T) {
	addr := testtools.NeedDovecot(t).IMAPAddr
	var folderSets [][]string
	for _, user := range []string{"alice", "courier"} {
		t.Run(user, func(t *testing.T) {
			want := readListing(t, user)
			srv := dovecotServer(t, "imap+plain", user, addr)
			arc, dir, rep := fetchNew(t, srv, &FetchOptions{Connections: 4})
			if rep.Messages != len(want) {
				t.Errorf("fetched %d messages, server has %d", rep.Messages, len(want))
			}
			compareListings(t, want, archiveListing(t, dir))

			// The names are the same whatever the namespace style.
			names := folderNames(t, arc)
			folderSets = append(folderSets, names)
			for _, n := range []string{"INBOX", "Archive/2019", "Réception/Factures", "Q&A", "Empty"} {
				if !slices.Contains(names, n) {
					t.Errorf("folder %q missing from %q", n, names)
				}
			}
			// The SPECIAL-USE roles the server announces are kept (RFC 6154).
			folders, _ := arc.Folders()
			for _, f := range folders {
				want := map[string]string{"Sent": `\Sent`, "Drafts": `\Drafts`, "Junk": `\Junk`, "Trash": `\Trash`}[f.Name]
				if want != "" && !slices.Contains(strings.Fields(f.Attrs), want) {
					t.Errorf("folder %s: attrs %q, want %s recorded", f.Name, f.Attrs, want)
				}
			}

			// Nothing new: CONDSTORE lets every folder be skipped after STATUS.
			rep, err := Fetch(context.Background(), srv, arc, nil)
			if err != nil {
				t.Fatal(err)
			}
			skipped := 0
			for _, f := range rep.Folders {
				if f.Skipped {
					skipped++
				}
			}
			if rep.Messages != 0 || skipped != len(rep.Folders) {
				t.Errorf("second run: %d messages, %d of %d folders skipped", rep.Messages, skipped, len(rep.Folders))
			}

			vr, err := Verify(context.Background(), srv, arc, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !vr.OK() || vr.Total.Verified != len(want) || vr.Total.Extra != 0 {
				t.Errorf("verify: %+v", vr.Total)
			}
		})
	}
	if len(folderSets) == 2 && !slices.Equal(folderSets[0], folderSets[1]) {
		t.Errorf("folder names differ between namespace styles:\n%q\n%q", folderSets[0], folderSets[1])
	}
}

func TestDovecotTLS(t *testing.T) {
	env := testtools.NeedDovecot(t)
	plain, tlsAddr, ca := env.IMAPAddr, env.IMAPSAddr, env.CA
	pem, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s: no certificate", ca)
	}
	trusted := &tls.Config{RootCAs: pool}
	cases := []struct {
		name    string
		scheme  string
		addr    string
		tls     *tls.Config
		wantErr string
	}{
		{"imaps with CA", "imaps", tlsAddr, trusted, ""},
		{"starttls with CA", "imap", plain, trusted, ""},
		{"imaps untrusted", "imaps", tlsAddr, nil, "unknown authority"},
		{"starttls untrusted", "imap", plain, nil, "unknown authority"},
		{"imaps to a plaintext port", "imaps", plain, trusted, "TLS"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			arc, err := archive.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer arc.Close()
			srv := dovecotServer(t, tc.scheme, "alice", tc.addr)
			srv.TLSConfig, srv.IdleTimeout = tc.tls, 5*time.Second
			rep, err := Fetch(context.Background(), srv, arc, &FetchOptions{Include: []string{"Sent"}})
			if tc.wantErr == "" {
				if err != nil || len(rep.Failures) > 0 || rep.Messages == 0 {
					t.Fatalf("err %v, report %+v", err, rep)
				}
				return
			}
			if !errors.Is(err, ErrConnect) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want ErrConnect mentioning %q", err, tc.wantErr)
			}
		})
	}
}

// TestDovecotKill9Resume kills the real binary with SIGKILL at random
// moments, then lets it finish: the archive must hold every message once.
func TestDovecotKill9Resume(t *testing.T) {
	addr := testtools.NeedDovecot(t).IMAPAddr
	bin := testtools.NeedBinary(t)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	t.Logf("random seed %d", seed)
	dir := filepath.Join(t.TempDir(), "archive")
	want := readListing(t, "courier")
	run := func() *exec.Cmd {
		cmd := exec.Command(bin, "fetch", "--from", "imap+plain://courier@"+addr, "--archive", dir, "--quiet", "--connections", "3")
		cmd.Env = append(os.Environ(), "CATCHALL_PASSWORD=secret")
		return cmd
	}
	kills := 0
	for i := 0; i < 8 && kills < 5; i++ {
		cmd := run()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(50+rng.IntN(700)) * time.Millisecond
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			t.Logf("run %d finished before the kill at %v (err %v)", i, delay, err)
			continue
		case <-time.After(delay):
		}
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
		kills++
		t.Logf("run %d killed after %v", i, delay)
	}
	if kills == 0 {
		t.Fatal("every run finished before it could be killed")
	}
	out, err := run().CombinedOutput()
	if err != nil {
		t.Fatalf("final run: %v\n%s", err, out)
	}
	compareListings(t, want, archiveListing(t, dir))
	// No leftovers in tmp/.
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Base(filepath.Dir(p)) == "tmp" {
			t.Errorf("left in tmp/: %s", p)
		}
		return nil
	})
}

func TestDovecotDroppedConnections(t *testing.T) {
	addr := testtools.NeedDovecot(t).IMAPAddr
	proxy, err := imaptest.StartProxy(addr, 8, 3<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	arc, dir := newArchive(t)
	srv := dovecotServer(t, "imap+plain", "alice", proxy.Addr)
	rep, err := Fetch(context.Background(), srv, arc, &FetchOptions{Connections: 2, Backoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Failures) > 0 {
		t.Errorf("failures: %v", rep.Failures)
	}
	if proxy.Connections() <= 8 {
		t.Errorf("%d connections: the cuts did not all happen", proxy.Connections())
	}
	compareListings(t, readListing(t, "alice"), archiveListing(t, dir))
}

func TestDovecotWrongPassword(t *testing.T) {
	addr := testtools.NeedDovecot(t).IMAPAddr
	bin := testtools.NeedBinary(t)
	cmd := exec.Command(bin, "fetch", "--from", "imap+plain://alice@"+addr, "--archive", t.TempDir(), "--quiet")
	cmd.Env = append(os.Environ(), "CATCHALL_PASSWORD=hunter2-wrong")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("exit %v, want 3; output:\n%s", err, out)
	}
	var errLines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.HasPrefix(l, "catchall:") {
			errLines = append(errLines, l)
		}
	}
	if len(errLines) != 1 || !strings.Contains(errLines[0], "authentication failed") {
		t.Errorf("want one error line saying authentication failed, got:\n%s", out)
	}
	if bytes.Contains(out, []byte("hunter2")) {
		t.Error("the password appears in the output")
	}
}

// liveListing lists user's mailbox now, with the independent lister.
func liveListing(t *testing.T, user, addr string) []listed {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	out, err := exec.Command("python3", "../scripts/testenv/imaplist.py", "--host", host, "--port", port, "--user", user, "--password", "secret").Output()
	if err != nil {
		t.Fatalf("imaplist: %v", err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, user+".list"), out, 0o600)
	t.Setenv("CATCHALL_TEST_LISTINGS", dir)
	return readListing(t, user)
}

// TestDovecotIncremental changes the server between runs: new messages,
// flag and keyword changes (found with CONDSTORE CHANGEDSINCE), an expunge,
// and a folder renumbered (UIDVALIDITY change).
func TestDovecotIncremental(t *testing.T) {
	addr := testtools.NeedDovecot(t).IMAPAddr
	ctx := context.Background()
	srv := dovecotServer(t, "imap+plain", "dest", addr)
	c, err := srv.dial(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Start from an empty account whatever an earlier run left.
	for _, mb := range []string{"Sub/Folder", "Sub"} {
		c.Delete(mb).Wait()
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	var all imap.UIDSet
	all.AddRange(1, 0)
	c.Store(all, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Close()
	c.Expunge().Close()
	if err := c.Create("Sub/Folder", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	appendMsg := func(mb string, n int) {
		t.Helper()
		raw := fmt.Sprintf("Message-ID: <%s-%d@dest>\r\nSubject: %d\r\n\r\nbody %d\r\n", strings.ReplaceAll(mb, "/", "-"), n, n, n)
		cmd := c.Append(mb, int64(len(raw)), &imap.AppendOptions{Time: time.Date(2015, 1, n, 0, 0, 0, 0, time.UTC)})
		cmd.Write([]byte(raw))
		cmd.Close()
		if _, err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 5; i++ {
		appendMsg("INBOX", i)
	}
	appendMsg("Sub/Folder", 1)
	appendMsg("Sub/Folder", 2)

	arc, dir := newArchive(t)
	var lastTranscript string
	fetch := func() *Report {
		t.Helper()
		var transcript testtools.Buffer // go-imap may still write after Fetch returns
		s := dovecotServer(t, "imap+plain", "dest", addr)
		s.Debug = &transcript
		rep, err := Fetch(ctx, s, arc, nil)
		if err != nil || len(rep.Failures) > 0 {
			t.Fatalf("fetch: %v %v", err, rep)
		}
		rep.Elapsed = 0
		lastTranscript = transcript.String()
		return rep
	}
	if rep := fetch(); rep.Messages != 7 {
		t.Fatalf("first run fetched %d, want 7", rep.Messages)
	}
	compareListings(t, liveListing(t, "dest", addr), archiveListing(t, dir))

	// Change the server: a new message, new flags and a keyword, an expunge.
	appendMsg("INBOX", 6)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	c.Store(imap.UIDSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged, "$Important"}, Silent: true}, nil).Close()
	c.Store(imap.UIDSetNum(3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Close()
	if err := c.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	rep := fetch()
	var inbox *FolderReport
	for _, f := range rep.Folders {
		if f.Name == "INBOX" {
			inbox = f
		}
	}
	if rep.Messages != 1 || inbox == nil || inbox.FlagUpdates != 1 || inbox.Gone != 1 {
		t.Errorf("second run: %d messages, INBOX %+v; want 1 new, 1 flag update, 1 gone", rep.Messages, inbox)
	}
	if !strings.Contains(lastTranscript, "CHANGEDSINCE") {
		t.Error("flag changes were not asked for with CHANGEDSINCE")
	}
	compareListings(t, liveListing(t, "dest", addr), archiveListing(t, dir))
	if n := len(archiveListingGone(t, dir, true)); n != 8 {
		t.Errorf("archive holds %d messages, want 8 (the expunged one kept)", n)
	}

	// Renumber Sub/Folder: delete it and put the same two messages back plus one.
	c.Unselect().Wait()
	if err := c.Delete("Sub/Folder").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Create("Sub/Folder", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	appendMsg("Sub/Folder", 1)
	appendMsg("Sub/Folder", 2)
	appendMsg("Sub/Folder", 3)
	rep = fetch()
	for _, f := range rep.Folders {
		if f.Name == "Sub/Folder" && (!f.Reset || f.New != 3) {
			t.Errorf("after renumbering: %+v", f)
		}
	}
	compareListings(t, liveListing(t, "dest", addr), archiveListing(t, dir))
	files, _ := filepath.Glob(filepath.Join(dir, "Sub", "Folder", "cur", "*"))
	if len(files) != 3 {
		t.Errorf("Sub/Folder holds %d files, want 3 (identical messages stored once)", len(files))
	}
}
