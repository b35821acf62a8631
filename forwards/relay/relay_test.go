package relay

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func sendMail(t *testing.T, addr, from string, to []string, data string) error {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.SendMail(from, to, strings.NewReader(data))
}

const simpleMessage = "From: Shop <news@shop.test>\r\nTo: shop@example.org\r\nSubject: hello\r\nMessage-ID: <m1@shop.test>\r\n\r\nHi there.\r\n"

func TestForwardHeadersAndSRS(t *testing.T) {
	sk := newSink(t)
	tr := startRelay(t, testConfig(t, sk.addr))
	forged := "X-Catchall-Alias: bank@example.org\r\nX-Catchall-Alias: also\r\n forged continuation\r\n" + simpleMessage
	if err := sendMail(t, tr.addr, "news@shop.test", []string{"shop@example.org", "SHOP@Example.ORG", "two@example.org"}, forged); err != nil {
		t.Fatal(err)
	}
	msgs := sk.wait(2)
	byAlias := map[string]sinkMsg{}
	for _, m := range msgs {
		i := strings.Index(m.Data, "X-Catchall-Alias: ")
		if i < 0 {
			t.Fatalf("no X-Catchall-Alias in\n%s", m.Data)
		}
		alias, _, _ := strings.Cut(m.Data[i+len("X-Catchall-Alias: "):], "\r\n")
		byAlias[alias] = m
		if n := strings.Count(m.Data, "X-Catchall-Alias"); n != 1 {
			t.Errorf("%s: %d X-Catchall-Alias fields, want only the relay's:\n%s", alias, n, m.Data)
		}
		if strings.Contains(m.Data, "forged continuation") {
			t.Errorf("a forged field's continuation line survived")
		}
		if !strings.HasPrefix(m.Data, "Received: from localhost ([127.0.0.1])\r\n\tby relay.test (catchall relay) with ESMTP id ") {
			t.Errorf("Received: line:\n%s", m.Data[:200])
		}
		if !strings.HasSuffix(m.Data, simpleMessage) {
			t.Errorf("message body changed:\n%q", m.Data)
		}
		if !strings.HasPrefix(m.From, "SRS0=") || !strings.HasSuffix(m.From, "=shop.test=news@example.org") {
			t.Errorf("envelope sender %q, want SRS0=…=shop.test=news@example.org", m.From)
		}
		back, err := tr.srs.Reverse(m.From)
		if err != nil || back != "news@shop.test" {
			t.Errorf("SRS reverse of %q = %q, %v", m.From, back, err)
		}
	}
	if got := byAlias["shop@example.org"].To; len(got) != 1 || got[0] != "me@dest.test" {
		t.Errorf("shop@ went to %v (the upper-case duplicate must not make a second copy)", got)
	}
	// two@ forwards to me@ too, which shop@ covers: one copy per final
	// address, as Postfix delivers.
	if got := byAlias["two@example.org"].To; strings.Join(got, " ") != "other@dest.test" {
		t.Errorf("two@ went to %v, want only other@dest.test (me@dest.test has its copy through shop@)", got)
	}
}

// TestOneDeliveryPerTarget: one message to three aliases that forward to
// the same address is delivered once.
func TestOneDeliveryPerTarget(t *testing.T) {
	sk := newSink(t)
	tr := startRelay(t, testConfig(t, sk.addr))
	if err := sendMail(t, tr.addr, "news@shop.test", []string{"shop@example.org", "bank@example.org", "two@example.org"}, simpleMessage); err != nil {
		t.Fatal(err)
	}
	sk.wait(1)
	waitQueueEmpty(t, tr.Relay) // every copy there is has been sent
	msgs := sk.messages()
	n := 0
	for _, m := range msgs {
		for _, to := range m.To {
			if to == "me@dest.test" {
				n++
			}
		}
	}
	if n != 1 {
		t.Errorf("me@dest.test got %d copies, want 1", n)
	}
}

