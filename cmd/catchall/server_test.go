package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoginRefusedSaysWhereThePasswordCameFrom: a refused login (exit 3)
// names the password's source and the other ways to give it, on one line.
func TestLoginRefusedSaysWhereThePasswordCameFrom(t *testing.T) {
	srv := startServer(t)
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	os.WriteFile(pwFile, []byte("wrong\n"), 0o600)
	arch := filepath.Join(dir, "arch")
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"CATCHALL_PASSWORD": "wrong"}, []string{"fetch", "--from", srv.URL(), "--archive", arch},
			"the password came from env CATCHALL_PASSWORD (or give it with --password-file FILE or --password-command CMD)"},
		{nil, []string{"fetch", "--from", srv.URL(), "--archive", arch, "--password-file", pwFile},
			"the password came from --password-file " + pwFile + " (or give it with env CATCHALL_PASSWORD or --password-command CMD)"},
		{nil, []string{"fetch", "--from", srv.URL(), "--archive", arch, "--password-command", "echo wrong"},
			"the password came from --password-command CMD (or give it with env CATCHALL_PASSWORD or --password-file FILE)"},
		{map[string]string{"CATCHALL_DEST_PASSWORD": "wrong"}, []string{"push", "--archive", arch, "--to", srv.URL()},
			"the password came from env CATCHALL_DEST_PASSWORD (or give it with --dest-password-file FILE or --dest-password-command CMD)"},
		{nil, []string{"verify", "--archive", arch, "--to", srv.URL(), "--dest-password-file", pwFile},
			"the password came from --dest-password-file " + pwFile + " (or give it with env CATCHALL_DEST_PASSWORD or --dest-password-command CMD)"},
	} {
		code, _, errOut := runCLI(t, tc.env, tc.args...)
		said := false
		for _, line := range strings.Split(errOut, "\n") {
			said = said || strings.HasPrefix(line, "catchall: ") && strings.Contains(line, "authentication failed") && strings.Contains(line, tc.want)
		}
		if code != 3 || !said {
			t.Errorf("%v: exit %d, want 3 and a line saying %q:\n%s", tc.args, code, tc.want, errOut)
		}
		if tc.args[0] == "fetch" {
			// The archive exists from here on, for push and verify.
			runCLI(t, map[string]string{"CATCHALL_PASSWORD": srv.Password}, "fetch", "--from", srv.URL(), "--archive", arch, "--quiet")
		}
	}
}
