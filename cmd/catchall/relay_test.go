package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/catchall/catchall/forwards/relay"
)

func TestBurnerNewCLI(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("STATE_DIRECTORY", filepath.Join(dir, "state")) // the default spool: no relay store there
	secret := filepath.Join(dir, "burner.secret")
	os.WriteFile(secret, []byte("a-secret-of-enough-length\n"), 0o600)
	code, out, errOut := runCLI(t, nil, "burner", "new", "Adobe", "--domain", "Example.ORG", "--burner-secret-file", secret)
	if code != 0 || !regexp.MustCompile(`^adobe\.[a-z2-7]{6}@example\.org\n$`).MatchString(out) || errOut != "" {
		t.Errorf("burner new: exit %d, %q %s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "state")); err == nil {
		t.Error("burner new made a store in the default spool")
	}
	_, again, _ := runCLI(t, nil, "burner", "new", "adobe", "--domain", "example.org", "--burner-secret-file", secret)
	if again != out {
		t.Errorf("the same service gave %q then %q", out, again)
	}
	for _, args := range [][]string{
		{"burner", "new", "adobe", "--domain", "example.org"},
		{"burner", "new", "ad.obe", "--domain", "example.org", "--burner-secret-file", secret},
		{"burner", "new", "adobe", "--domain", "example.org", "--burner-secret-file", filepath.Join(dir, "missing")},
		{"burner", "new", "adobe", "--domain", "example.org", "--burner-secret-file", secret, "--length", "3"},
	} {
		if code, _, errOut := runCLI(t, nil, args...); code != 2 || errOut == "" {
			t.Errorf("%v: exit %d, want 2 with a message", args, code)
		}
	}
	os.WriteFile(secret, []byte("short\n"), 0o600)
	if code, _, errOut := runCLI(t, nil, "burner", "new", "adobe", "--domain", "example.org", "--burner-secret-file", secret); code != 2 || !strings.Contains(errOut, "at least 16 bytes") {
		t.Errorf("short secret: exit %d %s", code, errOut)
	}
}

func TestRelayImportAndStatsCLI(t *testing.T) {
	dir := t.TempDir()
	plan := writePlan(t, dir, "alias,tag,action,forward_to\nshop@example.org,disposable,forward,me@dest.test\nold@example.org,disposable,block,\n")
	spool := filepath.Join(dir, "spool")
	code, out, errOut := runCLI(t, nil, "relay", "import", "--plan", plan, "--spool", spool)
	if code != 0 || !strings.Contains(out, "2 added, 0 changed, 0 removed, 0 unchanged; 2 aliases") {
		t.Fatalf("relay import: exit %d %q %s", code, out, errOut)
	}
	os.WriteFile(plan, []byte("alias,tag,action,forward_to\nshop@example.org,disposable,block,\n"), 0o600)
	code, out, _ = runCLI(t, nil, "relay", "import", "--plan", plan, "--spool", spool)
	if code != 0 || !strings.Contains(out, "0 added, 1 changed, 1 removed, 0 unchanged; 1 aliases") {
		t.Errorf("re-import: exit %d %q", code, out)
	}
	code, out, _ = runCLI(t, nil, "relay", "stats", "--spool", spool)
	if code != 0 || !strings.Contains(out, "shop@example.org") || !strings.Contains(out, "1 aliases, 0 messages queued") {
		t.Errorf("relay stats: exit %d\n%s", code, out)
	}
	if fi, err := os.Stat(spool); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("spool mode %v", fi.Mode())
	}
	// A row that cannot be served is left out and named (exit 1); the
	// others are imported. A plan that does not read is refused (exit 2).
	os.WriteFile(plan, []byte("alias,tag,action,forward_to\nbad alias@example.org,disposable,forward,x@y.test\nshop@example.org,disposable,block\n"), 0o600)
	if code, _, errOut := runCLI(t, nil, "relay", "import", "--plan", plan, "--spool", spool); code != 1 || !strings.Contains(errOut, "left out bad alias@example.org") {
		t.Errorf("bad row: exit %d %s", code, errOut)
	}
	os.WriteFile(plan, []byte("alias,tag,action,forward_to\nshop@example.org,friend,block,\n"), 0o600)
	if code, _, errOut := runCLI(t, nil, "relay", "import", "--plan", plan, "--spool", spool); code != 2 || !strings.Contains(errOut, `line 2: tag "friend" must be`) {
		t.Errorf("bad plan: exit %d %s", code, errOut)
	}
	if code, _, _ := runCLI(t, nil, "relay", "stats", "--spool", filepath.Join(dir, "none")); code != 2 {
		t.Errorf("stats without a store: exit %d, want 2", code)
	}
	// Every store tool takes the password file the relay takes.
	for _, args := range [][]string{{"relay", "stats"}, {"relay", "import", "--plan", plan}, {"relay", "export", "--plan", plan},
		{"relay", "user", "list"}, {"report", "--plan", plan, "--out", filepath.Join(dir, "r.html")}} {
		args = append(args, "--store", "postgres://catchall@127.0.0.1:1/catchall", "--store-password-file", filepath.Join(dir, "none.password"))
		if code, _, errOut := runCLI(t, nil, args...); code != 2 || !strings.Contains(errOut, "store password: ") || !strings.Contains(errOut, "none.password") {
			t.Errorf("%v: exit %d %s", args[:2], code, errOut)
		}
	}
}