func TestRecipientDecisions(t *testing.T) {
	sk := newSink(t)
	cfg := testConfig(t, sk.addr)
	cfg.MaxBadRcpts = -1 // the matrix refuses many in one session (TestGuessing covers the cap)
	tr := startRelay(t, cfg)
	burner, _ := cfg.Burner.Address("adobe", "example.org")
	fwd, err := tr.srs.Forward("alice@far.test")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		rcpt string
		code int
	}{
		{"shop@example.org", 250},
		{"Shop@EXAMPLE.org", 250},
		{"shop+newsletter@example.org", 250},
		{"leaked@example.org", 550},
		{"nobody@example.org", 550},
		{burner, 250},
		{strings.ToUpper(burner), 250},
		{"adobe.aaaaaa@example.org", 550},                // a guessed tag
		{"adobe.x@example.org", 550},                     // wrong length
		{fwd, 0},                                         // a bounce to an address we rewrote: 250 from <> only
		{"SRS0=AAAA=AA=far.test=alice@example.org", 550}, // a forged one
		// An open relay must not exist in any spelling.
		{"victim@elsewhere.test", 554},
		{"victim@example.org.evil.test", 554},
		{"victim%elsewhere.test@example.org", 550},
		{"elsewhere.test!victim@example.org", 550},
		{"@example.org:victim@elsewhere.test", 554},
		{`"victim@elsewhere.test"@example.org`, 550},
		{`"shop"@example.org`, 250}, // the quoted form of an existing alias is that alias
		{"victim@[127.0.0.1]", 554},
		{"victim@[IPv6:::1]", 554},
		{"postmaster@elsewhere.test", 554},
		{"shop@xn--exmple-cua.org", 554}, // an IDN look-alike is another domain
	}
	c := dialRelay(t, tr.addr)
	for _, sender := range []string{"someone@far.test", ""} {
		if code := c.cmd("MAIL FROM:<" + sender + ">"); code != 250 {
			t.Fatalf("MAIL FROM:<%s>: %d", sender, code)
		}
		for _, tt := range tests {
			want := tt.code
			if want == 0 { // SRS: only bounces may use it (RFC 3464 reports come from <>)
				want = 550
				if sender == "" {
					want = 250
				}
			}
			if code := c.cmd("RCPT TO:<" + tt.rcpt + ">"); code != want {
				t.Errorf("from <%s> RCPT TO:<%s> = %d, want %d", sender, tt.rcpt, code, want)
			}
		}
		c.cmd("RSET")
	}
	// A guessed burner leaves no trace in the store; a valid one is registered.
	if _, ok := tr.store.Lookup("adobe.aaaaaa@example.org"); ok {
		t.Error("a guessed burner was registered")
	}
	if a, ok := tr.store.Lookup(burner); !ok || a.Source != SourceBurner || a.Tag != "disposable" {
		t.Errorf("burner %s not registered as a disposable burner: %+v", burner, a)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(cfg.Spool, "relay.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	db.QueryRow(`SELECT count(*) FROM aliases WHERE alias NOT IN ('shop@example.org','bank@example.org','two@example.org','leaked@example.org')`).Scan(&n)
	if n != 1 {
		t.Errorf("%d aliases besides the plan's, want 1 (the burner)", n)
	}
}

func TestCatchAll(t *testing.T) {
	sk := newSink(t)
	cfg := testConfig(t, sk.addr)
	cfg.CatchAll = true
	tr := startRelay(t, cfg)
	c := dialRelay(t, tr.addr)
	c.cmd("MAIL FROM:<a@far.test>")
	for rcpt, want := range map[string]int{"anything@example.org": 250, "leaked@example.org": 550, "x@elsewhere.test": 554, "a%b@example.org": 550} {
		if code := c.cmd("RCPT TO:<" + rcpt + ">"); code != want {
			t.Errorf("catch-all: RCPT TO:<%s> = %d, want %d", rcpt, code, want)
		}
	}
	if err := sendMail(t, tr.addr, "a@far.test", []string{"anything@example.org"}, simpleMessage); err != nil {
		t.Fatal(err)
	}
	m := sk.wait(1)[0]
	if m.To[0] != "me@dest.test" || !strings.Contains(m.Data, "X-Catchall-Alias: anything@example.org\r\n") {
		t.Errorf("catch-all delivery: %v\n%s", m.To, m.Data)
	}
	if _, ok := tr.store.Lookup("anything@example.org"); ok {
		t.Error("the catch-all registered an alias")
	}
	// A message sprayed at made-up names is not multiplied: MaxCatchAllRcpts
	// of them, then 452 (known aliases still go through).
	c = dialRelay(t, tr.addr)
	c.cmd("MAIL FROM:<a@far.test>")
	for i := 0; i < MaxCatchAllRcpts+3; i++ {
		want := 250
		if i >= MaxCatchAllRcpts {
			want = 452
		}
		if code := c.cmd(fmt.Sprintf("RCPT TO:<made-up-%d@example.org>", i)); code != want {
			t.Errorf("catch-all recipient %d: %d, want %d", i, code, want)
		}
	}
	if code := c.cmd("RCPT TO:<shop@example.org>"); code != 250 {
		t.Errorf("a known alias after the catch-all limit: %d", code)
	}
	c.cmd("RSET")
	c.cmd("MAIL FROM:<a@far.test>")
	if code := c.cmd("RCPT TO:<made-up-again@example.org>"); code != 250 {
		t.Errorf("the limit is per message: %d after RSET", code)
	}
}

// TestSmuggling sends the payloads of SMTP smuggling: each must be refused,
// and the smuggled second message must never be accepted or delivered.
func TestSmuggling(t *testing.T) {
	sk := newSink(t)
	tr := startRelay(t, testConfig(t, sk.addr))
	smuggled := "MAIL FROM:<admin@example.org>\r\nRCPT TO:<bank@example.org>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n.\r\n"
	for _, end := range []string{"\n.\n", "\n.\r\n", "\r.\r", "\r\r\n.\r\r\n", "\r\n.\n", "\n.\r"} {
		t.Run(fmt.Sprintf("%q", end), func(t *testing.T) {
			c := dialRelay(t, tr.addr)
			c.cmd("MAIL FROM:<a@far.test>")
			c.cmd("RCPT TO:<shop@example.org>")
			if code := c.cmd("DATA"); code != 354 {
				t.Fatalf("DATA %d", code)
			}
			c.send("Subject: first\r\n\r\nbody" + end + smuggled)
			code, text := c.replyText()
			if code != 550 || !strings.Contains(text, "5.6.0") {
				t.Errorf("reply %q, want 550 5.6.0", text)
			}
			if code := c.cmd("NOOP"); code != 250 {
				t.Errorf("after the refusal the session is out of step: NOOP %d", code)
			}
			// Once the relay hangs up after QUIT it has answered every
			// command before it, a smuggled DATA included.
			c.send("QUIT\r\n")
			io.ReadAll(c.r)
		})
	}
	if n := testutil.ToFloat64(tr.metrics.accepted); n != 0 || len(sk.messages()) != 0 {
		t.Errorf("%v messages accepted, %d delivered, want none", n, len(sk.messages()))
	}
}

func TestLimits(t *testing.T) {
	sk := newSink(t)
	cfg := testConfig(t, sk.addr)
	cfg.MaxSize = 1000
	cfg.MaxRecipients = 2
	cfg.MaxConnsPerIP = 2
	cfg.IdleTimeout = time.Second // a socket deadline: real time
	tr := startRelay(t, cfg)

	t.Run("size", func(t *testing.T) {
		c := dialRelay(t, tr.addr)
		if code := c.cmd("MAIL FROM:<a@far.test> SIZE=5000"); code != 552 {
			t.Errorf("MAIL SIZE=5000: %d, want 552", code)
		}
		if code := c.data("a@far.test", "shop@example.org", "Subject: big\r\n\r\n"+strings.Repeat("xxxxxxxxxxxxxxxxxxx\r\n", 100)+".\r\n"); code != 552 {
			t.Errorf("2 KB message: %d, want 552", code)
		}
	})
	t.Run("long line", func(t *testing.T) {
		c := dialRelay(t, tr.addr)
		if code := c.data("a@far.test", "shop@example.org", "Subject: long\r\n\r\n"+strings.Repeat("y", 900)+"\r\n.\r\n"); code != 250 {
			t.Errorf("a 900-byte line: %d, want 250", code)
		}
	})
	t.Run("recipients", func(t *testing.T) {
		c := dialRelay(t, tr.addr)
		c.cmd("MAIL FROM:<a@far.test>")
		c.cmd("RCPT TO:<shop@example.org>")
		c.cmd("RCPT TO:<bank@example.org>")
		if code := c.cmd("RCPT TO:<two@example.org>"); code != 452 {
			t.Errorf("third recipient: %d, want 452", code)
		}
	})
	t.Run("connections", func(t *testing.T) {
		waitNoConnections(t, tr.Relay) // the subtests above have hung up
		a, b := dialRelay(t, tr.addr), dialRelay(t, tr.addr)
		if line := hungUpOn(t, tr.addr); !strings.HasPrefix(line, "421 4.7.0") {
			t.Errorf("third connection got %q, want 421", line)
		}
		a.conn.Close()
		b.conn.Close()
	})
	t.Run("slow but moving DATA", func(t *testing.T) {
		waitNoConnections(t, tr.Relay) // the connections above are released
		c := dialRelay(t, tr.addr)
		c.startData("a@far.test", "bank@example.org")
		c.send("Subject: slow\r\n\r\n")
		for i := 0; i < 12; i++ { // 12 × 150 ms: longer than the 1 s idle timeout in all
			time.Sleep(150 * time.Millisecond)
			c.send("line\r\n")
		}
		c.send(".\r\n")
		if code := c.reply(); code != 250 {
			t.Errorf("slow DATA: %d, want 250", code)
		}
	})
	t.Run("silent client", func(t *testing.T) {
		c := dialRelay(t, tr.addr)
		c.startData("a@far.test", "bank@example.org")
		c.send("Subject: stalled\r\n")
		// The relay hangs up after its idle timeout, long before this
		// client's own 30 s deadline would end the read.
		rest, err := io.ReadAll(c.r)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("the relay held a silent client until the client gave up: %v", err)
		}
		if strings.Contains(string(rest), "250 ") {
			t.Errorf("a stalled message was accepted: %q", rest)
		}
	})
}

