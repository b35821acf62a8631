// Package testtools is what the tests of several packages share.
//
// It runs Debian's Postfix and Dovecot command-line tools for the tests,
// each with a configuration directory of the test's own: no test reads or
// writes /etc, so a machine where Postfix was installed with "No
// configuration" (no /etc/postfix/main.cf) or where Dovecot was never set up
// passes the same tests as a long-used one. The tools stay real: postmap
// builds and queries the maps Postfix would use, sievec and sieve-test
// compile and run scripts as Pigeonhole would.
//
// A test that needs more than the Go toolchain says so with one helper,
// which skips it, saying what to run, when that is not there: NeedDovecot
// (the acceptance suite's Dovecot), NeedTools and NeedChromium (Debian's
// programs, with CATCHALL_TEST_TOOLS=1), NeedBinary (the built catchall).
// Golden compares generated output with a golden file (-update rewrites it).
package testtools

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// pcreModule is where Debian's postfix-pcre puts the PCRE map type.
const pcreModule = "/usr/lib/postfix/postfix-pcre.so"

// Postfix is a private Postfix configuration directory for postmap and
// postconf: a main.cf whose meta_directory is the directory itself, and a
// dynamicmaps.cf that names Debian's PCRE module when it is installed.
type Postfix struct {
	Dir string
}

// NewPostfix writes a configuration directory under t's temporary
// directory. The directory is world-readable so that tools running as
// another user can use it.
func NewPostfix(t testing.TB) *Postfix {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "postfix-etc")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	maincf := fmt.Sprintf("# written by catchall's tests; see internal/testtools\ncompatibility_level = 3.6\nmeta_directory = %s\n", dir)
	var dyn string
	if _, err := os.Stat(pcreModule); err == nil {
		dyn = "pcre " + pcreModule + " dict_pcre_open\n"
	}
	for name, data := range map[string]string{"main.cf": maincf, "dynamicmaps.cf": dyn} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return &Postfix{Dir: dir}
}

// Postmap is postmap -c DIR with args.
func (p *Postfix) Postmap(args ...string) *exec.Cmd {
	return exec.Command("postmap", append([]string{"-c", p.Dir}, args...)...)
}

// Postconf is postconf -c DIR with args.
func (p *Postfix) Postconf(args ...string) *exec.Cmd {
	return exec.Command("postconf", append([]string{"-c", p.Dir}, args...)...)
}

// Dovecot is a private dovecot.conf for Pigeonhole's sievec and
// sieve-test, which refuse to run as root: they run as User.
type Dovecot struct {
	Dir  string
	Conf string
	User string
}

// NewDovecot writes a minimal dovecot.conf (no service, no SSL, mail kept
// under the directory) for tools run as the user CATCHALL_TEST_USER names,
// by default catchalltest (the one scripts/testenv/dovecot.sh creates).
func NewDovecot(t testing.TB) *Dovecot {
	t.Helper()
	user := os.Getenv("CATCHALL_TEST_USER")
	if user == "" {
		user = "catchalltest"
	}
	dir, err := os.MkdirTemp("", "catchall-dovecot-etc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// The user the tools run as writes its compiled scripts here.
	if err := os.Chmod(dir, 0o1777); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "dovecot.conf")
	data := fmt.Sprintf("# written by catchall's tests; see internal/testtools\nbase_dir = %[1]s/run\nssl = no\nprotocols =\nmail_location = maildir:%[1]s/mail\n", dir)
	if err := os.WriteFile(conf, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return &Dovecot{Dir: dir, Conf: conf, User: user}
}

// Command runs a Dovecot tool (sievec, sieve-test, …) as d.User with the
// private configuration: runuser -u USER -- TOOL -c CONF args.
func (d *Dovecot) Command(tool string, args ...string) *exec.Cmd {
	return exec.Command("runuser", append([]string{"-u", d.User, "--", tool, "-c", d.Conf}, args...)...)
}
