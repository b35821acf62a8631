package archive

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLocalDir(t *testing.T) {
	cases := map[string]string{
		"INBOX":              "INBOX",
		"Archive/2019":       "Archive/2019",
		"Réception/Factures": "Réception/Factures",
		"INBOX/new":          "INBOX/%6Eew",
		"cur":                "%63ur",
		"a//b":               "a/%/b",
		"../etc":             "%2E./etc",
		"index.db":           "%69ndex.db",
		"x/index.db":         "x/index.db",
		"back\\slash":        "back%5Cslash",
	}
	for in, want := range cases {
		if got := LocalDir(in); got != filepath.FromSlash(want) {
			t.Errorf("LocalDir(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFileName(t *testing.T) {
	date := time.Unix(1700000000, 0)
	name := FileName(date, 42, 7, []string{`\Seen`, `\Flagged`, "$label", `\Answered`, `\Seen`})
	if name != "1700000000.V42U7.catchall:2,FRS" {
		t.Fatalf("FileName = %q", name)
	}
	uv, uid, ok := ParseFileName(name)
	if !ok || uv != 42 || uid != 7 {
		t.Fatalf("ParseFileName(%q) = %d, %d, %v", name, uv, uid, ok)
	}
	for _, bad := range []string{"1700000000.V42U7.other:2,S", "x.V1U1.catchall", "1.V0U1.catchall", "1.V1U.catchall", "1.42_7.catchall", "1.V1U99999999999.catchall"} {
		if _, _, ok := ParseFileName(bad); ok {
			t.Errorf("ParseFileName(%q) accepted", bad)
		}
	}
}

func TestMessageID(t *testing.T) {
	cases := map[string]string{
		"Message-ID: <a@b>\r\n\r\nbody":                      "a@b",
		"Subject: x\r\nmessage-id:   <c@d>  \r\n\r\n":        "c@d",
		"Message-Id:\r\n <folded@x>\r\n\r\n":                 "folded@x",
		"Subject: x\r\n\r\nMessage-ID: <in-body@x>\r\n":      "",
		"no header at all":                                   "",
		"Message-ID: bare-id\n\n":                            "bare-id",
		"X: y\nMessage-ID: <first@x>\nMessage-ID: <2@x>\n\n": "first@x",
		"Message-ID: <\xff\xfe@x>\r\n\r\n":                   "\uFFFD@x", // a run of invalid bytes becomes one U+FFFD
	}
	for in, want := range cases {
		if got := MessageID([]byte(in)); got != want {
			t.Errorf("MessageID(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzMessageID(f *testing.F) {
	for _, s := range []string{"Message-ID: <a@b>\r\n\r\n", "message-id:\n <x>\n", ":\n\n", "\x00\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		id := MessageID(b)
		if len(id) > 998*3 {
			t.Fatalf("Message-ID of %d bytes", len(id))
		}
	})
}

func FuzzParseFileName(f *testing.F) {
	f.Add("1700000000.V42U7.catchall:2,FRS")
	f.Add("1.V1U1.catchall")
	f.Fuzz(func(t *testing.T, name string) {
		uv, uid, ok := ParseFileName(name)
		if ok && (uv == 0 || uid == 0) {
			t.Fatalf("ParseFileName(%q) accepted zero", name)
		}
	})
}

// inbox opens an archive in a new directory, closed when the test ends,
// with the folder INBOX.
func inbox(t *testing.T) (*Archive, *Folder, string) {
	t.Helper()
	dir := t.TempDir()
	arc, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { arc.Close() })
	f, err := arc.AddFolder("INBOX", "INBOX", "/", "")
	if err != nil {
		t.Fatal(err)
	}
	return arc, f, dir
}

func TestCommitAndReconcile(t *testing.T) {
	ctx := context.Background()
	arc, f, dir := inbox(t)
	write := func(uv, uid uint32, body string) *Incoming {
		in, err := arc.Create(f)
		if err != nil {
			t.Fatal(err)
		}
		in.Write([]byte(body))
		in.UIDValidity, in.UID, in.InternalDate, in.Flags = uv, uid, time.Unix(1600000000, 0), []string{`\Seen`}
		return in
	}
	if err := arc.Commit(ctx, []*Incoming{write(1, 1, "Message-ID: <one@x>\r\n\r\n1"), write(1, 2, "two")}); err != nil {
		t.Fatal(err)
	}
	if n, _ := arc.Count("INBOX", 1); n != 2 {
		t.Fatalf("count %d", n)
	}
	// A crash after the rename, before the commit: a file without a row.
	orphan := filepath.Join(dir, "INBOX", "cur", FileName(time.Unix(1600000000, 0), 1, 3, []string{`\Flagged`}))
	os.WriteFile(orphan, []byte("three"), 0o600)
	// A file a mail reader renamed to mark it flagged.
	var path string
	arc.DB().QueryRow(`SELECT path FROM messages WHERE uid = 2`).Scan(&path)
	os.Rename(filepath.Join(dir, path), filepath.Join(dir, path[:len(path)-1]+"FS"))
	// A file that disappeared.
	arc.DB().QueryRow(`SELECT path FROM messages WHERE uid = 1`).Scan(&path)
	os.Remove(filepath.Join(dir, path))
	// An unfinished download and a foreign file.
	os.WriteFile(filepath.Join(dir, "INBOX", "tmp", "5.6_7.catchall"), []byte("part"), 0o600)
	os.WriteFile(filepath.Join(dir, "INBOX", "cur", "123.foreign:2,S"), []byte("x"), 0o600)

	res, err := arc.Reconcile(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	want := ReconcileResult{Adopted: 1, Forgotten: 1, Moved: 1, TmpRemoved: 1, Foreign: 1}
	if res != want {
		t.Errorf("Reconcile = %+v, want %+v", res, want)
	}
	known, _ := arc.KnownUIDs("INBOX", 1)
	if len(known) != 2 || known[3].Flags != `\Flagged` {
		t.Errorf("after reconcile: %+v", known)
	}
	// Idempotent.
	if res, _ := arc.Reconcile(ctx, f); res != (ReconcileResult{Foreign: 1}) {
		t.Errorf("second Reconcile = %+v", res)
	}

	// UIDVALIDITY change: an identical message of the new generation takes
	// over the old file instead of being stored twice.
	if err := arc.Commit(ctx, []*Incoming{write(9, 1, "three")}); err != nil {
		t.Fatal(err)
	}
	var n int
	arc.DB().QueryRow(`SELECT count(*) FROM messages`).Scan(&n)
	ents, _ := os.ReadDir(filepath.Join(dir, "INBOX", "cur"))
	if n != 2 || len(ents) != 3 { // two rows, two files plus the foreign one
		t.Errorf("after re-key: %d rows, %d files", n, len(ents))
	}
	err = arc.Entries("INBOX", 9, func(e *Entry) error {
		b, _ := os.ReadFile(filepath.Join(dir, e.Path))
		if !bytes.Equal(b, []byte("three")) || e.UID != 1 {
			t.Errorf("re-keyed entry %+v holds %q", e, b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Two identical old copies and two identical new ones in one batch: each old
// file is taken over once, nothing is stored twice.
func TestTakeOverSameBatch(t *testing.T) {
	a, f, dir := inbox(t)
	put := func(uv, uid uint32) *Incoming {
		in, err := a.Create(f)
		if err != nil {
			t.Fatal(err)
		}
		in.Write([]byte("same\r\n"))
		in.UIDValidity, in.UID, in.InternalDate = uv, uid, time.Unix(1600000000, 0)
		return in
	}
	ctx := context.Background()
	if err := a.Commit(ctx, []*Incoming{put(1, 1), put(1, 2)}); err != nil {
		t.Fatal(err)
	}
	if err := a.Commit(ctx, []*Incoming{put(2, 10), put(2, 11)}); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "INBOX", "cur", "*"))
	var rows int
	a.DB().QueryRow(`SELECT count(*) FROM messages`).Scan(&rows)
	if len(files) != 2 || rows != 2 {
		t.Errorf("%d files, %d rows; want 2 and 2", len(files), rows)
	}
}
