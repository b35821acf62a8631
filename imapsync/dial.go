package imapsync

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/catchall/catchall/serverurl"
)

// Sentinel errors for the caller to map onto exit codes.
var (
	// ErrConnect means the server could not be reached or the TLS session
	// could not be set up.
	ErrConnect = errors.New("cannot connect")
	// ErrAuth means the server refused the credentials.
	ErrAuth = errors.New("authentication failed")
)

// Server says how to reach and log in to an IMAP server.
type Server struct {
	URL      *serverurl.URL
	Password string
	// TLSConfig overrides the default TLS configuration (system roots, the
	// URL's host as server name). Use it to trust a private CA.
	TLSConfig *tls.Config
	// IdleTimeout is how long a connection may wait for the server without
	// receiving a single byte before it is considered dead. It is measured
	// afresh after every read, so a slow but moving transfer of a huge message
	// never times out. Zero means one minute.
	IdleTimeout time.Duration
	// DialTimeout bounds the TCP connect and the TLS handshake; zero means 30s.
	DialTimeout time.Duration
	// Debug, when not nil, receives the protocol transcript with the LOGIN
	// command's credentials removed.
	Debug io.Writer
	// Logger receives warnings such as plaintext connections; nil discards.
	Logger *slog.Logger

	warnOnce sync.Once
	debugMu  sync.Mutex // serialises transcript lines of all connections
	connSeq  atomic.Int64
}

// dial connects and logs in.
func (s *Server) dial(ctx context.Context, handler *imapclient.UnilateralDataHandler) (*conn, error) {
	u := s.URL
	dialTimeout := s.DialTimeout
	if dialTimeout == 0 {
		dialTimeout = 30 * time.Second
	}
	idle := s.IdleTimeout
	if idle == 0 {
		idle = time.Minute
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.TLSConfig != nil {
		tlsConfig = s.TLSConfig.Clone()
	}
	if tlsConfig.ServerName == "" {
		tlsConfig.ServerName = u.Host
	}
	d := &net.Dialer{Timeout: dialTimeout}
	raw, err := d.DialContext(ctx, "tcp", u.Addr())
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w to %s: %v", ErrConnect, u.Addr(), netErrText(err))
	}
	// Until login is done, the context also bounds the greeting and LOGIN.
	stopDial := context.AfterFunc(ctx, func() { raw.Close() })
	defer stopDial()
	var transcript *redactor
	opts := &imapclient.Options{TLSConfig: tlsConfig, UnilateralDataHandler: handler}
	if s.Debug != nil {
		transcript = &redactor{w: s.Debug, mu: &s.debugMu, prefix: fmt.Sprintf("[conn %d] ", s.connSeq.Add(1))}
		opts.DebugWriter = transcript
	}
	var nc net.Conn = raw
	if u.Security == serverurl.SecurityTLS {
		tc := tls.Client(raw, tlsConfig)
		hctx, cancel := context.WithTimeout(ctx, dialTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			raw.Close()
			return nil, fmt.Errorf("%w to %s: TLS: %v", ErrConnect, u.Addr(), tlsErrText(err))
		}
		nc = tc
	}
	wd := &watchdogConn{Conn: nc, idle: idle}
	nc = wd
	greeting := ""
	if u.Security == serverurl.SecurityStartTLS {
		tc, err := startTLS(ctx, wd, tlsConfig, dialTimeout, transcript)
		if err != nil {
			wd.Close()
			return nil, fmt.Errorf("%w to %s: %v", ErrConnect, u.Addr(), err)
		}
		// The real greeting came before TLS; what it said (capabilities
		// included) is not to be trusted now, so imapclient gets a bare one
		// and asks for CAPABILITY itself.
		nc, greeting = tc, "* OK TLS is on (greeting replayed by catchall)\r\n"
	}
	g := newGuard(nc, greeting)
	c := imapclient.New(g, opts)
	if err := c.WaitGreeting(); err != nil {
		c.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w to %s: no greeting: %v", ErrConnect, u.Addr(), netErrText(err))
	}
	if u.Security == serverurl.SecurityNone && s.Logger != nil {
		s.warnOnce.Do(func() {
			s.Logger.Warn("connection is not encrypted; password and mail cross the network in clear text", "server", u.Addr())
		})
	}
	if c.State() == imap.ConnStateNotAuthenticated {
		if transcript != nil {
			transcript.mute(true)
		}
		err := c.Login(u.User, s.Password).Wait()
		if transcript != nil {
			transcript.mute(false)
		}
		if err != nil {
			c.Close()
			var imapErr *imap.Error
			if errors.As(err, &imapErr) {
				return nil, fmt.Errorf("%w for %s at %s: %s", ErrAuth, u.User, u.Addr(), imapErr.Text)
			}
			return nil, fmt.Errorf("%w to %s: login: %v", ErrConnect, u.Addr(), netErrText(err))
		}
	}
	return &conn{Client: c, raw: wd, guard: g}, nil
}

