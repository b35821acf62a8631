package relay

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/catchall/catchall/forwards/dkimkey"
	"github.com/catchall/catchall/internal/testtools"
)

// dkimpyVerify is run by Debian's python3 with python3-dkim (dkimpy): it
// verifies the message in argv[1] against the zone-file line in argv[2]
// (what "catchall dkim new" prints), served by a dnsfunc instead of DNS,
// its quoted strings joined as a resolver would.
const dkimpyVerify = `
import re, sys, dkim
msg = open(sys.argv[1], 'rb').read()
owner, rest = sys.argv[2].split(' IN TXT ', 1)
txt = ''.join(re.findall(r'"([^"]*)"', rest)).encode()
def dnsfunc(name, timeout=5):
    n = name.decode() if isinstance(name, bytes) else name
    return txt if n.rstrip('.').lower() == owner.rstrip('.').lower() else None
ok = dkim.verify(msg, dnsfunc=dnsfunc)
print('pass' if ok else 'fail')
sys.exit(0 if ok else 1)
`

// TestDKIMVerifiedByDkimpy holds the relay's signatures, both key types,
// against an independent verifier: dkimpy, as Debian ships it.
func TestDKIMVerifiedByDkimpy(t *testing.T) {
	py := testtools.NeedTools(t, "/usr/bin/python3")[0]
	if out, err := exec.Command(py, "-c", "import dkim, nacl").CombinedOutput(); err != nil {
		t.Fatalf("CATCHALL_TEST_TOOLS=1 but python3-dkim (with python3-nacl) is not installed: %v\n%s", err, out)
	}
	for typ, key := range testKeys() {
		t.Run(string(typ), func(t *testing.T) {
			t.Parallel()
			sk := newSink(t)
			tr, _ := startSubmission(t, sk.addr, func(cfg *Config) { cfg.DKIM = &DKIM{Key: key, Selector: "py"} })
			record, err := dkimkey.Record("example.org", "py", key)
			if err != nil {
				t.Fatal(err)
			}
			msg := "From: Me <me@example.org>\r\nTo: Someone <someone@far.test>\r\nSubject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\r\n" +
				"Date: Mon, 2 Jun 2025 10:00:00 +0000\r\nMessage-ID: <py@example.org>\r\nMIME-Version: 1.0\r\n" +
				"Content-Type: text/plain; charset=utf-8\r\n\r\nHello  there,\t \r\n..a dot\r\n\r\n\r\n" // dot-stuffed
			sub := dialRelay(t, tr.subAddr)
			sub.expect("EHLO laptop.home", 250)
			sub.expect(plainAuth(testUser, testPassword), 235)
			sub.submit("me@example.org", []string{"someone@far.test"}, msg)
			m := sk.wait(1)[0]
			file := filepath.Join(t.TempDir(), "msg.eml")
			if err := os.WriteFile(file, []byte(m.Data), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(py, "-c", dkimpyVerify, file, record).CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != "pass" {
				t.Errorf("dkimpy: %v\n%s\nrecord: %s\nmessage:\n%s", err, out, record, m.Data)
			}
			// And it is a real check: a changed body fails.
			os.WriteFile(file, []byte(strings.Replace(m.Data, "Hello", "Hallo", 1)), 0o600)
			if out, err := exec.Command(py, "-c", dkimpyVerify, file, record).CombinedOutput(); err == nil {
				t.Errorf("dkimpy passes a changed body: %s", out)
			}
		})
	}
}
