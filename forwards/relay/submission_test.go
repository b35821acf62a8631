package relay

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/catchall/catchall/internal/testtools"
)

const testUser, testPassword = "me", "correct horse battery"

// writeUsers writes a users file with testUser and returns its path.
func writeUsers(t *testing.T) string {
	t.Helper()
	h, err := HashPassword(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	u := &Users{hashes: map[string]string{testUser: h}}
	path := filepath.Join(t.TempDir(), "users")
	if err := WriteUsers(path, u); err != nil {
		t.Fatal(err)
	}
	return path
}

// fakeRemote makes the connections it accepts come from the address the
// test sets: a client on another machine, seen on loopback.
type fakeRemote struct {
	net.Listener
	remote atomic.Pointer[net.TCPAddr] // nil: the real one
}

func (l *fakeRemote) from(ip string) {
	l.remote.Store(&net.TCPAddr{IP: net.ParseIP(ip), Port: 40000})
}

func (l *fakeRemote) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if a := l.remote.Load(); a != nil {
		return &remoteConn{Conn: c, remote: a}, nil
	}
	return c, nil
}

type remoteConn struct {
	net.Conn
	remote net.Addr
}

func (c *remoteConn) RemoteAddr() net.Addr { return c.remote }

// startSubmission starts a relay with a submission port (plain, or with
// STARTTLS when tlsCfg is set) whose clients seem to come from the address
// set on the returned listener.
func startSubmission(t *testing.T, sinkAddr string, edit func(*Config)) (*testRelay, *fakeRemote) {
	t.Helper()
	cfg := testConfig(t, sinkAddr)
	cfg.Users, cfg.Workers, cfg.DefaultTargets = writeUsers(t), 1, []string{"me@dest.test"}
	if edit != nil {
		edit(&cfg)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fr := &fakeRemote{Listener: ln}
	return startRelaySub(t, cfg, fr), fr
}

func plainAuth(user, pass string) string {
	return "AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pass))
}

// expect sends line and fails unless the reply has code.
func (c *client) expect(line string, code int) string {
	c.t.Helper()
	if _, err := c.conn.Write([]byte(line + "\r\n")); err != nil {
		c.t.Fatal(err)
	}
	got, text := c.replyText()
	if got != code {
		c.t.Fatalf("%s: got %q, want %d", strings.SplitN(line, " ", 3)[:2], text, code)
	}
	return text
}

// startTLS runs STARTTLS, and EHLO again; it returns the EHLO reply.
func (c *client) startTLS(pool *x509.CertPool) string {
	c.t.Helper()
	c.expect("STARTTLS", 220)
	tc := tls.Client(c.conn, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err := tc.Handshake(); err != nil {
		c.t.Fatal(err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
	return c.expect("EHLO client.test", 250)
}

// submit sends one message over an authenticated connection.
func (c *client) submit(from string, to []string, msg string) {
	c.t.Helper()
	c.expect("MAIL FROM:<"+from+">", 250)
	for _, r := range to {
		c.expect("RCPT TO:<"+r+">", 250)
	}
	c.expect("DATA", 354)
	c.expect(msg+".", 250)
}

const sentMessage = "From: Me <shop@example.org>\r\nTo: friend@far.test\r\nSubject: hi\r\nMessage-ID: <s1@example.org>\r\n\r\nHello.\r\n"

// TestSubmissionSends: an authenticated user sends as a plan alias and as a
// new address to other domains; the message goes through the spool to the
// smarthost from the alias itself (no SRS), with a Received line that
// names neither the client's address nor the user, and counts as sent.
func TestSubmissionSends(t *testing.T) {
	sk := newSink(t)
	tr, _ := startSubmission(t, sk.addr, nil)
	c := dialRelay(t, tr.subAddr)
	if !strings.Contains(c.expect("EHLO laptop.home", 250), "AUTH PLAIN") {
		t.Fatal("AUTH PLAIN not offered on loopback")
	}
	c.expect(plainAuth(testUser, testPassword), 235)
	c.submit("shop@example.org", []string{"friend@far.test", "Other@Far.Test"}, sentMessage)
	msg := strings.Replace(sentMessage, "shop@example.org", "brand-new@example.org", 1)
	c.submit("brand-new@example.org", []string{"friend@far.test"}, msg)
	got := sk.wait(2)
	byFrom := map[string]sinkMsg{}
	for _, m := range got {
		byFrom[m.From] = m
	}
	m, ok := byFrom["shop@example.org"]
	if !ok || strings.Join(m.To, " ") != "friend@far.test other@far.test" {
		t.Fatalf("sent as shop@: %+v", got)
	}
	if !strings.Contains(m.Data, "Received: from authenticated client") || strings.Contains(m.Data, "127.0.0.1") ||
		strings.Contains(m.Data, "laptop.home") || strings.Contains(m.Data, testUser+" ") || strings.Contains(m.Data, "X-Catchall-Alias") {
		t.Errorf("trace headers give the client away:\n%s", m.Data)
	}
	if _, ok := byFrom["brand-new@example.org"]; !ok {
		t.Errorf("not sent from the new address: %+v", got)
	}
	a, ok := tr.store.Lookup("brand-new@example.org")
	if !ok || a.Source != SourceSent || strings.Join(a.Targets, " ") != "me@dest.test" {
		t.Errorf("the new address is not registered to take replies: %+v", a)
	}
	if u, err := tr.store.Sender("brand-new@example.org"); err != nil || u != testUser {
		t.Errorf("sender of brand-new@: %q, %v", u, err)
	}
	if err := tr.store.Flush(); err != nil {
		t.Fatal(err)
	}
	stats, _ := tr.store.Stats()
	sent := map[string]int64{}
	for _, s := range stats {
		sent[s.Alias] = s.Sent
	}
	if sent["shop@example.org"] != 1 || sent["brand-new@example.org"] != 1 {
		t.Errorf("sent counts: %v", sent)
	}
	if strings.Contains(tr.logs.String(), testPassword) {
		t.Error("the password is in the log")
	}
}

// TestSubmissionRefuses: no mail before AUTH, a wrong password, senders and
// From: fields not of the relay's domains.
func TestSubmissionRefuses(t *testing.T) {
	sk := newSink(t)
	tr, _ := startSubmission(t, sk.addr, func(c *Config) { c.AuthDelay = -1 })
	c := dialRelay(t, tr.subAddr)
	c.expect("MAIL FROM:<shop@example.org>", 530)
	c.expect(plainAuth(testUser, "wrong password"), 535)
	c.expect(plainAuth("nobody", testPassword), 535)
	c.expect("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("admin\x00"+testUser+"\x00"+testPassword)), 535)
	c.expect("MAIL FROM:<shop@example.org>", 530)
	c.expect(plainAuth(testUser, testPassword), 235)
	for _, from := range []string{"someone@far.test", "", "x@[127.0.0.1]", "a%b@example.org", "shop@example.org.far.test"} {
		c.expect("MAIL FROM:<"+from+">", 553)
	}
	srsAddr, err := tr.srs.Forward("a@far.test")
	if err != nil {
		t.Fatal(err)
	}
	c.expect("MAIL FROM:<"+srsAddr+">", 553)
	for name, msg := range map[string]string{
		"foreign From":  strings.Replace(sentMessage, "shop@example.org", "boss@far.test", 1),
		"missing From":  strings.Replace(sentMessage, "From: Me <shop@example.org>\r\n", "", 1),
		"two From":      "From: shop@example.org\r\n" + sentMessage,
		"two addresses": strings.Replace(sentMessage, "<shop@example.org>", "<shop@example.org>, boss@far.test", 1),
		"folded":        strings.Replace(sentMessage, "Me <shop@example.org>", "Me\r\n <boss@far.test>", 1),
		"no header":     "\r\nbody only\r\n",
	} {
		c.expect("MAIL FROM:<shop@example.org>", 250)
		c.expect("RCPT TO:<friend@far.test>", 250)
		c.expect("DATA", 354)
		if text := c.expect(msg+".", 550); !strings.Contains(text, "5.7.1") {
			t.Errorf("%s: %q", name, text)
		}
	}
	c.expect("MAIL FROM:<shop@example.org>", 250)
	c.expect("RCPT TO:<x@[10.0.0.1]>", 550)
	tr.settle(t)
	if n := len(sk.messages()); n != 0 {
		t.Errorf("%d refused messages delivered", n)
	}
	if q := tr.queue.len(); q != 0 {
		t.Errorf("%d refused messages queued", q)
	}
}

// TestSubmissionNeedsTLS: from another machine, AUTH is neither offered
// nor taken without TLS (538), and works after STARTTLS.
func TestSubmissionNeedsTLS(t *testing.T) {
	cert, pool := testtools.Cert(t)
	sk := newSink(t)
	tr, fr := startSubmission(t, sk.addr, func(c *Config) {
		c.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	})
	fr.from("192.0.2.7")
	c := dialRelay(t, tr.subAddr)
	if text := c.expect("EHLO laptop.home", 250); strings.Contains(text, "AUTH") || !strings.Contains(text, "STARTTLS") {
		t.Errorf("EHLO without TLS: %q", text)
	}
	if text := c.expect(plainAuth(testUser, testPassword), 538); !strings.Contains(text, "5.7.11") {
		t.Errorf("AUTH without TLS: %q", text)
	}
	c.expect("MAIL FROM:<shop@example.org>", 530)
	if text := c.startTLS(pool); !strings.Contains(text, "AUTH PLAIN") {
		t.Errorf("EHLO over TLS: %q", text)
	}
	c.expect(plainAuth(testUser, testPassword), 235)
	c.submit("bank@example.org", []string{"friend@far.test"}, strings.Replace(sentMessage, "shop@", "bank@", 1))
	if m := sk.wait(1)[0]; m.From != "bank@example.org" || !strings.Contains(m.Data, "with ESMTPS") || strings.Contains(m.Data, "192.0.2.7") {
		t.Errorf("sent over TLS: %+v", m)
	}
}

// TestSubmissionAuthLimit: each failure is answered only after a delay on
// the relay's clock; after AuthFailures failures the address (an IPv6 /64)
// gets 454 for AUTH, even with the right password, while another address
// logs in; after AuthLockout the address may try again.
func TestSubmissionAuthLimit(t *testing.T) {
	cert, pool := testtools.Cert(t)
	sk := newSink(t)
	tr, fr := startSubmission(t, sk.addr, func(c *Config) {
		c.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		c.AuthFailures, c.AuthDelay, c.AuthLockout = 3, time.Second, 10*time.Minute
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	fr.from("2001:db8::1")
	c := dialRelay(t, tr.subAddr)
	c.startTLS(pool)
	for i := 1; i <= 3; i++ {
		tr.settle(t)
		c.send(plainAuth(testUser, "guess") + "\r\n")
		// The answer waits on the clock: the worker, the poller and the delay.
		if err := tr.clock.BlockUntilContext(ctx, tr.cfg.Workers+2); err != nil {
			t.Fatal(err)
		}
		tr.clock.Advance(time.Duration(i) * time.Second)
		if code, text := c.replyText(); code != 535 {
			t.Fatalf("failure %d: %q", i, text)
		}
	}
	c.expect(plainAuth(testUser, testPassword), 454)
	fr.from("2001:db8::2") // the same /64
	c2 := dialRelay(t, tr.subAddr)
	c2.startTLS(pool)
	c2.expect(plainAuth(testUser, testPassword), 454)

	fr.from("127.0.0.2") // another address: the user is not locked out
	c3 := dialRelay(t, tr.subAddr)
	c3.expect(plainAuth(testUser, testPassword), 235)

	tr.advance(t, 10*time.Minute)
	c.expect(plainAuth(testUser, testPassword), 235)
}

// TestPort25NoSubmission: port 25 offers no AUTH, takes none, and stays
// closed to relaying for a sender of the relay's domains.
func TestPort25NoSubmission(t *testing.T) {
	cert, pool := testtools.Cert(t)
	sk := newSink(t)
	tr, _ := startSubmission(t, sk.addr, func(c *Config) { c.TLS = &tls.Config{Certificates: []tls.Certificate{cert}} })
	c := dialRelay(t, tr.addr)
	if text := c.expect("EHLO client.test", 250); strings.Contains(text, "AUTH") {
		t.Errorf("port 25 offers AUTH: %q", text)
	}
	if code := c.cmd(plainAuth(testUser, testPassword)); code < 500 {
		t.Errorf("AUTH on port 25: %d", code)
	}
	if text := c.startTLS(pool); strings.Contains(text, "AUTH") {
		t.Errorf("port 25 offers AUTH over TLS: %q", text)
	}
	if code := c.cmd(plainAuth(testUser, testPassword)); code < 500 {
		t.Errorf("AUTH on port 25 over TLS: %d", code)
	}
	c.expect("MAIL FROM:<shop@example.org>", 250)
	c.expect("RCPT TO:<friend@far.test>", 554)
}

func TestValidateSubmission(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Config)
		want string // a field in the error; "" for none
	}{
		{"loopback without TLS", func(c *Config) { c.Submission, c.Users = "127.0.0.1:587", "u" }, ""},
		{"any address without TLS", func(c *Config) { c.Submission, c.Users = ":587", "u" }, "Submission"},
		{"no users", func(c *Config) { c.Submission, c.TLS = ":587", &tls.Config{} }, "Users"},
		{"implicit TLS without a certificate", func(c *Config) { c.Submission, c.Users, c.SubmissionTLS = "[::1]:465", "u", true }, "SubmissionTLS"},
		{"with TLS", func(c *Config) { c.Submission, c.Users, c.TLS, c.SubmissionTLS = ":465", "u", &tls.Config{}, true }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, "127.0.0.1:1")
			tc.edit(&cfg)
			err := cfg.Validate()
			var ce *ConfigError
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected: %v", err)
			case tc.want != "" && (!errors.As(err, &ce) || ce.Field != tc.want):
				t.Errorf("got %v, want a problem with %s", err, tc.want)
			}
		})
	}
}

func TestUsersFile(t *testing.T) {
	h, err := HashPassword("pw one")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q", h)
	}
	if ok, err := VerifyPassword(h, "pw one"); !ok || err != nil {
		t.Errorf("right password: %v %v", ok, err)
	}
	if ok, _ := VerifyPassword(h, "pw two"); ok {
		t.Error("wrong password accepted")
	}
	if h2, _ := HashPassword("pw one"); h2 == h {
		t.Error("the same salt twice")
	}
	path := filepath.Join(t.TempDir(), "users")
	u, err := ReadUsers(path)
	if err != nil || len(u.Names()) != 0 {
		t.Fatalf("missing file: %v %v", u, err)
	}
	u.Set("alice", h)
	u.Set("bob@example.org", h)
	if err := WriteUsers(path, u); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v %v", fi.Mode(), err)
	}
	back, err := ReadUsers(path)
	if err != nil || strings.Join(back.Names(), " ") != "alice bob@example.org" {
		t.Fatalf("read back: %v %v", back.Names(), err)
	}
	if !back.Check("alice", "pw one") || back.Check("alice", "pw two") || back.Check("carol", "pw one") {
		t.Error("Check")
	}

	bad := []struct{ name, line string }{
		{"no colon", "alice"},
		{"empty name", ":" + h},
		{"space in name", "al ice:" + h},
		{"not argon2id", "alice:$2y$10$abcdefghijklmnopqrstuv"},
		{"argon2i", "alice:" + strings.Replace(h, "argon2id", "argon2i", 1)},
		{"old version", "alice:" + strings.Replace(h, "v=19", "v=16", 1)},
		{"huge memory", "alice:" + strings.Replace(h, "m=19456", "m=99999999", 1)},
		{"zero passes", "alice:" + strings.Replace(h, "t=2", "t=0", 1)},
		{"padded salt", "alice:" + strings.Replace(h, "$", "=$", 4)},
		{"short hash", "alice:$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$c2hvcnQ"},
		{"twice", "alice:" + h + "\nalice:" + h},
	}
	for _, b := range bad {
		if _, err := ParseUsers(strings.NewReader("# users\n\n" + b.line + "\n")); !errors.Is(err, ErrUsersSyntax) || !strings.Contains(err.Error(), fmt.Sprintf("line %d", 3+strings.Count(b.line, "\n"))) {
			t.Errorf("%s: %v", b.name, err)
		}
	}
	if _, err := ParseUsers(strings.NewReader("alice:" + h + "\r\n")); err != nil {
		t.Errorf("CRLF: %v", err)
	}
}

