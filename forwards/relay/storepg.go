package relay

import (
	"fmt"
	"strings"
)

// pgSchema is the store's layout in PostgreSQL: schema with 64-bit
// integers (SQLite's INTEGER is 64 bits, PostgreSQL's 32). Times are Unix
// seconds in both.
var pgSchema = strings.ReplaceAll(schema, "INTEGER", "BIGINT")

// pgUpgrades are the steps from one PostgreSQL layout to the next, by the
// version they lead to: a store made at version 7 or later has them all
// from pgSchema, one made earlier gets the missing ones in order. Like
// SQLite's, every step only adds, so an older relay still runs on a newer
// store. There are none yet: 7 is PostgreSQL's first layout.
var pgUpgrades = map[int64]string{}

// pgMigrateLock is the advisory lock migratePostgres holds: instances
// starting together upgrade one at a time; the others then find nothing to
// do. (The number is "catchall" in ASCII.)
const pgMigrateLock = 0x636174636800

// migratePostgres makes the PostgreSQL store's tables and brings them to
// schemaVersion, in one transaction under pgMigrateLock.
func migratePostgres(d *storeDB) error {
	tx, err := d.begin()
	if err != nil {
		return fmt.Errorf("cannot reach the store: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`SELECT pg_advisory_xact_lock(?)`, int64(pgMigrateLock)); err != nil {
		return fmt.Errorf("locking the store for its upgrade: %w", err)
	}
	var exists bool
	if err := tx.QueryRow(`SELECT to_regclass('meta') IS NOT NULL`).Scan(&exists); err != nil {
		return err
	}
	var v int64
	if exists {
		if err := tx.QueryRow(`SELECT coalesce((SELECT value FROM meta WHERE key = 'schema'), 0)`).Scan(&v); err != nil {
			return err
		}
	}
	if v >= schemaVersion {
		return nil // up to date, or made by a newer catchall (which only adds)
	}
	if v == 0 {
		if _, err := tx.Exec(pgSchema); err != nil {
			return fmt.Errorf("making the tables: %w", err)
		}
	} else {
		for next := v + 1; next <= schemaVersion; next++ {
			if step, ok := pgUpgrades[next]; ok {
				if _, err := tx.Exec(step); err != nil {
					return fmt.Errorf("upgrading the store to version %d: %w", next, err)
				}
			}
		}
	}
	if _, err := tx.Exec(`INSERT INTO meta (key, value) VALUES ('schema', ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, int64(schemaVersion)); err != nil {
		return err
	}
	return tx.Commit()
}
