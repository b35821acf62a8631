package relay

import (
	"io"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/catchall/catchall/serverurl"
)

// pwSink is a smarthost that wants AUTH PLAIN with one password, which
// the test can change; it counts the messages it takes.
type pwSink struct {
	mu       sync.Mutex
	password string
	got      int
}

type pwSession struct {
	s    *pwSink
	auth bool
}

func (a *pwSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (a *pwSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		a.s.mu.Lock()
		defer a.s.mu.Unlock()
		if user != "relay" || pass != a.s.password {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "authentication failed"}
		}
		a.auth = true
		return nil
	}), nil
}
func (a *pwSession) Mail(string, *smtp.MailOptions) error {
	if !a.auth {
		return smtp.ErrAuthRequired
	}
	return nil
}
func (a *pwSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (a *pwSession) Data(r io.Reader) error {
	io.Copy(io.Discard, r)
	a.s.mu.Lock()
	a.s.got++
	a.s.mu.Unlock()
	return nil
}
func (a *pwSession) Reset()        {}
func (a *pwSession) Logout() error { return nil }

// TestSmarthostLoginRefused: a wrong smarthost password is logged at
// ERROR, counted, shown by /healthz, and the mail waits in the queue; once
// the password is right the mail goes and /healthz is ok again.
func TestSmarthostLoginRefused(t *testing.T) {
	as := &pwSink{password: "right"}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &pwSession{s: as}, nil }))
	srv.Domain, srv.AllowInsecureAuth, srv.ErrorLog = "sink.test", true, discardLog{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	cfg := testConfig(t, ln.Addr().String())
	u, err := serverurl.Parse("smtp+plain://relay@"+ln.Addr().String(), "smtp")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Smarthost, cfg.SmarthostPassword = u, "wrong"
	tr := startRelay(t, cfg)
	health := func() (int, string) {
		rec := httptest.NewRecorder()
		tr.AdminHandler().ServeHTTP(rec, httptest.NewRequest("GET", "http://127.0.0.1:9125/healthz", nil))
		return rec.Code, rec.Body.String()
	}
	if err := sendMail(t, tr.addr, "x@sender.test", []string{"shop@example.org"}, simpleMessage); err != nil {
		t.Fatal(err)
	}
	eventually(t, "/healthz 503 naming the smarthost login", func() bool {
		code, body := health()
		return code == 503 && strings.Contains(body, `"smarthost_login_refused": true`) && strings.Contains(body, "smarthost refuses the login")
	})
	tr.advance(t, cfg.RetryMax) // two more attempts, refused as well
	tr.advance(t, cfg.RetryMax)
	if !strings.Contains(tr.logs.String(), `level=ERROR msg="the smarthost refuses the relay's login`) {
		t.Errorf("the refused login is not logged at ERROR:\n%s", tr.logs.String())
	}
	if n := strings.Count(tr.logs.String(), "level=ERROR"); n != 1 {
		t.Errorf("%d ERROR lines; want the refusal said once, not on every retry", n)
	}
	if got := testutil.ToFloat64(tr.metrics.authFailures); got != 3 {
		t.Errorf("auth failures counted %v, want 3", got)
	}
	if tr.queue.len() != 1 {
		t.Errorf("queue %d, want the message waiting", tr.queue.len())
	}
	// The operator fixes the password (here: the smarthost takes the old one).
	as.mu.Lock()
	as.password = "wrong"
	as.mu.Unlock()
	tr.advanceUntil(t, "delivered after the fix", func() bool {
		as.mu.Lock()
		defer as.mu.Unlock()
		return as.got == 1
	})
	if code, body := health(); code != 200 || !strings.Contains(body, `"smarthost_login_refused": false`) || !strings.Contains(body, `"last_smarthost_success": "`) {
		t.Errorf("after the fix: /healthz %d %q, want 200", code, body)
	}
}
