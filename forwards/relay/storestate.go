package relay

import (
	"errors"
	"fmt"
	"slices"
	"strings"
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

// The kinds of pendingWrite.
const (
	pendRegister = "register" // Register: Alias
	pendSender   = "sender"   // AddSender: Address, User, At
	pendBurner   = "burner"   // AddBurner: Address, Service, Note, At
)

// pendingWrite is a write to the store: done at once, or, when the store
// could not take it, kept (in memory and in the relay's snapshot file)
// for the next Flush. Every kind is an upsert, so writing one twice (a
// relay killed after the write and before the snapshot said so) changes
// nothing.
type pendingWrite struct {
	Kind    string    `json:"kind"`
	Alias   *Alias    `json:"alias,omitempty"`
	Address string    `json:"address,omitempty"`
	User    string    `json:"user,omitempty"`
	Service string    `json:"service,omitempty"`
	Note    string    `json:"note,omitempty"`
	At      time.Time `json:"at,omitzero"`
}

// what says what w writes, for errors.
func (w pendingWrite) what() string {
	switch w.Kind {
	case pendRegister:
		return "registering " + w.Alias.Address
	case pendSender:
		return "recording the sender " + w.Address
	case pendBurner:
		return "recording the burner " + w.Address
	}
	return "an unknown write " + w.Kind
}

// apply makes w in tx.
func (w pendingWrite) apply(tx *storeTx) error {
	switch w.Kind {
	case pendRegister:
		a := w.Alias
		if _, err := tx.Exec(`INSERT INTO aliases (alias, tag, action, forward_to, source, created) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(alias) DO NOTHING`,
			a.Address, string(a.Tag), string(a.Action), strings.Join(a.Targets, " "), a.Source, a.Created.Unix()); err != nil {
			return err
		}
		if a.Source == SourceBurner {
			if _, err := tx.Exec(`INSERT INTO burners (alias, service, created) VALUES (?, ?, ?) ON CONFLICT(alias) DO NOTHING`,
				a.Address, ServiceOf(a.Address), a.Created.Unix()); err != nil {
				return err
			}
		}
		return nil
	case pendSender:
		_, err := tx.Exec(`INSERT INTO senders (alias, "user", created) VALUES (?, ?, ?) ON CONFLICT(alias) DO NOTHING`,
			w.Address, w.User, w.At.Unix())
		return err
	case pendBurner:
		if _, err := tx.Exec(`INSERT INTO burners (alias, service, note, created) VALUES (?, ?, ?, ?)
			ON CONFLICT(alias) DO UPDATE SET note = CASE WHEN excluded.note != '' THEN excluded.note ELSE burners.note END,
			created = CASE WHEN excluded.created < burners.created THEN excluded.created ELSE burners.created END`,
			w.Address, w.Service, w.Note, w.At.Unix()); err != nil {
			return err
		}
		return nil
	}
	return fmt.Errorf("unknown write %q", w.Kind)
}

// changes reports whether w changes what relays hold in memory (aliases,
// burners): the generation is counted and the other relays told.
func (w pendingWrite) changes() bool { return w.Kind != pendSender }

// key identifies what w writes: a write queued with the key of one queued
// already changes nothing more (a sender's every message during an outage).
func (w pendingWrite) key() string {
	if w.Kind == pendRegister {
		return w.Kind + " " + w.Alias.Address
	}
	if w.Kind == pendBurner {
		return w.Kind + " " + w.Address + " " + w.Note
	}
	return w.Kind + " " + w.Address
}

// applyAll makes ws in tx, counting one change for all of them.
func applyAll(tx *storeTx, ws []pendingWrite) error {
	changed := false
	for _, w := range ws {
		if err := w.apply(tx); err != nil {
			return fmt.Errorf("%s: %w", w.what(), err)
		}
		changed = changed || w.changes()
	}
	if changed {
		return tx.changed()
	}
	return nil
}

// QueueWrites makes writes that fail (the store unreachable) wait in
// memory for the next Flush instead of failing: the relay serves on. Off,
// as for the command-line tools, they fail.
func (s *Store) QueueWrites(on bool) { s.queueWrites = on }

// write makes w in a transaction; when that fails and writes are
// queued, w waits for Flush (a registration is served from memory
// meanwhile), the snapshot file (PersistTo) is written, and write returns
// nil. Writes queued before go first, so the store sees them in order.
func (s *Store) write(w pendingWrite) error {
	s.pendMu.Lock()
	waiting := len(s.pending) > 0
	s.pendMu.Unlock()
	var err error
	if !waiting || !s.queueWrites {
		err = s.transact(func(tx *storeTx) error { return applyAll(tx, []pendingWrite{w}) })
		s.reached(err)
		if err == nil {
			return nil
		}
	}
	if !s.queueWrites {
		return fmt.Errorf("%s: %w", w.what(), err)
	}
	s.pendMu.Lock()
	dup := slices.ContainsFunc(s.pending, func(p pendingWrite) bool { return p.key() == w.key() })
	if !dup {
		s.pending = append(s.pending, w)
	}
	s.pendMu.Unlock()
	if !dup {
		s.persist(false)
	}
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
// failure they all stay queued. Writes queued meanwhile wait for the next
// replay: the queue is not held during the transaction.
func (s *Store) replay() error {
	s.replayMu.Lock()
	defer s.replayMu.Unlock()
	s.pendMu.Lock()
	batch := slices.Clone(s.pending)
	s.pendMu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	err := s.transact(func(tx *storeTx) error { return applyAll(tx, batch) })
	s.reached(err)
	if err != nil {
		return fmt.Errorf("writing %d queued store writes: %w", len(batch), err)
	}
	s.pendMu.Lock()
	s.pending = s.pending[len(batch):]
	s.pendMu.Unlock()
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
	if errors.Is(err, errPreparing) {
		return // another statement is reaching it: that one says
	}
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