// TestUsersReloaded: a change of the users file is picked up by the poll.
func TestUsersReloaded(t *testing.T) {
	sk := newSink(t)
	tr, _ := startSubmission(t, sk.addr, func(c *Config) { c.AuthDelay = -1 })
	u, _ := ReadUsers(tr.cfg.Users)
	h, _ := HashPassword("new password")
	u.Set("second", h)
	if err := WriteUsers(tr.cfg.Users, u); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour) // mtime granularity
	os.Chtimes(tr.cfg.Users, future, future)
	tr.advance(t, 2*time.Second)
	c := dialRelay(t, tr.subAddr)
	c.expect(plainAuth("second", "new password"), 235)
}

func FuzzParseUsers(f *testing.F) {
	f.Add("alice:$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g\n# c\n\n")
	f.Add("a:$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Add(":::\n$$$$$")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseUsers(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, n := range u.Names() {
			if CheckUserName(n) != nil {
				t.Fatalf("accepted a bad name %q", n)
			}
			if _, err := parsePHC(u.hashes[n]); err != nil {
				t.Fatalf("accepted a bad hash %q", u.hashes[n])
			}
		}
	})
}

func FuzzCheckFrom(f *testing.F) {
	r := &Relay{}
	r.rt.Store(&routing{domains: map[string]bool{"example.org": true}})
	f.Add("From: Me <me@example.org>\r\nTo: x@y\r\n")
	f.Add("From: =?utf-8?q?M=C3=A9?= <me@example.org>\r\n")
	f.Add("From: a@example.org, b@far.test\r\n")
	f.Add("from:\r\n (c) me@example.org\r\n")
	f.Fuzz(func(t *testing.T, hdr string) {
		if r.checkFrom([]byte(hdr)) == nil && !strings.Contains(strings.ToLower(hdr), "example.org") {
			t.Fatalf("accepted a From: not at example.org: %q", hdr)
		}
	})
}
