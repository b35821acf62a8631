package relay

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/jonboulle/clockwork"

	"github.com/catchall/catchall/forwards/srs"
	"github.com/catchall/catchall/internal/testtools"
	"github.com/catchall/catchall/serverurl"
)

// sink is an in-process smarthost: a go-smtp server that stores what it
// receives and answers what the test says.
type sink struct {
	t    *testing.T
	addr string
	mu   sync.Mutex
	msgs []sinkMsg
	// rcptErr, when set, answers RCPT for an address.
	rcptErr func(to string) error
	mailErr func(from string) error
	dataErr func() error
	srv     *smtp.Server
	ln      net.Listener
}

type sinkMsg struct {
	From string
	To   []string
	Data string
}

func newSink(t *testing.T) *sink {
	t.Helper()
	s := &sink{t: t}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }))
	s.srv.Domain = "sink.test"
	s.srv.ErrorLog = discardLog{}
	s.start("127.0.0.1:0")
	t.Cleanup(func() { s.srv.Close() })
	return s
}

func (s *sink) start(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		s.t.Fatal(err)
	}
	s.ln, s.addr = ln, ln.Addr().String()
	go s.srv.Serve(ln)
}

func (s *sink) messages() []sinkMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sinkMsg(nil), s.msgs...)
}

// wait waits until the sink holds n messages.
func (s *sink) wait(n int) []sinkMsg {
	s.t.Helper()
	eventually(s.t, fmt.Sprintf("%d messages at the sink", n), func() bool { return len(s.messages()) >= n })
	return s.messages()
}

// eventually waits until cond holds, for 20 s at most: for what no clock
// of the relay's drives (a session's reply, a delivery due now, a hang-up).
// The bound is only against a hang; a fast machine never comes near it.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type sinkSession struct {
	s    *sink
	from string
	to   []string
}

func (ss *sinkSession) Reset()        { ss.from, ss.to = "", nil }
func (ss *sinkSession) Logout() error { return nil }
func (ss *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	ss.s.mu.Lock()
	f := ss.s.mailErr
	ss.s.mu.Unlock()
	if f != nil {
		if err := f(from); err != nil {
			return err
		}
	}
	ss.from = from
	return nil
}
func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	f := ss.s.rcptErr
	ss.s.mu.Unlock()
	if f != nil {
		if err := f(to); err != nil {
			return err
		}
	}
	ss.to = append(ss.to, to)
	return nil
}
func (ss *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if ss.s.dataErr != nil {
		if err := ss.s.dataErr(); err != nil {
			return err
		}
	}
	ss.s.msgs = append(ss.s.msgs, sinkMsg{From: ss.from, To: ss.to, Data: string(b)})
	return nil
}

type discardLog struct{}

func (discardLog) Printf(string, ...any) {}
func (discardLog) Println(...any)        {}

// testRelay is a relay on 127.0.0.1 with a plan, delivering to a sink.
type testRelay struct {
	*Relay
	clock *clockwork.FakeClock // the relay's clock, moved on only by the test
	addr  string
	// subAddr is the submission port, when the test asked for one.
	subAddr string
	cancel  context.CancelFunc
	done    chan error
	logs    *testtools.Buffer
}

const testPlan = `alias,tag,action,forward_to
shop@example.org,disposable,forward,me@dest.test
bank@example.org,business,forward,me@dest.test
two@example.org,personal,forward,me@dest.test other@dest.test
leaked@example.org,disposable,block,
`

var testSecret = []byte("0123456789abcdef0123456789abcdef")

func testConfig(t testing.TB, sinkAddr string) Config {
	t.Helper()
	dir := t.TempDir()
	plan := filepath.Join(dir, "plan.csv")
	if err := os.WriteFile(plan, []byte(testPlan), 0o600); err != nil {
		t.Fatal(err)
	}
	u, err := serverurl.Parse("smtp+plain://"+sinkAddr, "smtp")
	if err != nil {
		t.Fatal(err)
	}
	return Config{
		Domains: []string{"example.org"}, Spool: filepath.Join(dir, "spool"), Plan: plan, Smarthost: u,
		Burner: &Signer{Secret: testSecret}, SRS: &srs.Codec{Secrets: [][]byte{[]byte("srs-secret")}},
		Hostname: "relay.test", RetryMin: time.Minute, RetryMax: 4 * time.Minute,
		IdleTimeout: 5 * time.Second, Clock: clockwork.NewFakeClock(),
	}
}

// startRelay starts a relay with cfg; it stops at the end of the test.
func startRelay(t *testing.T, cfg Config) *testRelay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startRelayOn(t, cfg, ln, nil)
}

// startRelaySub starts a relay with cfg and its submission port on sub
// (tr.subAddr).
func startRelaySub(t *testing.T, cfg Config, sub net.Listener) *testRelay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startRelayOn(t, cfg, ln, sub)
}

