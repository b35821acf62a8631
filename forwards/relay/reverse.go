package relay

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/dkim"
)

// errReverseDenied is the one answer, at the end of DATA, to mail for a
// reverse address on port 25 that is not the user's: the same text for
// every reason, so that it does not tell which address is the user's.
var errReverseDenied = reply(550, 5, 7, 1, "this address takes mail only from the one it was made for")

// forwardTo returns the addresses alias forwards to: its targets in the
// store, or the default targets for an address the store does not have
// (the catch-all).
func (r *Relay) forwardTo(alias string) []string {
	if a, ok := r.store.Lookup(alias); ok {
		return a.Targets
	}
	return r.rt.Load().defaults
}

// userAddrs returns the user's own addresses as far as a reply from alias
// can tell (lower case): where it forwards to, the default targets and
// the envelope sender when it is not at the relay's domains.
func (r *Relay) userAddrs(alias, envFrom string) []string {
	var out []string
	for _, a := range append(slices.Clone(r.forwardTo(alias)), r.rt.Load().defaults...) {
		out = append(out, strings.ToLower(a))
	}
	if envFrom != "" {
		if _, ours := r.ours(envFrom); !ours {
			out = append(out, strings.ToLower(envFrom))
			if a, _, err := plainAddress(envFrom); err == nil {
				out = append(out, a)
			}
		}
	}
	return out
}

// rewriteFor returns the header the message goes out with to the targets
// of g, and where in the spool file the rest of it starts; a nil header
// when it goes out as it is. rewritten tells that its From: is now one the
// relay wrote (a reverse address, or the alias of a reply), which the
// relay may sign.
func (r *Relay) rewriteFor(env *Envelope, g *Group, f *os.File, start int64) (head []byte, body int64, rewritten bool, err error) {
	reply := g.Kind == KindReply
	if !reply && !(r.cfg.ReverseAliases && g.Kind == KindAlias) {
		return nil, start, false, nil
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return nil, start, false, err
	}
	hdr, n, ok, err := readHeader(f, maxSignedHeader)
	if err != nil {
		return nil, start, false, err
	}
	if !ok {
		if reply {
			return nil, start, false, errReplyHeader
		}
		r.log.Warn("From: not rewritten: the header is larger than 1 MB", "id", env.ID, "alias", g.Alias)
		return nil, start, false, nil
	}
	var out []byte
	if reply {
		rr := &replyRewriter{alias: g.Alias, user: r.userAddrs(g.Alias, env.From), unreverse: func(a string) (string, bool, error) {
			_, corr, ok, err := r.store.Reverse(a)
			return corr, ok, err
		}}
		out, err = rr.rewrite(hdr)
	} else {
		fr := &forwardRewriter{envFrom: env.From,
			ours: func(a string) bool { _, ok := r.ours(a); return ok },
			reverse: func(c string) (string, error) {
				return r.store.ReverseAddress(g.Alias, c, r.cfg.Clock.Now())
			}}
		out, ok, err = fr.rewrite(hdr)
		if !ok {
			// The null sender and no From: to reverse: as it is.
			return nil, start, false, err
		}
	}
	if err != nil {
		return nil, start, false, err
	}
	return append(out, "\r\n"...), start + int64(n), true, nil
}

// reverseRcpt routes a reverse address of the store: a KindReply group
// from its alias to its correspondent.
func (r *Relay) reverseRcpt(addr string) (*Group, bool, error) {
	alias, corr, ok, err := r.store.Reverse(addr)
	if !ok || err != nil {
		return nil, false, err
	}
	return &Group{Alias: alias, Targets: []string{corr}, Kind: KindReply}, true, nil
}

// replySender takes, at RCPT on port 25, a reverse address of g.Alias from
// any sender alike (answering otherwise would tell whether MAIL FROM is
// the user's address) and notes for the end of DATA (replyCheck) whether
// the envelope sender is an address the alias forwards to and whether its
// SPF passes for the client (if not, the message needs a DKIM signature
// of its From: domain).
func (s *session) replySender(g *Group) (*Group, string, error) {
	from, _, err := plainAddress(s.from)
	g.denied = s.from == "" || err != nil || !slices.Contains(s.r.forwardTo(g.Alias), from)
	if s.from == "" || !s.r.spfPass(s.ip, s.conn.Hostname(), s.from) {
		g.dkim = true
	}
	return g, "", nil
}

