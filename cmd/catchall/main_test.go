package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/catchall/catchall/internal/imaptest"
)

func startServer(t *testing.T) *imaptest.Server {
	t.Helper()
	srv, err := imaptest.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	date := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, folder := range []string{"INBOX", "INBOX", "Sent", "Archive/2019"} {
		raw := []byte("Subject: m" + string(rune('0'+i)) + "\r\n\r\nbody\r\n")
		if _, err := srv.Append(folder, raw, []string{`\Seen`}, date); err != nil {
			t.Fatal(err)
		}
	}
	return srv
}

// writePlan writes csv as dir/plan.csv and returns its path.
func writePlan(t *testing.T, dir, csv string) string {
	t.Helper()
	plan := filepath.Join(dir, "plan.csv")
	if err := os.WriteFile(plan, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	return plan
}

func runCLI(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	if len(args) > 0 && args[0] == "migrate" && !slices.Contains(args, "--relay-config") {
		args = append(slices.Clone(args), "--relay-config", "") // no test reads /etc
	}
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestFetchAndVerifyCLI(t *testing.T) {
	srv := startServer(t)
	dir := filepath.Join(t.TempDir(), "arch")
	env := map[string]string{"CATCHALL_PASSWORD": srv.Password}

	code, out, errOut := runCLI(t, env, "fetch", "--from", srv.URL(), "--archive", dir, "--quiet")
	if code != 0 {
		t.Fatalf("fetch exit %d\n%s%s", code, out, errOut)
	}
	if !regexp.MustCompile(`^fetched 4 messages \(.*\) from 3 folders \(0 unchanged\) in .*; 0 failed\n$`).MatchString(out) {
		t.Errorf("summary line: %q", out)
	}
	if strings.Contains(errOut, srv.Password) {
		t.Error("password in stderr")
	}

	code, out, errOut = runCLI(t, env, "verify", "--from", srv.URL(), "--archive", dir, "--quiet")
	if code != 0 || !strings.Contains(out, "INBOX: 2/2 verified\n") || !strings.Contains(out, "total: 4/4 verified\n") {
		t.Fatalf("verify exit %d\n%s%s", code, out, errOut)
	}

	// Folders chosen as for fetch: the others are not compared.
	code, out, _ = runCLI(t, env, "verify", "--from", srv.URL(), "--archive", dir, "--quiet", "--exclude", "Sent")
	if code != 0 || strings.Contains(out, "Sent:") || !strings.Contains(out, "total: 3/3 verified\n") {
		t.Errorf("verify --exclude: exit %d\n%s", code, out)
	}

	// Lose one file: verify says so and exits 1.
	matches, _ := filepath.Glob(filepath.Join(dir, "Sent", "cur", "*"))
	os.Remove(matches[0])
	code, out, errOut = runCLI(t, env, "verify", "--from", srv.URL(), "--archive", dir, "--quiet")
	if code != 1 || !strings.Contains(out, "Sent: 0/1 verified, 1 missing") || !strings.Contains(errOut, "Sent uid 1: missing") {
		t.Errorf("verify after loss: exit %d\n%s%s", code, out, errOut)
	}
}

func TestFetchDryRunCLI(t *testing.T) {
	srv := startServer(t)
	dir := filepath.Join(t.TempDir(), "arch")
	code, out, errOut := runCLI(t, map[string]string{"CATCHALL_PASSWORD": srv.Password},
		"fetch", "--from", srv.URL(), "--archive", dir, "--dry-run", "--quiet")
	if code != 0 || !strings.Contains(out, "would fetch 4 messages") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("dry run created the archive: %v", err)
	}
}

func TestExitCodes(t *testing.T) {
	srv := startServer(t)
	const closed = "127.0.0.1:1" // nothing listens (a port just closed could be taken by another test binary)
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	os.WriteFile(pwFile, []byte(srv.Password+"\n"), 0o600)
	good := map[string]string{"CATCHALL_PASSWORD": srv.Password}
	cases := []struct {
		name    string
		env     map[string]string
		args    []string
		code    int
		wantErr string
	}{
		{"no archive flag", good, []string{"fetch", "--from", srv.URL()}, 2, "--archive is required"},
		{"bad url", good, []string{"fetch", "--from", "pop3://x@y", "--archive", dir}, 2, "scheme must be one of"},
		{"password in url", good, []string{"fetch", "--from", "imaps://u:pw@h", "--archive", dir}, 2, "shell history"},
		{"no password", map[string]string{"CATCHALL_PASSWORD": ""}, []string{"fetch", "--from", srv.URL(), "--archive", dir}, 2, "set CATCHALL_PASSWORD"},
		{"unknown flag", good, []string{"fetch", "--frm", "x"}, 2, "unknown flag"},
		{"unknown command", good, []string{"fetchh"}, 2, "unknown command"},
		{"stray argument", good, []string{"fetch", "INBOX", "--from", srv.URL(), "--archive", dir}, 2, `unknown command "INBOX"`},
		{"wrong password", map[string]string{"CATCHALL_PASSWORD": "nope"}, []string{"fetch", "--from", srv.URL(), "--archive", dir}, 3, "authentication failed for alice"},
		{"connection refused", good, []string{"fetch", "--from", "imap+plain://alice@" + closed, "--archive", dir}, 3, "cannot connect to " + closed},
		{"unknown host", good, []string{"fetch", "--from", "imaps://alice@no-such-host.invalid", "--archive", dir}, 3, "cannot connect"},
		{"password file", map[string]string{"CATCHALL_PASSWORD": ""}, []string{"fetch", "--from", srv.URL(), "--archive", dir, "--password-file", pwFile, "-q"}, 0, ""},
		{"password command", map[string]string{"CATCHALL_PASSWORD": ""}, []string{"fetch", "--from", srv.URL(), "--archive", dir, "--password-command", "cat " + pwFile, "-q"}, 0, ""},
		{"no such folder", good, []string{"fetch", "--from", srv.URL(), "--archive", dir, "--folder", "Nope"}, 2, "no folder matches the include and exclude patterns (the server has 3); see --folder and --exclude"},
		{"verify without archive", good, []string{"verify", "--from", srv.URL(), "--archive", filepath.Join(dir, "none")}, 2, "run fetch first"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tc.env, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s%s", code, tc.code, out, errOut)
			}
			if tc.wantErr != "" {
				lines := strings.Split(strings.TrimSpace(errOut), "\n")
				last := lines[len(lines)-1]
				if !strings.HasPrefix(last, "catchall: ") || !strings.Contains(last, tc.wantErr) {
					t.Errorf("last stderr line %q, want one line containing %q", last, tc.wantErr)
				}
			}
		})
	}
}

