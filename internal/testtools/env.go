package testtools

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// DovecotEnv is the real Dovecot of the acceptance suite, started by
// scripts/testenv/dovecot.sh, and what scripts/test.sh seeded into it. Each
// field names the variable it is read from; scripts/test.sh sets them all.
type DovecotEnv struct {
	IMAPAddr  string // CATCHALL_TEST_IMAP_ADDR: plain IMAP, host:port
	IMAPSAddr string // CATCHALL_TEST_IMAPS_ADDR: IMAP over TLS, host:port
	CA        string // CATCHALL_TEST_CA: the PEM file of the CA that signed IMAPSAddr's certificate
	Dir       string // CATCHALL_TEST_DOVECOT_DIR: dovecot.sh's directory; the users' mail is under Dir/mail
	Corpus    string // CATCHALL_TEST_CORPUS: the generated corpus seeded into alice and courier
	// Mailboxes are every user scripts/test.sh seeded, in its order
	// (CATCHALL_TEST_MAILBOXES, "user=dir ..."); none without it.
	Mailboxes []Mailbox
}

// Mailbox is one seeded account of the acceptance suite's Dovecot.
type Mailbox struct {
	User   string
	Corpus string // the generated corpus seeded into it (with truth.json)
}

// NeedDovecot returns the acceptance suite's Dovecot, or skips t when it is
// not running (CATCHALL_TEST_DOVECOT is not 1).
func NeedDovecot(t testing.TB) *DovecotEnv {
	t.Helper()
	if os.Getenv("CATCHALL_TEST_DOVECOT") != "1" {
		t.Skip("no Dovecot: run make test (scripts/test.sh) for the acceptance tests")
	}
	env := &DovecotEnv{
		IMAPAddr:  os.Getenv("CATCHALL_TEST_IMAP_ADDR"),
		IMAPSAddr: os.Getenv("CATCHALL_TEST_IMAPS_ADDR"),
		CA:        os.Getenv("CATCHALL_TEST_CA"),
		Dir:       os.Getenv("CATCHALL_TEST_DOVECOT_DIR"),
		Corpus:    os.Getenv("CATCHALL_TEST_CORPUS"),
	}
	for _, spec := range strings.Fields(os.Getenv("CATCHALL_TEST_MAILBOXES")) {
		user, dir, _ := strings.Cut(spec, "=")
		env.Mailboxes = append(env.Mailboxes, Mailbox{User: user, Corpus: dir})
	}
	return env
}

// NeedTools returns the paths of Debian's tools that a test runs, or skips
// t unless the real-tool checks are asked for (CATCHALL_TEST_TOOLS=1, as
// make test sets it). Once they are, a missing tool fails t: make test
// installs every one. A tool is looked for in PATH, then in /usr/sbin, where
// Postfix's live and which a user's PATH may lack.
func NeedTools(t testing.TB, tools ...string) []string {
	t.Helper()
	if os.Getenv("CATCHALL_TEST_TOOLS") != "1" {
		t.Skipf("the real-tool checks (%s) run in make test: set CATCHALL_TEST_TOOLS=1 to run them here", strings.Join(tools, ", "))
	}
	paths := make([]string, len(tools))
	for i, tool := range tools {
		p, err := exec.LookPath(tool)
		if err != nil {
			if p, err = exec.LookPath(filepath.Join("/usr/sbin", tool)); err != nil {
				t.Fatalf("CATCHALL_TEST_TOOLS=1 but %s is not installed: %v", tool, err)
			}
		}
		paths[i] = p
	}
	return paths
}

// NeedChromium returns the path of Debian's chromium (or chromium-browser
// elsewhere), with the same rules as NeedTools.
func NeedChromium(t testing.TB) string {
	t.Helper()
	if os.Getenv("CATCHALL_TEST_TOOLS") != "1" {
		t.Skip("set CATCHALL_TEST_TOOLS=1 to run the page in chromium (apt-get install chromium)")
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("CATCHALL_TEST_TOOLS=1 but chromium is not installed (apt-get install chromium)")
	return ""
}

// NeedBinary returns the absolute path of the built catchall binary named
// by CATCHALL_BIN, or skips t when there is none.
func NeedBinary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("CATCHALL_BIN")
	if bin == "" {
		t.Skip("needs the built binary in CATCHALL_BIN (make test sets it)")
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago, for
// a program that must be told its port rather than pick one.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// ArtifactDir returns where a test keeps what a person may want to look
// at afterwards (screenshots): CATCHALL_TEST_ARTIFACTS, made if need be,
// or t's temporary directory when that is not set.
func ArtifactDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("CATCHALL_TEST_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// WriteArtifact writes data as name in ArtifactDir and returns its path.
func WriteArtifact(t testing.TB, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(ArtifactDir(t), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
