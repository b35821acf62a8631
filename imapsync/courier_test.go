package imapsync

// Smoke test against a real Courier-IMAP started by scripts/testenv/courier.sh
// (see scripts/testenv/README.md): seed a tiny tree into a folder of its own
// in the "courier" account with the script's seed command, fetch just that
// folder, and compare the archive with the tree. The folder is removed again
// afterwards, so the account stays as the other Courier tests expect it.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/catchall/catchall/archive"
)

// courierEnv returns the address and DIR of the test Courier, or skips.
func courierEnv(t *testing.T) (addr, dir string) {
	t.Helper()
	if os.Getenv("CATCHALL_TEST_COURIER") != "1" {
		t.Skip("no Courier: start one with scripts/testenv/courier.sh start DIR and eval its env")
	}
	addr, dir = os.Getenv("CATCHALL_TEST_COURIER_ADDR"), os.Getenv("CATCHALL_TEST_COURIER_DIR")
	if addr == "" || dir == "" {
		t.Fatal("CATCHALL_TEST_COURIER=1 without CATCHALL_TEST_COURIER_ADDR and CATCHALL_TEST_COURIER_DIR")
	}
	return addr, dir
}

func TestCourierSmoke(t *testing.T) {
	addr, dir := courierEnv(t)
	if os.Geteuid() != 0 {
		t.Skip("seeding the test Courier needs root")
	}
	top := fmt.Sprintf("CatchallSmoke%d", time.Now().UnixNano())
	sub := top + "/Q&A Réponses" // "&" and non-ASCII: modified UTF-7 on the wire
	date := time.Date(2019, 3, 4, 5, 6, 7, 0, time.UTC)
	msg := func(n int) []byte {
		return []byte(fmt.Sprintf("From: sender%d@example.com\r\nTo: anna@catchall.test\r\n"+
			"Subject: smoke %d\r\nMessage-ID: <smoke%d@example.com>\r\nDate: %s\r\n\r\nbody %d\r\n",
			n, n, n, date.Format(time.RFC1123Z), n))
	}
	type file struct {
		folder, name string
		flags        []string
	}
	files := []file{
		{top, "1551675967.1.smoke:2,S", []string{`\Seen`}},
		{top, "1551675967.2.smoke:2,FS", []string{`$label1`, `\Flagged`, `\Seen`}},
		{sub, "1551675967.3.smoke:2,", nil},
	}
	tree := t.TempDir()
	var kw strings.Builder
	for i, f := range files {
		for _, s := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(tree, filepath.FromSlash(f.folder), s), 0o700); err != nil {
				t.Fatal(err)
			}
		}
		p := filepath.Join(tree, filepath.FromSlash(f.folder), "cur", f.name)
		if err := os.WriteFile(p, msg(i+1), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, date, date.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if slices.Contains(f.flags, "$label1") {
			kw.WriteString(f.folder + "/cur/" + f.name + "\t$label1\n")
		}
	}
	if err := os.WriteFile(filepath.Join(tree, "keywords.tsv"), []byte(kw.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	maildir := filepath.Join(dir, "mail", "courier", "Maildir")
	t.Cleanup(func() { removeCourierFolders(t, maildir, top) })
	script, err := filepath.Abs("../scripts/testenv/courier.sh")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(script, "seed", dir, "courier", tree).CombinedOutput(); err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}

	srv := dovecotServer(t, "imap+plain", "courier", addr)
	opts := &FetchOptions{Include: []string{top, top + "/*"}, Connections: 2}
	arc, arcDir, rep := fetchNew(t, srv, opts)
	if rep.Messages != len(files) {
		t.Errorf("fetched %d messages, want %d", rep.Messages, len(files))
	}

	for i, f := range files {
		var got []*archive.Entry
		err := arc.Entries(f.folder, 0, func(e *archive.Entry) error {
			got = append(got, e)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var e *archive.Entry
		for _, g := range got {
			b, err := os.ReadFile(filepath.Join(arcDir, g.Path))
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(b, msg(i+1)) {
				e = g
			}
		}
		if e == nil {
			t.Errorf("%s/%s: not in the archive byte for byte (folder has %d messages)", f.folder, f.name, len(got))
			continue
		}
		want := slices.Clone(f.flags)
		slices.Sort(want)
		if !slices.Equal(e.Flags, want) && !(len(e.Flags) == 0 && len(want) == 0) {
			t.Errorf("%s/%s: flags %q, want %q", f.folder, f.name, e.Flags, want)
		}
		if mt := date.Add(time.Duration(i) * time.Minute); !e.InternalDate.Equal(mt) {
			t.Errorf("%s/%s: INTERNALDATE %v, want the file's mtime %v", f.folder, f.name, e.InternalDate, mt)
		}
	}

	// Nothing new the second time.
	rep, err = Fetch(context.Background(), srv, arc, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Messages != 0 || len(rep.Failures) > 0 {
		t.Errorf("second run: %d messages, failures %v", rep.Messages, rep.Failures)
	}
}

// removeCourierFolders deletes the Maildir++ folders .TOP and .TOP.* and their
// subscriptions: Courier keeps no other state about them.
func removeCourierFolders(t *testing.T, maildir, top string) {
	t.Helper()
	ents, err := os.ReadDir(maildir)
	if err != nil {
		t.Error(err)
		return
	}
	for _, e := range ents {
		if n := e.Name(); n == "."+top || strings.HasPrefix(n, "."+top+".") {
			if err := os.RemoveAll(filepath.Join(maildir, n)); err != nil {
				t.Error(err)
			}
		}
	}
	subs := filepath.Join(maildir, "courierimapsubscribed")
	b, err := os.ReadFile(subs)
	if err != nil {
		return
	}
	var keep []string
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if l != "INBOX."+top && !strings.HasPrefix(l, "INBOX."+top+".") {
			keep = append(keep, l)
		}
	}
	out := strings.Join(keep, "\n")
	if out != "" {
		out += "\n"
	}
	if err := os.WriteFile(subs, []byte(out), 0o600); err != nil {
		t.Error(err)
	}
}
