package relay

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/catchall/catchall/internal/testtools"
)

// TestToolsRelayPlanEdits edits the plan file of a running relay (the
// built binary) the way a person does in an editor, and checks with swaks
// that each edit is in force — 250 or 550 at RCPT, as the plan says —
// within 5 seconds of saving; an invalid edit keeps the last good plan and
// the log names the line; a hostile row is left out and the rest served.
func TestToolsRelayPlanEdits(t *testing.T) {
	bin := needTools(t)
	dir := t.TempDir()
	planPath := filepath.Join(dir, "plan.csv")
	save := func(s string) {
		t.Helper()
		// Written in place, as editors that keep the inode do; the mtime moves.
		if err := os.WriteFile(planPath, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	plan := "alias,tag,action,forward_to\n" +
		"keep@edit.example,personal,forward,me@dest.example\n" +
		"flip@edit.example,disposable,forward,me@dest.example\n" +
		"trello@edit.example,disposable,block,\n" +
		"retag@edit.example,personal,forward,\n"
	save(plan)
	port, adminPort := testtools.FreePort(t), testtools.FreePort(t)
	p := &relayProc{t: t, bin: bin, log: filepath.Join(dir, "relay.log"),
		addr: fmt.Sprintf("127.0.0.1:%d", port), admin: fmt.Sprintf("127.0.0.1:%d", adminPort),
		args: []string{"relay", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--domain", "edit.example",
			"--plan", planPath, "--spool", filepath.Join(dir, "spool"), "--forward-to", "me@dest.example",
			"--smarthost", fmt.Sprintf("smtp+plain://127.0.0.1:%d", testtools.FreePort(t)),
			"--admin", fmt.Sprintf("127.0.0.1:%d", adminPort), "--rate-limit", "0", "--max-connections-per-ip", "100",
			"--max-bad-recipients", "-1", "--hostname", "relay.test"}}
	p.start()
	t.Cleanup(func() {
		p.signal(syscall.SIGTERM)
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			t.Logf("relay log (tail):\n%s", tail(string(b), 40))
		}
	})
	replyRe := regexp.MustCompile(`(?m)^<(?:-|\*\*) +(\d{3})`)
	code := func(rcpt string) string {
		out, _ := swaks("--server", p.addr, "--from", "x@sender.test", "--to", rcpt, "--quit-after", "RCPT")
		// The first reply after the RCPT command is RCPT's.
		i := strings.Index(out, "-> RCPT TO:")
		if i < 0 {
			return "?"
		}
		m := replyRe.FindStringSubmatch(out[i:])
		if m == nil {
			return "?"
		}
		return m[1]
	}
	within := func(what string, want map[string]string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			bad := ""
			for rcpt, c := range want {
				if got := code(rcpt); got != c {
					bad += fmt.Sprintf(" %s=%s (want %s)", rcpt, got, c)
				}
			}
			if bad == "" {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not in force 5 s after saving:%s", what, bad)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	within("the plan as started", map[string]string{"keep@edit.example": "250", "flip@edit.example": "250", "trello@edit.example": "550", "retag@edit.example": "250"})

	// Each edit is one change of the file, as a person saves it.
	plan = strings.Replace(plan, "flip@edit.example,disposable,forward,me@dest.example", "flip@edit.example,disposable,block,me@dest.example", 1)
	save(plan)
	within("flip to block (action alone)", map[string]string{"flip@edit.example": "550"})

	plan = strings.Replace(plan, "trello@edit.example,disposable,block,", "trello@edit.example,disposable,forward,", 1)
	save(plan)
	within("flip back with an empty forward_to", map[string]string{"trello@edit.example": "250"})

	plan = strings.Replace(plan, "retag@edit.example,personal,", "retag@edit.example,business,", 1)
	plan += "new@edit.example,disposable,forward,other@dest.example\n" + // a new 4-column row
		"short@edit.example,disposable,forward\n" + // a row stopping early
		"\"comma@edit.example\",personal,\"forward\",\"me@dest.example\"\n" // quoted cells
	save(plan)
	within("retag, new and short rows", map[string]string{"retag@edit.example": "250", "new@edit.example": "250", "short@edit.example": "250", "comma@edit.example": "250"})

	plan = strings.Replace(plan, "keep@edit.example,personal,forward,me@dest.example\n", "", 1)
	save(plan)
	within("deleted row", map[string]string{"keep@edit.example": "550", "new@edit.example": "250"})

	// An invalid edit: the last good plan stays, and the log says where.
	save(plan + "bad@edit.example,friend,forward,\n")
	eventually(t, "the log naming the bad line", func() bool {
		return strings.Contains(readFile(p.log), `line 8: tag \"friend\" must be personal, business or disposable`)
	})
	within("after an invalid edit", map[string]string{"new@edit.example": "250", "flip@edit.example": "550"})

	// A hostile row is left out; every other row is served.
	save(plan + "\"a/../../b@edit.example\",disposable,forward,me@dest.example\n" + "late@edit.example,personal,forward,\n")
	within("a hostile row among good ones", map[string]string{"late@edit.example": "250", "new@edit.example": "250"})
	if b, _ := os.ReadFile(p.log); !strings.Contains(string(b), "plan row left out") || !strings.Contains(string(b), "a/../../b@edit.example") {
		t.Errorf("the log does not name the hostile row:\n%s", tail(string(b), 10))
	}
}
