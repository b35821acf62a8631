package relay

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/catchall/catchall/classify"
)

// worker delivers one message at a time over its own smarthost connection,
// which it keeps between messages.
type worker struct {
	r      *Relay
	c      *smtp.Client
	lastOK time.Time
}

func (r *Relay) worker(ctx context.Context) {
	w := &worker{r: r}
	defer w.drop()
	for {
		id, ok := r.queue.take(ctx)
		if !ok {
			return
		}
		next, finished := w.deliver(id)
		r.queue.done(id, next, finished)
	}
}

func (w *worker) drop() {
	if w.c != nil {
		w.c.Quit()
		w.c.Close()
		w.c = nil
	}
}

// client returns a connection to the smarthost, reusing the last one when
// it was used recently.
func (w *worker) client() (c *smtp.Client, reused bool, err error) {
	if w.c != nil && w.r.cfg.Clock.Since(w.lastOK) < 30*time.Second {
		return w.c, true, nil
	}
	w.drop()
	c, err = w.r.dial()
	if err != nil {
		return nil, false, err
	}
	w.c = c
	return c, false, nil
}

// dial connects to the smarthost (dialSmarthost). A refused login is the
// operator's to fix: it is logged once at ERROR, counted, and shown on
// /healthz until a login works.
func (r *Relay) dial() (*smtp.Client, error) {
	c, err := dialSmarthost(context.Background(), &r.cfg, r.cfg.IdleTimeout, time.Time{})
	var se *SmarthostError
	if errors.As(err, &se) && se.LoginRefused() {
		msg := oneLine(err)
		if r.authFailure.Swap(&msg) == nil {
			r.log.Error("the smarthost refuses the relay's login: mail is queued until the password or user is fixed", "err", msg)
		}
		r.metrics.authFailures.Inc()
	}
	if err != nil {
		return nil, err
	}
	if r.cfg.Smarthost.User != "" && r.authFailure.Swap(nil) != nil {
		r.log.Info("the smarthost takes the relay's login again")
	}
	return c, nil
}

// outcome is the result of one transaction for the targets of one group.
type outcome struct {
	delivered []string
	failed    []Failure
	temp      []string // targets to try again
	tempErr   string
}

