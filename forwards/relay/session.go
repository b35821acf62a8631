package relay

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"
	"golang.org/x/net/idna"

	"github.com/catchall/catchall/classify"
	"github.com/catchall/catchall/forwards"
	"github.com/catchall/catchall/forwards/srs"
)

// MaxHops is the number of Received: lines after which a message is taken
// to be looping (RFC 5321 section 6.3 suggests at least 100 is too many).
const MaxHops = 50

// The replies of the SMTP listener.
var (
	errRelayDenied    = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "relay access denied"}
	errNoSuchUser     = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user here"}
	errBadAddress     = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "address syntax not accepted here"}
	errRateLimited    = &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "too many messages from your address, try again later"}
	errSpoolFailed    = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "local error in processing, try again later"}
	errTimeout        = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "timeout reading the message"}
	errLoop           = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 4, 6}, Message: "too many Received: lines, the message is looping"}
	errRegister       = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "cannot register this address now, try again later"}
	errStoreStale     = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "alias store unavailable, try again later"}
	errSRSSender      = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "this address takes only delivery status notifications (null sender)"}
	errTooManyBad     = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "too many refused recipients, closing"}
	errBadRateLimited = &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "too many refused recipients from your address, try again later"}
)

// MaxCatchAllRcpts is how many catch-all recipients one message may have:
// each is its own delivery to the same mailbox, so a message sprayed at
// many made-up names would otherwise be multiplied by the relay (452 for
// the rest: a real sender tries them again later).
const MaxCatchAllRcpts = 5

const reasonCatchAll = "catch-all"

var errTooManyCatchAll = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 5, 3}, Message: "too many recipients at unknown addresses in one message, send the rest later"}

// DefaultMaxBadRcpts is how many recipients one session may have refused;
// after that every command is refused without being looked at, so that
// signed burner tags and SRS hashes cannot be guessed by trying. Across
// sessions, each refusal also costs a token of the client's rate limit
// (per IPv4 address or IPv6 /64, the bucket its messages draw on), and a
// client that owes tokens gets no RCPT looked at (450 4.7.1).
const DefaultMaxBadRcpts = 10

// bareEOLError refuses a message whose DATA has a line ending other than
// CRLF: the ambiguity SMTP smuggling exploits.
type bareEOLError string

func (e bareEOLError) Error() string { return string(e) }

func errBareEOL(what string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "message refused: " + what + " in DATA; lines must end with CRLF (RFC 5321 section 2.3.8)"}
}

// session is one SMTP connection.
type session struct {
	r    *Relay
	conn *smtp.Conn
	ip   string // the client's address
	key  string // what per-client limits count by (clientKey)
	log  *slog.Logger

	// mu guards the fields below: go-smtp runs Data for BDAT in a goroutine
	// of its own, which a RSET can overlap.
	mu       sync.Mutex
	bad      int // refused recipients in this session (not reset by RSET)
	catchAll int // catch-all recipients of the current message
	from     string
	mailOK   bool
	opts     smtp.MailOptions
	groups   []Group
	rcpts    []string
}

func (r *Relay) newSession(c *smtp.Conn) (smtp.Session, error) {
	ip := remoteIP(c.Conn().RemoteAddr())
	r.metrics.sessions.Inc()
	return &session{r: r, conn: c, ip: ip, key: clientKey(c.Conn().RemoteAddr()), log: r.log.With("client", ip)}, nil
}

func remoteIP(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

func (s *session) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reset()
}

func (s *session) reset() {
	s.from, s.mailOK, s.groups, s.rcpts, s.catchAll = "", false, nil, nil, 0
	s.opts = smtp.MailOptions{}
}

func (s *session) Logout() error { return nil }

func (s *session) tooManyBad() bool {
	return s.r.cfg.MaxBadRcpts > 0 && s.bad >= s.r.cfg.MaxBadRcpts
}

// refuse logs and counts a refusal; the caller holds s.mu.
func (s *session) refuse(rcpt, reason string, err *smtp.SMTPError) error {
	return s.refuseFrom(s.from, rcpt, reason, err)
}

