package relay

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/catchall/catchall/internal/testtools"
)

// The tests in this file run the built catchall binary (CATCHALL_BIN) with
// Debian's Postfix tools: smtp-sink as the smarthost, smtp-source and swaks
// as clients. scripts/test.sh sets CATCHALL_TEST_TOOLS=1.

// needTools returns the built binary, or skips t unless it and the tools
// are there.
func needTools(t *testing.T) string {
	t.Helper()
	bin := testtools.NeedBinary(t)
	testtools.NeedTools(t, "smtp-sink", "smtp-source", "swaks")
	return bin
}

var sinkScript = func() string { p, _ := filepath.Abs("../../scripts/testenv/sink.sh"); return p }()

// toolSink is smtp-sink dumping every message into a directory.
type toolSink struct {
	t    *testing.T
	dir  string
	port int
}

func startToolSink(t *testing.T, dir string, port int) *toolSink {
	t.Helper()
	s := &toolSink{t: t, dir: dir, port: port}
	if out, err := exec.Command(sinkScript, "start", dir, fmt.Sprint(port)).CombinedOutput(); err != nil {
		t.Fatalf("sink.sh start: %v\n%s", err, out)
	}
	t.Cleanup(s.stop)
	return s
}

func (s *toolSink) stop() { exec.Command(sinkScript, "stop", s.dir).Run() }

var messageIDRe = regexp.MustCompile(`(?mi)^Message-Id:\s*(<[^>]*>)`)

// ids counts the Message-IDs of the dumped messages.
func (s *toolSink) ids() map[string]int {
	s.t.Helper()
	m := map[string]int{}
	filepath.Walk(filepath.Join(s.dir, "dump"), func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		if id := messageIDRe.FindSubmatch(b); id != nil {
			m[string(id[1])]++
		} else {
			m["(none) "+path]++
		}
		return nil
	})
	return m
}

// relayProc is the catchall relay binary running.
type relayProc struct {
	t     *testing.T
	bin   string
	args  []string
	cmd   *exec.Cmd
	log   string
	addr  string
	admin string
	// unhealthyOK: up once /healthz answers at all (a relay started while
	// its store is down answers 503).
	unhealthyOK bool
}

