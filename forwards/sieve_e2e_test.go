package forwards

// The generated Sieve script behind a real mail server: a private Postfix
// that hands the plan's domain to a private Dovecot with Pigeonhole
// (scripts/testenv/mailstack.sh), set up the two ways INSTALL.txt says,
// LMTP and dovecot-lda, and in the naive way it warns about. swaks sends
// a few messages through Postfix; what Sieve did is read from the
// three places it can show: the sink on Dovecot's submission_host
// (redirects, and the rejection message a Pigeonhole reject sends to the
// sender), and the mailbox's Maildir (implicit keep).

import (
	"bufio"
	"fmt"
	"io"
	"log"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/catchall/catchall/classify"
	"github.com/catchall/catchall/internal/testtools"
)

// e2eSink is the SMTP server at Dovecot's submission_host: it accepts
// everything and keeps each transaction (a message is kept before the 250
// to its final dot, so once Dovecot's delivery is over, the sink has all).
type e2eSink struct {
	mu   sync.Mutex
	got  []e2eMail
	srv  *smtp.Server
	port int
}

type e2eMail struct {
	From string
	To   []string
	Data string // LF line ends
}

func startE2ESink(t *testing.T) *e2eSink {
	t.Helper()
	s := &e2eSink{}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &e2eSession{s: s}, nil }))
	s.srv.Domain = "sink.test"
	s.srv.ReadTimeout, s.srv.WriteTimeout = 30*time.Second, 30*time.Second
	s.srv.ErrorLog = log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.port = ln.Addr().(*net.TCPAddr).Port
	go s.srv.Serve(ln)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

func (s *e2eSink) mails() []e2eMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got)
}

type e2eSession struct {
	s    *e2eSink
	from string
	to   []string
}

func (ss *e2eSession) Reset()        { ss.from, ss.to = "", nil }
func (ss *e2eSession) Logout() error { return nil }
func (ss *e2eSession) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = from
	return nil
}
func (ss *e2eSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}
func (ss *e2eSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	ss.s.got = append(ss.s.got, e2eMail{From: ss.from, To: slices.Clone(ss.to), Data: strings.ReplaceAll(string(b), "\r\n", "\n")})
	ss.s.mu.Unlock()
	return nil
}

var (
	e2eQueued    = regexp.MustCompile(`(?m)^<- +250 .*queued as ([0-9A-F]+)`)
	e2eOrigMsgID = regexp.MustCompile(`(?mi)^Original-Message-ID: *(<[^>]*>)$`)
	e2eFinalRcpt = regexp.MustCompile(`(?mi)^Final-Recipient: *rfc822; *(\S+)$`)
	e2eEnvVar    = regexp.MustCompile(`(?m)^export (CATCHALL_TEST_MAILSTACK_[A-Z_]+)=(\S+)$`)
	e2eMasters   = regexp.MustCompile(`^postfix=(\d+) dovecot=(\d+) `)
)

// e2eHeader is one header field of a message, "" when it has none.
func e2eHeader(data, name string) string {
	m, err := mail.ReadMessage(bufio.NewReader(strings.NewReader(data)))
	if err != nil {
		return ""
	}
	return m.Header.Get(name)
}

