package relay

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/catchall/catchall/internal/testtools"
	"github.com/catchall/catchall/serverurl"
)

// authSession adds AUTH PLAIN to the sink.
type authSession struct {
	*sinkSession
	authed *bool
}

func (a *authSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (a *authSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "me@example.org" || pass != "s3cret" {
			return errors.New("bad credentials")
		}
		*a.authed = true
		return nil
	}), nil
}

// TestSmarthostStartTLSAuth: the relay delivers over STARTTLS (required,
// certificate checked) with AUTH PLAIN, and refuses to deliver to a
// smarthost that does not offer STARTTLS.
func TestSmarthostStartTLSAuth(t *testing.T) {
	cert, pool := testtools.Cert(t)
	sk := newSink(t)
	authed := false
	sk.srv.Close()
	sk.ln.Close()
	sk.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &authSession{sinkSession: &sinkSession{s: sk}, authed: &authed}, nil
	}))
	sk.srv.ErrorLog = discardLog{}
	sk.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	sk = newSinkServer(t, sk)

	cfg := testConfig(t, sk.addr)
	u, _ := serverurl.Parse("smtp://me%40example.org@"+sk.addr, "smtp")
	cfg.Smarthost, cfg.SmarthostPassword = u, "s3cret"
	cfg.SmarthostTLS = &tls.Config{RootCAs: pool}
	tr := startRelay(t, cfg)
	if err := sendMail(t, tr.addr, "a@far.test", []string{"bank@example.org"}, simpleMessage); err != nil {
		t.Fatal(err)
	}
	sk.wait(1)
	if !authed {
		t.Error("delivered without AUTH")
	}

	// A smarthost without STARTTLS: nothing is sent, the message waits.
	plain := newSink(t)
	cfg2 := testConfig(t, plain.addr)
	u2, _ := serverurl.Parse("smtp://me%40example.org@"+plain.addr, "smtp")
	cfg2.Smarthost, cfg2.SmarthostPassword = u2, "s3cret"
	tr2 := startRelay(t, cfg2)
	if err := sendMail(t, tr2.addr, "a@far.test", []string{"bank@example.org"}, simpleMessage); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a deferral that says why (STARTTLS)", func() bool {
		return testutil.ToFloat64(tr2.metrics.deferred) == 1 && strings.Contains(tr2.logs.String(), "STARTTLS")
	})
	if n := len(plain.messages()); n != 0 {
		t.Errorf("%d messages sent to a smarthost without STARTTLS", n)
	}
	if strings.Contains(tr2.logs.String(), "s3cret") || strings.Contains(tr.logs.String(), "s3cret") {
		t.Error("the smarthost password is in the log")
	}
}

// newSinkServer starts sk.srv on a new loopback port.
func newSinkServer(t *testing.T, sk *sink) *sink {
	t.Helper()
	sk.start("127.0.0.1:0")
	t.Cleanup(func() { sk.srv.Close() })
	return sk
}

// TestInboundStartTLS: the listener offers STARTTLS with TLS 1.2 or later
// only, and the Received: line says ESMTPS.
func TestInboundStartTLS(t *testing.T) {
	cert, pool := testtools.Cert(t)
	sk := newSink(t)
	cfg := testConfig(t, sk.addr)
	cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	tr := startRelay(t, cfg)

	c, err := smtp.DialStartTLS(tr.addr, &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11, MinVersion: tls.VersionTLS10})
	if err == nil {
		err = c.Mail("a@far.test", nil) // the handshake happens on first use
		c.Close()
	}
	if err == nil {
		t.Error("a TLS 1.1 client was accepted")
	}
	c, err = smtp.DialStartTLS(tr.addr, &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("a@far.test", []string{"bank@example.org"}, strings.NewReader(simpleMessage)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	m := sk.wait(1)[0]
	if !strings.Contains(m.Data, "with ESMTPS id") {
		t.Errorf("Received: line does not say ESMTPS:\n%s", m.Data[:200])
	}
}