func TestRetryThenDeliver(t *testing.T) {
	sk := newSink(t)
	fails := 3
	sk.dataErr = func() error {
		if fails > 0 {
			fails--
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
		}
		return nil
	}
	tr := startRelay(t, testConfig(t, sk.addr))
	if err := sendMail(t, tr.addr, "a@far.test", []string{"bank@example.org"}, simpleMessage); err != nil {
		t.Fatal(err)
	}
	tr.advanceUntil(t, "delivered after the refusals", func() bool { return len(sk.messages()) > 0 })
	waitQueueEmpty(t, tr.Relay)
	msgs := sk.messages()
	if len(msgs) != 1 {
		t.Errorf("%d deliveries, want exactly 1", len(msgs))
	}
	if !strings.HasSuffix(msgs[0].Data, simpleMessage) {
		t.Error("message changed")
	}
	if n := testutil.ToFloat64(tr.metrics.deferred); n != 3 || !strings.Contains(tr.logs.String(), "deferred") {
		t.Errorf("%v deferrals counted, want 3, all logged", n)
	}
}

// waitQueueEmpty waits until every message has left the spool; only for
// deliveries that are due now (the clock does not move meanwhile).
func waitQueueEmpty(t *testing.T, r *Relay) {
	t.Helper()
	eventually(t, "an empty queue", func() bool { return queueEmpty(r) })
}

