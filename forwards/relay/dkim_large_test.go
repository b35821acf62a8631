package relay

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/catchall/catchall/forwards/dkimkey"
)

// bigSpool writes a spool-like file: a line, then a message of about size
// bytes with From: me@example.org, without holding it in memory. It
// returns the file, positioned, and the offset of the message.
func bigSpool(t testing.TB, size int) (*os.File, int64) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "big"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	w := bufio.NewWriter(f)
	w.WriteString("CATCHALL-SPOOL 1 {}\n")
	start := int64(w.Buffered())
	w.WriteString("From: Me <me@example.org>\r\nTo: you@far.test\r\nSubject: big\r\nContent-Type: text/plain\r\n\r\n")
	line := strings.Repeat("0123456789abcdef", 4) + "  \r\n" // trailing space: relaxed canonicalization at work
	for n := 0; n < size; n += len(line) {
		w.WriteString(line)
		if n%(1<<20) < len(line) {
			w.WriteString("\r\n\r\n") // runs of empty lines, which the relaxed canonicalizer holds
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return f, start
}

// signDirect signs the message of f from start, with prefix, as the
// transaction does.
func signDirect(r *Relay, f *os.File, start int64, prefix string) (string, func(io.Writer) error, error) {
	outgoing := func(w io.Writer) error {
		if _, err := f.Seek(start, io.SeekStart); err != nil {
			return err
		}
		if _, err := io.WriteString(w, prefix); err != nil {
			return err
		}
		return copyMessage(w, f, true)
	}
	sig, err := r.sign(outgoing)
	return sig, outgoing, err
}

// TestDKIMSignLargeStreams signs a 20 MB message and watches the heap: the
// message is read from the file, never held. (Not parallel: the heap is the
// whole process's.)
func TestDKIMSignLargeStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("20 MB")
	}
	key := testKeys()[dkimkey.Ed25519]
	cfg := testConfig(t, "127.0.0.1:1")
	cfg.DKIM = &DKIM{Key: key, Selector: "big"}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	const size = 20 << 20
	f, start := bigSpool(t, size)

	var sig string
	var outgoing func(io.Writer) error
	grew := heapGrowth(func() {
		sig, outgoing, err = signDirect(r, f, start, "Received: by relay.test; Mon, 2 Jun 2025 10:00:00 +0000\r\n")
	})
	if err != nil || sig == "" {
		t.Fatalf("sign: %q, %v", sig, err)
	}
	t.Logf("heap in use grew by %.1f MB at most", float64(grew)/(1<<20))
	if grew > 8<<20 {
		t.Errorf("the heap grew by %d MB signing a %d MB message: it is held in memory", grew>>20, size>>20)
	}
	// The signature holds over the bytes sent, streamed once more.
	pr, pw := io.Pipe()
	go func() {
		io.WriteString(pw, sig)
		pw.CloseWithError(outgoing(pw))
	}()
	if vs := verifyDKIM(t, pr, lookupFor(t, key, "big", "example.org")); len(vs) != 1 || vs[0].Err != nil {
		t.Errorf("verification: %+v", vs[0])
	}
}

// BenchmarkDKIMSign signs a 4 KB message (make bench-submit).
func BenchmarkDKIMSign(b *testing.B) {
	for _, typ := range []dkimkey.Type{dkimkey.Ed25519, dkimkey.RSA} {
		b.Run(string(typ), func(b *testing.B) {
			cfg := testConfig(b, "127.0.0.1:1")
			cfg.DKIM = &DKIM{Key: testKeys()[typ], Selector: "bench"}
			r, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			f, start := bigSpool(b, 4<<10)
			prefix := "Received: by relay.test; Mon, 2 Jun 2025 10:00:00 +0000\r\n"
			b.SetBytes(4 << 10)
			b.ReportAllocs()
			for b.Loop() {
				if sig, _, err := signDirect(r, f, start, prefix); err != nil || sig == "" {
					b.Fatalf("sign: %q, %v", sig, err)
				}
			}
		})
	}
}
