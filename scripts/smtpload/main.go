// Command smtpload is the SMTP load generator of the relay benchmark
// (scripts/bench-relay.sh). -c sessions each keep one connection and send
// messages back to back until -n messages have been tried; it reports
// throughput and the latency of every transaction, from MAIL FROM to the 250
// after the final dot. It can also wait for the messages to arrive in a
// smtp-sink(1) dump directory and report the end-to-end rate.
//
// Usage:
//
//	go run ./scripts/smtpload -addr 127.0.0.1:2525 -n 20000 -c 20 -rcpt a1@bench.test,a2@bench.test [-out res.json]
//	go run ./scripts/smtpload -addr ... -wait-sink SINKDIR/dump [-wait-count N] [-wait-timeout 10m]
//	go run ./scripts/smtpload -wait-sink SINKDIR/dump -wait-count N -wait-start "$(date +%s.%N)"
//	SMTPLOAD_PASSWORD=secret go run ./scripts/smtpload -addr 127.0.0.1:587 -auth-user me -from me@bench.test -rcpt you@dest.test
//
// The first form only sends; the second also waits until the sink holds the
// messages (-wait-count defaults to the number accepted); the third only
// waits, for messages sent by another tool, counting from -wait-start.
//
// # Messages
//
// Message i (from 0) goes to recipient i mod len(-rcpt), carries
// "Message-ID: <PREFIX.i@smtpload>" and is exactly -size bytes, headers
// included, with CRLF line ends and no line longer than 79 characters or
// starting with a dot (the DATA writer dot-stuffs anyway). A transaction is
// MAIL, RCPT, DATA with no pipelining and no RSET between successes; after a
// 4xx or 5xx reply the session sends RSET, after a network error it
// reconnects. Every message is tried once.
//
// # Submission
//
// With -auth-user, each session logs in with AUTH PLAIN right after EHLO,
// once per connection as a mail client does, with the password from the
// environment variable SMTPLOAD_PASSWORD (never a flag, so it is not in
// ps). The login is not part of any transaction's latency. The server
// must offer AUTH on the plain connection (smtpload does not STARTTLS), as
// catchall relay's submission port and Postfix with smtpd_tls_auth_only = no
// do on loopback. -from is the envelope sender and the From: header, so for
// a submission port it must be an address the user may send as.
//
// # Sink
//
// smtp-sink -d writes one file per transaction, creates it at MAIL, strips
// the CRs and the dot-stuffing, appends an empty line and closes the file
// before it sends the final 250; an aborted transaction's file is removed.
// A file ending in "\n\n" is therefore a complete message. -wait-sink polls
// the directory tree every -poll and stops at the first scan that sees
// -wait-count complete files; the end-to-end time runs from the first
// connection attempt (or -wait-start) to that scan, so it is late by at most
// one poll interval. Use a fresh dump directory for every run.
//
// # Output
//
// A summary on stdout and, with -out, the same numbers as JSON:
// {"load": {"sent", "ok", "temp_fail", "perm_fail", "net_fail", "elapsed_s",
// "msgs_per_s", "latency_ms": {"p50", "p90", "p99", "max"}, ...},
// "sink": {"want", "files", "elapsed_s", "msgs_per_s", "timed_out", ...}}.
// msgs_per_s counts accepted messages only. The exit status is 1 when a
// message was not accepted or the sink wait timed out, 2 for bad flags.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// helloName is what the sessions say in EHLO.
const helloName = "smtpload.localdomain"

// errUsage marks bad command lines (exit status 2).
var errUsage = errors.New("usage")

// errIncomplete marks a finished run in which messages were lost (exit status 1).
var errIncomplete = errors.New("not every message was accepted and delivered")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "smtpload:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "smtpload:", err)
		os.Exit(1)
	}
}

// options are the command-line flags.
type options struct {
	addr     string        // SMTP server host:port (a comma-separated list: sessions spread over them); "" for wait-only mode
	addrs    []string      // addr, split
	n        int           // messages to send
	sessions int           // concurrent sessions
	size     int           // message size in bytes, headers included
	from     string        // envelope and header sender
	authUser string        // AUTH PLAIN user name; "" for no AUTH
	authPass string        // its password, from env SMTPLOAD_PASSWORD
	rcpts    []string      // recipients, cycled through
	idPrefix string        // Message-ID local part prefix
	out      string        // JSON result file; "" for none
	timeout  time.Duration // per SMTP command and for the reply to the final dot

	waitSink    string        // smtp-sink dump directory; "" for no waiting
	waitCount   int           // complete files to wait for; 0: as many as were accepted
	waitTimeout time.Duration // give up waiting after this long
	waitStart   time.Time     // start of the end-to-end clock in wait-only mode
	poll        time.Duration // sink poll interval
}