func queueEmpty(r *Relay) bool {
	ids, _ := r.spool.List()
	return len(ids) == 0 && r.queue.len() == 0
}

// TestSmarthostDownThenUp: mail accepted while the smarthost is down is
// delivered once it is back, and survives a restart of the relay.
func TestSmarthostDownThenUp(t *testing.T) {
	sk := newSink(t)
	addr := sk.addr
	sk.srv.Close()
	sk.ln.Close()
	cfg := testConfig(t, addr)
	tr := startRelay(t, cfg)
	for i := 0; i < 5; i++ {
		msg := strings.Replace(simpleMessage, "<m1@shop.test>", fmt.Sprintf("<down%d@shop.test>", i), 1)
		if err := sendMail(t, tr.addr, "a@far.test", []string{"bank@example.org"}, msg); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "a first attempt at each", func() bool { return testutil.ToFloat64(tr.metrics.deferred) == 5 })
	tr.stop(t)

	// Restart the relay on the same spool (and clock), then bring the
	// smarthost back.
	tr2 := startRelay(t, cfg)
	sk2 := newSinkAt(t, addr)
	tr2.advanceUntil(t, "all delivered", func() bool { return queueEmpty(tr2.Relay) })
	msgs := sk2.messages()
	seen := map[string]int{}
	for _, m := range sk2.messages() {
		i := strings.Index(m.Data, "Message-ID: ")
		id, _, _ := strings.Cut(m.Data[i:], "\r\n")
		seen[id]++
	}
	if len(msgs) != 5 || len(seen) != 5 {
		t.Errorf("%d deliveries of %d messages, want 5 of 5: %v", len(msgs), len(seen), seen)
	}
}

func newSinkAt(t *testing.T, addr string) *sink {
	t.Helper()
	s := &sink{t: t}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }))
	s.srv.Domain = "sink.test"
	s.srv.ErrorLog = discardLog{}
	var err error
	for i := 0; i < 50; i++ {
		var ln net.Listener
		if ln, err = net.Listen("tcp", addr); err == nil {
			s.ln, s.addr = ln, addr
			go s.srv.Serve(ln)
			t.Cleanup(func() { s.srv.Close() })
			return s
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal(err)
	return nil
}

// fakeDNS answers the SPF lookups of the failure-report tests.
type fakeDNS map[string][]string

func (f fakeDNS) LookupTXT(_ context.Context, name string) ([]string, error) {
	if v, ok := f[strings.TrimSuffix(name, ".")]; ok {
		return v, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}
func (f fakeDNS) LookupMX(context.Context, string) ([]*net.MX, error) {
	return nil, &net.DNSError{Err: "no such host", IsNotFound: true}
}
func (f fakeDNS) LookupIPAddr(context.Context, string) ([]net.IPAddr, error) {
	return nil, &net.DNSError{Err: "no such host", IsNotFound: true}
}
func (f fakeDNS) LookupAddr(context.Context, string) ([]string, error) {
	return nil, &net.DNSError{Err: "no such host", IsNotFound: true}
}

// TestFailureReports: a permanent failure is reported to a sender whose SPF
// passes, never to one whose SPF does not (backscatter), and the report
// never names the hidden forwarding address.
func TestFailureReports(t *testing.T) {
	sk := newSink(t)
	sk.rcptErr = func(to string) error {
		if to == "me@dest.test" {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "me@dest.test: mailbox unknown"}
		}
		return nil
	}
	cfg := testConfig(t, sk.addr)
	cfg.Resolver = fakeDNS{"good.test": {"v=spf1 ip4:127.0.0.1 -all"}, "forged.test": {"v=spf1 ip4:192.0.2.1 -all"}}
	tr := startRelay(t, cfg)
	for _, from := range []string{"alice@good.test", "mallory@forged.test", ""} {
		if err := sendMail(t, tr.addr, from, []string{"bank@example.org"}, simpleMessage); err != nil {
			t.Fatal(err)
		}
	}
	waitQueueEmpty(t, tr.Relay) // the failures are permanent: no retry
	msgs := sk.messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages reached the sink, want 1 report", len(msgs))
	}
	m := msgs[0]
	if m.From != "" || len(m.To) != 1 || m.To[0] != "alice@good.test" {
		t.Errorf("report from <%s> to %v, want from <> to alice@good.test", m.From, m.To)
	}
	for _, want := range []string{"multipart/report", "Final-Recipient: rfc822; bank@example.org", "Status: 5.1.1", "Subject: hello"} {
		if !strings.Contains(m.Data, want) {
			t.Errorf("report lacks %q:\n%s", want, m.Data)
		}
	}
	if strings.Contains(m.Data, "dest.test") {
		t.Errorf("the report names the forwarding address:\n%s", m.Data)
	}
	if !strings.Contains(tr.logs.String(), "cannot be trusted") {
		t.Error("suppressed reports not logged")
	}
	// The two that nobody could be told about are kept, with their reasons.
	if kept := keptFailed(t, cfg.Spool); kept != 2 {
		t.Errorf("%d messages in SPOOL/failed, want 2 (forged sender, null sender)", kept)
	}
}

