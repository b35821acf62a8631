package relay

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// listenStore keeps a connection to the PostgreSQL store that LISTENs for
// changes any instance makes (storeTx.changed) and wakes the poller for
// each, so that an import, an edit or a block on one instance is served by
// every other within a second. When the connection breaks it is made
// again (1 s, doubling, at most 30 s apart), and the aliases are read
// again then, since changes made meanwhile were not announced to it.
func (r *Relay) listenStore(ctx context.Context) {
	wait := time.Second
	failing := false
	for ctx.Err() == nil {
		err := r.listenOnce(ctx, func() {
			wait = time.Second
			if failing {
				failing = false
				r.log.Info("store notifications: listening again", "store", r.store.Name())
			}
		})
		if ctx.Err() != nil {
			return
		}
		if !failing {
			failing = true
			r.log.Warn("store notifications: connection lost; changes by other instances are seen by polling until it is back",
				"store", r.store.Name(), "err", oneLine(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// listenOnce connects, LISTENs, calls up, and wakes the poller for every
// notification until the connection fails.
func (r *Relay) listenOnce(ctx context.Context, up func()) error {
	cctx, cancel := context.WithTimeout(ctx, r.store.db.timeout)
	conn, err := pgx.ConnectConfig(cctx, r.store.db.pgConfig.Copy())
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return err
	}
	up()
	r.wake() // changes made while not listening
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		r.wake()
	}
}

// wake asks the poller to reload from the store now.
func (r *Relay) wake() {
	select {
	case r.notified <- struct{}{}:
	default: // a reload is already asked for
	}
}
