package testtools

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"
)

// StartPostfix starts a private Postfix with scripts/testenv/postfix.sh in
// a new directory, env being its POSTFIX_* settings ("POSTFIX_DOMAIN=…"),
// stops it at the end of the test, and returns its SMTP address. It needs
// root (the caller skips otherwise).
func StartPostfix(t *testing.T, env ...string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "scripts", "testenv", "postfix.sh")
	dir, err := os.MkdirTemp("", "catchall-postfix")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755) // Postfix's own users read it
	t.Cleanup(func() { os.RemoveAll(dir) })
	start := exec.Command(script, "start", dir)
	start.Env = append(os.Environ(), env...)
	if b, err := start.CombinedOutput(); err != nil {
		t.Fatalf("postfix.sh start: %v\n%s", err, b)
	}
	t.Cleanup(func() { exec.Command(script, "stop", dir).Run() })
	out, _ := exec.Command(script, "env", dir).Output()
	addr := regexp.MustCompile(`CATCHALL_TEST_POSTFIX_ADDR=(\S+)`).FindSubmatch(out)
	if addr == nil {
		t.Fatalf("postfix.sh env: no address in %q", out)
	}
	return string(addr[1])
}
