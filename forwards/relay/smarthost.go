package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/catchall/catchall/serverurl"
)

// SmarthostStage is the step of a smarthost connection that failed.
type SmarthostStage string

// The steps of a smarthost connection, in order.
const (
	StageConnect SmarthostStage = "connect" // TCP
	StageTLS     SmarthostStage = "tls"     // STARTTLS, or the handshake of smtps://
	StageEHLO    SmarthostStage = "ehlo"    // the greeting and EHLO
	StageAuth    SmarthostStage = "auth"    // AUTH PLAIN
)

// SmarthostError is a failure to reach or log in to the smarthost: the
// stage that failed and why.
type SmarthostError struct {
	Stage SmarthostStage
	Addr  string // HOST:PORT
	User  string // the login, for StageAuth
	// Implicit is true when TLS was spoken from the first byte (smtps://)
	// rather than after STARTTLS.
	Implicit bool
	Err      error
}

// Error reads "smarthost HOST:PORT: [STARTTLS: | TLS: | EHLO: |
// authentication as USER: ]cause".
func (e *SmarthostError) Error() string {
	switch e.Stage {
	case StageTLS:
		if e.Implicit {
			return fmt.Sprintf("smarthost %s: TLS: %v", e.Addr, e.Err)
		}
		return fmt.Sprintf("smarthost %s: STARTTLS: %v", e.Addr, e.Err)
	case StageEHLO:
		return fmt.Sprintf("smarthost %s: EHLO: %v", e.Addr, e.Err)
	case StageAuth:
		return fmt.Sprintf("smarthost %s: authentication as %s: %v", e.Addr, e.User, e.Err)
	}
	return fmt.Sprintf("smarthost %s: %v", e.Addr, e.Err)
}

func (e *SmarthostError) Unwrap() error { return e.Err }

// LoginRefused reports whether the smarthost answered AUTH with a
// permanent refusal (5xx): the user or the password is wrong.
func (e *SmarthostError) LoginRefused() bool {
	var se *smtp.SMTPError
	return e.Stage == StageAuth && errors.As(e.Err, &se) && se.Code >= 500
}

// dialSmarthost connects to the smarthost of cfg as delivery does:
// implicit TLS, STARTTLS (required) or plain as the URL says, EHLO as
// cfg.Hostname, then AUTH PLAIN when the URL names a user. Nothing on the
// connection may stay silent longer than idle, nor go on past end (zero:
// no bound); ending ctx hangs up. Errors are *SmarthostError.
func dialSmarthost(ctx context.Context, cfg *Config, idle time.Duration, end time.Time) (*smtp.Client, error) {
	u := cfg.Smarthost
	fail := func(stage SmarthostStage, err error) error {
		return &SmarthostError{Stage: stage, Addr: u.Addr(), User: u.User, Implicit: u.Security == serverurl.SecurityTLS, Err: err}
	}
	d := net.Dialer{Timeout: min(30*time.Second, idle), Deadline: end}
	raw, err := d.DialContext(ctx, "tcp", u.Addr())
	if err != nil {
		return nil, fail(StageConnect, err)
	}
	context.AfterFunc(ctx, func() { raw.Close() })
	conn := net.Conn(&idleConn{Conn: raw, idle: idle, end: end, release: func() {}})
	tc := cfg.SmarthostTLS
	if tc == nil {
		tc = &tls.Config{}
	}
	tc = tc.Clone()
	if tc.ServerName == "" {
		tc.ServerName = u.Host
	}
	tc.MinVersion = max(tc.MinVersion, tls.VersionTLS12)
	var c *smtp.Client
	switch u.Security {
	case serverurl.SecurityTLS:
		// The handshake now rather than at the first read, so that a
		// certificate problem is told as one.
		tconn := tls.Client(conn, tc)
		ctx, cancel := context.WithTimeout(context.Background(), idle)
		err := tconn.HandshakeContext(ctx)
		cancel()
		if err != nil {
			conn.Close()
			return nil, fail(StageTLS, err)
		}
		c = smtp.NewClient(tconn)
	case serverurl.SecurityStartTLS:
		c, err = smtp.NewClientStartTLS(conn, tc)
		if err != nil {
			conn.Close()
			return nil, fail(StageTLS, err)
		}
	default:
		c = smtp.NewClient(conn)
	}
	c.CommandTimeout = idle
	c.SubmissionTimeout = idle
	if err := c.Hello(cfg.Hostname); err != nil {
		c.Close()
		return nil, fail(StageEHLO, err)
	}
	if u.User != "" {
		if err := c.Auth(sasl.NewPlainClient("", u.User, cfg.SmarthostPassword)); err != nil {
			c.Close()
			return nil, fail(StageAuth, err)
		}
	}
	return c, nil
}

// CheckSmarthost connects to cfg.Smarthost as the relay's delivery does
// (TLS as the URL says, EHLO, AUTH with cfg.SmarthostPassword when the URL
// names a user), says QUIT and hangs up: catchall relay check. No step may
// take longer than timeout, nor all of them longer than six times it;
// ending ctx stops it. Errors are *SmarthostError.
func CheckSmarthost(ctx context.Context, cfg Config, timeout time.Duration) error {
	if cfg.Smarthost == nil {
		return errors.New("no smarthost")
	}
	cfg.defaults()
	c, err := dialSmarthost(ctx, &cfg, timeout, time.Now().Add(6*timeout))
	if err != nil {
		return err
	}
	if err := c.Quit(); err != nil {
		c.Close()
		return &SmarthostError{Stage: StageEHLO, Addr: cfg.Smarthost.Addr(), Err: fmt.Errorf("QUIT: %w", err)}
	}
	return nil
}
