package relay

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/catchall/catchall/classify"
	"github.com/catchall/catchall/classify/breach"
)

// DefaultBreachesURL is HIBP's public breach list, the one catchall breach
// update downloads (no key needed).
const DefaultBreachesURL = breach.DefaultURL + "/breaches"

// What the breach watch did about a breach.
const (
	BreachBlocked = "blocked" // a disposable alias, switched to action block
	BreachFlagged = "flagged" // a personal or business one (or a weak breach): breach columns only
)

// BreachEvent is one breach the breach watch found for an alias, recorded
// once in the store.
type BreachEvent struct {
	Alias      string
	Breach     string // its name in the list
	BreachDate string // as the list gives it
	Done       string // BreachBlocked or BreachFlagged
	At         time.Time
}

// BreachEvents returns the events recorded after since, oldest first.
func (s *Store) BreachEvents(since time.Time) (out []BreachEvent, err error) {
	rows, err := s.db.Query(`SELECT alias, breach, breach_date, done, at FROM breach_events WHERE at > ? ORDER BY at, alias, breach`, since.Unix())
	if err == nil {
		defer rows.Close()
		for err == nil && rows.Next() {
			var e BreachEvent
			var at int64
			err = rows.Scan(&e.Alias, &e.Breach, &e.BreachDate, &e.Done, &at)
			e.At = time.Unix(at, 0)
			out = append(out, e)
		}
		if err == nil {
			err = rows.Err()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("reading breach events: %w", err)
	}
	return out, nil
}

// hasBreachEvent reports whether the breach of alias was recorded.
func (s *Store) hasBreachEvent(alias, name string) (bool, error) {
	var n int
	err := s.db.QueryRow(`SELECT count(*) FROM breach_events WHERE alias = ? AND breach = ?`, alias, name).Scan(&n)
	return n > 0, err
}

// addBreachEvents records events; one already recorded stays as it was.
func (s *Store) addBreachEvents(evs []BreachEvent) error {
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, e := range evs {
		if _, err := tx.Exec(`INSERT INTO breach_events (alias, breach, breach_date, done, at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			e.Alias, e.Breach, e.BreachDate, e.Done, e.At.Unix()); err != nil {
			return fmt.Errorf("recording breach events: %w", err)
		}
	}
	return tx.Commit()
}

// breachStatus is the breach watch's state for /healthz.
type breachStatus struct {
	mu      sync.Mutex
	next    time.Time // the next poll; zero: at once
	lastOK  time.Time
	err     string    // the last poll's error; "" after a good one
	failing time.Time // the first failure of the current streak
}

// breachTick polls the breach list when it is due (the poller calls it).
func (r *Relay) breachTick(ctx context.Context) {
	if r.cfg.BreachWatch <= 0 {
		return
	}
	now := r.cfg.Clock.Now()
	st := &r.breach
	st.mu.Lock()
	due := !now.Before(st.next)
	if due {
		st.next = now.Add(r.cfg.BreachWatch)
	}
	st.mu.Unlock()
	if !due {
		return
	}
	evs, err := r.watchBreaches(ctx)
	st.mu.Lock()
	defer st.mu.Unlock()
	if err != nil {
		if st.err == "" {
			st.failing = now
			r.log.Warn("breach watch: the breach list cannot be read; trying again next period", "list", r.breachesSource(), "err", err)
		}
		st.err = oneLine(err)
		return
	}
	if st.err != "" {
		r.log.Info("breach watch: the breach list can be read again", "list", r.breachesSource())
	}
	st.lastOK, st.err, st.failing = now, "", time.Time{}
	for _, e := range evs {
		r.log.Warn("breach watch: alias in a breach", "alias", e.Alias, "breach", e.Breach, "date", e.BreachDate, "done", e.Done)
	}
}

func (r *Relay) breachesSource() string {
	if r.cfg.Breaches == "" {
		return DefaultBreachesURL
	}
	return r.cfg.Breaches
}

// loadBreaches reads the breach list from its URL or file.
func (r *Relay) loadBreaches(ctx context.Context) ([]breach.Breach, error) {
	src := r.breachesSource()
	if base, ok := strings.CutSuffix(src, "/breaches"); ok && (strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://")) {
		c := &breach.Client{BaseURL: base, UserAgent: "catchall-relay", Logger: r.log, Clock: r.cfg.Clock, MaxRetries: 1}
		list, _, err := c.Breaches(ctx)
		return list, err
	}
	return breach.LoadList(src)
}

// watchBreaches reads the list and judges every alias of the plan with it
// (breach.Decide, the rules of catchall breach). A breach not seen before
// for an alias (not in the store's events, nor in the row's breaches
// column) changes the row as catchall breach would — its breach columns
// and, for a disposable alias, action block — unless the row is the
// user's (classify.Row.UserOwned), which is left alone. The changes are
// written to the plan (changePlan) and the events recorded once.
func (r *Relay) watchBreaches(ctx context.Context) ([]BreachEvent, error) {
	if r.cfg.Plan == "" {
		return nil, nil
	}
	list, err := r.loadBreaches(ctx)
	if err != nil {
		return nil, err
	}
	now := r.cfg.Clock.Now()
	var evs []BreachEvent
	err = r.changePlan(func(p *classify.Plan, _ map[string]int) (map[int]bool, error) {
		evs = nil
		edited := map[int]bool{}
		judged := &classify.Plan{Columns: slices.Clone(p.Columns)}
		for _, row := range p.Rows {
			judged.Rows = append(judged.Rows, maps.Clone(row))
		}
		results := breach.Decide(judged, &breach.Input{List: list})
		for i, res := range results {
			row, was := judged.Rows[i], p.Rows[i]
			if was.UserOwned() || len(res.Hits) == 0 {
				continue
			}
			known := map[string]bool{}
			for _, h := range strings.Split(was["breaches"], "; ") {
				name, _, _ := strings.Cut(h, " (")
				known[name] = true
			}
			var fresh []breach.Hit
			for _, h := range res.Hits {
				seen, err := r.store.hasBreachEvent(res.Alias, h.Breach.Name)
				if err != nil {
					return nil, err
				}
				if !known[h.Breach.Name] && !seen {
					fresh = append(fresh, h)
				}
			}
			if len(fresh) == 0 {
				continue
			}
			done := BreachFlagged
			if row["action"] == string(classify.ActionBlock) && row["breach_action"] == string(classify.ActionBlock) {
				done = BreachBlocked
			}
			for _, c := range []string{"breaches", "breach_verdict", "breach_notes", "breach_action", "action", "auto_action"} {
				if v, ok := row[c]; ok && setCell(p, was, c, v) {
					edited[i] = true
				}
			}
			for _, h := range fresh {
				evs = append(evs, BreachEvent{Alias: res.Alias, Breach: h.Breach.Name, BreachDate: h.Breach.BreachDate, Done: done, At: now})
			}
		}
		return edited, nil
	})
	if err != nil {
		if errors.Is(err, ErrInvalidEdit) {
			err = fmt.Errorf("the plan with the breaches would not be valid, left as it was: %w", err)
		}
		return nil, err
	}
	return evs, r.store.addBreachEvents(evs)
}