func (s *session) refuseFrom(from, rcpt, reason string, err *smtp.SMTPError) error {
	s.r.metrics.refused.WithLabelValues(reason).Inc()
	reply := fmt.Sprintf("%d %d.%d.%d", err.Code, err.EnhancedCode[0], err.EnhancedCode[1], err.EnhancedCode[2])
	s.log.Info("refused", "from", from, "rcpt", rcpt, "reason", reason, "reply", reply)
	s.r.refusals.add(s.r.cfg.Clock.Now(), from, rcpt, reason, reply)
	return err
}

func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reset()
	if s.tooManyBad() {
		return errTooManyBad
	}
	if !s.r.allow(s.key) {
		return s.refuse("", "rate", errRateLimited)
	}
	// go-smtp unquotes quoted local parts: a space, quote, backslash or
	// control character left here could not be sent on in MAIL FROM.
	if strings.ContainsFunc(from, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '"' || r == '\\' }) {
		return s.refuse("", "sender syntax", &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 7}, Message: "sender address not accepted here"})
	}
	if from != "" && !strings.Contains(from, "@") {
		return s.refuse("", "sender syntax", &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 7}, Message: "sender address must be user@domain or <>"})
	}
	s.from, s.mailOK = from, true
	if opts != nil {
		s.opts = *opts
	}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tooManyBad() {
		return errTooManyBad
	}
	if s.r.owes(s.key) {
		// Not even a valid address is looked at: that it is accepted
		// while guesses are not would tell it apart.
		return s.refuse(to, "rate", errBadRateLimited)
	}
	g, reason, err := s.r.route(to)
	if err == nil && g.Kind == KindSRS && s.from != "" {
		// Only bounces go back through an SRS address: anyone else could
		// use it to send to the address it stands for.
		g, reason, err = nil, "srs sender", errSRSSender
	}
	if err == nil && g.Kind == KindReply {
		g, reason, err = s.replySender(g)
	}
	if err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			if se.Code >= 500 {
				s.bad++
				s.r.charge(s.key)
				if s.tooManyBad() {
					s.refuse(to, reason, se)
					return errTooManyBad
				}
			}
			return s.refuse(to, reason, se)
		}
		s.log.Error("routing failed", "rcpt", to, "err", err)
		return errSpoolFailed
	}
	for i := range s.groups {
		if s.groups[i].Alias == g.Alias && s.groups[i].Kind == g.Kind {
			if g.Kind == KindReply && !slices.Contains(s.groups[i].Targets, g.Targets[0]) {
				// Replies to all: one transaction from the alias.
				s.groups[i].Targets = append(s.groups[i].Targets, g.Targets[0])
				s.groups[i].dkim = s.groups[i].dkim || g.dkim
				s.groups[i].denied = s.groups[i].denied || g.denied
				s.rcpts = append(s.rcpts, to)
			}
			return nil // the same alias twice: one copy
		}
	}
	if reason == reasonCatchAll {
		if s.catchAll >= MaxCatchAllRcpts {
			return s.refuse(to, "catch-all limit", errTooManyCatchAll)
		}
		s.catchAll++
	}
	s.groups = append(s.groups, *g)
	s.rcpts = append(s.rcpts, to)
	return nil
}