func TestRelayUsageCLI(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"relay", "--spool", dir, "--domain", "example.org"}, "--smarthost is required"},
		{[]string{"relay", "--spool", dir, "--domain", "example.org", "--smarthost", "http://x"}, "invalid server URL"},
		{[]string{"relay", "--spool", dir, "--domain", "example.org", "--smarthost", "smtp+plain://127.0.0.1:9", "--admin", "0.0.0.0:9125"}, "loopback"},
		{[]string{"relay", "--spool", dir, "--domain", "example.org", "--smarthost", "smtp://me@127.0.0.1:9"}, "smarthost password"},
		{[]string{"relay", "--spool", dir, "--smarthost", "smtp+plain://127.0.0.1:9"}, "no domains"},
		{[]string{"relay", "--spool", dir, "--domain", "example.org", "--smarthost", "smtp+plain://me@mx.example.net:25"}, "never sent unencrypted"},
		{[]string{"relay", "--spool", dir, "--domain", "example.org", "--smarthost", "smtp+plain://127.0.0.1:9", "--burner-length", "4"}, "--burner-length must be"},
		{[]string{"relay", "--spool", dir, "--domain", "example.org", "--smarthost", "smtp+plain://127.0.0.1:9", "--srs-hash-length", "2"}, "--srs-hash-length must be"},
		{[]string{"relay", "--spool", dir, "--domain", "example.org", "--smarthost", "smtp+plain://127.0.0.1:9", "--dkim-key", filepath.Join(dir, "missing")}, "--dkim-key and --dkim-selector: give both, or neither"},
		{[]string{"relay", "--spool", dir, "--domain", "example.org", "--smarthost", "smtp+plain://127.0.0.1:9", "--dkim-key", filepath.Join(dir, "missing"), "--dkim-selector", "s1"}, "--dkim-key " + filepath.Join(dir, "missing") + ": DKIM key: open"},
		{[]string{"relay", "--spool", dir, "--domain", "example.org", "--smarthost", "smtp+plain://127.0.0.1:9", "--dkim-key", "relay_test.go", "--dkim-selector", "s1"}, "no PEM block"},
		// The sample configuration parses: it stops only at the secret file it names.
		{[]string{"relay", "--config", "../../forwards/relay/systemd/relay.toml", "--spool", dir, "--burner-secret-file", filepath.Join(dir, "missing")}, "burner secret"},
	} {
		pw := ""
		if strings.Contains(tt.want, "burner") {
			pw = "pw"
		}
		code, _, errOut := runCLI(t, map[string]string{"CATCHALL_DEST_PASSWORD": pw}, tt.args...)
		if code != 2 || !strings.Contains(errOut, tt.want) || strings.Count(strings.TrimSpace(errOut), "\n") > 2 {
			t.Errorf("%v: exit %d, want 2 and %q:\n%s", tt.args, code, tt.want, errOut)
		}
	}
}

func readBurners(t *testing.T, spool string) []relay.Burner {
	t.Helper()
	st, err := relay.OpenStore(spool)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	bs, err := st.Burners()
	if err != nil {
		t.Fatal(err)
	}
	return bs
}

