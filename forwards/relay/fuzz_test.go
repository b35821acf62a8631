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

// FuzzCopyMessage: whatever the message, copyMessage leaves out exactly
// the X-Catchall-Alias fields of its header with their continuation lines,
// as dropAliasRef does, whatever the read buffer's size; and no such field
// is left in the header it passes on.
func FuzzCopyMessage(f *testing.F) {
	for _, s := range []string{
		"X-Catchall-Alias: a\r\n b\r\nSubject: s\r\n\r\nX-Catchall-Alias: body\r\n",
		"Subject: s\r\n",
		"Subject: s\r\nX-Catchall-Alias : x\r\n\tmore\r\n\r\nbody\r\n",
		"x-catchall-alias\t:x\nSubject: s\nX-CATCHALL-ALIAS \t:y\n z\n\nx-catchall-alias: body\n",
		"X-Catchall-Aliases: x\r\nX-Catchall-Alias-Note: y\r\n z\r\n\r\n",
		"X-Catchall-Alias\r\n :x\r\nX-Catchall-Alias x: y\r\n\r\n",
		"X-Catchall-Alias                    : x\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		want := dropAliasRef(msg)
		for _, size := range []int{16, 17, 23, 32 << 10} { // a line longer than the buffer comes in pieces
			var out bytes.Buffer
			if err := copyDroppingAlias(&out, bytes.NewReader(msg), size); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Fatalf("buffer %d: %q\n got %q\nwant %q", size, msg, out.Bytes(), want)
			}
		}
		var out bytes.Buffer
		if err := copyMessage(&out, bytes.NewReader(msg), true); err != nil || !bytes.Equal(out.Bytes(), want) {
			t.Fatalf("copyMessage: %q, %v\nwant %q", out.Bytes(), err, want)
		}
		for _, l := range bytes.SplitAfter(out.Bytes(), []byte("\n")) {
			if string(l) == "\n" || string(l) == "\r\n" {
				break // the body
			}
			if name, _, ok := strings.Cut(string(l), ":"); ok && strings.EqualFold(strings.TrimRight(name, " \t"), "X-Catchall-Alias") {
				t.Fatalf("an X-Catchall-Alias field is left in the header: %q", out.Bytes())
			}
		}
	})
}

// dropAliasRef is the rule copyMessage follows, written the plain way to
// hold it against: the header is the lines before the first empty one; a
// field starts at a line that does not start with white space, and is an
// X-Catchall-Alias field when what comes before its first colon is that
// name in any case, with white space after it or not.
func dropAliasRef(msg []byte) []byte {
	var out []byte
	dropping := false
	lines := bytes.SplitAfter(msg, []byte("\n"))
	for i, l := range lines {
		if string(l) == "\n" || string(l) == "\r\n" {
			return append(out, bytes.Join(lines[i:], nil)...)
		}
		if len(l) > 0 && l[0] != ' ' && l[0] != '\t' {
			name, _, ok := strings.Cut(string(l), ":")
			dropping = ok && strings.EqualFold(strings.TrimRight(name, " \t"), "x-catchall-alias")
		}
		if !dropping {
			out = append(out, l...)
		}
	}
	return out
}
