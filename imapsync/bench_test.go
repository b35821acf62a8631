package imapsync

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/catchall/catchall/archive"
	"github.com/catchall/catchall/internal/corpus"
	"github.com/catchall/catchall/internal/imaptest"
	"github.com/catchall/catchall/serverurl"
)

// BenchmarkFetch fetches a generated catch-all mailbox of 2,000 messages
// from the in-process memory server into a fresh archive, per iteration.
func BenchmarkFetch(b *testing.B) {
	c := corpus.Generate(&corpus.Options{Seed: 3, Messages: 2000, HugeSize: 4 << 20})
	srv, err := imaptest.Start(nil)
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	if err := srv.Seed(c); err != nil {
		b.Fatal(err)
	}
	var size int64
	for _, m := range c.Messages {
		size += m.Size
	}
	u, _ := serverurl.Parse(srv.URL(), "imap")
	s := &Server{URL: u, Password: srv.Password, IdleTimeout: 10 * time.Second}
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		arc, err := archive.Open(filepath.Join(b.TempDir(), "a"))
		if err != nil {
			b.Fatal(err)
		}
		rep, err := Fetch(context.Background(), s, arc, nil)
		if err != nil || len(rep.Failures) > 0 || rep.Messages != len(c.Messages) {
			b.Fatalf("fetch: %v, %+v", err, rep)
		}
		arc.Close()
	}
	b.ReportMetric(float64(len(c.Messages)*b.N)/b.Elapsed().Seconds(), "msgs/s")
}