// keptFailed counts the messages in SPOOL/failed, each with its state.
func keptFailed(t *testing.T, spool string) int {
	t.Helper()
	msgs, _ := filepath.Glob(filepath.Join(spool, "failed", "*"))
	n := 0
	for _, m := range msgs {
		if strings.HasSuffix(m, ".state") {
			continue
		}
		n++
		if b, err := os.ReadFile(m + ".state"); err != nil || !strings.Contains(string(b), "Failed") && !strings.Contains(string(b), "failed") {
			t.Errorf("%s kept without its reasons: %v %s", m, err, b)
		}
	}
	return n
}

// TestSmarthostRefusesSender: a 5xx to MAIL FROM is about the relay's
// account at the smarthost (a sending quota), not the message: it waits in
// the spool and goes out once the smarthost takes it again; nothing fails.
func TestSmarthostRefusesSender(t *testing.T) {
	sk := newSink(t)
	refusals := 3
	sk.mailErr = func(string) error {
		if refusals > 0 {
			refusals--
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 4, 5}, Message: "daily sending quota exceeded"}
		}
		return nil
	}
	cfg := testConfig(t, sk.addr)
	tr := startRelay(t, cfg)
	if err := sendMail(t, tr.addr, "a@far.test", []string{"bank@example.org"}, simpleMessage); err != nil {
		t.Fatal(err)
	}
	tr.advanceUntil(t, "delivered after the refusals", func() bool { return len(sk.messages()) > 0 })
	msgs := sk.messages()
	if len(msgs) != 1 || msgs[0].From == "" {
		t.Fatalf("delivered %+v, want the message itself (no report)", msgs)
	}
	waitQueueEmpty(t, tr.Relay)
	if kept := keptFailed(t, cfg.Spool); kept != 0 {
		t.Errorf("%d messages failed", kept)
	}
}

// TestSpoolReadErrorIsNotCorruption: a spool file that cannot be read just
// now (here: an I/O error, EISDIR) stays in the queue; only one whose
// content is not ours goes to SPOOL/corrupt.
func TestSpoolReadErrorIsNotCorruption(t *testing.T) {
	sk := newSink(t)
	sk.dataErr = func() error {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "later"}
	}
	cfg := testConfig(t, sk.addr)
	tr := startRelay(t, cfg)
	if err := sendMail(t, tr.addr, "a@far.test", []string{"bank@example.org"}, simpleMessage); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the first attempt", func() bool { return testutil.ToFloat64(tr.metrics.deferred) == 1 })
	tr.settle(t)
	ids, _ := tr.spool.List()
	if len(ids) != 1 {
		t.Fatalf("spool: %v", ids)
	}
	p := filepath.Join(cfg.Spool, "queue", ids[0])
	saved := filepath.Join(cfg.Spool, "saved")
	if err := os.Rename(p, saved); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(p, 0o700); err != nil { // opens, but reading it fails
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		tr.advance(t, cfg.RetryMax) // an attempt each time
	}
	if n := strings.Count(tr.logs.String(), "cannot read a spool file"); n < 3 {
		t.Errorf("%d attempts at the unreadable entry, want 3", n)
	}
	if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
		t.Fatalf("the unreadable entry left the queue: %v", err)
	}
	if c, _ := filepath.Glob(filepath.Join(cfg.Spool, "corrupt", "*")); len(c) != 0 {
		t.Errorf("quarantined: %v", c)
	}
	// No attempt can come while the path is missing: the clock stands still.
	os.Remove(p)
	if err := os.Rename(saved, p); err != nil {
		t.Fatal(err)
	}
	sk.mu.Lock()
	sk.dataErr = nil
	sk.mu.Unlock()
	tr.advanceUntil(t, "delivered once readable", func() bool { return queueEmpty(tr.Relay) })
	if n := len(sk.messages()); n != 1 {
		t.Errorf("%d delivered, want 1", n)
	}
	// And a file that is not a spool file at all is quarantined.
	junk := filepath.Join(cfg.Spool, "queue", NewID())
	if err := os.WriteFile(junk, []byte("not a spool file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tr.queue.add(filepath.Base(junk), time.Time{})
	eventually(t, "a file that is not ours quarantined", func() bool {
		c, _ := filepath.Glob(filepath.Join(cfg.Spool, "corrupt", "*"))
		return len(c) == 1
	})
}

func TestExpiry(t *testing.T) {
	sk := newSink(t)
	sk.dataErr = func() error {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "later"}
	}
	cfg := testConfig(t, sk.addr)
	cfg.MaxAge = 30 * time.Minute
	tr := startRelay(t, cfg)
	start := tr.clock.Now()
	if err := sendMail(t, tr.addr, "", []string{"bank@example.org"}, simpleMessage); err != nil {
		t.Fatal(err)
	}
	tr.advanceUntil(t, "given up", func() bool { return queueEmpty(tr.Relay) })
	if !strings.Contains(tr.logs.String(), "expired") {
		t.Errorf("no expiry logged:\n%s", tr.logs.String())
	}
	if age := tr.clock.Since(start); age < cfg.MaxAge || age > cfg.MaxAge+cfg.RetryMax {
		t.Errorf("given up after %v, want between MaxAge and one retry interval more", age)
	}
}

