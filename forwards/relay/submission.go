package relay

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime"
	"net"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"golang.org/x/net/idna"

	"github.com/catchall/catchall/classify"
	"github.com/catchall/catchall/forwards"
	"github.com/catchall/catchall/forwards/srs"
)

// Defaults of the AUTH limits (Config.AuthFailures, AuthLockout, AuthDelay).
const (
	DefaultAuthFailures = 5
	DefaultAuthLockout  = 15 * time.Minute
	DefaultAuthDelay    = 2 * time.Second
)

// The replies of the submission port.
var (
	errAuthRequired   = reply(530, 5, 7, 0, "authentication required")
	errEncryptionReq  = reply(538, 5, 7, 11, "encryption required for requested authentication mechanism")
	errAuthFailed     = reply(535, 5, 7, 8, "authentication credentials invalid")
	errAuthLocked     = reply(454, 4, 7, 0, "too many failed logins from your address, try again later")
	errNotYourDomain  = reply(553, 5, 7, 1, "you may send only from an address of the relay's domains")
	errFromHeader     = reply(550, 5, 7, 1, "the From: header must be one address of the relay's domains")
	errHeaderTooLarge = reply(552, 5, 3, 4, "message header too large")
)

// reply is an SMTP reply with its enhanced status code (RFC 3463).
func reply(code, class, subject, detail int, text string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{class, subject, detail}, Message: text}
}

// maxSubmitHeader bounds the header of a submitted message, which is held
// in memory to check its From: field.
const maxSubmitHeader = 1 << 20

// subSession is a connection to the submission port: the user's mail
// client. Nothing is accepted before AUTH; after it, MAIL FROM must be an
// address of the relay's domains and RCPT TO may be anywhere.
type subSession struct {
	*session
	user string // set by a successful AUTH
}

func (r *Relay) newSubSession(c *smtp.Conn) (smtp.Session, error) {
	s, _ := r.newSession(c)
	ss := &subSession{session: s.(*session)}
	ss.log = ss.log.With("port", "submission")
	return ss, nil
}

// authAllowed: passwords only over TLS, or from the machine itself.
func (s *subSession) authAllowed() bool {
	if _, ok := s.conn.TLSConnectionState(); ok {
		return true
	}
	ip := net.ParseIP(s.ip)
	return ip != nil && ip.IsLoopback()
}

// AuthMechanisms offers PLAIN only where a password may be sent.
func (s *subSession) AuthMechanisms() []string {
	if !s.authAllowed() {
		return nil
	}
	return []string{sasl.Plain}
}

// Auth takes AUTH PLAIN (RFC 4616) against the users file. A client address
// locked out by failures gets 454 4.7.0 without its password being looked
// at; each failure is answered 535 5.7.8 after a delay.
func (s *subSession) Auth(mech string) (sasl.Server, error) {
	if !s.authAllowed() {
		s.r.metrics.refused.WithLabelValues("auth without tls").Inc()
		return nil, errEncryptionReq // RFC 4954 §6
	}
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	if s.r.auth.locked(s.key, s.r.cfg.Clock.Now()) {
		return nil, s.refuseFrom("", "", "auth locked", errAuthLocked)
	}
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		users := s.r.users.Load()
		ok := users != nil && (identity == "" || identity == user) && users.Check(user, pass)
		now := s.r.cfg.Clock.Now()
		if s.r.auth.locked(s.key, now) { // failures meanwhile on other connections
			return s.refuseFrom("", "", "auth locked", errAuthLocked)
		}
		if !ok {
			n := s.r.auth.fail(s.key, now)
			s.r.metrics.refused.WithLabelValues("auth").Inc()
			s.log.Warn("AUTH failed", "user", headerSafe(user, "(none)"), "failures", n)
			if d := s.r.cfg.AuthDelay; d > 0 {
				<-s.r.cfg.Clock.After(d * time.Duration(min(n, 5)))
			}
			return errAuthFailed
		}
		s.mu.Lock()
		s.user = user
		s.log = s.log.With("user", user)
		s.mu.Unlock()
		s.log.Info("AUTH", "user", user)
		return nil
	}), nil
}

func (s *subSession) Mail(from string, opts *smtp.MailOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reset()
	if s.user == "" {
		return s.refuseFrom(from, "", "no auth", errAuthRequired)
	}
	if !s.r.allow(s.key) {
		return s.refuse("", "rate", errRateLimited)
	}
	alias, err := s.r.senderAlias(from, s.user)
	if err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return s.refuseFrom(from, "", "sender not ours", se)
		}
		s.log.Error("registering a sender", "from", from, "err", err)
		return errRegister
	}
	s.from, s.mailOK = alias, true
	if opts != nil {
		s.opts = *opts
	}
	s.groups = []Group{{Alias: alias, Kind: KindSend}}
	return nil
}

