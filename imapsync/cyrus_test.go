package imapsync

// Smoke test against a real Cyrus IMAP 3.6 started by scripts/testenv/cyrus.sh
// (namespace "INBOX." with "." separator, as Debian configures it). It
// appends a small tree of its own to cyrususer under a unique top folder,
// fetches that subtree with Fetch and compares the archive with what was
// appended; the folders are deleted afterwards.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

func cyrusEnv(t *testing.T) (addr string) {
	t.Helper()
	if os.Getenv("CATCHALL_TEST_CYRUS") != "1" {
		t.Skip("no Cyrus: run scripts/testenv/cyrus.sh start DIR and eval its env")
	}
	addr = os.Getenv("CATCHALL_TEST_CYRUS_ADDR")
	if addr == "" {
		t.Fatal("CATCHALL_TEST_CYRUS=1 but CATCHALL_TEST_CYRUS_ADDR is empty")
	}
	return addr
}

func TestCyrusSmoke(t *testing.T) {
	addr := cyrusEnv(t)
	const user = "cyrususer"

	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() }) // after the folders are deleted
	if err := c.Login(user, "secret").Wait(); err != nil {
		t.Fatal(err)
	}
	ns, err := c.Namespace().Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(ns.Personal) != 1 || ns.Personal[0].Prefix != "INBOX." || ns.Personal[0].Delim != '.' {
		t.Fatalf("personal namespace %+v, want INBOX. with '.'", ns.Personal)
	}

	// The tree: server name -> archive name, messages.
	top := fmt.Sprintf("smoke%d", time.Now().UnixNano())
	type msg struct {
		raw   []byte
		flags []string
		date  time.Time
	}
	date := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	body := func(subject string) []byte {
		return []byte("From: Sender <sender@example.com>\r\nTo: user@catchall.test\r\nSubject: " + subject +
			"\r\nDate: Thu, 4 Mar 2021 05:06:07 +0000\r\nMessage-ID: <" + subject + "@example.com>\r\n\r\nHello " + subject + "\r\n")
	}
	tree := []struct {
		server, archive string
		msgs            []msg
	}{
		{"INBOX." + top, top, []msg{{body("one"), []string{`\Seen`}, date}, {body("two"), nil, date.Add(time.Hour)}}},
		{"INBOX." + top + ".Entwürfe", top + "/Entwürfe", []msg{{body("draft"), []string{`\Draft`, `\Seen`}, date}}},
		{"INBOX." + top + ".😀 Emoji", top + "/😀 Emoji", []msg{{body("emoji"), []string{`\Flagged`, `$Work`}, date}}},
	}
	var want []listed
	for _, f := range tree {
		if err := c.Create(f.server, nil).Wait(); err != nil {
			t.Fatalf("CREATE %q: %v", f.server, err)
		}
		for _, m := range f.msgs {
			fl := make([]imap.Flag, len(m.flags))
			for i, s := range m.flags {
				fl[i] = imap.Flag(s)
			}
			cmd := c.Append(f.server, int64(len(m.raw)), &imap.AppendOptions{Flags: fl, Time: m.date})
			if _, err := cmd.Write(m.raw); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Close(); err != nil {
				t.Fatal(err)
			}
			ad, err := cmd.Wait()
			if err != nil {
				t.Fatalf("APPEND to %q: %v", f.server, err)
			}
			want = append(want, listed{f.archive, fmt.Sprint(ad.UIDValidity), fmt.Sprint(ad.UID), fmt.Sprint(len(m.raw)),
				fmt.Sprintf("%x", sha256.Sum256(m.raw)), normFlags(strings.Join(m.flags, " "))})
		}
	}
	t.Cleanup(func() {
		for i := len(tree) - 1; i >= 0; i-- {
			if err := c.Delete(tree[i].server).Wait(); err != nil {
				t.Errorf("DELETE %q: %v", tree[i].server, err)
			}
		}
	})

	srv := dovecotServer(t, "imap+plain", user, addr)
	opts := &FetchOptions{Include: []string{top, top + "/*"}, Connections: 2}
	arc, dir, rep := fetchNew(t, srv, opts)
	if rep.Messages != len(want) {
		t.Errorf("fetched %d messages, appended %d", rep.Messages, len(want))
	}
	compareListings(t, want, archiveListing(t, dir))

	names := folderNames(t, arc)
	for _, f := range tree {
		if !slices.Contains(names, f.archive) {
			t.Errorf("folder %q missing from %q", f.archive, names)
		}
	}
	// The archived bytes are the appended ones.
	for _, f := range tree {
		for _, m := range f.msgs {
			found := false
			filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					if b, _ := os.ReadFile(p); bytes.Equal(b, m.raw) {
						found = true
					}
				}
				return nil
			})
			if !found {
				t.Errorf("%s: appended message not found byte for byte in the archive", f.archive)
			}
		}
	}

	// Nothing new on a second run.
	rep, err = Fetch(context.Background(), srv, arc, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Messages != 0 || len(rep.Failures) > 0 {
		t.Errorf("second run: %d messages, failures %v", rep.Messages, rep.Failures)
	}
}