// deliver makes one attempt at a spooled message. It returns when to try
// again, or finished when the message left the spool.
func (w *worker) deliver(id string) (next time.Time, finished bool) {
	r := w.r
	env, f, err := r.spool.Open(id)
	if errors.Is(err, os.ErrNotExist) {
		return time.Time{}, true
	}
	if err != nil && !errors.Is(err, errCorrupt) {
		// Out of file descriptors, an I/O error: the file may be fine.
		r.log.Error("cannot read a spool file, trying again later", "id", id, "err", err)
		return r.cfg.Clock.Now().Add(r.cfg.RetryMin), false
	}
	if err != nil {
		r.log.Error("unreadable spool file moved to SPOOL/corrupt", "id", id, "err", err)
		if qerr := r.spool.Quarantine(id); qerr != nil {
			r.log.Error("quarantine", "id", id, "err", qerr)
			return r.cfg.Clock.Now().Add(r.cfg.RetryMax), false
		}
		return time.Time{}, true
	}
	defer f.Close()
	start, _ := f.Seek(0, io.SeekCurrent)
	st, err := r.spool.LoadState(id)
	if err != nil {
		r.log.Warn("delivery state unreadable, starting over", "id", id, "err", err)
	}
	st.Attempts++
	pending := false
	// What to log and count is done after the spool is updated: a message
	// the smarthost took is removed first, to keep the window in which a
	// crash makes it go out twice as short as possible.
	var after []func()
	defer func() {
		for _, f := range after {
			f()
		}
	}()
	// One delivery per final address, as Postfix does: a target several
	// aliases of the message forward to goes out once, with the first of
	// them (the others count it as theirs).
	owner := map[string]string{}
	for _, g := range env.Groups {
		for _, t := range g.Targets {
			if _, ok := owner[strings.ToLower(t)]; !ok {
				owner[strings.ToLower(t)] = g.Alias
			}
		}
	}
	for _, g := range env.Groups {
		var targets []string
		for _, t := range g.Targets {
			if owner[strings.ToLower(t)] == g.Alias && !st.done(g.Alias, t) {
				targets = append(targets, t)
			}
		}
		if len(targets) == 0 {
			continue
		}
		o := w.send(env, &g, targets, f, start)
		for _, t := range o.delivered {
			st.Done = append(st.Done, g.Alias+" "+t)
		}
		st.Failed = append(st.Failed, o.failed...)
		if len(o.temp) > 0 {
			pending = true
			st.LastError = o.tempErr
		}
		after = append(after, func() {
			for _, t := range o.delivered {
				r.metrics.delivered.Inc()
				r.log.Info("delivered", "id", id, "alias", g.Alias, "to", t, "attempt", st.Attempts)
			}
			if len(o.delivered) > 0 {
				now := r.cfg.Clock.Now()
				r.lastDelivery.Store(&now)
				r.metrics.deliveryDelay.Observe(r.cfg.Clock.Since(env.Received).Seconds())
				if g.Kind == KindAlias {
					r.store.Count(g.Alias, StatForwarded)
				}
			}
			for _, fl := range o.failed {
				r.metrics.failed.Inc()
				r.log.Warn("failed", "id", id, "alias", g.Alias, "to", fl.Target, "status", fl.Status, "reason", fl.Reason)
				if g.Kind == KindAlias {
					r.store.Count(g.Alias, StatFailed)
				}
			}
			if len(o.temp) > 0 && g.Kind == KindAlias {
				r.store.Count(g.Alias, StatDeferred)
			}
		})
	}
	if pending {
		age := r.cfg.Clock.Since(env.Received)
		if age < r.cfg.MaxAge {
			next = r.cfg.Clock.Now().Add(r.backoff(st.Attempts))
			st.Next = next
			r.metrics.deferred.Inc()
			r.log.Info("deferred", "id", id, "attempt", st.Attempts, "next", next.Format(time.RFC3339), "err", st.LastError)
			if err := r.spool.SaveState(id, &st); err != nil {
				r.log.Error("saving delivery state", "id", id, "err", err)
			}
			return next, false
		}
		for _, g := range env.Groups {
			for _, t := range g.Targets {
				if owner[strings.ToLower(t)] == g.Alias && !st.done(g.Alias, t) {
					st.Failed = append(st.Failed, Failure{Alias: g.Alias, Target: t, Status: "4.4.7",
						Reason: fmt.Sprintf("gave up after %s and %d attempts; last error: %s", age.Round(time.Minute), st.Attempts, st.LastError)})
					r.metrics.failed.Inc()
					r.log.Warn("expired", "id", id, "alias", g.Alias, "to", t, "err", st.LastError)
				}
			}
		}
	}
	reported := false
	if len(st.Failed) > 0 && !env.DSN && env.From != "" {
		var err error
		if reported, err = r.bounce(env, st.Failed, f, start); err != nil {
			// Keep the message and its state; the next attempt only reports.
			r.log.Error("cannot queue the failure report", "id", id, "err", err)
			next = r.cfg.Clock.Now().Add(r.cfg.RetryMin)
			st.Next = next
			r.spool.SaveState(id, &st)
			return next, false
		}
	}
	if len(st.Failed) > 0 && !reported {
		// Nobody was told: keep it, with its reasons, for the operator.
		f.Close()
		if err := r.spool.SaveState(id, &st); err != nil {
			r.log.Error("saving delivery state", "id", id, "err", err)
		}
		if err := r.spool.Keep(id); err != nil {
			r.log.Error("moving a failed message to SPOOL/failed", "id", id, "err", err)
			return r.cfg.Clock.Now().Add(r.cfg.RetryMax), false
		}
		r.log.Warn("failed message kept in SPOOL/failed", "id", id, "from", env.From)
		return time.Time{}, true
	}
	if err := r.spool.Remove(id); err != nil {
		r.log.Error("removing a delivered message", "id", id, "err", err)
	}
	return time.Time{}, true
}

