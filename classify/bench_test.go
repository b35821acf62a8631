package classify

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/catchall/catchall/internal/corpus"
)

var benchDirOnce sync.Once
var benchDir string

// benchMaildir returns CATCHALL_BENCH_MAILDIR, or a generated Maildir of
// 5,000 messages.
func benchMaildir(b *testing.B) string {
	if d := os.Getenv("CATCHALL_BENCH_MAILDIR"); d != "" {
		return d
	}
	benchDirOnce.Do(func() {
		dir, err := os.MkdirTemp("", "classify-bench")
		if err != nil {
			b.Fatal(err)
		}
		benchDir = filepath.Join(dir, "maildir")
		c := corpus.Generate(&corpus.Options{Seed: 9, Messages: 5000, HugeMessages: -1})
		if err := c.WriteMaildir(benchDir); err != nil {
			b.Fatal(err)
		}
	})
	return benchDir
}

// BenchmarkBuild reads a whole Maildir and builds the inventory (warm cache).
func BenchmarkBuild(b *testing.B) {
	dir := benchMaildir(b)
	src := &MaildirSource{Dir: dir}
	inv, err := Build(context.Background(), src, nil) // warm the cache
	if err != nil {
		b.Fatal(err)
	}
	n := inv.Messages
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Build(context.Background(), src, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkReadHeaders is the floor: reading the same header bytes with the
// same parallel reader, parsing nothing.
func BenchmarkReadHeaders(b *testing.B) {
	src := &MaildirSource{Dir: benchMaildir(b)}
	var n int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		st, err := src.Walk(context.Background(), 1, func(*Message) {})
		if err != nil {
			b.Fatal(err)
		}
		n = st.Messages
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "msgs/s")
}