func parseFlags(args []string) (*options, error) {
	fset := flag.NewFlagSet("smtpload", flag.ContinueOnError)
	o := &options{}
	var rcpt, waitStart string
	fset.StringVar(&o.addr, "addr", "", "SMTP server `host:port`, or a comma-separated list the sessions spread over (empty: only -wait-sink)")
	fset.IntVar(&o.n, "n", 1000, "number of messages to send")
	fset.IntVar(&o.sessions, "c", 20, "concurrent sessions, one connection each")
	fset.IntVar(&o.size, "size", 4096, "message size in `bytes`, headers included")
	fset.StringVar(&o.from, "from", "smtpload@source.test", "envelope sender and From: header")
	fset.StringVar(&o.authUser, "auth-user", "", "log in with AUTH PLAIN as `USER` (password: env SMTPLOAD_PASSWORD)")
	fset.StringVar(&rcpt, "rcpt", "a1@bench.test", "recipient `address`, or a comma-separated list the messages cycle through")
	fset.StringVar(&o.idPrefix, "id-prefix", "smtpload", "Message-IDs are <`PREFIX`.N@smtpload>")
	fset.StringVar(&o.out, "out", "", "write the results as JSON to this `file`")
	fset.DurationVar(&o.timeout, "timeout", 2*time.Minute, "timeout of each SMTP command and of the reply to the final dot")
	fset.StringVar(&o.waitSink, "wait-sink", "", "smtp-sink dump `directory` to wait in for the messages")
	fset.IntVar(&o.waitCount, "wait-count", 0, "complete sink files to wait for (default: the number of accepted messages)")
	fset.DurationVar(&o.waitTimeout, "wait-timeout", 10*time.Minute, "give up waiting for the sink after this long")
	fset.StringVar(&waitStart, "wait-start", "", "with -wait-sink and no -addr: start of the end-to-end clock, Unix `seconds` (date +%s.%N); default now")
	fset.DurationVar(&o.poll, "poll", 100*time.Millisecond, "sink poll interval")
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	var problems []string
	if fset.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected arguments %q", fset.Args()))
	}
	for _, r := range strings.Split(rcpt, ",") {
		if r = strings.TrimSpace(r); r != "" {
			o.rcpts = append(o.rcpts, r)
		}
	}
	if o.addr == "" && o.waitSink == "" {
		problems = append(problems, "need -addr, -wait-sink or both")
	}
	if o.addr != "" {
		for _, a := range strings.Split(o.addr, ",") {
			if _, _, err := net.SplitHostPort(a); err != nil {
				problems = append(problems, fmt.Sprintf("-addr %q: %v", a, err))
			}
			o.addrs = append(o.addrs, a)
		}
		if o.n < 1 {
			problems = append(problems, "-n must be at least 1")
		}
		if o.sessions < 1 {
			problems = append(problems, "-c must be at least 1")
		}
		if len(o.rcpts) == 0 {
			problems = append(problems, "-rcpt is empty")
		}
		if strings.ContainsAny(o.idPrefix, "<>@ \t\r\n") {
			problems = append(problems, "-id-prefix must not contain <, >, @ or white space")
		}
		if o.authUser != "" {
			o.authPass = os.Getenv("SMTPLOAD_PASSWORD")
			if o.authPass == "" {
				problems = append(problems, "-auth-user needs the password in env SMTPLOAD_PASSWORD")
			}
		}
		if waitStart != "" {
			problems = append(problems, "-wait-start only applies without -addr (the clock starts with the first send)")
		}
	} else if o.waitCount < 1 {
		problems = append(problems, "-wait-sink without -addr needs -wait-count")
	}
	if o.timeout <= 0 || o.waitTimeout <= 0 || o.poll <= 0 {
		problems = append(problems, "-timeout, -wait-timeout and -poll must be positive")
	}
	if waitStart != "" {
		sec, err := strconv.ParseFloat(waitStart, 64)
		if err != nil || sec <= 0 || math.IsInf(sec, 0) {
			problems = append(problems, fmt.Sprintf("-wait-start %q is not Unix seconds", waitStart))
		} else {
			whole, frac := math.Modf(sec)
			o.waitStart = time.Unix(int64(whole), int64(frac*1e9))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: %s", errUsage, strings.Join(problems, "; "))
	}
	return o, nil
}