// route decides what happens to mail for one recipient: a group to deliver,
// or an SMTP error and a short reason for the log and the metrics.
func (r *Relay) route(to string) (*Group, string, error) {
	at := strings.LastIndexByte(to, '@')
	if at <= 0 || at == len(to)-1 {
		return nil, "syntax", errBadAddress
	}
	local, domain := to[:at], strings.ToLower(strings.TrimSuffix(to[at+1:], "."))
	if strings.ContainsAny(domain, "[]:") {
		return nil, "relay", errRelayDenied // an address literal is never ours
	}
	if d, err := idna.Lookup.ToASCII(domain); err == nil {
		domain = d
	} else {
		return nil, "relay", errRelayDenied
	}
	rt := r.rt.Load()
	if !rt.domains[domain] {
		return nil, "relay", errRelayDenied
	}
	// Never ours to pass on: %-hack, bang paths, quoted strings holding
	// '@' or spaces. Only plain dot-atoms reach the alias table.
	if strings.ContainsAny(local, "%!@\" \\:,;<>()[]") {
		return nil, "syntax", errBadAddress
	}
	addr, err := forwards.CheckAddress(local + "@" + domain)
	if err != nil {
		return nil, "syntax", errBadAddress
	}
	if r.srs != nil && srs.IsSRS(addr) && domain == strings.ToLower(r.srs.Domain) {
		orig, err := r.srs.Reverse(local + "@" + domain)
		if err != nil {
			return nil, "srs", errNoSuchUser
		}
		return &Group{Alias: addr, Targets: []string{orig}, Kind: KindSRS}, "", nil
	}
	if g, ok, err := r.reverseRcpt(addr); err != nil {
		return nil, "store", err
	} else if ok {
		return g, "", nil // who may write to it: replySender
	}
	// With the store unreachable for longer than StoreStale, the aliases
	// in memory may be out of date: only a signed burner, which needs no
	// store, is answered; the rest 451, so that nothing valid bounces.
	stale := r.cfg.StoreStale > 0 && r.store.Staleness() > r.cfg.StoreStale
	a, known := r.store.Lookup(addr)
	if known && a.Action == classify.ActionBlock {
		if stale { // the block may have been lifted meanwhile: nothing valid bounces
			return nil, "store", errStoreStale
		}
		r.store.Count(a.Address, StatRefused)
		return nil, "blocked", errNoSuchUser
	}
	signed := func() (base, service string, ok bool) {
		if r.cfg.Burner == nil || len(rt.defaults) == 0 {
			return "", "", false
		}
		base, _ = classify.SplitSubaddress(addr)
		blocal, _, _ := strings.Cut(base, "@")
		service, ok = r.cfg.Burner.Verify(blocal)
		return base, service, ok
	}
	if stale {
		if _, _, ok := signed(); !ok {
			return nil, "store", errStoreStale
		}
	}
	if known {
		return &Group{Alias: a.Address, Targets: a.Targets}, "", nil
	}
	if base, service, ok := signed(); ok {
		a := &Alias{Address: base, Tag: classify.TagDisposable, Action: classify.ActionForward,
			Targets: slices.Clone(rt.defaults), Source: SourceBurner, Created: r.cfg.Clock.Now()}
		// Served at once; written now, or when the store is back.
		if err := r.store.Register(a); err != nil {
			r.log.Error("registering a burner", "alias", base, "err", err)
			return nil, "store", errRegister
		}
		r.metrics.burners.Inc()
		r.log.Info("new burner", "alias", base, "service", service)
		return &Group{Alias: base, Targets: a.Targets}, "", nil
	}
	if r.cfg.CatchAll && len(rt.defaults) > 0 {
		return &Group{Alias: addr, Targets: slices.Clone(rt.defaults)}, reasonCatchAll, nil
	}
	if !r.store.State().Reachable {
		// Perhaps an alias imported elsewhere that this relay could not
		// load: never a permanent 550 while the store cannot be asked.
		return nil, "store", errStoreStale
	}
	return nil, "unknown", errNoSuchUser
}

func (s *session) Data(rd io.Reader) error {
	s.mu.Lock()
	mailOK, from, opts := s.mailOK, s.from, s.opts
	groups, rcpts := slices.Clone(s.groups), strings.Join(s.rcpts, " ")
	s.mu.Unlock()
	if !mailOK || len(groups) == 0 {
		return &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "no valid recipients"}
	}
	env := s.envelope(from, opts, groups)
	if check := newReplyCheck(s, groups, rd); check != nil {
		defer check.close()
		rd = check
	}
	size, err := s.receive(env, rcpts, rd)
	if err != nil {
		return err
	}
	aliases := make([]string, len(env.Groups))
	for i, g := range env.Groups {
		aliases[i] = g.Alias
		if g.Kind == KindReply {
			s.r.store.Count(g.Alias, StatSent)
			continue
		}
		s.r.store.Accepted(g.Alias, env.Received) // a burner's first and last mail
	}
	s.log.Info("accepted", "id", env.ID, "from", env.From, "aliases", strings.Join(aliases, " "), "size", size, "tls", env.TLS)
	return nil
}