func TestStatsAndAdmin(t *testing.T) {
	sk := newSink(t)
	tr := startRelay(t, testConfig(t, sk.addr))
	if err := sendMail(t, tr.addr, "a@far.test", []string{"shop@example.org"}, simpleMessage); err != nil {
		t.Fatal(err)
	}
	sk.wait(1)
	c := dialRelay(t, tr.addr)
	c.cmd("MAIL FROM:<a@far.test>")
	c.cmd("RCPT TO:<leaked@example.org>")
	c.cmd("RCPT TO:<leaked@example.org>")
	waitQueueEmpty(t, tr.Relay)
	if err := tr.store.Flush(); err != nil {
		t.Fatal(err)
	}
	stats, err := tr.store.Stats()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Stat{}
	for _, s := range stats {
		got[s.Alias] = s
	}
	if s := got["shop@example.org"]; s.Forwarded != 1 || s.LastSeen.IsZero() {
		t.Errorf("shop@: %+v", s)
	}
	if s := got["leaked@example.org"]; s.Refused != 2 {
		t.Errorf("leaked@: %+v", s)
	}
	srv := httptest.NewServer(tr.AdminHandler())
	defer srv.Close()
	for path, want := range map[string]string{"/healthz": `"status": "ok"`, "/metrics": "catchall_relay_accepted_total 1"} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("%s: %d, lacks %q", path, resp.StatusCode, want)
		}
	}
}

func TestPlanReload(t *testing.T) {
	sk := newSink(t)
	cfg := testConfig(t, sk.addr)
	tr := startRelay(t, cfg)
	c := dialRelay(t, tr.addr)
	c.cmd("MAIL FROM:<a@far.test>")
	if code := c.cmd("RCPT TO:<shop@example.org>"); code != 250 {
		t.Fatalf("before: %d", code)
	}
	plan := strings.Replace(testPlan, "shop@example.org,disposable,forward,me@dest.test", "shop@example.org,disposable,block,", 1)
	if err := writeFile(cfg.Plan, plan); err != nil {
		t.Fatal(err)
	}
	if err := tr.Reload(); err != nil {
		t.Fatal(err)
	}
	if code := c.cmd("RCPT TO:<shop@example.org>"); code != 550 {
		t.Errorf("after blocking in the plan: %d, want 550", code)
	}
	// A broken plan is not imported: the relay keeps what it had.
	if err := writeFile(cfg.Plan, "alias,tag,action,forward_to\nbroken@example.org,disposable,forward,\"a b\"@x\n"); err != nil {
		t.Fatal(err)
	}
	if err := tr.Reload(); err == nil {
		t.Error("a broken plan was accepted")
	}
	if code := c.cmd("RCPT TO:<bank@example.org>"); code != 250 {
		t.Errorf("after a broken plan: %d, want 250 (the old aliases stay)", code)
	}
}

// TestImportWhileRunning: catchall relay import in another process is
// picked up by a running relay without a signal.
func TestImportWhileRunning(t *testing.T) {
	sk := newSink(t)
	cfg := testConfig(t, sk.addr)
	st, err := OpenStore(cfg.Spool)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ImportPlan(st, cfg.Plan, nil); err != nil {
		t.Fatal(err)
	}
	plan := cfg.Plan
	cfg.Plan = ""
	tr := startRelay(t, cfg)
	c := dialRelay(t, tr.addr)
	c.cmd("MAIL FROM:<a@far.test>")
	if code := c.cmd("RCPT TO:<newone@example.org>"); code != 550 {
		t.Fatalf("before the import: %d", code)
	}
	writeFile(plan, testPlan+"newone@example.org,personal,forward,me@dest.test\n")
	if _, err := ImportPlan(st, plan, nil); err != nil {
		t.Fatal(err)
	}
	st.Close()
	tr.advance(t, 2*time.Second) // the next poll
	if code := c.cmd("RCPT TO:<newone@example.org>"); code != 250 {
		t.Errorf("after the import and a poll: %d, want 250", code)
	}
}