// Rcpt takes any address that can be sent on: the user sends to the world.
func (s *subSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.user == "" {
		return s.refuse(to, "no auth", errAuthRequired)
	}
	if !s.mailOK {
		return &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "MAIL first"}
	}
	addr, _, err := plainAddress(to)
	if err != nil {
		return s.refuse(to, "syntax", errBadAddress)
	}
	if _, ours := s.r.ours(addr); ours {
		g, ok, err := s.r.reverseRcpt(addr)
		if err != nil {
			s.log.Error("routing failed", "rcpt", to, "err", err)
			return errSpoolFailed
		}
		if ok {
			// A reply to a reverse address: from its alias, to the
			// correspondent, whatever MAIL FROM said.
			s.rcpts = append(s.rcpts, addr)
			for i := range s.groups {
				if s.groups[i].Kind == KindReply && s.groups[i].Alias == g.Alias {
					if !slices.Contains(s.groups[i].Targets, g.Targets[0]) {
						s.groups[i].Targets = append(s.groups[i].Targets, g.Targets[0])
					}
					return nil
				}
			}
			s.groups = append(s.groups, *g)
			return nil
		}
	}
	for _, t := range s.groups[0].Targets {
		if t == addr {
			return nil
		}
	}
	s.groups[0].Targets = append(s.groups[0].Targets, addr)
	s.rcpts = append(s.rcpts, addr)
	return nil
}

func (s *subSession) Data(rd io.Reader) error {
	s.mu.Lock()
	mailOK, from, opts, user := s.mailOK, s.from, s.opts, s.user
	groups, rcpts := cloneGroups(s.groups), strings.Join(s.rcpts, " ")
	s.mu.Unlock()
	groups = slices.DeleteFunc(groups, func(g Group) bool { return len(g.Targets) == 0 })
	if !mailOK || len(groups) == 0 {
		return &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "no valid recipients"}
	}
	env := s.envelope(from, opts, groups)
	env.Submitted = true
	check := &fromCheck{r: s.r}
	size, err := s.receive(env, rcpts, check.wrap(rd))
	if err != nil {
		return err
	}
	base, _ := classify.SplitSubaddress(from)
	n, counted := 0, map[string]bool{}
	for _, g := range groups {
		n += len(g.Targets)
		alias := base // KindSend
		if g.Kind == KindReply {
			alias = g.Alias
		}
		if !counted[alias] {
			counted[alias] = true
			s.r.store.Count(alias, StatSent)
		}
	}
	s.r.metrics.sent.Inc()
	s.log.Info("accepted for sending", "id", env.ID, "from", from, "user", user, "recipients", n, "size", size)
	return nil
}

func cloneGroups(gs []Group) []Group {
	out := make([]Group, len(gs))
	for i, g := range gs {
		out[i] = g
		out[i].Targets = append([]string(nil), g.Targets...)
	}
	return out
}

// plainAddress checks an address that mail may be sent on to, and
// returns it normalised with its domain: a dot-atom local part (no
// %-hack, bang path or quoted string) at a domain name (no address
// literal).
func plainAddress(a string) (addr, domain string, err error) {
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 {
		return "", "", errBadAddress
	}
	local, domain := a[:at], strings.ToLower(strings.TrimSuffix(a[at+1:], "."))
	if strings.ContainsAny(domain, "[]:") || strings.ContainsAny(local, "%!@\" \\:,;<>()[]") {
		return "", "", errBadAddress
	}
	d, err := idna.Lookup.ToASCII(domain)
	if err != nil {
		return "", "", errBadAddress
	}
	addr, err = forwards.CheckAddress(local + "@" + d)
	if err != nil {
		return "", "", errBadAddress
	}
	return addr, d, nil
}

// ours reports whether a (an address of a header or envelope) is at one of
// the relay's domains, and returns it normalised.
func (r *Relay) ours(a string) (string, bool) {
	addr, domain, err := plainAddress(a)
	if err != nil || !r.rt.Load().domains[domain] {
		return "", false
	}
	return addr, true
}

// senderAlias checks that a user may send from the envelope sender from,
// and returns it normalised. A plan alias or a burner is the user's as it
// is; a signed burner not seen yet is registered as one; any other address
// of the domains is registered (SourceSent) to forward to the default
// targets, so that replies come back. SRS addresses and the null sender are
// never senders.
func (r *Relay) senderAlias(from, user string) (string, error) {
	addr, ok := r.ours(from)
	if !ok || r.srs != nil && srs.IsSRS(addr) {
		return "", errNotYourDomain
	}
	now := r.cfg.Clock.Now()
	base, _ := classify.SplitSubaddress(addr)
	if _, known := r.store.Lookup(addr); !known {
		rt := r.rt.Load()
		src := SourceSent
		if r.cfg.Burner != nil {
			blocal, _, _ := strings.Cut(base, "@")
			if _, ok := r.cfg.Burner.Verify(blocal); ok {
				src = SourceBurner
			}
		}
		if len(rt.defaults) == 0 {
			r.log.Warn("sending from an address that takes no mail: replies to it will be refused (give --forward-to)", "from", base)
		} else {
			a := &Alias{Address: base, Tag: classify.TagPersonal, Action: classify.ActionForward,
				Targets: append([]string(nil), rt.defaults...), Source: src, Created: now}
			if src == SourceBurner {
				a.Tag = classify.TagDisposable
			}
			if err := r.store.Register(a); err != nil {
				return "", err
			}
			r.log.Info("new alias from sent mail", "alias", base, "source", src)
		}
	}
	if err := r.store.AddSender(base, user, now); err != nil {
		return "", err
	}
	return addr, nil
}

