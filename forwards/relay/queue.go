package relay

import (
	"container/heap"
	"context"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
)

// queue orders the spooled messages by their next attempt.
type queue struct {
	mu    sync.Mutex
	items map[string]*qitem
	h     qheap
	wake  chan struct{}
	clock clockwork.Clock
}

type qitem struct {
	id   string
	next time.Time
}

func newQueue(clock clockwork.Clock) *queue {
	return &queue{items: map[string]*qitem{}, wake: make(chan struct{}, 1), clock: clock}
}

func (q *queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// add queues id for an attempt at next (zero: now). An id already queued
// keeps its place; one being delivered is left alone.
func (q *queue) add(id string, next time.Time) {
	q.mu.Lock()
	if _, ok := q.items[id]; !ok {
		it := &qitem{id: id, next: next}
		q.items[id] = it
		heap.Push(&q.h, it)
	}
	q.mu.Unlock()
	q.signal()
}

// take waits for a message that is due and takes it off the heap until done.
func (q *queue) take(ctx context.Context) (string, bool) {
	for {
		q.mu.Lock()
		var wait time.Duration = time.Hour
		if len(q.h) > 0 {
			it := q.h[0]
			if d := q.clock.Until(it.next); d <= 0 {
				heap.Pop(&q.h)
				more := len(q.h) > 0 && !q.h[0].next.After(q.clock.Now())
				q.mu.Unlock()
				if more {
					q.signal() // wake another worker for the next one
				}
				return it.id, true
			} else {
				wait = d
			}
		}
		q.mu.Unlock()
		t := q.clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return "", false
		case <-q.wake:
		case <-t.Chan():
		}
		t.Stop()
	}
}

// done ends an attempt: finished messages leave the queue, the others come
// back at next.
func (q *queue) done(id string, next time.Time, finished bool) {
	q.mu.Lock()
	it := q.items[id]
	if it == nil {
		q.mu.Unlock()
		return
	}
	if finished {
		delete(q.items, id)
	} else {
		it.next = next
		heap.Push(&q.h, it)
	}
	q.mu.Unlock()
	q.signal()
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

type qheap []*qitem

func (h qheap) Len() int           { return len(h) }
func (h qheap) Less(i, j int) bool { return h[i].next.Before(h[j].next) }
func (h qheap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *qheap) Push(x any)        { *h = append(*h, x.(*qitem)) }
func (h *qheap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return it
}
