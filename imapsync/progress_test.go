package imapsync

import (
	"sync"
	"testing"
)

// recordProgress checks the order of Progress calls: every AddTotal comes
// before the one ListingDone, and Add never passes the total.
type recordProgress struct {
	t *testing.T

	mu          sync.Mutex
	total, done int
	listingDone int
}

func (p *recordProgress) AddTotal(messages int, _ int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.listingDone > 0 {
		p.t.Errorf("AddTotal(%d) after ListingDone", messages)
	}
	p.total += messages
}

func (p *recordProgress) Add(messages int, _ int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += messages
}

func (p *recordProgress) ListingDone() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.listingDone++
}

func (p *recordProgress) check(wantTotal int) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.listingDone != 1 || p.total != wantTotal || p.done != wantTotal {
		p.t.Errorf("ListingDone %d times, total %d, done %d; want once, %d, %d", p.listingDone, p.total, p.done, wantTotal, wantTotal)
	}
}

// TestProgressListingDone: fetch and push say when their totals are
// complete, once, after the last AddTotal (the bar shows "listing…" until
// then), also when there is nothing to do.
func TestProgressListingDone(t *testing.T) {
	msgs := oddMessages()
	fx := newFixture(t, msgs)
	p := &recordProgress{t: t}
	fx.fetch(&FetchOptions{Progress: p, Connections: 2})
	p.check(len(msgs))

	again := &recordProgress{t: t}
	fx.fetch(&FetchOptions{Progress: again})
	again.check(0)

	d := startDest(t, destOptions{})
	pp := &recordProgress{t: t}
	doPush(t, d, fx.arc, &PushOptions{Progress: pp})
	pp.check(len(msgs))
}
