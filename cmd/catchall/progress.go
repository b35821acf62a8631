package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Bar is an imapsync.Progress shown as one terminal progress bar: bytes with rate and
// ETA, and messages done out of messages found so far.
type Bar struct {
	mu          sync.Mutex
	bar         *progressbar.ProgressBar
	msgs, total int
	bytesTotal  int64
	verb        string
}

// NewBar returns a progress bar writing to w (a terminal), labelled verb
// ("fetching", "verifying").
func NewBar(w io.Writer, verb string) *Bar {
	b := &Bar{verb: verb}
	b.bar = progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionFullWidth(),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetDescription(verb),
	)
	return b
}

// AddTotal implements imapsync.Progress.
func (b *Bar) AddTotal(messages int, bytes int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.total += messages
	b.bytesTotal += bytes
	b.bar.ChangeMax64(b.bytesTotal)
	b.describe()
}

// Add implements imapsync.Progress.
func (b *Bar) Add(messages int, bytes int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if messages != 0 {
		b.msgs += messages
		b.describe()
	}
	if bytes != 0 {
		b.bar.Add64(bytes)
	}
}

func (b *Bar) describe() {
	b.bar.Describe(fmt.Sprintf("%s %d/%d msgs", b.verb, b.msgs, b.total))
}

// Finish removes the bar from the terminal.
func (b *Bar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bar.Finish()
	b.bar.Clear()
}
