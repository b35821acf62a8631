package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Bar is an imapsync.Progress shown as one terminal progress bar. While the
// folders are still being listed the total grows, so it shows "listing…"
// with the messages and bytes done and the rate, without a percentage or an
// ETA; once told the listing is done (ListingDone) it is a bar of bytes
// with its total, rate and ETA, and messages done out of the total.
type Bar struct {
	mu          sync.Mutex
	w           io.Writer
	throttle    time.Duration
	bar         *progressbar.ProgressBar
	listing     bool
	msgs, total int
	bytes       int64
	bytesTotal  int64
	verb        string
}

// NewBar returns a progress bar writing to w (a terminal), labelled verb
// ("fetching", "pushing"), in its listing state.
func NewBar(w io.Writer, verb string) *Bar {
	return newBar(w, verb, 200*time.Millisecond)
}

// newBar is NewBar redrawing at most every throttle.
func newBar(w io.Writer, verb string, throttle time.Duration) *Bar {
	b := &Bar{w: w, verb: verb, throttle: throttle, listing: true}
	b.bar = b.newProgressBar(-1)
	b.describe()
	return b
}

// newProgressBar returns the library's bar for max bytes; -1 is a spinner
// (length unknown: no percentage, no ETA).
func (b *Bar) newProgressBar(max int64) *progressbar.ProgressBar {
	return progressbar.NewOptions64(max,
		progressbar.OptionSetWriter(b.w),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(b.throttle),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(max >= 0),
		progressbar.OptionFullWidth(),
		progressbar.OptionClearOnFinish(),
	)
}

// AddTotal implements imapsync.Progress.
func (b *Bar) AddTotal(messages int, bytes int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.total += messages
	b.bytesTotal += bytes
	if !b.listing {
		b.bar.ChangeMax64(b.bytesTotal)
	}
	b.describe()
}

// Add implements imapsync.Progress.
func (b *Bar) Add(messages int, bytes int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bytes += bytes
	if messages != 0 {
		b.msgs += messages
		b.describe()
	}
	if bytes != 0 {
		b.bar.Add64(bytes)
	}
}

// ListingDone says every folder has been listed: the total is known from
// now on, and the bar shows it with a percentage and an ETA (part of
// imapsync.Progress).
func (b *Bar) ListingDone() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.listing {
		return
	}
	b.listing = false
	// Finish, not Exit: the spinner's own goroutine redraws it every 100 ms
	// until it is finished, over the new bar (Exit leaves it running).
	b.bar.Finish()
	b.bar.Clear()
	b.bar = b.newProgressBar(max(b.bytesTotal, 1))
	b.describe()
	b.bar.Add64(b.bytes)
}

func (b *Bar) describe() {
	if b.listing {
		b.bar.Describe(fmt.Sprintf("%s %d msgs, listing…", b.verb, b.msgs))
		return
	}
	b.bar.Describe(fmt.Sprintf("%s %d/%d msgs", b.verb, b.msgs, b.total))
}

// Finish removes the bar from the terminal.
func (b *Bar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bar.Finish()
	b.bar.Clear()
}
