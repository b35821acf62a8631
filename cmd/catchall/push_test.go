package main

import (
	"io"
	"log"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// limitedSession announces and enforces APPENDLIMIT (RFC 7889).
type limitedSession struct {
	imapserver.Session
	limit uint32
}

func (s limitedSession) AppendLimit() uint32 { return s.limit }

func (s limitedSession) Namespace() (*imap.NamespaceData, error) {
	return s.Session.(imapserver.SessionNamespace).Namespace()
}

// startDestination starts an in-memory destination for user "bob" that
// refuses messages bigger than limit bytes.
func startDestination(t *testing.T, limit uint32) string {
	t.Helper()
	mem := imapmemserver.New()
	u := imapmemserver.NewUser("bob", "dest-secret")
	u.Create("INBOX", nil)
	mem.AddUser(u)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return limitedSession{mem.NewSession(), limit}, nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapNamespace: {}, imap.CapUIDPlus: {}, imap.CapListStatus: {}},
		InsecureAuth: true,
		Logger:       log.New(io.Discard, "", 0),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "imap+plain://bob@" + ln.Addr().String()
}

func TestPushCLI(t *testing.T) {
	src := startServer(t)
	big := "Subject: big\r\n\r\n" + strings.Repeat("x", 5000) + "\r\n"
	if _, err := src.Append("INBOX", []byte(big), nil, time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "arch")
	if code, out, errOut := runCLI(t, map[string]string{"CATCHALL_PASSWORD": src.Password}, "fetch", "--from", src.URL(), "--archive", dir, "--quiet"); code != 0 {
		t.Fatalf("fetch exit %d\n%s%s", code, out, errOut)
	}
	to := startDestination(t, 1000)
	env := map[string]string{"CATCHALL_DEST_PASSWORD": "dest-secret", "CATCHALL_PASSWORD": ""}

	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		code    int
		stdout  string // regexp
		stderr  string // regexp
		noEntry bool
	}{
		{"dry run", []string{"push", "--archive", dir, "--to", to, "--dry-run"}, env, 1,
			`(?s)FOLDER +CREATE +APPEND.*Archive/2019 +yes +1 .*INBOX +no +2 .*dry run: would create 2 folders and append 4 messages .*1 refused up front; nothing was changed`,
			`INBOX uid 3: not appended: .*APPENDLIMIT`, false},
		{"split-by without plan", []string{"push", "--archive", dir, "--to", to, "--split-by", "alias"}, env, 2, ``, `needs --plan`, false},
		{"wrong password", []string{"push", "--archive", dir, "--to", to}, map[string]string{"CATCHALL_DEST_PASSWORD": "nope"}, 3, ``, `authentication failed`, false},
		{"no password", []string{"push", "--archive", dir, "--to", to}, map[string]string{"CATCHALL_DEST_PASSWORD": ""}, 2, ``, `password`, false},
		{"verify before push", []string{"verify", "--archive", dir, "--to", to}, env, 1, `total: 0/5 verified, 5 missing`, `missing`, false},
		{"push", []string{"push", "--archive", dir, "--to", to, "--quiet"}, env, 1,
			`^pushed 4 messages \(.*\) to 3 folders \(2 created\) in .* over \d+ connections; 0 already there; 1 failed\n$`,
			`catchall: push: refused for good: INBOX uid 3: not appended: 5\d+ bytes is more than the destination accepts \(APPENDLIMIT 1000 bytes\)(?s:.*)1 were refused for good: no re-run will change that`, false},
		{"push again", []string{"push", "--archive", dir, "--to", to, "--quiet"}, env, 1,
			`^pushed 0 messages .* 4 already there; 1 failed\n$`, `APPENDLIMIT`, false},
		{"verify after push", []string{"verify", "--archive", dir, "--to", to}, env, 1,
			`(?m)^Sent: 1/1 verified\n(?s).*^total: 4/5 verified, 1 missing`, `INBOX: missing: archived as INBOX uid 3`, false},
		{"verify --hashes", []string{"verify", "--archive", dir, "--to", to, "--hashes"}, env, 1, `total: 4/5 verified`, ``, false},
		{"from and to", []string{"verify", "--archive", dir, "--to", to, "--from", src.URL()}, env, 2, ``, `either --from or --to`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tc.env, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			if !regexp.MustCompile(tc.stdout).MatchString(out) {
				t.Errorf("stdout does not match %q:\n%s", tc.stdout, out)
			}
			if !regexp.MustCompile(tc.stderr).MatchString(errOut) {
				t.Errorf("stderr does not match %q:\n%s", tc.stderr, errOut)
			}
			if strings.Contains(out+errOut, "dest-secret") {
				t.Error("password in the output")
			}
		})
	}
}

func TestPushSplitByCLI(t *testing.T) {
	src := startServer(t)
	date := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	for folder, raw := range map[string]string{
		"INBOX":        "Delivered-To: me@catchall.test\r\nX-Original-To: adobe+promo@catchall.test\r\nMessage-ID: <a@x>\r\n\r\nadobe\r\n",
		"Archive/2019": "To: linkedin@catchall.test\r\nMessage-ID: <l@x>\r\n\r\nlinkedin\r\n",
	} {
		if _, err := src.Append(folder, []byte(raw), nil, date); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(t.TempDir(), "arch")
	if code, out, errOut := runCLI(t, map[string]string{"CATCHALL_PASSWORD": src.Password}, "fetch", "--from", src.URL(), "--archive", dir, "--quiet"); code != 0 {
		t.Fatalf("fetch exit %d\n%s%s", code, out, errOut)
	}
	plan := writePlan(t, t.TempDir(), "alias,tag,action,forward_to\nadobe@catchall.test,disposable,block,\nlinkedin@catchall.test,business,forward,me@new.example\n")
	for _, tc := range []struct {
		by   string
		want string // dry-run folders, in order
	}{
		{"alias", `(?s)Aliases/adobe +yes +1 .*Aliases/linkedin +yes +1 .*Archive/2019 +yes +1 .*INBOX +no +2 .*Sent +yes +1 `},
		{"tag", `(?s)Archive/2019 +yes +1 .*Business/linkedin +yes +1 .*Disposable/adobe +yes +1 .*INBOX +no +2 `},
	} {
		t.Run(tc.by, func(t *testing.T) {
			to := startDestination(t, 1<<20)
			env := map[string]string{"CATCHALL_DEST_PASSWORD": "dest-secret"}
			code, out, errOut := runCLI(t, env, "push", "--archive", dir, "--to", to, "--split-by", tc.by, "--plan", plan, "--dry-run")
			if code != 0 || !regexp.MustCompile(tc.want).MatchString(out) {
				t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
			}
			if code, out, errOut := runCLI(t, env, "push", "--archive", dir, "--to", to, "--split-by", tc.by, "--plan", plan, "--quiet"); code != 0 {
				t.Fatalf("push: exit %d\n%s%s", code, out, errOut)
			}
			code, out, errOut = runCLI(t, env, "verify", "--archive", dir, "--to", to, "--split-by", tc.by, "--plan", plan)
			if code != 0 || !strings.Contains(out, "total: 6/6 verified") {
				t.Fatalf("verify: exit %d\n%s%s", code, out, errOut)
			}
		})
	}
}
