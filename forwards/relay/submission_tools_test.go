package relay

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/catchall/catchall/internal/testtools"
)

// TestSwaksSubmission: the built relay's submission port, driven by swaks:
// AUTH over STARTTLS (the certificate of --tls-cert/--tls-key) and in
// plain text on loopback; a wrong password gets 535, a sender of another
// domain 553; what is accepted reaches the smarthost (Debian's smtp-sink)
// from the alias.
func TestSwaksSubmission(t *testing.T) {
	bin := testtools.NeedBinary(t)
	swaks := testtools.NeedTools(t, "swaks", "smtp-sink")[0]
	dir, err := os.MkdirTemp("", "catchall-submission-tools")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755) // smtp-sink runs as nobody
	cert, _ := testtools.Cert(t)
	keyDER, err := x509.MarshalECPrivateKey(cert.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeFile(certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})))
	writeFile(keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})))
	users := writeUsers(t)
	sinkPort := testtools.FreePort(t)
	sk := startToolSink(t, filepath.Join(dir, "sink"), sinkPort)
	sub := fmt.Sprintf("127.0.0.1:%d", testtools.FreePort(t))
	p := &relayProc{t: t, bin: bin, log: filepath.Join(dir, "relay.log"),
		addr: fmt.Sprintf("127.0.0.1:%d", testtools.FreePort(t)), admin: fmt.Sprintf("127.0.0.1:%d", testtools.FreePort(t))}
	p.args = []string{"relay", "--listen", p.addr, "--admin", p.admin, "--domain", "example.org", "--spool", filepath.Join(dir, "spool"),
		"--smarthost", fmt.Sprintf("smtp+plain://127.0.0.1:%d", sinkPort), "--forward-to", "me@dest.test", "--no-srs",
		"--submission", sub, "--users", users, "--tls-cert", certFile, "--tls-key", keyFile}
	p.start()
	t.Cleanup(func() { p.signal(15) })

	swak := func(want int, args ...string) string {
		t.Helper()
		cmd := exec.Command(swaks, append([]string{"--server", sub, "--auth", "PLAIN", "--auth-user", testUser, "--to", "friend@far.test"}, args...)...)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if (want == 0) != (code == 0) {
			t.Fatalf("swaks %v: exit %d\n%s", args, code, out)
		}
		return string(out)
	}
	swak(0, "--tls", "--auth-password", testPassword, "--from", "shop@example.org", "--header", "From: shop@example.org")
	swak(0, "--auth-password", testPassword, "--from", "bank@example.org", "--header", "From: bank@example.org")
	if out := swak(1, "--tls", "--auth-password", "wrong password", "--from", "shop@example.org"); !strings.Contains(out, "<~* 535 5.7.8") {
		t.Errorf("wrong password:\n%s", out)
	}
	if out := swak(1, "--tls", "--auth-password", testPassword, "--from", "me@far.test", "--header", "From: me@far.test"); !strings.Contains(out, "<~* 553 5.7.1") {
		t.Errorf("another domain:\n%s", out)
	}
	var dumped string
	eventually(t, "two messages at smtp-sink", func() bool {
		dumped = ""
		filepath.Walk(filepath.Join(sk.dir, "dump"), func(path string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() {
				b, _ := os.ReadFile(path)
				dumped += string(b) + "\n----\n"
			}
			return nil
		})
		return strings.Count(dumped, "\n----\n") >= 2
	})
	for _, from := range []string{"shop@example.org", "bank@example.org"} {
		if !regexp.MustCompile(`(?m)^X-Mail-Args: <?` + regexp.QuoteMeta(from)).MatchString(dumped) { // smtp-sink's envelope
			t.Errorf("nothing from %s at the smarthost:\n%s", from, dumped)
		}
	}
	if b, _ := os.ReadFile(p.log); strings.Contains(string(b), testPassword) {
		t.Error("the password is in the log")
	}
}