// startRelayOn starts a relay with cfg serving port 25 on ln and, when sub
// is not nil, submission on sub; it stops at the end of the test.
func startRelayOn(t *testing.T, cfg Config, ln, sub net.Listener) *testRelay {
	t.Helper()
	logs := &testtools.Buffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r, err := New(cfg)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tr := &testRelay{Relay: r, clock: cfg.Clock.(*clockwork.FakeClock), addr: ln.Addr().String(), cancel: cancel, done: make(chan error, 1), logs: logs}
	if sub != nil {
		tr.subAddr = sub.Addr().String()
	}
	go func() { tr.done <- r.ServeSubmission(ctx, ln, sub) }()
	t.Cleanup(func() {
		tr.stop(t)
		if t.Failed() {
			t.Logf("relay log:\n%s", logs.String())
		}
	})
	return tr
}

// settle waits until the relay is at rest on its fake clock: the poller
// and every worker wait on a timer, and no message is being delivered,
// due, or about to be looked at after a signal. Nothing starts then until
// the clock moves or a message is queued.
func (tr *testRelay) settle(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		if err := tr.clock.BlockUntilContext(ctx, tr.cfg.Workers+1); err != nil {
			t.Fatalf("the workers and the poller did not come to wait on the clock: %v", err)
		}
		resting, stuck := tr.queue.state(tr.clock.Now())
		if resting {
			return
		}
		if stuck {
			// A worker that read the clock just before it moved waits on
			// a timer a whole step late (on a real clock: microseconds).
			tr.queue.signal()
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the queue did not come to rest: %v", ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}

// state tells whether no message is being delivered, due at now, or
// waiting for a worker to take a signal; stuck when one is due and no
// worker is busy or signalled.
func (q *queue) state(now time.Time) (resting, stuck bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	busy := len(q.items) > len(q.h) // taken off the heap until done
	due := len(q.h) > 0 && !q.h[0].next.After(now)
	signalled := len(q.wake) > 0
	return !busy && !due && !signalled, due && !busy && !signalled
}

// advance moves the fake clock on by d and returns once the attempts and
// the poll that fell due are done.
func (tr *testRelay) advance(t *testing.T, d time.Duration) {
	t.Helper()
	tr.settle(t)
	tr.clock.Advance(d)
	tr.settle(t)
}

// advanceUntil advances the clock by RetryMax, so that every queued message
// has an attempt each time, until cond holds.
func (tr *testRelay) advanceUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; !cond(); i++ {
		if i == 100 {
			t.Fatalf("%s: not after %d retry intervals", what, i)
		}
		tr.advance(t, tr.cfg.RetryMax)
	}
}

func (tr *testRelay) stop(t *testing.T) {
	if tr.cancel == nil {
		return
	}
	tr.cancel()
	tr.cancel = nil
	select {
	case err := <-tr.done:
		if err != nil {
			t.Errorf("relay: %v", err)
		}
	case <-time.After(90 * time.Second):
		t.Error("relay did not stop")
	}
	tr.Close()
}

// client is a line-level SMTP client for exact protocol tests.
type client struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

// hungUpOn connects to addr and returns all the relay says before it hangs
// up: how it turns away a connection over a limit.
func hungUpOn(t *testing.T, addr string) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	said, _ := io.ReadAll(conn)
	return string(said)
}

func dialRelay(t *testing.T, addr string) *client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	t.Cleanup(func() { conn.Close() })
	if code := c.reply(); code != 220 {
		t.Fatalf("greeting %d", code)
	}
	c.cmd("EHLO client.test")
	return c
}

// reply reads one (possibly multi-line) reply and returns its code.
func (c *client) reply() int {
	c.t.Helper()
	code, _ := c.replyText()
	return code
}

func (c *client) replyText() (int, string) {
	c.t.Helper()
	var text strings.Builder
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return 0, text.String() + err.Error()
		}
		text.WriteString(line)
		if len(line) < 4 || line[3] != '-' {
			var code int
			fmt.Sscanf(line, "%d", &code)
			return code, text.String()
		}
	}
}

// cmd sends a line and returns the reply code.
func (c *client) cmd(line string) int {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, line+"\r\n"); err != nil {
		c.t.Fatal(err)
	}
	return c.reply()
}

// startData opens a transaction (MAIL, RCPT, DATA) without checking the
// replies: the tests check what comes after.
func (c *client) startData(from, rcpt string) {
	c.t.Helper()
	c.cmd("MAIL FROM:<" + from + ">")
	c.cmd("RCPT TO:<" + rcpt + ">")
	c.cmd("DATA")
}

// data sends raw, a whole message ending in the line ".", in a new
// transaction and returns the relay's reply to it.
func (c *client) data(from, rcpt, raw string) int {
	c.t.Helper()
	c.startData(from, rcpt)
	c.send(raw)
	return c.reply()
}

// send sends raw bytes without waiting for a reply.
func (c *client) send(raw string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, raw); err != nil {
		c.t.Fatal(err)
	}
}

func writeFile(path, data string) error { return os.WriteFile(path, []byte(data), 0o600) }

// heapGrowth runs f and returns by how much the heap in use grew at its
// peak, sampled every millisecond with a tight GC target (so that garbage
// does not pass for memory held).
func heapGrowth(f func()) int64 {
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	stop, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	f()
	close(stop)
	<-sampled
	return int64(peak.Load()) - int64(base)
}
