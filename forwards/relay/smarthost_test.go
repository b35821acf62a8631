package relay

import (
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/catchall/catchall/internal/testtools"
	"github.com/catchall/catchall/serverurl"
)

// TestCheckSmarthost: the check connects as delivery does and names the
// step that failed: nothing listening, no STARTTLS offered, a certificate
// not trusted on smtps://, a refused login; the right login passes.
func TestCheckSmarthost(t *testing.T) {
	as := &pwSink{password: "right"}
	listen := func(tc *tls.Config) string {
		srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &pwSession{s: as}, nil }))
		srv.Domain, srv.AllowInsecureAuth, srv.ErrorLog = "sink.test", true, discardLog{}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if tc != nil {
			ln = tls.NewListener(ln, tc)
		}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		return ln.Addr().String()
	}
	plain := listen(nil)
	cert, _ := testtools.Cert(t)
	implicit := listen(&tls.Config{Certificates: []tls.Certificate{cert}})
	const nobody = "127.0.0.1:1" // nothing listens there

	for _, tc := range []struct {
		url, password string
		stage         SmarthostStage // "" for success
		refused       bool
	}{
		{"smtp+plain://relay@" + plain, "right", "", false},
		{"smtp+plain://" + plain, "", "", false},
		{"smtp+plain://relay@" + plain, "wrong", StageAuth, true},
		{"smtp+plain://relay@" + nobody, "right", StageConnect, false},
		{"smtp://relay@" + plain, "right", StageTLS, false},     // no STARTTLS offered
		{"smtps://relay@" + implicit, "right", StageTLS, false}, // a certificate nobody vouches for
	} {
		u, err := serverurl.Parse(tc.url, "smtp")
		if err != nil {
			t.Fatal(err)
		}
		err = CheckSmarthost(t.Context(), Config{Smarthost: u, SmarthostPassword: tc.password, Hostname: "relay.test"}, 5*time.Second)
		var se *SmarthostError
		switch {
		case tc.stage == "" && err != nil:
			t.Errorf("%s: %v", tc.url, err)
		case tc.stage != "" && (!errors.As(err, &se) || se.Stage != tc.stage || se.LoginRefused() != tc.refused):
			t.Errorf("%s: %v, want a failure at %s (login refused: %v)", tc.url, err, tc.stage, tc.refused)
		}
	}
}