// backoff is the wait before attempt n+1: RetryMin doubled for each
// attempt, at most RetryMax, with jitter (between half and all of it).
func (r *Relay) backoff(n int) time.Duration {
	d := r.cfg.RetryMin
	for i := 1; i < n && d < r.cfg.RetryMax; i++ {
		d *= 2
	}
	d = min(d, r.cfg.RetryMax)
	return d/2 + rand.N(d/2+1)
}

// sender is the envelope sender used towards the smarthost: the null
// sender stays null, our own addresses stay, everything else is rewritten
// with SRS so that SPF passes at the destination.
func (r *Relay) sender(env *Envelope, g *Group) string {
	if g.Kind == KindReply {
		return g.Alias // the user's address is nobody's business
	}
	if env.From == "" || g.Kind == KindDSN {
		return ""
	}
	if r.srs == nil || r.rt.Load().domains[strings.ToLower(classify.Domain(env.From))] {
		return env.From
	}
	s, err := r.srs.Forward(env.From)
	if err != nil {
		r.log.Warn("SRS rewriting failed, sending with the original sender", "from", env.From, "err", err)
		return env.From
	}
	return s
}

// send runs one SMTP transaction for targets of g. A connection that was
// reused and turns out dead is replaced once at no cost to the message.
func (w *worker) send(env *Envelope, g *Group, targets []string, f *os.File, start int64) outcome {
	for try := 0; ; try++ {
		c, reused, err := w.client()
		if err != nil {
			return outcome{temp: targets, tempErr: oneLine(err)}
		}
		o, netErr := w.transaction(c, env, g, targets, f, start)
		if netErr == nil {
			w.lastOK = w.r.cfg.Clock.Now()
			return o
		}
		w.drop()
		if !reused || try > 0 {
			return o
		}
	}
}