// TestImportBesidesPlan: a relay started with --plan takes an import by
// another process (catchall relay import) as it is, and does not undo it
// by importing its own, unchanged plan file again.
func TestImportBesidesPlan(t *testing.T) {
	sk := newSink(t)
	cfg := testConfig(t, sk.addr)
	tr := startRelay(t, cfg)
	other := filepath.Join(t.TempDir(), "other.csv")
	writeFile(other, testPlan+"newone@example.org,personal,forward,me@dest.test\n")
	st, err := OpenStore(cfg.Spool)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ImportPlan(st, other, nil); err != nil {
		t.Fatal(err)
	}
	st.Close()
	tr.advance(t, 2*time.Second) // the next poll
	if _, ok := tr.store.Lookup("newone@example.org"); !ok {
		t.Fatal("the import was not picked up at the next poll")
	}
	tr.advance(t, 2*time.Second) // another poll of the plan file and the store
	if _, ok := tr.store.Lookup("newone@example.org"); !ok {
		t.Error("the running relay undid the import with its own plan")
	}
}

// TestGracefulShutdown: a session in the middle of DATA when the relay is
// told to stop still gets its 250, and the message is delivered.
func TestGracefulShutdown(t *testing.T) {
	sk := newSink(t)
	tr := startRelay(t, testConfig(t, sk.addr))
	c := dialRelay(t, tr.addr)
	c.startData("a@far.test", "bank@example.org")
	c.send("Subject: in flight\r\n\r\nfirst half\r\n")
	tr.cancel() // what SIGTERM does
	eventually(t, "new connections refused while stopping", func() bool {
		conn, err := net.DialTimeout("tcp", tr.addr, time.Second)
		if err == nil {
			conn.Close()
		}
		return err != nil
	})
	c.send("second half\r\n.\r\n")
	if code := c.reply(); code != 250 {
		t.Errorf("DATA in flight: %d, want 250", code)
	}
	c.cmd("QUIT")
	select {
	case err := <-tr.done:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("relay did not stop after the last session ended")
	}
	tr.cancel = nil
	tr.Close()
	if m := sk.messages(); len(m) != 1 {
		// delivered before stopping, or queued for the next start
		ids, _ := tr.spool.List()
		if len(ids) != 1 {
			t.Errorf("the message is neither delivered nor queued: %d delivered, %d queued", len(m), len(ids))
		}
	}
}

// TestGuessing: a session that has had DefaultMaxBadRcpts recipients
// refused gets nothing more looked at, not even a valid burner or a valid
// SRS address; each refusal costs a token of the client's rate limit; and
// MAIL FROM with characters that could not be sent on is refused.
func TestGuessing(t *testing.T) {
	sk := newSink(t)
	cfg := testConfig(t, sk.addr)
	cfg.RatePerMinute = 30 // burst 10
	tr := startRelay(t, cfg)
	burner, _ := cfg.Burner.Address("adobe", "example.org")
	c := dialRelay(t, tr.addr)
	if code := c.cmd("MAIL FROM:<>"); code != 250 {
		t.Fatalf("MAIL: %d", code)
	}
	for i := 0; i < DefaultMaxBadRcpts-1; i++ {
		if code := c.cmd(fmt.Sprintf("RCPT TO:<adobe.aaaa%02d@example.org>", i)); code != 550 {
			t.Fatalf("guess %d: %d", i, code)
		}
	}
	if code := c.cmd("RCPT TO:<adobe.zzzzzz@example.org>"); code != 421 {
		t.Errorf("the %dth refusal: %d, want 421", DefaultMaxBadRcpts, code)
	}
	if code := c.cmd("RCPT TO:<" + burner + ">"); code != 421 {
		t.Errorf("a valid burner after the cap: %d, want 421", code)
	}
	fwd, _ := tr.srs.Forward("alice@far.test")
	if code := c.cmd("RCPT TO:<" + fwd + ">"); code != 421 {
		t.Errorf("a valid SRS address after the cap: %d, want 421", code)
	}
	if _, ok := tr.store.Lookup(burner); ok {
		t.Error("the burner was registered after the cap")
	}
	// A new session starts afresh, but the refusals used up rate tokens.
	c2 := dialRelay(t, tr.addr)
	if code := c2.cmd("MAIL FROM:<>"); code != 250 && code != 450 {
		t.Errorf("new session MAIL: %d", code)
	}
	if lim := tr.limiter("127.0.0.1"); lim != nil && lim.TokensAt(tr.clock.Now()) > float64(lim.Burst())-float64(DefaultMaxBadRcpts)/2 {
		t.Errorf("refusals did not cost rate tokens: %.1f of %d left", lim.TokensAt(tr.clock.Now()), lim.Burst())
	}
	for _, from := range []string{"john doe@far.test", `a"b@far.test`, "a\\b@far.test"} {
		c3 := dialRelay(t, tr.addr)
		if code := c3.cmd("MAIL FROM:<" + from + ">"); code != 553 && code != 501 {
			t.Errorf("MAIL FROM:<%s>: %d, want 553 or 501", from, code)
		}
	}
}

