package relay

import (
	"fmt"
	"sync"
	"time"
)

// What the relay does while its store is unreachable (a PostgreSQL
// server down, or a network between): RCPT is answered from the aliases
// in memory, as last loaded, for up to Config.StoreStale, then with 451
// 4.3.0; a signed burner needs no store at all. Writes the store cannot
// take — registrations of new burners and addresses sent from, burners
// made on the dashboard, statistics — wait in memory in their order and
// are written by the first Flush that reaches the store again.

// storeState is what the store's last statements told about reaching it.
type storeState struct {
	mu      sync.Mutex
	synced  time.Time // the aliases in memory were last known current
	failing time.Time // the first failure of the current streak; zero while reachable
	err     string    // the last failure
}

// pendingWrite is a write the store could not take yet.
type pendingWrite struct {
	what  string
	alias *Alias // a registration: served from memory until written
	apply func(tx *storeTx) error
}

// QueueWrites makes writes that fail (the store unreachable) wait in
// memory for the next Flush instead of failing: the relay serves on. Off,
// as for the command-line tools, they fail.
func (s *Store) QueueWrites(on bool) { s.queueWrites = on }

// write runs apply in a transaction; when that fails and writes are
// queued, it waits for Flush (alias, if any, is served from memory
// meanwhile) and write returns nil. Writes queued before go first, so the
// store sees them in order.
func (s *Store) write(what string, alias *Alias, apply func(tx *storeTx) error) error {
	s.pendMu.Lock()
	waiting := len(s.pending) > 0
	s.pendMu.Unlock()
	var err error
	if !waiting || !s.queueWrites {
		err = s.transact(apply)
		s.reached(err)
		if err == nil {
			return nil
		}
	}
	if !s.queueWrites {
		return fmt.Errorf("%s: %w", what, err)
	}
	s.pendMu.Lock()
	s.pending = append(s.pending, pendingWrite{what: what, alias: alias, apply: apply})
	s.pendMu.Unlock()
	return nil
}

func (s *Store) transact(apply func(tx *storeTx) error) error {
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := apply(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// replay writes the queued writes, in order, in one transaction; on a
// failure they all stay queued.
func (s *Store) replay() error {
	s.pendMu.Lock()
	defer s.pendMu.Unlock()
	if len(s.pending) == 0 {
		return nil
	}
	err := s.transact(func(tx *storeTx) error {
		for _, w := range s.pending {
			if err := w.apply(tx); err != nil {
				return fmt.Errorf("%s: %w", w.what, err)
			}
		}
		return nil
	})
	s.reached(err)
	if err != nil {
		return fmt.Errorf("writing %d queued store writes: %w", len(s.pending), err)
	}
	s.pending = nil
	return nil
}

// Pending returns the number of writes waiting for the store.
func (s *Store) Pending() int {
	s.pendMu.Lock()
	defer s.pendMu.Unlock()
	return len(s.pending)
}

// reached records whether a statement reached the store.
func (s *Store) reached(err error) {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	if err == nil {
		s.state.failing, s.state.err = time.Time{}, ""
		return
	}
	if s.state.failing.IsZero() {
		s.state.failing = s.clock.Now()
	}
	s.state.err = oneLine(err)
}

// markSynced records that the aliases in memory are the store's.
func (s *Store) markSynced() {
	s.state.mu.Lock()
	s.state.synced = s.clock.Now()
	s.state.mu.Unlock()
}

// StoreState is the store's state for /healthz.
type StoreState struct {
	Engine    string    `json:"engine"` // sqlite or postgres
	Reachable bool      `json:"reachable"`
	Synced    time.Time `json:"synced"` // the aliases in memory were last known current
	// FailingSince is the first failure of the current streak (omitted
	// while reachable); Error the last one.
	FailingSince *time.Time `json:"failing_since,omitempty"`
	Error        string     `json:"error,omitempty"`
	Pending      int        `json:"pending_writes"` // writes waiting for the store
	Queries      int64      `json:"queries"`        // statements sent since start
}

// State returns the store's state.
func (s *Store) State() StoreState {
	s.state.mu.Lock()
	st := StoreState{Engine: s.db.engine, Reachable: s.state.failing.IsZero(), Synced: s.state.synced.UTC(), Error: s.state.err}
	if !s.state.failing.IsZero() {
		f := s.state.failing.UTC()
		st.FailingSince = &f
	}
	s.state.mu.Unlock()
	st.Pending = s.Pending()
	st.Queries = s.db.queries.Load()
	return st
}

// Staleness is how long ago the aliases in memory were last known to be
// the store's.
func (s *Store) Staleness() time.Duration {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	return s.clock.Since(s.state.synced)
}

// Queries returns the statements sent to the store since it was opened.
func (s *Store) Queries() int64 { return s.db.queries.Load() }

// Engine returns the store's engine: "sqlite" or "postgres".
func (s *Store) Engine() string { return s.db.engine }

// Name returns the store for messages: its file, or its URL without a
// password.
func (s *Store) Name() string { return s.db.name }