// TestBurnerNoteCLI: burner new --note records the burner in the relay's
// store; the address printed is the same, alone on stdout; when the store
// cannot be written the address is still printed, with a warning.
func TestBurnerNoteCLI(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	t.Setenv("STATE_DIRECTORY", state)
	secret := filepath.Join(dir, "burner.secret")
	os.WriteFile(secret, []byte("a-secret-of-enough-length\n"), 0o600)
	args := []string{"burner", "new", "shop", "--domain", "example.org", "--burner-secret-file", secret}
	_, plain, _ := runCLI(t, nil, args...)
	spool := filepath.Join(dir, "spool")
	start := time.Now().Truncate(time.Second)
	code, out, errOut := runCLI(t, nil, append(args, "--note", "the corner shop\tsince 2025\n", "--spool", spool)...)
	if code != 0 || out != plain || errOut != "" {
		t.Fatalf("burner new --note: exit %d, %q (want %q) %s", code, out, plain, errOut)
	}
	bs := readBurners(t, spool)
	if len(bs) != 1 || bs[0].Address != strings.TrimSpace(plain) || bs[0].Service != "shop" || bs[0].Note != "the corner shop since 2025" ||
		bs[0].Created.Before(start) || !bs[0].FirstMail.IsZero() || bs[0].Entry != nil {
		t.Errorf("recorded %+v", bs)
	}
	// The same burner again without a note keeps the note.
	if code, _, _ := runCLI(t, nil, append(args, "--spool", spool)...); code != 0 || readBurners(t, spool)[0].Note != "the corner shop since 2025" {
		t.Error("a second burner new without --note lost the note")
	}

	// The default spool without a store: the address, and a warning for the note.
	code, out, errOut = runCLI(t, nil, append(args, "--note", "lost")...)
	if code != 0 || out != plain || !strings.Contains(errOut, "warning: the burner and its note were not recorded") ||
		!strings.Contains(errOut, "no relay store in "+state) {
		t.Errorf("no store: exit %d, %q %q", code, out, errOut)
	}
	// The default spool with a store: used.
	os.MkdirAll(state, 0o700)
	readBurners(t, state)
	if code, out, errOut = runCLI(t, nil, append(args, "--note", "kept")...); code != 0 || out != plain || errOut != "" {
		t.Errorf("default store: exit %d, %q %q", code, out, errOut)
	}
	if bs := readBurners(t, state); len(bs) != 1 || bs[0].Note != "kept" {
		t.Errorf("default store: %+v", bs)
	}
	// A spool that cannot be a directory: still the address.
	file := filepath.Join(dir, "a-file")
	os.WriteFile(file, nil, 0o600)
	code, out, errOut = runCLI(t, nil, append(args, "--spool", file)...)
	if code != 0 || out != plain || !strings.Contains(errOut, "warning: the burner was not recorded") {
		t.Errorf("bad spool: exit %d, %q %q", code, out, errOut)
	}
}

func TestRelayExportCLI(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "burner.secret")
	os.WriteFile(secret, []byte("a-secret-of-enough-length\n"), 0o600)
	spool := filepath.Join(dir, "spool")
	plan := writePlan(t, dir, "alias,tag,action,forward_to\nshop@example.org,disposable,forward,me@dest.test\n")
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"relay", "export", "--spool", spool}, "--plan is required"},
		{[]string{"relay", "export", "--plan", plan, "--spool", spool}, "no relay store in " + spool},
	} {
		if code, _, errOut := runCLI(t, nil, tc.args...); code != 2 || !strings.Contains(errOut, tc.msg) {
			t.Errorf("%v: exit %d %q, want 2 and %q", tc.args, code, errOut, tc.msg)
		}
	}
	_, addr, _ := runCLI(t, nil, "burner", "new", "adobe", "--domain", "example.org", "--burner-secret-file", secret, "--spool", spool, "--note", "Adobe ID")
	addr = strings.TrimSpace(addr)
	code, out, errOut := runCLI(t, nil, "relay", "export", "--plan", plan, "--spool", spool)
	if code != 0 || out != plan+": 1 burners: 1 added, 0 refreshed\n" {
		t.Fatalf("relay export: exit %d %q %s", code, out, errOut)
	}
	got := mustRead(t, plan)
	if want := "alias,tag,action,forward_to,first_seen,last_seen,service_domain,source,note,auto_tag,auto_action,auto_forward_to\n" +
		addr + ",disposable,forward,,,,adobe,burner,Adobe ID,disposable,forward,\n" +
		"shop@example.org,disposable,forward,me@dest.test,,,,,,,,\n"; got != want {
		t.Errorf("plan:\n%s\nwant:\n%s", got, want)
	}
	// The relay takes the plan as it is (a burner no mail came to yet
	// forwards to the default target).
	if code, out, errOut := runCLI(t, nil, "relay", "import", "--plan", plan, "--spool", spool, "--forward-to", "me@dest.test"); code != 0 {
		t.Errorf("relay import of the exported plan: exit %d %q %s", code, out, errOut)
	}
	code, out, _ = runCLI(t, nil, "relay", "export", "--plan", plan, "--spool", spool)
	if code != 0 || out != plan+": 1 burners: 0 added, 1 refreshed\n" || mustRead(t, plan) != got {
		t.Errorf("second export: exit %d %q", code, out)
	}
	// A new JSON plan.
	jplan := filepath.Join(dir, "burners.json")
	if code, _, errOut := runCLI(t, nil, "relay", "export", "--plan", jplan, "--spool", spool); code != 0 || !strings.Contains(mustRead(t, jplan), `"note": "Adobe ID"`) {
		t.Errorf("JSON plan: exit %d %s\n%s", code, errOut, mustRead(t, jplan))
	}
	os.WriteFile(plan, []byte("alias,tag,action,forward_to\nshop@example.org,sometimes,forward,\n"), 0o600)
	if code, _, errOut := runCLI(t, nil, "relay", "export", "--plan", plan, "--spool", spool); code != 2 || !strings.Contains(errOut, "sometimes") {
		t.Errorf("bad plan: exit %d %q", code, errOut)
	}
}
