package relay

import (
	"context"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

// TestQueueTimer: a worker waiting for messages due later is woken by its
// timer alone, when the clock reaches each one, and takes them in order.
// (The relay tests' settle signals the queue when it looks stuck; this
// test never does.)
func TestQueueTimer(t *testing.T) {
	clock := clockwork.NewFakeClock()
	q := newQueue(clock)
	q.add("later", clock.Now().Add(time.Minute))
	q.add("sooner", clock.Now().Add(30*time.Second))
	<-q.wake // the adds' signal: the worker must wake by its timer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := make(chan string)
	go func() {
		for {
			id, ok := q.take(ctx)
			if !ok {
				return
			}
			got <- id
		}
	}()
	for _, want := range []string{"sooner", "later"} {
		if err := clock.BlockUntilContext(ctx, 1); err != nil {
			t.Fatalf("the worker does not wait on the clock for %s: %v", want, err)
		}
		select {
		case id := <-got:
			t.Fatalf("%s taken before it was due", id)
		default:
		}
		clock.Advance(30 * time.Second)
		select {
		case id := <-got:
			if id != want {
				t.Errorf("took %s, want %s", id, want)
			}
		case <-ctx.Done():
			t.Fatalf("%s not taken once due", want)
		}
	}
}