// watchdogConn gives every Read a fresh deadline of idle, and ignores the
// read deadlines imapclient sets itself: those are fixed per response (30 s)
// or per literal (5 min), so they either kill a slow but moving 50 MB message
// or, while no command is pending, never fire (go-imap #726, #762). Writes
// get the same treatment: imapclient gives a whole literal 5 minutes, which
// a big message on a slow uplink does not make; here each chunk of at most
// writeChunk bytes must go out within idle, so only a link that stops
// moving times out.
type watchdogConn struct {
	net.Conn
	idle time.Duration
}

// writeChunk bounds the bytes one write deadline covers.
const writeChunk = 16 << 10

func (c *watchdogConn) Write(p []byte) (int, error) {
	var n int
	for len(p) > 0 {
		chunk := p[:min(len(p), writeChunk)]
		c.Conn.SetWriteDeadline(time.Now().Add(c.idle))
		m, err := c.Conn.Write(chunk)
		n += m
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				err = fmt.Errorf("server took nothing for %s: %w", c.idle, err)
			}
			return n, err
		}
		p = p[m:]
	}
	return n, nil
}

func (c *watchdogConn) SetWriteDeadline(time.Time) error { return nil }

func (c *watchdogConn) Read(p []byte) (int, error) {
	c.Conn.SetReadDeadline(time.Now().Add(c.idle))
	n, err := c.Conn.Read(p)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		err = fmt.Errorf("server sent nothing for %s: %w", c.idle, err)
	}
	return n, err
}

func (c *watchdogConn) SetReadDeadline(time.Time) error { return nil }

func (c *watchdogConn) SetDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(t) }

// redactor writes one connection's protocol transcript as whole lines, each
// prefixed with the connection's number, under a lock shared by all
// connections of a Server — except while muted (during LOGIN), when it
// writes a single placeholder line instead.
type redactor struct {
	w      io.Writer
	mu     *sync.Mutex // shared: guards w
	prefix string

	own     sync.Mutex // guards the fields below
	muted   bool
	said    bool
	partial []byte // the current line, its first maxTranscriptLine bytes
	dropped int    // bytes of the current line beyond those
}

// maxTranscriptLine bounds a line of the transcript: a message body or a
// hostile server's endless literal is not copied into it whole.
const maxTranscriptLine = 1024

func (r *redactor) mute(on bool) {
	r.own.Lock()
	defer r.own.Unlock()
	r.muted, r.said = on, false
}