// transaction returns a non-nil netErr when the connection failed (then
// every target not yet accepted is in o.temp).
func (w *worker) transaction(c *smtp.Client, env *Envelope, g *Group, targets []string, f *os.File, start int64) (o outcome, netErr error) {
	r := w.r
	fail := func(t string, err error) (permanent bool) {
		var se *smtp.SMTPError
		if errors.As(err, &se) && se.Code >= 500 {
			o.failed = append(o.failed, Failure{Alias: g.Alias, Target: t, Status: status(se), Reason: oneLine(se)})
			return true
		}
		o.temp = append(o.temp, t)
		o.tempErr = oneLine(err)
		return false
	}
	isNet := func(err error) bool {
		var se *smtp.SMTPError
		return !errors.As(err, &se)
	}
	opts := &smtp.MailOptions{UTF8: env.UTF8}
	if env.UTF8 {
		if ok, _ := c.Extension("SMTPUTF8"); !ok {
			// RFC 6531 section 3.5: it cannot be sent on, now or later.
			for _, t := range targets {
				o.failed = append(o.failed, Failure{Alias: g.Alias, Target: t, Status: "5.6.7",
					Reason: "the message needs SMTPUTF8 (non-ASCII addresses) and the smarthost does not offer it"})
			}
			return o, nil
		}
	}
	// What is sent: the header fields the relay adds or changes, then the
	// spooled message; signed before anything goes out, over the same
	// bytes (the spool file is read twice rather than held in memory).
	prefix := r.traceHeaders(env, g)
	// With reverse aliases, a forwarded message's header and a reply's are
	// rewritten (rewrite.go): the new header is sent, then the spooled
	// message from its body on.
	head, body, rewritten, err := r.rewriteFor(env, g, f, start)
	if errors.Is(err, errReplyHeader) {
		for _, t := range targets {
			o.failed = append(o.failed, Failure{Alias: g.Alias, Target: t, Status: "5.3.4", Reason: err.Error()})
		}
		return o, nil
	}
	if err != nil {
		o.temp = append(o.temp, targets...)
		o.tempErr = oneLine(err)
		return o, nil
	}
	outgoing := func(w io.Writer) error {
		if _, err := f.Seek(body, io.SeekStart); err != nil {
			return err
		}
		if _, err := io.WriteString(w, prefix); err != nil {
			return err
		}
		if head != nil {
			if _, err := w.Write(head); err != nil {
				return err
			}
			_, err := io.Copy(w, f)
			return err
		}
		return copyMessage(w, f, g.Kind == KindAlias)
	}
	// Only mail the user sent, and forwarded mail whose From: the relay
	// replaced with a reverse address, is signed: a forwarded From: that
	// claims one of the domains may be a forgery, and a signature would
	// vouch for it.
	var sig string
	if g.Kind == KindSend || g.Kind == KindReply || rewritten {
		sig, err = r.sign(outgoing)
	}
	if err != nil {
		// The key or the spool file failed: nothing is sent unsigned.
		o.temp = append(o.temp, targets...)
		o.tempErr = oneLine(err)
		return o, nil
	}
	if err := c.Mail(r.sender(env, g), opts); err != nil {
		// A refusal of MAIL FROM is about the relay's account at the
		// smarthost (sending quota, sender not allowed), not about this
		// message: always temporary, so that the message waits in the spool
		// (until MaxAge) instead of failing with everything else.
		o.temp = append(o.temp, targets...)
		o.tempErr = "smarthost refused MAIL FROM: " + oneLine(err)
		if isNet(err) {
			return o, err
		}
		c.Reset()
		return o, nil
	}
	var ok []string
	for _, t := range targets {
		if err := c.Rcpt(t, nil); err != nil {
			if isNet(err) {
				o.temp = append(o.temp, targets[len(ok)+len(o.failed)+len(o.temp):]...)
				o.tempErr = oneLine(err)
				return o, err
			}
			fail(t, err)
			continue
		}
		ok = append(ok, t)
	}
	if len(ok) == 0 {
		c.Reset()
		return o, nil
	}
	wc, err := c.Data()
	if err != nil {
		for _, t := range ok {
			fail(t, err)
		}
		if isNet(err) {
			return o, err
		}
		c.Reset()
		return o, nil
	}
	bw := bufio.NewWriterSize(wc, 32<<10)
	bw.WriteString(sig)
	err = outgoing(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		// A local read error or a dead connection: nothing was accepted.
		c.Close()
		for _, t := range ok {
			fail(t, err)
		}
		return o, err
	}
	if err := wc.Close(); err != nil {
		for _, t := range ok {
			fail(t, err)
		}
		if isNet(err) {
			return o, err
		}
		return o, nil
	}
	o.delivered = ok
	return o, nil
}