func TestConfigFile(t *testing.T) {
	srv := startServer(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "catchall.toml")
	os.WriteFile(cfg, []byte(`from = "`+srv.URL()+`"
archive = "`+filepath.Join(dir, "arch")+`"
folder = ["INBOX", "Sent"]
connections = 2
quiet = true
`), 0o600)
	env := map[string]string{"CATCHALL_PASSWORD": srv.Password}
	code, out, errOut := runCLI(t, env, "fetch", "--config", cfg)
	if code != 0 || !strings.Contains(out, "fetched 3 messages") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	// The command line wins over the file.
	code, out, _ = runCLI(t, env, "fetch", "--config", cfg, "--folder", "Archive/*", "--archive", filepath.Join(dir, "arch2"))
	if code != 0 || !strings.Contains(out, "fetched 1 messages") {
		t.Errorf("flag over config: exit %d %s", code, out)
	}

	os.WriteFile(cfg, []byte("form = \"x\"\nconnections = \"many\"\nfolder = { a = 1 }\n"), 0o600)
	code, _, errOut = runCLI(t, env, "fetch", "--config", cfg)
	if code != 2 {
		t.Errorf("bad config: exit %d", code)
	}
	for _, want := range []string{`unknown key "form"`, `key "connections"`, `key "folder"`} {
		if !strings.Contains(errOut, want) {
			t.Errorf("bad config error lacks %q:\n%s", want, errOut)
		}
	}
}

func TestVerboseRedactsLogin(t *testing.T) {
	srv := startServer(t)
	code, _, errOut := runCLI(t, map[string]string{"CATCHALL_PASSWORD": "TopSecret-42"},
		"fetch", "--from", srv.URL(), "--archive", t.TempDir(), "-v")
	if code != 3 {
		t.Fatalf("exit %d", code)
	}
	if strings.Contains(errOut, "TopSecret-42") {
		t.Fatal("the password appears in the debug transcript")
	}
	if !strings.Contains(errOut, "LOGIN exchange redacted") || !strings.Contains(errOut, "CAPABILITY") {
		t.Errorf("transcript missing or not redacted:\n%s", errOut)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI(t, nil, "--version")
	if code != 0 || !strings.HasPrefix(out, "catchall version ") || !strings.Contains(out, ", go1.") {
		t.Errorf("--version: exit %d %q", code, out)
	}
	stamped := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "212e94014c01e88dea98"}, {Key: "vcs.modified", Value: "true"}}}
	for _, tc := range []struct {
		bi              *debug.BuildInfo
		version, commit string
		want            string
	}{
		{&debug.BuildInfo{GoVersion: "go1.26.8"}, "", "", "(devel), go1.26.8"},
		{stamped, "", "", "v1.2.3 commit 212e94014c01 (modified), go1.26.8"},
		// The package build's -ldflags -X win over the build information.
		{stamped, "0.0~git20261206.212e940", "5f3c0ffee1234567", "0.0~git20261206.212e940 commit 5f3c0ffee123 (modified), go1.26.8"},
		{&debug.BuildInfo{GoVersion: "go1.26.8"}, "1.0.0", "5f3c0ffee1234567", "1.0.0 commit 5f3c0ffee123, go1.26.8"},
	} {
		if got := versionOf(tc.bi, tc.version, tc.commit); got != tc.want {
			t.Errorf("versionOf(%q, %q) = %q, want %q", tc.version, tc.commit, got, tc.want)
		}
	}
}

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