func (r *redactor) Write(p []byte) (int, error) {
	r.own.Lock()
	defer r.own.Unlock()
	if r.muted {
		if !r.said {
			r.mu.Lock()
			io.WriteString(r.w, r.prefix+"[LOGIN exchange redacted]\n")
			r.mu.Unlock()
			r.said = true
		}
		r.partial, r.dropped = r.partial[:0], 0
		return len(p), nil
	}
	n := len(p)
	var out []byte
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i+1]
		}
		p = p[len(chunk):]
		keep := min(max(0, maxTranscriptLine-len(r.partial)), len(chunk))
		r.partial = append(r.partial, chunk[:keep]...)
		r.dropped += len(chunk) - keep
		if i < 0 {
			break
		}
		out = append(out, r.prefix...)
		out = append(out, r.partial...)
		if r.dropped > 0 {
			out = fmt.Appendf(out, "… (%d bytes more)\n", r.dropped)
		}
		r.partial, r.dropped = r.partial[:0], 0
	}
	if len(out) > 0 {
		r.mu.Lock()
		_, err := r.w.Write(out)
		r.mu.Unlock()
		if err != nil {
			return 0, err
		}
	}
	return n, nil
}

// netErrText turns common network errors into short, actionable text.
func netErrText(err error) string {
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("unknown host %q", dnsErr.Name)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the server closed the connection"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timed out"
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && strings.Contains(s, "connect:") {
		return s[i+2:]
	}
	return s
}

func tlsErrText(err error) string {
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var certErr *tls.CertificateVerificationError
	switch {
	case errors.As(err, &unknownAuth):
		return "certificate signed by an unknown authority (trust a private CA with --tls-ca FILE)"
	case errors.As(err, &hostErr):
		return "certificate is not valid for this host: " + hostErr.Error()
	case errors.As(err, &certErr):
		return "certificate not trusted: " + certErr.Err.Error()
	}
	return netErrText(err)
}

// startTLS reads the greeting, asks for STARTTLS and sets TLS up on c. It is
// done here rather than by imapclient so that the guard can sit on the
// decrypted stream. Nothing the server sent before TLS is kept: bytes that
// follow its OK in the same read (a command injection, CVE-2011-0411 style)
// make it fail.
func startTLS(ctx context.Context, c net.Conn, cfg *tls.Config, timeout time.Duration, transcript *redactor) (*tls.Conn, error) {
	br := bufio.NewReaderSize(c, 4096)
	readLine := func() (string, error) {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			return "", errors.New("STARTTLS: the server sent a line longer than 4 KiB before TLS")
		}
		if err != nil {
			return "", fmt.Errorf("STARTTLS: %s", netErrText(err))
		}
		if transcript != nil {
			transcript.Write([]byte("S: " + string(line)))
		}
		return strings.TrimRight(string(line), "\r\n"), nil
	}
	greeting, err := readLine()
	if err != nil {
		return nil, err
	}
	switch {
	case strings.HasPrefix(greeting, "* OK"):
	case strings.HasPrefix(greeting, "* BYE"):
		return nil, fmt.Errorf("the server said goodbye at once: %s", boundName(strings.TrimSpace(greeting[5:])))
	default:
		return nil, fmt.Errorf("STARTTLS: unexpected greeting %q", boundName(greeting))
	}
	const cmd = "T1 STARTTLS\r\n"
	if transcript != nil {
		transcript.Write([]byte("C: " + cmd))
	}
	if _, err := io.WriteString(c, cmd); err != nil {
		return nil, fmt.Errorf("STARTTLS: %s", netErrText(err))
	}
	for n := 0; ; n++ {
		line, err := readLine()
		if err != nil {
			return nil, err
		}
		if !strings.HasPrefix(line, "T1 ") {
			if n > 100 {
				return nil, errors.New("STARTTLS: no answer among 100 lines")
			}
			continue // untagged data before the answer
		}
		status, text, _ := strings.Cut(line[3:], " ")
		if !strings.EqualFold(status, "OK") {
			return nil, fmt.Errorf("the server refused STARTTLS (%s); use imaps:// or, on a trusted network only, imap+plain://", boundName(text))
		}
		break
	}
	if br.Buffered() > 0 {
		return nil, fmt.Errorf("STARTTLS: the server sent %d bytes after its OK and before TLS; refusing them", br.Buffered())
	}
	tc := tls.Client(c, cfg)
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return nil, fmt.Errorf("STARTTLS: %s", tlsErrText(err))
	}
	return tc, nil
}