// envelope starts the Envelope of a message received now.
func (s *session) envelope(from string, opts smtp.MailOptions, groups []Group) *Envelope {
	env := &Envelope{
		ID: NewID(), Received: s.r.cfg.Clock.Now().UTC(), ClientIP: s.ip, Helo: s.conn.Hostname(),
		From: from, UTF8: opts.UTF8, Body: string(opts.Body), Groups: groups,
	}
	if _, ok := s.conn.TLSConnectionState(); ok {
		env.TLS = true
	}
	return env
}

// receive writes the message of env from rd into the spool and queues it
// once the spool holds it, and returns its size; the error is the
// client's answer.
func (s *session) receive(env *Envelope, rcpts string, rd io.Reader) (int64, error) {
	start := s.r.cfg.Clock.Now()
	w, err := s.r.spool.Create(env)
	if err != nil {
		s.log.Error("spool", "err", err)
		return 0, errSpoolFailed
	}
	sr := &strictReader{r: rd}
	_, err = io.Copy(w, sr)
	if err == nil && sr.hops > MaxHops {
		err = errLoop
	}
	if err == nil {
		err = w.Commit()
	} else {
		w.Abort()
	}
	if err != nil {
		return 0, s.dataError(env, rcpts, err)
	}
	s.r.metrics.accepted.Inc()
	s.r.metrics.acceptedBytes.Add(float64(w.Size()))
	s.r.metrics.acceptLatency.Observe(s.r.cfg.Clock.Since(start).Seconds())
	s.r.queue.add(env.ID, time.Time{})
	return w.Size(), nil
}

func (s *session) dataError(env *Envelope, rcpts string, err error) error {
	var be bareEOLError
	var se *smtp.SMTPError
	var ne net.Error
	switch {
	case errors.As(err, &be):
		return s.refuseFrom(env.From, rcpts, "bare line ending", errBareEOL(string(be)))
	case errors.Is(err, smtp.ErrTooLongLine):
		return s.refuseFrom(env.From, rcpts, "line length", &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "message refused: a line longer than 1 MiB"})
	case err == smtp.ErrDataTooLarge:
		return s.refuseFrom(env.From, rcpts, "size", err.(*smtp.SMTPError))
	case errors.As(err, &se):
		reason := "loop"
		if se != errLoop {
			reason = "header" // the From: of a submission
		}
		return s.refuseFrom(env.From, rcpts, reason, se)
	case errors.As(err, &ne) && ne.Timeout():
		s.log.Info("timeout in DATA", "from", env.From)
		return errTimeout
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, net.ErrClosed):
		s.log.Info("connection lost in DATA", "from", env.From)
		return err
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, os.ErrPermission):
		s.log.Error("spool", "id", env.ID, "err", err)
		s.r.metrics.spoolErrors.Inc()
		return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "insufficient system storage, try again later"}
	default:
		s.log.Error("spool", "id", env.ID, "err", err)
		s.r.metrics.spoolErrors.Inc()
		return errSpoolFailed
	}
}

// strictReader passes DATA through and fails on the first line ending that
// is not CRLF: a bare LF, a bare CR, or CR CR LF. It also counts the
// Received: lines of the header.
type strictReader struct {
	r      io.Reader
	prevCR bool
	// header state
	inBody bool
	line   []byte // the start of the current header line, up to 9 bytes
	hops   int
}

func (s *strictReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	for i := 0; i < n; i++ {
		c := p[i]
		if s.prevCR && c != '\n' {
			return i, bareEOLError("bare CR")
		}
		if c == '\n' && !s.prevCR {
			return i, bareEOLError("bare LF")
		}
		s.prevCR = c == '\r'
		if s.inBody {
			continue
		}
		switch {
		case c == '\n':
			if len(s.line) == 1 && s.line[0] == '\r' {
				s.inBody = true
			}
			s.line = s.line[:0]
		case len(s.line) < 9:
			s.line = append(s.line, c)
			if len(s.line) == 9 && strings.EqualFold(string(s.line), "received:") {
				s.hops++
			}
		}
	}
	return n, err
}