func (p *relayProc) start() {
	p.t.Helper()
	f, err := os.OpenFile(p.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		p.t.Fatal(err)
	}
	p.cmd = exec.Command(p.bin, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	f.Close()
	for i := 0; i < 200; i++ {
		if resp, err := http.Get("http://" + p.admin + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 || p.unhealthyOK && resp.StatusCode == 503 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, _ := os.ReadFile(p.log)
	p.t.Fatalf("relay did not come up:\n%s", b)
}

func (p *relayProc) signal(sig syscall.Signal) error {
	p.cmd.Process.Signal(sig)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(90 * time.Second):
		p.cmd.Process.Kill()
		return fmt.Errorf("relay did not stop on %v", sig)
	}
}

// queued returns the number of messages in the spool's queue.
func queued(t *testing.T, spool string) int {
	ents, _ := os.ReadDir(filepath.Join(spool, "queue"))
	n := 0
	for _, e := range ents {
		if validID(e.Name()) {
			n++
		}
	}
	return n
}

func swaks(args ...string) (string, error) {
	out, err := exec.Command("swaks", append([]string{"--timeout", "20"}, args...)...).CombinedOutput()
	return string(out), err
}

// toolsDir returns a new directory, removed at the end of t, that
// smtp-sink (which runs as nobody) can write below.
func toolsDir(t *testing.T, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	return dir
}

func TestToolsRelay(t *testing.T) {
	bin := needTools(t)
	dir := toolsDir(t, "catchall-relay-tools")
	var plan strings.Builder
	plan.WriteString("alias,tag,action,forward_to\n")
	for i := 1; i <= 50; i++ {
		fmt.Fprintf(&plan, "a%d@bench.example,disposable,forward,me@dest.example\n", i)
	}
	plan.WriteString("leaked@bench.example,disposable,block,\n")
	planPath := filepath.Join(dir, "plan.csv")
	os.WriteFile(planPath, []byte(plan.String()), 0o600)
	secret := filepath.Join(dir, "burner.secret")
	os.WriteFile(secret, []byte("test-secret-test-secret-test-secret\n"), 0o600)

	sinkPort := testtools.FreePort(t)
	sink := startToolSink(t, filepath.Join(dir, "sink"), sinkPort)
	spool := filepath.Join(dir, "spool")
	port, adminPort := testtools.FreePort(t), testtools.FreePort(t)
	p := &relayProc{t: t, bin: bin, log: filepath.Join(dir, "relay.log"),
		addr: fmt.Sprintf("127.0.0.1:%d", port), admin: fmt.Sprintf("127.0.0.1:%d", adminPort),
		args: []string{"relay", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--domain", "bench.example",
			"--plan", planPath, "--spool", spool, "--smarthost", fmt.Sprintf("smtp+plain://127.0.0.1:%d", sinkPort),
			"--admin", fmt.Sprintf("127.0.0.1:%d", adminPort), "--burner-secret-file", secret,
			"--rate-limit", "0", "--max-connections-per-ip", "100", "--retry-min", "500ms", "--retry-max", "1s", "--hostname", "relay.test"}}
	p.start()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.signal(syscall.SIGKILL)
		}
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			t.Logf("relay log (tail):\n%s", tail(string(b), 40))
		}
	})

	t.Run("swaks", func(t *testing.T) {
		out, err := swaks("--server", p.addr, "--from", "x@sender.test", "--to", "a1@bench.example", "--header", "Message-Id: <swaks-1@test>")
		if err != nil {
			t.Fatalf("swaks to an alias: %v\n%s", err, out)
		}
		burner, err := exec.Command(bin, "burner", "new", "Adobe", "--domain", "bench.example", "--burner-secret-file", secret).Output()
		if err != nil {
			t.Fatal(err)
		}
		if out, err := swaks("--server", p.addr, "--from", "x@sender.test", "--to", strings.TrimSpace(string(burner)), "--header", "Message-Id: <swaks-burner@test>"); err != nil {
			t.Fatalf("swaks to a new burner %s: %v\n%s", burner, err, out)
		}
		for rcpt, code := range map[string]string{
			"victim@elsewhere.test": "554 5.7.1", "leaked@bench.example": "550 5.1.1", "adobe.zzzzzz@bench.example": "550 5.1.1",
			"victim%elsewhere.test@bench.example": "550 5.1.3", "victim@[127.0.0.1]": "554 5.7.1",
		} {
			out, err := swaks("--server", p.addr, "--from", "x@sender.test", "--to", rcpt, "--quit-after", "RCPT")
			if err == nil || !strings.Contains(out, "<** "+code) {
				t.Errorf("swaks to %s: want %s refused at RCPT:\n%s", rcpt, code, tail(out, 6))
			}
		}
		for i := 0; i < 100; i++ {
			ids := sink.ids()
			if ids["<swaks-1@test>"] == 1 && ids["<swaks-burner@test>"] == 1 {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("swaks messages not at the sink: %v", sink.ids())
	})

	t.Run("kill -9 under load", func(t *testing.T) {
		// smtp-source pushes 2,000 messages in 20 sessions while a tracked
		// client records which of its own messages got 250; the relay is
		// killed with SIGKILL in the middle and started again.
		src := exec.Command("smtp-source", "-s", "20", "-m", "2000", "-l", "4096", "-f", "load@sender.test", "-t", "a2@bench.example", p.addr)
		src.Stdout, src.Stderr = nil, nil
		if err := src.Start(); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var got250 []string
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("<tracked-%d@test>", i)
				msg := "From: t@sender.test\r\nSubject: tracked\r\nMessage-Id: " + id + "\r\n\r\nbody\r\n"
				if err := plainSend(p.addr, "t@sender.test", "a3@bench.example", msg); err == nil {
					mu.Lock()
					got250 = append(got250, id)
					mu.Unlock()
				} else {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
		time.Sleep(700 * time.Millisecond)
		p.signal(syscall.SIGKILL)
		t.Logf("killed with %d messages in the queue", queued(t, spool))
		src.Wait()
		p.start()
		// and more load on the restarted relay
		src2 := exec.Command("smtp-source", "-s", "20", "-m", "1000", "-l", "4096", "-f", "load@sender.test", "-t", "a2@bench.example", p.addr)
		if out, err := src2.CombinedOutput(); err != nil {
			t.Errorf("smtp-source after the restart: %v\n%s", err, out)
		}
		close(stop)
		wg.Wait()
		deadline := time.Now().Add(2 * time.Minute)
		for queued(t, spool) > 0 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if n := queued(t, spool); n > 0 {
			t.Fatalf("%d messages still queued", n)
		}
		time.Sleep(300 * time.Millisecond)
		ids := sink.ids()
		dups, files := 0, 0
		for id, n := range ids {
			files += n
			if n > 1 {
				dups += n - 1
				t.Logf("%s arrived %d times", id, n)
			}
		}
		// A tracked message may be the one in flight at the kill: then it
		// arrives twice and counts among the duplicates allowed below. One
		// that got 250 must never be missing.
		missing := 0
		for _, id := range got250 {
			if ids[id] < 1 {
				missing++
				t.Errorf("%s got 250 but never arrived", id)
			}
		}
		accepted := strings.Count(readFile(p.log), "msg=accepted")
		t.Logf("sink: %d files, %d distinct Message-IDs, %d duplicated; tracked client: %d got 250, %d missing; relay logged %d accepted",
			files, len(ids), dups, len(got250), missing, accepted)
		// A delivery in flight at the moment of the kill (the smarthost had
		// the final dot, the relay had not yet removed the message) is made
		// again after the restart: at most one per delivery worker (4).
		// Nothing else may be duplicated, and nothing may be missing.
		if dups > 4 {
			t.Errorf("%d duplicate deliveries after one kill, want at most 4 (the deliveries in flight)", dups)
		}
		if len(ids) < accepted {
			t.Errorf("the relay logged %d accepted messages but only %d arrived", accepted, len(ids))
		}
	})

	t.Run("smarthost down", func(t *testing.T) {
		sink.stop()
		for i := 0; i < 20; i++ {
			if out, err := swaks("--server", p.addr, "--from", "x@sender.test", "--to", "a4@bench.example", "--header", fmt.Sprintf("Message-Id: <down-%d@test>", i)); err != nil {
				t.Fatalf("swaks while the smarthost is down: %v\n%s", err, out)
			}
		}
		time.Sleep(1500 * time.Millisecond)
		if n := queued(t, spool); n != 20 {
			t.Errorf("%d queued while the smarthost is down, want 20", n)
		}
		startToolSink(t, sink.dir, sink.port)
		deadline := time.Now().Add(time.Minute)
		for queued(t, spool) > 0 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		ids := sink.ids()
		for i := 0; i < 20; i++ {
			if n := ids[fmt.Sprintf("<down-%d@test>", i)]; n != 1 {
				t.Errorf("<down-%d@test> arrived %d times", i, n)
			}
		}
	})

	t.Run("graceful stop and stats", func(t *testing.T) {
		swaks("--server", p.addr, "--from", "x@sender.test", "--to", "leaked@bench.example", "--quit-after", "RCPT")
		if err := p.signal(syscall.SIGTERM); err != nil {
			t.Errorf("SIGTERM: %v", err)
		}
		out, err := exec.Command(bin, "relay", "stats", "--spool", spool, "--format", "csv").CombinedOutput()
		if err != nil {
			t.Fatalf("relay stats: %v\n%s", err, out)
		}
		for _, want := range []string{"a4@bench.example,disposable,forward,plan,20,0,", "leaked@bench.example,disposable,block,plan,0,", "adobe."} {
			if !strings.Contains(string(out), want) {
				t.Errorf("relay stats lacks %q:\n%s", want, out)
			}
		}
	})
}

// plainSend sends one message without TLS (the test relay offers none).
func plainSend(addr, from, to, msg string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SendMail(from, []string{to}, strings.NewReader(msg)); err != nil {
		return err
	}
	return c.Quit()
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func tail(s string, n int) string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
