package relay

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// asListener hands the relay loopback connections that say they come from
// the address the test named last: clients of other addresses and
// networks without leaving 127.0.0.1.
type asListener struct {
	net.Listener
	mu sync.Mutex
	ip net.IP
}

func (l *asListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return &asConn{Conn: c, remote: &net.TCPAddr{IP: l.ip, Port: 40000}}, nil
}

type asConn struct {
	net.Conn
	remote net.Addr
}

func (c *asConn) RemoteAddr() net.Addr { return c.remote }

// dialAs opens a session that the relay sees coming from ip.
func (l *asListener) dialAs(t *testing.T, tr *testRelay, ip string) *client {
	t.Helper()
	l.mu.Lock()
	l.ip = net.ParseIP(ip)
	l.mu.Unlock()
	return dialRelay(t, tr.addr)
}

func startRelayAs(t *testing.T, cfg Config) (*testRelay, *asListener) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	as := &asListener{Listener: ln}
	return startRelayOn(t, cfg, as, nil), as
}

// mail opens a transaction that the rate limit lets through.
func (c *client) mail() {
	c.t.Helper()
	if code, text := c.cmdText("MAIL FROM:<a@far.test>"); code != 250 {
		c.t.Fatalf("MAIL: %s", text)
	}
}

func (c *client) cmdText(line string) (int, string) {
	c.t.Helper()
	c.send(line + "\r\n")
	return c.replyText()
}

// rcpt sends RCPT TO and checks the reply's code (and, for 450, that it
// is the rate limit's 4.7.1).
func (c *client) rcpt(to string, want int) {
	c.t.Helper()
	code, text := c.cmdText("RCPT TO:<" + to + ">")
	switch {
	case want == 5 && code >= 500 && code < 600:
	case code != want, want == 450 && !strings.HasPrefix(text, "450 4.7.1 "):
		c.t.Errorf("RCPT TO:<%s>: %q, want %d", to, text, want)
	}
}

// TestRefusalsCostTokens: every refused recipient takes a token of its
// client's rate limit, a client being an IPv4 address or a whole IPv6 /64,
// and a client that has used them up gets 450 4.7.1 to every RCPT, looked
// at or not, until time gives them back; other clients go on as before.
func TestRefusalsCostTokens(t *testing.T) {
	sk := newSink(t)
	cfg := testConfig(t, sk.addr)
	cfg.RatePerMinute = 60 // a token a second, 10 at most
	cfg.MaxBadRcpts = -1   // TestGuessing has the cap per session
	tr, as := startRelayAs(t, cfg)
	burner, _ := cfg.Burner.Address("adobe", "example.org")
	refused := []string{
		"nobody@example.org",                      // unknown alias
		"adobe.aaaaaa@example.org",                // bad burner tag
		"SRS0=AAAA=AA=far.test=alice@example.org", // bad SRS hash
		"leaked@example.org",                      // blocked
		"victim@elsewhere.test",                   // relay denied
	}

	// One IPv4 address: MAIL takes a token, each refusal another; the one
	// refused with none left is owed, and from then on nothing is looked at.
	c := as.dialAs(t, tr, "192.0.2.1")
	c.mail()
	for i := range 10 {
		c.rcpt(refused[i%len(refused)], 5)
	}
	c.rcpt("nobody@example.org", 450)
	c.rcpt("shop@example.org", 450)
	c.rcpt(burner, 450)
	if _, ok := tr.store.Lookup(burner); ok {
		t.Error("a burner was registered for a client with no tokens left")
	}
	other := as.dialAs(t, tr, "192.0.2.2")
	other.mail()
	other.rcpt("shop@example.org", 250)

	// Addresses of one IPv6 /64 share a bucket: 3 MAILs and 8 refusals
	// between them, then none of them gets a RCPT looked at; another /64
	// goes on.
	a := as.dialAs(t, tr, "2001:db8:1:2::a")
	b := as.dialAs(t, tr, "2001:db8:1:2::b")
	d := as.dialAs(t, tr, "2001:db8:1:2:ffff:ffff:ffff:ffff")
	for _, cl := range []*client{a, b, d} {
		cl.mail()
	}
	for i := range 4 {
		a.rcpt(refused[i], 5)
		b.rcpt(refused[i+1], 5)
	}
	d.rcpt("shop@example.org", 450)
	d.rcpt("nobody@example.org", 450)
	a.rcpt("bank@example.org", 450)
	e := as.dialAs(t, tr, "2001:db8:1:3::a")
	e.mail()
	e.rcpt("shop@example.org", 250)
	e.rcpt("nobody@example.org", 5)

	// Two seconds give both buckets a token back (they owed one).
	tr.advance(t, 2*time.Second)
	c.rcpt("shop@example.org", 250)
	d.rcpt("shop@example.org", 250)
	d.rcpt("nobody@example.org", 5)
	if code := c.cmd("DATA"); code != 354 {
		t.Fatalf("DATA: %d", code)
	}
	if code := c.cmd("Subject: x\r\n\r\nhi\r\n."); code != 250 {
		t.Errorf("the message after the wait: %d", code)
	}
}

// TestRateLimitMessages: a client that sends only good mail is counted per
// MAIL as before: the MAIL that takes its last token still gets its
// recipients, the next MAIL waits for a token.
func TestRateLimitMessages(t *testing.T) {
	sk := newSink(t)
	cfg := testConfig(t, sk.addr)
	cfg.RatePerMinute = 60 // a token a second, 10 at most
	tr := startRelay(t, cfg)
	c := dialRelay(t, tr.addr)
	for range 10 {
		c.mail()
		c.rcpt("shop@example.org", 250)
		c.rcpt("bank@example.org", 250)
		c.cmd("RSET")
	}
	if code := c.cmd("MAIL FROM:<a@far.test>"); code != 450 {
		t.Errorf("MAIL beyond the rate: %d, want 450", code)
	}
	tr.advance(t, time.Second)
	c.mail()
	c.rcpt("shop@example.org", 250)
}
