package relay

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"blitiri.com.ar/go/spf"
)

// trusted reports whether a failure report may go to the envelope sender
// of env without becoming backscatter: the sender's domain must publish SPF
// that authorises the address that handed us the message (checked now,
// from what was recorded at reception), or the message was sent through
// the submission port (from the user's own alias). The null sender and
// reports about reports never get one.
func (r *Relay) trusted(env *Envelope) (bool, string) {
	if env.From == "" || env.DSN {
		return false, "null sender"
	}
	if env.Submitted {
		return true, "sent by an authenticated user from their alias"
	}
	ip := net.ParseIP(env.ClientIP)
	if ip == nil {
		return false, "no client address"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts := []spf.Option{spf.WithContext(ctx)}
	if r.cfg.Resolver != nil {
		opts = append(opts, spf.WithResolver(r.cfg.Resolver))
	}
	res, err := spf.CheckHostWithSender(ip, env.Helo, env.From, opts...)
	if res != spf.Pass {
		why := "SPF " + string(res)
		if err != nil {
			why += ": " + oneLine(err)
		}
		return false, why
	}
	return true, "SPF pass"
}

// bounce queues a delivery status notification (RFC 3464) to the sender of
// env about failed, when the sender can be trusted; otherwise it only logs.
// The report names the aliases, never where they forward to.
func (r *Relay) bounce(env *Envelope, failed []Failure, f *os.File, start int64) (queued bool, err error) {
	ok, why := r.trusted(env)
	if !ok && strings.HasPrefix(why, "SPF "+string(spf.TempError)) && r.cfg.Clock.Since(env.Received) < r.cfg.MaxAge+24*time.Hour {
		// The sender's DNS did not answer: ask again later rather than
		// decide now that the sender cannot be trusted.
		return false, fmt.Errorf("checking the sender's SPF: %s", why)
	}
	if !ok {
		r.metrics.dsn.WithLabelValues("suppressed").Inc()
		r.log.Warn("no failure report to the sender: it cannot be trusted", "id", env.ID, "from", env.From, "why", why)
		return false, nil
	}
	dsn := &Envelope{ID: NewID(), Received: r.cfg.Clock.Now().UTC(), From: "", DSN: true,
		Groups: []Group{{Alias: "", Targets: []string{env.From}, Kind: KindDSN}}}
	w, err := r.spool.Create(dsn)
	if err != nil {
		return false, err
	}
	if err := r.writeDSN(w, env, failed, f, start); err != nil {
		w.Abort()
		return false, err
	}
	if err := w.Commit(); err != nil {
		return false, err
	}
	r.metrics.dsn.WithLabelValues("sent").Inc()
	r.log.Info("failure report queued", "id", dsn.ID, "about", env.ID, "to", env.From)
	r.queue.add(dsn.ID, time.Time{})
	return true, nil
}

func (r *Relay) writeDSN(w io.Writer, env *Envelope, failed []Failure, f *os.File, start int64) error {
	host := headerSafe(r.cfg.Hostname, "localhost")
	boundary := "catchall-" + NewID()
	bw := bufio.NewWriter(w)
	p := func(format string, a ...any) { fmt.Fprintf(bw, format+"\r\n", a...) }
	p("From: Mail Delivery System <MAILER-DAEMON@%s>", host)
	p("To: <%s>", env.From)
	p("Subject: Undelivered Mail Returned to Sender")
	p("Date: %s", r.cfg.Clock.Now().Format(time.RFC1123Z))
	p("Message-ID: <%s@%s>", NewID(), host)
	p("Auto-Submitted: auto-replied")
	p("MIME-Version: 1.0")
	p("Content-Type: multipart/report; report-type=delivery-status; boundary=%q", boundary)
	p("")
	p("--%s", boundary)
	p("Content-Type: text/plain; charset=utf-8")
	p("")
	p("This is the mail relay at %s.", host)
	p("")
	p("Your message of %s could not be delivered to:", env.Received.Format(time.RFC1123Z))
	p("")
	seen := map[string]bool{}
	for _, fl := range failed {
		if !seen[fl.Alias] {
			seen[fl.Alias] = true
			p("  <%s>: %s", fl.Alias, statusText(fl.Status))
		}
	}
	p("")
	p("--%s", boundary)
	p("Content-Type: message/delivery-status")
	p("")
	p("Reporting-MTA: dns; %s", host)
	p("X-Catchall-Queue-ID: %s", env.ID)
	p("Arrival-Date: %s", env.Received.Format(time.RFC1123Z))
	seen = map[string]bool{}
	for _, fl := range failed {
		if seen[fl.Alias] {
			continue
		}
		seen[fl.Alias] = true
		p("")
		p("Final-Recipient: rfc822; %s", fl.Alias)
		p("Action: failed")
		p("Status: %s", fl.Status)
	}
	p("")
	p("--%s", boundary)
	p("Content-Type: text/rfc822-headers")
	p("")
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return err
	}
	br := bufio.NewReader(io.LimitReader(f, 256<<10))
	for {
		line, err := br.ReadString('\n')
		if strings.TrimRight(line, "\r\n") == "" {
			break
		}
		if !strings.HasPrefix(strings.ToLower(line), "x-catchall-alias:") {
			bw.WriteString(line)
		}
		if err != nil {
			bw.WriteString("\r\n")
			break
		}
	}
	p("")
	p("--%s--", boundary)
	return bw.Flush()
}

// statusText explains an enhanced status code without the remote server's
// text (which could name the hidden forwarding address).
func statusText(code string) string {
	switch {
	case strings.HasPrefix(code, "5.1."):
		return "the destination mailbox does not exist (" + code + ")"
	case strings.HasPrefix(code, "5.2.2"), strings.HasPrefix(code, "4.2.2"):
		return "the destination mailbox is full (" + code + ")"
	case strings.HasPrefix(code, "5.3.4"):
		return "the message is too big (" + code + ")"
	case strings.HasPrefix(code, "5.7."):
		return "the destination refused the message for policy reasons (" + code + ")"
	case strings.HasPrefix(code, "4.4.7"):
		return "the destination did not accept it in time (" + code + ")"
	default:
		return "delivery failed (" + code + ")"
	}
}
