package relay

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// pipeListener hands net.Pipe connections to the SMTP server.
type pipeListener struct {
	ch   chan net.Conn
	once sync.Once
	done chan struct{}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}
func (l *pipeListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 25} }

// FuzzSession feeds arbitrary client input to a live SMTP session: the relay
// must never panic, never accept mail for other domains, and never spool a
// message whose DATA had a line ending other than CRLF.
func FuzzSession(f *testing.F) {
	for _, seed := range []string{
		"EHLO x\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<shop@example.org>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n",
		"HELO x\r\nMAIL FROM:<>\r\nRCPT TO:<victim@elsewhere.test>\r\nRCPT TO:<\"a@b\"@example.org>\r\nDATA\r\n.\r\n",
		"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<bank@example.org>\r\nDATA\r\nx\n.\nMAIL FROM:<a@b>\r\n.\r\n",
		"EHLO x\r\nMAIL FROM:<a@b> SIZE=99999999999\r\nBDAT 5 LAST\r\nhello",
		"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<bank@example.org>\r\nBDAT 7 LAST\r\nab\ncd\r\n",
		"STARTTLS\r\nAUTH PLAIN AGFAYg==\r\nVRFY root\r\nEXPN all\r\nNOOP\r\nRSET\r\n",
	} {
		f.Add(seed)
	}
	cfg := testConfig(f, "127.0.0.1:9") // nothing listens: deliveries wait in the spool
	cfg.Workers = 1
	cfg.RetryMin = time.Hour
	cfg.RetryMax = time.Hour
	r, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	ln := &pipeListener{ch: make(chan net.Conn), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx, ln) }()
	f.Cleanup(func() {
		cancel()
		<-done
		r.Close()
	})
	checked := map[string]bool{}
	f.Fuzz(func(t *testing.T, input string) {
		client, server := net.Pipe()
		ln.ch <- server
		go func() {
			client.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
			io.WriteString(client, input+"\r\n.\r\nQUIT\r\n")
		}()
		client.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		io.Copy(io.Discard, client)
		client.Close()
		ids, _ := r.spool.List()
		for _, id := range ids {
			if checked[id] {
				continue
			}
			checked[id] = true
			env, fl, err := r.spool.Open(id)
			if err != nil {
				t.Fatalf("spool file %s unreadable: %v", id, err)
			}
			body, _ := io.ReadAll(fl)
			fl.Close()
			for _, g := range env.Groups {
				if !strings.HasSuffix(g.Alias, "@example.org") {
					t.Errorf("accepted mail for %q", g.Alias)
				}
			}
			if bytes.ContainsAny(bytes.ReplaceAll(body, []byte("\r\n"), nil), "\r\n") {
				t.Errorf("spooled a message with a bare line ending: %q", body)
			}
		}
	})
}

// FuzzStrictReader: whatever the input, the reader passes exactly a prefix
// of it, and fails exactly when there is a line ending other than CRLF.
func FuzzStrictReader(f *testing.F) {
	for _, s := range []string{"a\r\nb\r\n", "a\nb", "a\rb", "a\r\r\n", "Received: x\r\nreceived: y\r\n\r\nReceived: z\r\n"} {
		f.Add([]byte(s), 3)
	}
	f.Fuzz(func(t *testing.T, data []byte, chunk int) {
		if chunk <= 0 || chunk > 64 {
			chunk = 7
		}
		sr := &strictReader{r: &chunkReader{data: data, n: chunk}}
		got, err := io.ReadAll(sr)
		if !bytes.HasPrefix(data, got) {
			t.Fatalf("output is not a prefix of the input")
		}
		clean := !bytes.ContainsAny(bytes.ReplaceAll(data, []byte("\r\n"), nil), "\r\n")
		// a final lone CR is only known to be bare at the next byte
		if clean != (err == nil) && !(bytes.HasSuffix(data, []byte("\r")) && err == nil) {
			t.Fatalf("clean=%v err=%v for %q", clean, err, data)
		}
	})
}

type chunkReader struct {
	data []byte
	n    int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.n)], c.data)
	c.data = c.data[n:]
	return n, nil
}

// FuzzCopyMessage: dropping X-Catchall-Alias fields never touches the body
// and leaves no such field in the header.
func FuzzCopyMessage(f *testing.F) {
	f.Add([]byte("X-Catchall-Alias: a\r\n b\r\nSubject: s\r\n\r\nX-Catchall-Alias: body\r\n"))
	f.Add([]byte("Subject: s\r\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		var out bytes.Buffer
		if err := copyMessage(&out, bytes.NewReader(msg), true); err != nil {
			t.Fatal(err)
		}
		// msg[i+2:] is the empty line and the body; the CRLF before it ends
		// the last header field, which may be one of those dropped.
		if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 && !bytes.HasSuffix(out.Bytes(), msg[i+2:]) {
			t.Fatalf("body changed: %q → %q", msg, out.Bytes())
		}
		if i := bytes.Index(out.Bytes(), []byte("\r\n\r\n")); i >= 0 {
			for _, l := range bytes.Split(out.Bytes()[:i], []byte("\r\n")) {
				if len(l) >= 17 && strings.EqualFold(string(l[:17]), "x-catchall-alias:") {
					t.Fatalf("an X-Catchall-Alias field is left in the header: %q", out.Bytes())
				}
			}
		}
	})
}