func status(se *smtp.SMTPError) string {
	if se.EnhancedCode[0] > 0 {
		return fmt.Sprintf("%d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
	}
	return fmt.Sprintf("%d.0.0", se.Code/100)
}

func oneLine(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// traceHeaders returns the Received: line and, for aliases,
// X-Catchall-Alias.
func (r *Relay) traceHeaders(env *Envelope, g *Group) string {
	with := "ESMTP"
	if env.UTF8 {
		with = "UTF8SMTP"
	}
	if env.TLS {
		with += "S"
	}
	var b strings.Builder
	b.WriteString("Received: from ")
	private := g.Kind == KindSend || g.Kind == KindReply
	if private {
		// The user's address and network are nobody's business.
		b.WriteString("authenticated client")
	} else {
		b.WriteString(headerSafe(env.Helo, "unknown"))
	}
	if env.ClientIP != "" && !private {
		b.WriteString(" ([" + headerSafe(env.ClientIP, "") + "])")
	}
	b.WriteString("\r\n\tby " + headerSafe(r.cfg.Hostname, "localhost") + " (catchall relay) with " + with + " id " + env.ID)
	if g.Kind == KindAlias && g.Alias != "" {
		b.WriteString("\r\n\tfor <" + g.Alias + ">")
	}
	b.WriteString("; " + env.Received.Format(time.RFC1123Z) + "\r\n")
	if g.Kind == KindAlias && g.Alias != "" {
		b.WriteString("X-Catchall-Alias: " + g.Alias + "\r\n")
	}
	return b.String()
}

// headerSafe keeps printable ASCII other than parentheses, at most 255 bytes.
func headerSafe(s, empty string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < 255; i++ {
		if c := s[i]; c > ' ' && c < 0x7f && c != '(' && c != ')' {
			b.WriteByte(c)
		}
	}
	if b.Len() == 0 {
		return empty
	}
	return b.String()
}

// copyMessage copies the spooled message. With dropAlias, X-Catchall-Alias
// fields already in the header (forged or from an earlier hop) are left
// out, so the only one the user's filters see is the relay's.
func copyMessage(w io.Writer, r io.Reader, dropAlias bool) error {
	if !dropAlias {
		_, err := io.Copy(w, r)
		return err
	}
	return copyDroppingAlias(w, r, 32<<10)
}

// copyDroppingAlias copies a message but for every X-Catchall-Alias field
// of its header, however written (see aliasField), with the lines that
// continue it, and but for lines at the very start of the header that
// begin with white space (after the relay's own X-Catchall-Alias they
// would go on with it); the rest goes through byte for byte, the body
// untouched.
// Lines end with LF or CRLF; size is the read buffer, which a line may
// exceed.
func copyDroppingAlias(w io.Writer, r io.Reader, size int) error {
	br := bufio.NewReaderSize(r, size)
	var (
		dropping bool   // the field being read is an X-Catchall-Alias
		midLine  bool   // the last chunk did not end its line
		holding  bool   // a field line whose name is not known yet is in held
		held     []byte // that line so far
		started  bool   // a field line has been seen
	)
	for {
		chunk, err := br.ReadSlice('\n')
		if err != nil && err != bufio.ErrBufferFull && err != io.EOF {
			return err
		}
		if !midLine {
			if string(chunk) == "\r\n" || string(chunk) == "\n" {
				// The empty line: the rest is the body.
				if _, err := w.Write(chunk); err != nil {
					return err
				}
				_, err := io.Copy(w, br)
				return err
			}
			// RFC 5322 §2.2.3: a line that starts with white space goes on
			// with the field before it, and shares its fate.
			if len(chunk) > 0 && chunk[0] != ' ' && chunk[0] != '\t' {
				holding, held, started = true, held[:0], true
			} else if !started {
				dropping = true // goes on with no field
			}
		}
		if holding {
			held = append(held, chunk...)
			chunk = nil
			if match, known := aliasField(held, err != bufio.ErrBufferFull); known {
				dropping, holding, chunk = match, false, held
			}
		}
		if !dropping && len(chunk) > 0 {
			if _, err := w.Write(chunk); err != nil {
				return err
			}
		}
		midLine = err == bufio.ErrBufferFull
		if err == io.EOF {
			return nil
		}
	}
}

// aliasField tells whether a header line begins an X-Catchall-Alias field:
// the name in any case (as every filter matches it; RFC 5322 §1.2.2), then
// optional white space (§4.5.8, obs-optional) and the colon. The line may
// be only the start of one (whole false); known is false while that start
// cannot tell.
func aliasField(line []byte, whole bool) (match, known bool) {
	const name = "x-catchall-alias"
	n := min(len(line), len(name))
	if !bytes.EqualFold(line[:n], []byte(name[:n])) {
		return false, true
	}
	if n == len(name) {
		for _, c := range line[n:] {
			if c != ' ' && c != '\t' {
				return c == ':', true
			}
		}
	}
	return false, whole
}