// result is what -out writes.
type result struct {
	Load *loadResult `json:"load,omitempty"`
	Sink *sinkResult `json:"sink,omitempty"`
}

// loadResult describes the sending side. Sent = OK + TempFail + PermFail + NetFail.
type loadResult struct {
	Addr      string      `json:"addr"`
	Sessions  int         `json:"sessions"`
	Size      int         `json:"size"`
	Sent      int64       `json:"sent"`
	OK        int64       `json:"ok"`
	TempFail  int64       `json:"temp_fail"` // 4xx replies
	PermFail  int64       `json:"perm_fail"` // 5xx replies
	NetFail   int64       `json:"net_fail"`  // connection errors and timeouts
	Elapsed   float64     `json:"elapsed_s"`
	Rate      float64     `json:"msgs_per_s"` // OK / Elapsed
	LatencyMS percentiles `json:"latency_ms"` // of the accepted messages
	Errors    []string    `json:"errors,omitempty"`
}

type percentiles struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// sinkResult describes the arrivals in the smtp-sink dump directory.
type sinkResult struct {
	Dir      string  `json:"dir"`
	Want     int     `json:"want"`
	Files    int     `json:"files"` // complete files seen at the end
	Elapsed  float64 `json:"elapsed_s"`
	Rate     float64 `json:"msgs_per_s"` // Want / Elapsed when reached
	TimedOut bool    `json:"timed_out"`
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	var res result
	start := time.Now()
	if o.addr == "" && !o.waitStart.IsZero() {
		start = o.waitStart
	}

	// The watcher runs during the load so it sees arrivals as they happen.
	// want is its target: -wait-count, else -n until the load is over and
	// then the number accepted.
	var (
		want    atomic.Int64
		sinkRes *sinkResult
		sinkErr error
		wg      sync.WaitGroup
	)
	loadDone := make(chan struct{})
	if o.waitSink != "" {
		if o.waitCount > 0 {
			want.Store(int64(o.waitCount))
		} else {
			want.Store(int64(o.n))
		}
		wg.Go(func() {
			sinkRes, sinkErr = waitSink(ctx, o, start, &want, loadDone)
		})
	}
	if o.addr != "" {
		res.Load = load(ctx, o, start)
		if o.waitCount == 0 {
			want.Store(res.Load.OK)
		}
		printLoad(stdout, res.Load)
	}
	close(loadDone)
	wg.Wait()
	if sinkErr != nil {
		return sinkErr
	}
	if sinkRes != nil {
		res.Sink = sinkRes
		printSink(stdout, sinkRes)
	}
	if o.out != "" {
		b, err := json.MarshalIndent(&res, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.out, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("writing results: %w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("interrupted: %w", err)
	}
	if (res.Load != nil && res.Load.OK < res.Load.Sent) || (res.Sink != nil && res.Sink.TimedOut) {
		return errIncomplete
	}
	return nil
}

// sessionStats is one session's share of the counters.
type sessionStats struct {
	ok, temp, perm, netFail int64
	latencies               []time.Duration
	errs                    []string
}

// maxErrors is how many distinct error texts each session keeps for the report.
const maxErrors = 5

func (s *sessionStats) record(err error, d time.Duration) {
	var se *smtp.SMTPError
	switch {
	case err == nil:
		s.ok++
		s.latencies = append(s.latencies, d)
		return
	case errors.As(err, &se) && se.Code >= 400 && se.Code < 500:
		s.temp++
	case errors.As(err, &se) && se.Code >= 500:
		s.perm++
	default:
		s.netFail++
	}
	if msg := err.Error(); len(s.errs) < maxErrors && !slices.Contains(s.errs, msg) {
		s.errs = append(s.errs, msg)
	}
}

// load runs the sessions and sums up their counters.
func load(ctx context.Context, o *options, start time.Time) *loadResult {
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		stats = make([]sessionStats, o.sessions)
	)
	for s := range stats {
		addr := o.addrs[s%len(o.addrs)]
		wg.Go(func() { session(ctx, o, addr, &next, &stats[s]) })
	}
	wg.Wait()
	elapsed := time.Since(start)

	r := &loadResult{Addr: o.addr, Sessions: o.sessions, Size: o.size, Elapsed: elapsed.Seconds()}
	var lat []time.Duration
	for i := range stats {
		s := &stats[i]
		r.OK += s.ok
		r.TempFail += s.temp
		r.PermFail += s.perm
		r.NetFail += s.netFail
		lat = append(lat, s.latencies...)
		for _, e := range s.errs {
			if len(r.Errors) < maxErrors && !slices.Contains(r.Errors, e) {
				r.Errors = append(r.Errors, e)
			}
		}
	}
	r.Sent = r.OK + r.TempFail + r.PermFail + r.NetFail
	if elapsed > 0 {
		r.Rate = float64(r.OK) / elapsed.Seconds()
	}
	slices.Sort(lat)
	r.LatencyMS = percentiles{P50: pct(lat, 0.50), P90: pct(lat, 0.90), P99: pct(lat, 0.99)}
	if len(lat) > 0 {
		r.LatencyMS.Max = ms(lat[len(lat)-1])
	}
	return r
}

// pct is the nearest-rank percentile of sorted, in milliseconds.
func pct(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return ms(sorted[max(i, 0)])
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// session sends messages over one connection until all -n have been claimed.
func session(ctx context.Context, o *options, addr string, next *atomic.Int64, st *sessionStats) {
	var c *smtp.Client
	defer func() {
		if c != nil {
			if err := c.Quit(); err != nil {
				c.Close()
			}
		}
	}()
	buf := make([]byte, 0, o.size+512)
	for ctx.Err() == nil {
		i := next.Add(1) - 1
		if i >= int64(o.n) {
			return
		}
		if c == nil {
			var err error
			if c, err = dial(ctx, o, addr); err != nil {
				st.record(err, 0)
				// Do not spin through the remaining messages while the server is down.
				select {
				case <-ctx.Done():
				case <-time.After(200 * time.Millisecond):
				}
				continue
			}
		}
		rcpt := o.rcpts[i%int64(len(o.rcpts))]
		buf = message(buf[:0], o, i, rcpt)
		t0 := time.Now()
		err := send(c, o.from, rcpt, buf)
		st.record(err, time.Since(t0))
		if err == nil {
			continue
		}
		// RFC 5321 §4.1.1.5: RSET clears the failed transaction; a server
		// that cannot answer it (421, broken connection) is dialled again.
		var se *smtp.SMTPError
		if !errors.As(err, &se) || se.Code == 421 || c.Reset() != nil {
			c.Close()
			c = nil
		}
	}
}

// dial connects, says EHLO and logs in with -auth-user, so that the first
// message's latency includes neither the greeting nor the login.
func dial(ctx context.Context, o *options, addr string) (*smtp.Client, error) {
	d := net.Dialer{Timeout: o.timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := smtp.NewClient(conn)
	c.CommandTimeout = o.timeout
	c.SubmissionTimeout = o.timeout
	if err := c.Hello(helloName); err != nil {
		c.Close()
		return nil, err
	}
	if o.authUser != "" {
		if err := c.Auth(sasl.NewPlainClient("", o.authUser, o.authPass)); err != nil {
			c.Close()
			return nil, fmt.Errorf("AUTH PLAIN as %s: %w", o.authUser, err)
		}
	}
	return c, nil
}

// send runs one transaction: MAIL, RCPT, DATA.
func send(c *smtp.Client, from, rcpt string, msg []byte) error {
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// fill is the body text; its lines are cut from it at different offsets.
const fill = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

// lineLen is the length of a full body line without its CRLF.
const lineLen = 78

// message appends message i to buf: headers, then body lines up to o.size
// bytes in all (more only when the headers alone are longer).
func message(buf []byte, o *options, i int64, rcpt string) []byte {
	buf = fmt.Appendf(buf, "From: <%s>\r\nTo: <%s>\r\nSubject: smtpload %d\r\nDate: %s\r\n"+
		"Message-ID: <%s.%d@smtpload>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n",
		o.from, rcpt, i, time.Now().Format(time.RFC1123Z), o.idPrefix, i)
	rest := o.size - len(buf)
	line := 0
	appendLine := func(n int) { // n characters and CRLF
		for k := range n {
			buf = append(buf, fill[(line+k)%len(fill)])
		}
		buf = append(buf, '\r', '\n')
		line++
	}
	for rest >= lineLen+2+2 { // leave at least a CRLF for the last line
		appendLine(lineLen)
		rest -= lineLen + 2
	}
	if rest >= 2 { // the last line has 0..79 characters
		appendLine(rest - 2)
	}
	return buf
}

// waitSink polls the dump directory until want complete files are there,
// the timeout passes or ctx ends. While loadDone is open the target may
// still be lowered, so reaching it only counts once the load is over.
func waitSink(ctx context.Context, o *options, start time.Time, want *atomic.Int64, loadDone <-chan struct{}) (*sinkResult, error) {
	w := &sinkWatcher{dir: o.waitSink, done: make(map[string]bool)}
	deadline := time.Now().Add(o.waitTimeout)
	tick := time.NewTicker(o.poll)
	defer tick.Stop()
	var reached time.Time
	for {
		n, err := w.scan()
		if err != nil {
			return nil, fmt.Errorf("scanning %s: %w", o.waitSink, err)
		}
		if reached.IsZero() && int64(n) >= want.Load() {
			reached = time.Now()
		}
		select {
		case <-loadDone:
			if !reached.IsZero() && int64(n) >= want.Load() {
				return w.result(want.Load(), n, reached.Sub(start), false), nil
			}
			if int64(n) < want.Load() {
				reached = time.Time{} // the target moved up; not there yet
			}
		default:
		}
		if time.Now().After(deadline) {
			return w.result(want.Load(), n, time.Since(start), true), nil
		}
		select {
		case <-ctx.Done():
			return w.result(want.Load(), n, time.Since(start), true), nil
		case <-tick.C:
		}
	}
}

// sinkWatcher remembers the complete files found so far, so each file is
// checked until it is complete and then never read again.
type sinkWatcher struct {
	dir  string
	done map[string]bool
}

func (w *sinkWatcher) result(want int64, n int, elapsed time.Duration, timedOut bool) *sinkResult {
	r := &sinkResult{Dir: w.dir, Want: int(want), Files: n, Elapsed: elapsed.Seconds(), TimedOut: timedOut}
	if !timedOut && elapsed > 0 {
		r.Rate = float64(want) / elapsed.Seconds()
	}
	return r
}

// scan walks the dump tree and returns the number of complete files.
func (w *sinkWatcher) scan() (int, error) {
	err := filepath.WalkDir(w.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // not created yet, or a file removed by RSET
			}
			return err
		}
		if !d.Type().IsRegular() || w.done[path] {
			return nil
		}
		ok, err := complete(path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if ok {
			w.done[path] = true
		}
		return nil
	})
	return len(w.done), err
}

// complete reports whether the smtp-sink dump file at path ends with the
// empty line smtp-sink writes after the message.
func complete(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() < 2 {
		return false, err
	}
	var tail [2]byte
	if _, err := f.ReadAt(tail[:], fi.Size()-2); err != nil {
		return false, err
	}
	return tail == [2]byte{'\n', '\n'}, nil
}

func printLoad(w io.Writer, r *loadResult) {
	fmt.Fprintf(w, "load: %s, %d sessions, %d-byte messages\n", r.Addr, r.Sessions, r.Size)
	fmt.Fprintf(w, "  sent %d  ok %d  temp_fail %d  perm_fail %d  net_fail %d\n",
		r.Sent, r.OK, r.TempFail, r.PermFail, r.NetFail)
	fmt.Fprintf(w, "  elapsed %.2fs  %.1f msgs/s\n", r.Elapsed, r.Rate)
	fmt.Fprintf(w, "  latency ms  p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n",
		r.LatencyMS.P50, r.LatencyMS.P90, r.LatencyMS.P99, r.LatencyMS.Max)
	for _, e := range r.Errors {
		fmt.Fprintf(w, "  error: %s\n", e)
	}
}

func printSink(w io.Writer, r *sinkResult) {
	if r.TimedOut {
		fmt.Fprintf(w, "sink: %s: only %d of %d complete files after %.2fs (gave up)\n", r.Dir, r.Files, r.Want, r.Elapsed)
		return
	}
	fmt.Fprintf(w, "sink: %s: %d complete files after %.2fs, %.1f msgs/s end-to-end\n", r.Dir, r.Files, r.Elapsed, r.Rate)
}
