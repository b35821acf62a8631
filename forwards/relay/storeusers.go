package relay

import (
	"fmt"
	"maps"
	"time"
)

// The submission port's accounts can live in the store (Config.Users =
// UsersInStore) rather than a users file: every relay sharing a PostgreSQL
// store then has the same users, and catchall relay user add --store
// changes them for all of them at once.

// Users returns the users table.
func (s *Store) Users() (*Users, error) {
	rows, err := s.db.Query(`SELECT name, hash FROM users`)
	if err != nil {
		return nil, fmt.Errorf("reading users: %w", err)
	}
	defer rows.Close()
	u := &Users{hashes: map[string]string{}}
	for rows.Next() {
		var name, hash string
		if err := rows.Scan(&name, &hash); err != nil {
			return nil, fmt.Errorf("reading users: %w", err)
		}
		if CheckUserName(name) != nil {
			continue
		}
		if _, err := parsePHC(hash); err != nil {
			continue // never a login with a hash this version cannot check
		}
		u.hashes[name] = hash
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading users: %w", err)
	}
	s.mu.Lock()
	changed := s.users == nil || !maps.Equal(s.users, u.hashes)
	if changed {
		s.users = maps.Clone(u.hashes)
	}
	s.mu.Unlock()
	if changed {
		s.persist(false) // a relay restarted while the store is down checks logins against them
	}
	return u, nil
}

// snapshotUsers returns the users as Users last read them or, for a store
// opened from its snapshot, as the snapshot had them; nil when neither.
func (s *Store) snapshotUsers() *Users {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.users == nil {
		return nil
	}
	return &Users{hashes: maps.Clone(s.users)}
}

// SetUser adds a user, or sets a user's password hash (HashPassword).
func (s *Store) SetUser(name, hash string, now time.Time) error {
	if err := CheckUserName(name); err != nil {
		return err
	}
	if _, err := parsePHC(hash); err != nil {
		return err
	}
	return s.transact(func(tx *storeTx) error {
		if _, err := tx.Exec(`INSERT INTO users (name, hash, created) VALUES (?, ?, ?)
			ON CONFLICT(name) DO UPDATE SET hash = excluded.hash`, name, hash, now.Unix()); err != nil {
			return fmt.Errorf("setting user %s: %w", name, err)
		}
		return tx.changed()
	})
}

// DeleteUser removes a user; false if there was none of that name.
func (s *Store) DeleteUser(name string) (bool, error) {
	var n int64
	err := s.transact(func(tx *storeTx) error {
		res, err := tx.Exec(`DELETE FROM users WHERE name = ?`, name)
		if err != nil {
			return fmt.Errorf("removing user %s: %w", name, err)
		}
		if n, err = res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		return tx.changed()
	})
	return n > 0, err
}

// loadStoreUsers reads the store's users when the relay takes its users
// from there; the login cache stays while they are the same.
func (r *Relay) loadStoreUsers() error {
	if r.cfg.Users != UsersInStore {
		return nil
	}
	u, err := r.store.Users()
	if err != nil {
		return err
	}
	r.usersMu.Lock()
	defer r.usersMu.Unlock()
	if old := r.users.Load(); old != nil && maps.Equal(old.hashes, u.hashes) {
		return nil
	}
	r.users.Store(u)
	r.log.Info("users loaded", "users", "store", "count", len(u.hashes))
	return nil
}
