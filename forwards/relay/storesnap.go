package relay

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"time"

	"github.com/catchall/catchall/internal/safeio"
)

// A relay on a shared store keeps a snapshot of it in its spool
// (SnapshotFile): the aliases and (for Config.Users = UsersInStore) the
// users as last loaded, and the writes and statistics the store could not
// take yet. With it a relay that is restarted — or killed — while the
// store is unreachable starts from the aliases it last knew (for
// Config.StoreStale from when it knew them), lets its users log in, and
// loses none of its queued writes; they are written when the store is
// back. The snapshot is rewritten, atomically, after every load of the
// aliases or users that changed them, every queued write, and when the
// relay stops.

// SnapshotFile is the snapshot's name in the spool.
const SnapshotFile = "store-snapshot.json"

const snapshotVersion = 1

type storeSnapshot struct {
	Version    int            `json:"version"`
	Store      string         `json:"store"` // the store's identity (storeDB.id): a snapshot of another store is not used
	Synced     time.Time      `json:"synced"`
	Generation int64          `json:"generation"`
	Aliases    []*Alias       `json:"aliases"`
	Burners    []string       `json:"burners"`
	Pending    []pendingWrite `json:"pending,omitempty"`
	// Users are the store's users (name → password hash) as last read,
	// for a relay with --users store; absent when it never read them.
	Users map[string]string `json:"users,omitempty"`
	// Stats are counts not yet in the store; only written when the relay
	// stops without having flushed them (they are counted once: taken
	// back into memory at the next start, and the snapshot rewritten
	// without them at once).
	Stats *snapshotStats `json:"stats,omitempty"`
}

type snapshotDay struct {
	Alias                               string
	Day, Forwarded, Refused, LastSeenAt int64
}

type snapshotStats struct {
	Aliases map[string][6]int64 `json:"aliases"` // forwarded, refused, deferred, failed, sent, last seen (Unix)
	Daily   []snapshotDay       `json:"daily"`
	Mail    map[string][2]int64 `json:"mail"` // a burner's first and last accepted mail (Unix)
}

// persist writes the snapshot file, with the unflushed statistics when
// withStats. A failure is logged, never fatal: the snapshot is a safety
// net.
func (s *Store) persist(withStats bool) bool {
	if s.snapPath == "" {
		return true
	}
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	snap := storeSnapshot{Version: snapshotVersion, Store: s.db.id, Generation: s.loadedGen.Load()}
	s.state.mu.Lock()
	snap.Synced = s.state.synced
	s.state.mu.Unlock()
	s.mu.RLock()
	for _, a := range s.aliases {
		snap.Aliases = append(snap.Aliases, a)
	}
	for b := range s.burners {
		snap.Burners = append(snap.Burners, b)
	}
	snap.Users = maps.Clone(s.users)
	s.mu.RUnlock()
	s.pendMu.Lock()
	snap.Pending = append(snap.Pending, s.pending...)
	s.pendMu.Unlock()
	if withStats {
		st := &snapshotStats{Aliases: map[string][6]int64{}, Mail: map[string][2]int64{}}
		s.statMu.Lock()
		for a, d := range s.stats {
			st.Aliases[a] = [6]int64{d.forwarded, d.refused, d.deferred, d.failed, d.sent, d.lastSeen.Unix()}
		}
		for k, d := range s.daily {
			st.Daily = append(st.Daily, snapshotDay{k.alias, k.day, d.forwarded, d.refused, d.lastSeen.Unix()})
		}
		for a, d := range s.mail {
			st.Mail[a] = [2]int64{d.first.Unix(), d.last.Unix()}
		}
		s.statMu.Unlock()
		if len(st.Aliases)+len(st.Daily)+len(st.Mail) > 0 {
			snap.Stats = st
		}
	}
	b, err := json.Marshal(snap)
	if err == nil {
		err = safeio.WriteFile(s.snapPath, b)
	}
	if err != nil && s.log != nil {
		s.log.Warn("the store snapshot was not written", "file", s.snapPath, "err", err)
	}
	return err == nil
}