// fromCheck holds the header of a submitted message as it streams by and,
// at its end, fails unless it has exactly one From: field naming exactly
// one address of the relay's domains (RFC 5322 §3.6.2).
type fromCheck struct {
	r      *Relay
	src    io.Reader
	header bytes.Buffer
	seen   int // bytes of header searched for its end
	done   bool
}

func (f *fromCheck) wrap(rd io.Reader) io.Reader { f.src = rd; return f }

func (f *fromCheck) Read(p []byte) (int, error) {
	n, err := f.src.Read(p)
	if f.done || n == 0 {
		if err == io.EOF && !f.done {
			f.done = true
			if cerr := f.r.checkFrom(f.header.Bytes()); cerr != nil {
				return n, cerr
			}
		}
		return n, err
	}
	f.header.Write(p[:n])
	from := max(0, f.seen-3)
	f.seen = f.header.Len()
	if i := bytes.Index(f.header.Bytes()[from:], []byte("\r\n\r\n")); i >= 0 || bytes.HasPrefix(f.header.Bytes(), []byte("\r\n")) {
		f.done = true
		end := 0 // an empty header
		if i >= 0 && !bytes.HasPrefix(f.header.Bytes(), []byte("\r\n")) {
			end = from + i + 2
		}
		hdr := f.header.Bytes()[:end]
		if cerr := f.r.checkFrom(hdr); cerr != nil {
			return 0, cerr
		}
		f.header = bytes.Buffer{}
	} else if f.header.Len() > maxSubmitHeader {
		return 0, errHeaderTooLarge
	}
	return n, err
}

// checkFrom checks the From: fields of a message header (CRLF lines).
func (r *Relay) checkFrom(header []byte) error {
	var froms []string
	sc := bufio.NewScanner(bytes.NewReader(header))
	sc.Buffer(make([]byte, 0, 4096), maxSubmitHeader+4096)
	cur := -1
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line != "" && (line[0] == ' ' || line[0] == '\t') {
			if cur >= 0 {
				froms[cur] += line
			}
			continue
		}
		cur = -1
		name, value, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimRight(name, " \t"), "from") {
			froms = append(froms, value)
			cur = len(froms) - 1
		}
	}
	if len(froms) != 1 {
		return errFromHeader
	}
	p := mail.AddressParser{WordDecoder: &mime.WordDecoder{CharsetReader: func(_ string, in io.Reader) (io.Reader, error) { return in, nil }}}
	list, err := p.ParseList(froms[0])
	if err != nil || len(list) != 1 {
		return errFromHeader
	}
	if _, ok := r.ours(list[0].Address); !ok {
		return errFromHeader
	}
	return nil
}

// authLimiter counts failed AUTH attempts per client address (clientKey).
type authLimiter struct {
	max    int
	window time.Duration
	mu     sync.Mutex
	m      map[string]*authFailures
	busy   map[string]int // attempts of a key being checked now (reserve)
}

type authFailures struct {
	n    int
	last time.Time
}

func newAuthLimiter(max int, window time.Duration) *authLimiter {
	return &authLimiter{max: max, window: window, m: map[string]*authFailures{}}
}

// locked reports whether key made max failures, the last within the window.
func (l *authLimiter) locked(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.m[key]
	return f != nil && f.n >= l.max && now.Sub(f.last) < l.window
}

// reserve claims one attempt for key before its password is checked, so
// that parallel attempts cannot all pass a locked check made before any of
// them has failed: false (refuse) when key's failures in the window and
// its attempts in flight reach max. Each true must be followed by release.
func (l *authLimiter) reserve(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.busy[key]
	if f := l.m[key]; f != nil && now.Sub(f.last) < l.window {
		n += f.n
	}
	if n >= l.max {
		return false
	}
	if l.busy == nil {
		l.busy = map[string]int{}
	}
	l.busy[key]++
	return true
}

// release ends an attempt claimed by reserve (count its failure first).
func (l *authLimiter) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.busy[key]--; l.busy[key] <= 0 {
		delete(l.busy, key)
	}
}

// fail counts a failure of key and returns its failures in the window.
func (l *authLimiter) fail(key string, now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.m) > 100000 { // forget old clients rather than grow without bound
		for k, v := range l.m {
			if now.Sub(v.last) >= l.window {
				delete(l.m, k)
			}
		}
	}
	f := l.m[key]
	if f == nil || now.Sub(f.last) >= l.window {
		f = &authFailures{}
		l.m[key] = f
	}
	f.n++
	f.last = now
	return f.n
}