func TestToolsSieveDelivery(t *testing.T) {
	testtools.NeedTools(t, "swaks", "postfix", "postmap", "dovecot", "sievec")
	if os.Getuid() != 0 {
		t.Skip("the private Postfix and Dovecot need root")
	}
	script, _ := filepath.Abs("../scripts/testenv/mailstack.sh")
	p := &classify.Plan{Columns: []string{"alias", "tag", "action", "forward_to"}}
	for _, r := range [][4]string{
		{"adobe@example.com", "disposable", "forward", "me@new.example"},
		{"family@example.com", "personal", "forward", "me@new.example anna@family.example"},
		{"leaked@example.com", "disposable", "block", ""},
		{"news+heise@example.com", "disposable", "forward", "news@new.example"},
	} {
		p.Rows = append(p.Rows, classify.Row{"alias": r[0], "tag": r[1], "action": r[2], "forward_to": r[3]})
	}
	in, err := FromPlan(p, "", "") // no catch-all: an address not in the plan is kept
	if err != nil {
		t.Fatal(err)
	}
	out, err := Sieve{}.Generate(in)
	if err != nil {
		t.Fatal(err)
	}
	files := writeOut(t, out)
	rules := map[string]Rule{}
	for _, r := range in.Rules {
		rules[r.Alias] = r
	}
	const sender = "sender@sender.test"
	msgs := []struct {
		name string
		to   []string
	}{
		{"adobe", []string{"adobe@example.com"}},
		{"family", []string{"family@example.com"}},
		{"leaked", []string{"leaked@example.com"}},
		{"news", []string{"news+heise@example.com"}},
		{"stranger", []string{"stranger@example.com"}},
		// To and Cc of one message: each address gets its own run of the script.
		{"multi", []string{"adobe@example.com", "stranger@example.com", "other-stranger@example.com"}},
	}

	for i, c := range []struct {
		name     string
		delivery string
		rewrite  bool // a virtual_alias_maps catch-all to the mailbox's address before delivery
		naive    bool // the setup INSTALL.txt warns about: the script does not see the aliases
	}{
		{"lmtp", "lmtp", false, false},
		{"lda", "lda", false, false},
		{"lda-after-rewrite", "lda", true, false},
		{"lmtp-after-rewrite", "lmtp", true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if i > 0 {
				// The first stack runs alone (it installs what is missing); the others
				// side by side, each with its own directory and ports.
				t.Parallel()
			}
			began := time.Now()
			// Short: the LMTP socket's path lies under it.
			dir, err := os.MkdirTemp("", "catchall-ms")
			if err != nil {
				t.Fatal(err)
			}
			os.Chmod(dir, 0o755)
			t.Cleanup(func() { os.RemoveAll(dir) })
			sink := startE2ESink(t)
			rewrite := "0"
			if c.rewrite {
				rewrite = "1"
			}
			// Registered before start: a start that fails half-way leaves nothing running.
			t.Cleanup(func() {
				// The stack is the process groups of the two masters (dovecot-lda runs in
				// Postfix's): nothing of them may outlive stop.
				status, _ := exec.Command(script, "status", dir).Output()
				pids := e2eMasters.FindStringSubmatch(string(status))
				began := time.Now()
				if b, err := exec.Command(script, "stop", dir).CombinedOutput(); err != nil {
					t.Errorf("mailstack.sh stop: %v\n%s", err, b)
				}
				if pids == nil && !t.Failed() {
					t.Errorf("mailstack.sh status before stop: %q", status)
				} else if pids != nil {
					if b, _ := exec.Command("pgrep", "-a", "-g", pids[1]+","+pids[2]).Output(); len(b) > 0 {
						t.Errorf("processes left after stop:\n%s", b)
					}
				}
				t.Logf("stop took %v", time.Since(began).Round(10*time.Millisecond))
			})
			start := exec.Command(script, "start", dir)
			start.Env = append(os.Environ(), "MAILSTACK_DELIVERY="+c.delivery, "MAILSTACK_REWRITE="+rewrite,
				"MAILSTACK_SIEVE="+filepath.Join(files, "catchall.sieve"), "MAILSTACK_DOMAINS="+strings.Join(in.Domains, " "),
				fmt.Sprintf("MAILSTACK_SMTP_PORT=%d", testtools.FreePort(t)), fmt.Sprintf("MAILSTACK_SINK_PORT=%d", sink.port))
			if b, err := start.CombinedOutput(); err != nil {
				t.Fatalf("mailstack.sh start: %v\n%s", err, b)
			}
			started := time.Now()
			envOut, err := exec.Command(script, "env", dir).Output()
			if err != nil {
				t.Fatalf("mailstack.sh env: %v", err)
			}
			env := map[string]string{}
			for _, m := range e2eEnvVar.FindAllStringSubmatch(string(envOut), -1) {
				env[m[1]] = m[2]
			}
			addr, maillog, maildir := env["CATCHALL_TEST_MAILSTACK_SMTP_ADDR"], env["CATCHALL_TEST_MAILSTACK_POSTFIX_LOG"], env["CATCHALL_TEST_MAILSTACK_MAILDIR"]
			if addr == "" || maillog == "" || maildir == "" {
				t.Fatalf("mailstack.sh env lacks an address, the maillog or the Maildir:\n%s", envOut)
			}
			logs := func() string {
				var b strings.Builder
				for _, f := range []string{maillog, env["CATCHALL_TEST_MAILSTACK_DOVECOT_LOG"], env["CATCHALL_TEST_MAILSTACK_LDA_LOG"]} {
					data, _ := os.ReadFile(f)
					lines := strings.Split(strings.TrimSpace(string(data)), "\n")
					fmt.Fprintf(&b, "--- %s (last lines)\n%s\n", f, strings.Join(lines[max(0, len(lines)-30):], "\n"))
				}
				return b.String()
			}

			// Send; every message is queued by Postfix (250) and named by its Message-ID.
			byID := map[string]string{}
			var queued []string
			for _, m := range msgs {
				id := fmt.Sprintf("<%s.%s@catchall.test>", m.name, c.name)
				byID[id] = m.name
				b, _ := exec.Command("swaks", "--timeout", "20", "--server", addr, "--from", sender, "--to", strings.Join(m.to, ","),
					"--header", "Message-Id: "+id, "--header", "Subject: "+m.name).CombinedOutput()
				q := e2eQueued.FindStringSubmatch(string(b))
				if q == nil {
					t.Fatalf("%s: Postfix did not queue it:\n%s", m.name, b)
				}
				queued = append(queued, q[1])
			}

			// Done when Postfix has removed every message from its queue: all its recipients
			// delivered (or bounced). Sieve's redirects and rejection messages are sent before
			// Dovecot answers the delivery, so the sink and the Maildir are complete then.
			var maillogText string
			deadline := time.Now().Add(60 * time.Second)
			for {
				b, _ := os.ReadFile(maillog)
				maillogText = string(b)
				done := 0
				for _, q := range queued {
					if strings.Contains(maillogText, " "+q+": removed") {
						done++
					}
				}
				if done == len(queued) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after 60 s, %d of %d messages are still in Postfix's queue\n%s", len(queued)-done, len(queued), logs())
				}
				time.Sleep(20 * time.Millisecond)
			}
			deliveries := 0
			for _, line := range strings.Split(maillogText, "\n") {
				if !strings.Contains(line, " status=") || !slices.ContainsFunc(queued, func(q string) bool { return strings.Contains(line, " "+q+": to=") }) {
					continue
				}
				deliveries++
				// For dovecot-lda, pipe(8) appends what it wrote to stderr: no errors wanted
				// (stats-writer permission, for one).
				if !strings.Contains(line, " status=sent ") || strings.Contains(line, "Error") {
					t.Errorf("Postfix: %s", line)
				}
			}
			if deliveries == 0 {
				t.Fatalf("no delivery in Postfix's log\n%s", logs())
			}
			delivered := time.Now()

			// What the script should have done, rule by rule and recipient by recipient.
			var wantRedirects, wantRejects, wantKept []string
			for _, m := range msgs {
				for _, rcpt := range m.to {
					r, ok := rules[rcpt]
					switch {
					case c.naive || !ok:
						wantKept = append(wantKept, m.name)
					case r.Action == classify.ActionBlock:
						wantRejects = append(wantRejects, m.name+" rejected for "+rcpt)
					default:
						for _, tg := range r.Targets {
							wantRedirects = append(wantRedirects, m.name+" redirected from "+rcpt+" to "+tg)
						}
					}
				}
			}
			if c.naive {
				// Every alias reached Dovecot as the mailbox's address: no rule matched,
				// nothing went out, every message is in the mailbox. ("multi" came as the
				// same address three times in one LMTP transaction; Dovecot stores it once.)
				wantRedirects, wantRejects = nil, nil
				wantKept = slices.Compact(wantKept)
			}

			// What it did: the sink (redirects, rejection messages) ...
			var gotRedirects, gotRejects, gotKept []string
			for _, sm := range sink.mails() {
				if sm.From == "" {
					// A reject: Pigeonhole's rejection message (RFC 5429: an MDN,
					// multipart/report; report-type=disposition-notification) from <> to the
					// envelope sender, naming the rejected message and recipient.
					orig, final := e2eOrigMsgID.FindStringSubmatch(sm.Data), e2eFinalRcpt.FindStringSubmatch(sm.Data)
					ct := e2eHeader(sm.Data, "Content-Type")
					if orig == nil || final == nil || !strings.Contains(ct, "report-type=disposition-notification") || !slices.Equal(sm.To, []string{sender}) {
						t.Errorf("a message from <> that is not the rejection of a message to %s: to %q, Content-Type %q\n%s", sender, sm.To, ct, sm.Data)
						continue
					}
					gotRejects = append(gotRejects, byID[orig[1]]+" rejected for "+final[1])
					continue
				}
				name := byID[e2eHeader(sm.Data, "Message-Id")]
				if name == "" || sm.From != sender {
					t.Errorf("unexpected at the sink: from <%s> to %q\n%s", sm.From, sm.To, sm.Data)
					continue
				}
				// Pigeonhole names the envelope recipient it redirected for.
				from := e2eHeader(sm.Data, "X-Sieve-Redirected-From")
				for _, to := range sm.To {
					gotRedirects = append(gotRedirects, name+" redirected from "+from+" to "+to)
				}
			}
			// ... and the mailbox (implicit keep).
			for _, sub := range []string{"new", "cur"} {
				ents, _ := os.ReadDir(filepath.Join(maildir, sub))
				for _, e := range ents {
					data, err := os.ReadFile(filepath.Join(maildir, sub, e.Name()))
					if err != nil {
						t.Fatal(err)
					}
					id := e2eHeader(strings.ReplaceAll(string(data), "\r\n", "\n"), "Message-Id")
					if byID[id] == "" {
						t.Errorf("unexpected in the mailbox: %s %s", sub, e.Name())
						continue
					}
					gotKept = append(gotKept, byID[id])
				}
			}
			for _, l := range [][]string{wantRedirects, wantRejects, wantKept, gotRedirects, gotRejects, gotKept} {
				slices.Sort(l)
			}
			check := func(what string, got, want []string) {
				if !slices.Equal(got, want) {
					t.Errorf("%s:\n got  %q\n want %q", what, got, want)
				}
			}
			check("redirects at the sink", gotRedirects, wantRedirects)
			check("rejection messages at the sink", gotRejects, wantRejects)
			check("messages kept in the mailbox", gotKept, wantKept)
			if t.Failed() {
				t.Log(logs())
			}
			t.Logf("%s: start %v, %d messages (%d deliveries) sent and delivered in %v", c.name,
				started.Sub(began).Round(10*time.Millisecond), len(msgs), deliveries, delivered.Sub(started).Round(10*time.Millisecond))
		})
	}
}