// readSnapshot reads the snapshot file of the store identified by id; nil
// when there is none. One that cannot be read, or is another store's, is
// renamed aside (PATH.unused-TIME, logged) rather than overwritten: the
// writes it may hold are not thrown away unseen.
func readSnapshot(path, id string, log *slog.Logger) *storeSnapshot {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var snap storeSnapshot
	why := ""
	switch {
	case err != nil:
		why = err.Error()
	case json.Unmarshal(b, &snap) != nil:
		why = "not a store snapshot"
	case snap.Version != snapshotVersion:
		why = fmt.Sprintf("a snapshot of layout %d", snap.Version)
	case snap.Store != id:
		why = "the snapshot of another store (" + snap.Store + ")"
	default:
		return &snap
	}
	aside := path + ".unused-" + time.Now().UTC().Format("20060102T150405")
	if err := os.Rename(path, aside); err == nil {
		log.Warn("store snapshot not used, kept aside", "file", aside, "why", why, "queued_writes", len(snap.Pending))
	}
	return nil
}

// restore takes the snapshot's queued writes and statistics into memory
// and, when aliases, its aliases (the store could not be read).
func (s *Store) restore(snap *storeSnapshot, aliases bool) {
	if aliases {
		m, b := map[string]*Alias{}, map[string]bool{}
		for _, a := range snap.Aliases {
			m[a.Address] = a
		}
		for _, a := range snap.Burners {
			b[a] = true
		}
		servePending(snap.Pending, m, b)
		s.mu.Lock()
		s.aliases, s.burners, s.users = m, b, snap.Users
		s.mu.Unlock()
		s.loadedGen.Store(snap.Generation)
		s.state.mu.Lock()
		s.state.synced = snap.Synced
		s.state.mu.Unlock()
	}
	s.pendMu.Lock()
	s.pending = append(snap.Pending, s.pending...)
	s.pendMu.Unlock()
	if st := snap.Stats; st != nil {
		stats, daily, mail := map[string]*statDelta{}, map[dayKey]*dayDelta{}, map[string]*mailDelta{}
		for a, v := range st.Aliases {
			stats[a] = &statDelta{forwarded: v[0], refused: v[1], deferred: v[2], failed: v[3], sent: v[4], lastSeen: time.Unix(v[5], 0)}
		}
		for _, v := range st.Daily {
			daily[dayKey{v.Alias, v.Day}] = &dayDelta{forwarded: v.Forwarded, refused: v.Refused, lastSeen: time.Unix(v.LastSeenAt, 0)}
		}
		for a, v := range st.Mail {
			mail[a] = &mailDelta{first: time.Unix(v[0], 0), last: time.Unix(v[1], 0)}
		}
		s.unflush(stats, mail, daily, false)
	}
}

// OpenStoreSnapshot opens the store of storeURL as OpenStoreWith does,
// keeping its snapshot in the file snapPath. When the store cannot be
// reached and the snapshot is of this store, the store is opened from the
// snapshot instead: its aliases, as of its time, its queued writes and
// statistics; State says the store is unreachable, and the first statement
// that reaches it makes or upgrades its tables first. Queued writes and
// statistics left in the snapshot by a relay that stopped during an outage
// are taken back in either case. log says what happens to the snapshot.
func OpenStoreSnapshot(storeURL, password, snapPath string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	st, err := OpenStoreWith(storeURL, password)
	if err == nil {
		st.snapPath, st.log = snapPath, log
		snap := readSnapshot(snapPath, st.db.id, log)
		if snap != nil && (len(snap.Pending) > 0 || snap.Stats != nil) {
			st.restore(snap, false)
		}
		// Written at once with the aliases just loaded: a relay killed
		// before the next change must find them after a restart.
		st.persistRestored(snap)
		return st, nil
	}
	d, derr := openStoreDB(storeURL, password)
	if derr != nil {
		return nil, err
	}
	snap := readSnapshot(snapPath, d.id, log)
	if snap == nil {
		d.sql.Close()
		return nil, err
	}
	d.needMigrate.Store(true)
	st = newStore(d)
	st.snapPath, st.log = snapPath, log
	st.restore(snap, true)
	st.reached(err)
	st.persistRestored(snap)
	return st, nil
}

// persistRestored rewrites the snapshot snap (nil: none) was read from,
// without the statistics restore took into memory. One that cannot be
// rewritten still holds them and would count them twice at the next
// start: they are dropped from memory then instead.
func (s *Store) persistRestored(snap *storeSnapshot) {
	if !s.persist(false) && snap != nil && snap.Stats != nil {
		s.statMu.Lock()
		s.stats, s.mail, s.daily = map[string]*statDelta{}, map[string]*mailDelta{}, map[dayKey]*dayDelta{}
		s.statMu.Unlock()
	}
}