// spfPass reports whether the SPF of from's domain authorises ip.
func (r *Relay) spfPass(ip, helo, from string) bool {
	addr := net.ParseIP(ip)
	if addr == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts := []spf.Option{spf.WithContext(ctx)}
	if r.cfg.Resolver != nil {
		opts = append(opts, spf.WithResolver(r.cfg.Resolver))
	}
	res, _ := spf.CheckHostWithSender(addr, helo, from, opts...)
	return res == spf.Pass
}

// lookupTXT answers the DKIM verifier's key queries with Config.Resolver.
func (r *Relay) lookupTXT(name string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if r.cfg.Resolver != nil {
		return r.cfg.Resolver.LookupTXT(ctx, name)
	}
	return net.DefaultResolver.LookupTXT(ctx, name)
}

// replyCheck watches a message to reverse addresses as it streams into the
// spool and fails it at its end (550 5.7.1, costing the client a rate
// token) unless its one From: address is one every alias of groups
// forwards to and, when a group asks (SPF did not pass), a DKIM signature
// of the From: domain (or a parent of it) verifies. Only the header is
// held; the verifier reads the message through a pipe.
type replyCheck struct {
	s      *session
	src    io.Reader
	groups []Group
	hdr    []byte
	hdrEnd bool
	pw     *io.PipeWriter
	result chan []*dkim.Verification
	ended  bool
}

func newReplyCheck(s *session, groups []Group, rd io.Reader) *replyCheck {
	c := &replyCheck{s: s, src: rd}
	needDKIM := false
	for _, g := range groups {
		if g.Kind == KindReply {
			c.groups = append(c.groups, g)
			needDKIM = needDKIM || g.dkim
		}
	}
	if len(c.groups) == 0 {
		return nil
	}
	if needDKIM {
		pr, pw := io.Pipe()
		c.pw, c.result = pw, make(chan []*dkim.Verification, 1)
		go func() {
			// At most 3 signatures verified (each costs a key lookup):
			// the user's host signs once, maybe twice.
			vs, _ := dkim.VerifyWithOptions(pr, &dkim.VerifyOptions{LookupTXT: s.r.lookupTXT, MaxVerifications: 3})
			io.Copy(io.Discard, pr) // the verifier may stop early
			c.result <- vs
		}()
	}
	return c
}

func (c *replyCheck) Read(p []byte) (int, error) {
	n, err := c.src.Read(p)
	if c.ended {
		return n, err
	}
	if c.pw != nil && n > 0 {
		c.pw.Write(p[:n])
	}
	if !c.hdrEnd && n > 0 {
		from := len(c.hdr)
		c.hdr = append(c.hdr, p[:n]...)
		if end := headerEnd(c.hdr, from); end >= 0 {
			c.hdr, c.hdrEnd = c.hdr[:end], true
		} else if len(c.hdr) > maxSubmitHeader {
			c.close()
			return 0, errHeaderTooLarge
		}
	}
	if err == io.EOF {
		if cerr := c.check(); cerr != nil {
			c.s.r.charge(c.s.key)
			return n, cerr
		}
	}
	return n, err
}

// check decides at the end of the message.
func (c *replyCheck) check() error {
	var vs []*dkim.Verification
	if c.pw != nil {
		c.pw.Close()
		vs = <-c.result
	}
	c.ended = true
	from := fromAddress(c.hdr)
	if from == "" {
		return errReverseDenied
	}
	for _, g := range c.groups {
		if g.denied || !slices.Contains(c.s.r.forwardTo(g.Alias), from) {
			return errReverseDenied
		}
	}
	if c.pw == nil {
		return nil
	}
	_, domain, _ := strings.Cut(from, "@")
	for _, v := range vs {
		d := strings.ToLower(v.Domain)
		if v.Err == nil && (d == domain || strings.HasSuffix(domain, "."+d)) {
			return nil
		}
	}
	return errReverseDenied
}

// close ends the verifier of a message that did not come to its end.
func (c *replyCheck) close() {
	if c == nil || c.ended {
		return
	}
	c.ended = true
	if c.pw != nil {
		c.pw.CloseWithError(errors.New("message not received"))
		<-c.result
	}
}

// fromAddress returns the one address of the one From: field of a header
// (normalised), or "".
func fromAddress(hdr []byte) string {
	var froms []field
	for _, f := range splitHeader(hdr) {
		if f.is("From") {
			froms = append(froms, f)
		}
	}
	if len(froms) != 1 {
		return ""
	}
	list, err := fromParser.ParseList(froms[0].value())
	if err != nil || len(list) != 1 {
		return ""
	}
	a, _, err := plainAddress(list[0].Address)
	if err != nil {
		return ""
	}
	return a
}