// TestBDATReset: RSET while a BDAT transfer is open (go-smtp runs Data in a
// goroutine of its own for BDAT) must not race with the session's state
// (run with -race), and the aborted message is not accepted.
func TestBDATReset(t *testing.T) {
	sk := newSink(t)
	tr := startRelay(t, testConfig(t, sk.addr))
	for i := 0; i < 20; i++ {
		c := dialRelay(t, tr.addr)
		c.cmd("MAIL FROM:<a@far.test>")
		c.cmd("RCPT TO:<shop@example.org>")
		c.cmd("BDAT 0")
		c.cmd("RSET")
		c.cmd("MAIL FROM:<b@far.test>")
		c.cmd("RCPT TO:<bank@example.org>")
		c.cmd("QUIT")
	}
	waitNoConnections(t, tr.Relay)
	if n := testutil.ToFloat64(tr.metrics.accepted); n != 0 || len(sk.messages()) != 0 {
		t.Errorf("%v aborted messages accepted, %d delivered", n, len(sk.messages()))
	}
}

// TestConnectionLimits: the bound on all connections at once, and IPv6
// clients counted per /64.
func TestConnectionLimits(t *testing.T) {
	sk := newSink(t)
	cfg := testConfig(t, sk.addr)
	cfg.MaxConns, cfg.MaxConnsPerIP = 2, -1
	tr := startRelay(t, cfg)
	a, b := dialRelay(t, tr.addr), dialRelay(t, tr.addr)
	if line := hungUpOn(t, tr.addr); !strings.HasPrefix(line, "421 4.3.2") {
		t.Errorf("third connection got %q, want 421 4.3.2", line)
	}
	a.conn.Close()
	b.conn.Close()

	for addr, want := range map[string]string{
		"192.0.2.7:25":              "192.0.2.7",
		"[2001:db8:1:2:aaaa::1]:25": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::9]:25": "2001:db8:1:2::/64",
		"[::ffff:192.0.2.7]:25":     "192.0.2.7",
		"[2001:db8:1:3::1]:25":      "2001:db8:1:3::/64",
	} {
		ta, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := clientKey(ta); got != want {
			t.Errorf("clientKey(%s) = %s, want %s", addr, got, want)
		}
	}
}

// TestSMTPUTF8ToPlainSmarthost: a message that needs SMTPUTF8 cannot go to a
// smarthost without it (RFC 6531): it fails at once (5.6.7) instead of
// being retried for days, and is kept since its null sender gets no report.
func TestSMTPUTF8ToPlainSmarthost(t *testing.T) {
	sk := newSink(t) // go-smtp's server does not offer SMTPUTF8 unless told
	cfg := testConfig(t, sk.addr)
	tr := startRelay(t, cfg)
	c := dialRelay(t, tr.addr)
	if code := c.cmd("MAIL FROM:<> SMTPUTF8"); code != 250 {
		t.Fatalf("MAIL SMTPUTF8: %d", code)
	}
	c.cmd("RCPT TO:<shop@example.org>")
	c.cmd("DATA")
	c.send("Subject: ünïcode\r\n\r\nhi\r\n.\r\n")
	if code := c.reply(); code != 250 {
		t.Fatalf("DATA: %d", code)
	}
	waitQueueEmpty(t, tr.Relay)
	if kept := keptFailed(t, cfg.Spool); kept != 1 {
		t.Errorf("%d kept in SPOOL/failed, want 1", kept)
	}
	if len(sk.messages()) != 0 {
		t.Error("delivered without SMTPUTF8")
	}
	if !strings.Contains(tr.logs.String(), "SMTPUTF8") {
		t.Error("the reason is not logged")
	}
}

// waitNoConnections waits until the relay has released every connection
// its clients hung up (the server notices a close asynchronously).
func waitNoConnections(t *testing.T, r *Relay) {
	t.Helper()
	eventually(t, "every connection released", func() bool { return testutil.ToFloat64(r.metrics.connections) == 0 })
}

// TestMaxSession: a client that keeps trickling bytes (so the idle timeout
// never fires) is still cut at MaxSession. Both are socket deadlines, on
// real time.
func TestMaxSession(t *testing.T) {
	sk := newSink(t)
	cfg := testConfig(t, sk.addr)
	cfg.IdleTimeout, cfg.MaxSession = time.Second, 2*time.Second
	tr := startRelay(t, cfg)
	c := dialRelay(t, tr.addr)
	var err error
	for err == nil { // until the relay hangs up, or dialRelay's 30 s deadline ends it
		time.Sleep(50 * time.Millisecond)
		_, err = c.conn.Write([]byte("N"))
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("a client trickling a byte every 50 ms was never cut: %v", err)
	}
	waitNoConnections(t, tr.Relay)
}
