package relay

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// The store's engines. Both run the same SQL (storeDB.rebind turns the ?
// placeholders into PostgreSQL's $1, $2 …); what differs is how a store is
// opened and migrated (OpenStoreURL, migrate, migratePostgres) and that
// only PostgreSQL tells other instances about a change (NOTIFY).
const (
	engineSQLite   = "sqlite"
	enginePostgres = "postgres"
)

// StorePasswordEnv names the environment variable with the PostgreSQL
// store's password (libpq's own sources, PGPASSWORD and ~/.pgpass, work
// too). It is never taken from a flag or the URL shown in logs.
const StorePasswordEnv = "CATCHALL_STORE_PASSWORD"

// notifyChannel is the PostgreSQL channel a change of aliases, burners or
// users is announced on; every instance LISTENs to it.
const notifyChannel = "catchall_store"

// storeDB is the store's database: every statement goes through it, so
// that each has a timeout (a store that hangs cannot hang an SMTP
// session), is counted (Store.Queries), and is written once for both
// engines.
type storeDB struct {
	sql     *sql.DB
	engine  string
	timeout time.Duration
	queries atomic.Int64
	// name is the store for messages: a path, or the URL without its
	// password.
	name string
	// id identifies the database whatever the URL's other parameters
	// (sslmode, timeouts): the path, or postgres://USER@HOST:PORT/DB.
	id string
	// pgConfig is the PostgreSQL connection's configuration (the listener
	// opens its own connection with it); nil for SQLite.
	pgConfig *pgx.ConnConfig
	// needMigrate is set for a store opened from its snapshot while it was
	// unreachable: its tables are made or upgraded before the first
	// statement that reaches it.
	needMigrate atomic.Bool
	migMu       sync.Mutex
}

// errPreparing is what a statement gets while another makes or upgrades
// the tables of a store opened from its snapshot.
var errPreparing = errors.New("the store's tables are being made or upgraded")

// ready migrates a store opened from its snapshot, once it can be
// reached. One statement tries at a time; the others fail at once rather
// than wait behind its connection attempt (an SMTP session, /healthz).
func (d *storeDB) ready() error {
	if !d.needMigrate.Load() {
		return nil
	}
	if !d.migMu.TryLock() {
		return errPreparing
	}
	defer d.migMu.Unlock()
	if !d.needMigrate.Load() {
		return nil
	}
	if err := migratePostgres(d); err != nil {
		return err
	}
	d.needMigrate.Store(false)
	return nil
}

// DefaultStoreTimeout bounds every store statement (a transaction as a
// whole); an operation that takes longer fails like an unreachable store.
const DefaultStoreTimeout = 10 * time.Second

// StoreURL returns the store URL of --store: "" is the SQLite store in the
// spool directory.
func StoreURL(store, spool string) string {
	if store == "" {
		return "sqlite:" + filepath.Join(spool, "relay.db")
	}
	return store
}

// ParseStoreURL checks a store URL: "sqlite:PATH", or "postgres://…" /
// "postgresql://…" (libpq's URL; the password does not belong in it).
// It returns the engine and, for SQLite, the path. Its errors do not
// repeat the URL.
func ParseStoreURL(s string) (engine, path string, err error) {
	switch {
	case strings.HasPrefix(s, "sqlite:"):
		p := strings.TrimPrefix(s, "sqlite:")
		p = strings.TrimPrefix(p, "//") // sqlite:///var/lib/x.db
		if p == "" {
			return "", "", errors.New("give a file, sqlite:/var/lib/catchall-relay/relay.db")
		}
		return engineSQLite, p, nil
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		u, err := url.Parse(s)
		if err != nil {
			return "", "", fmt.Errorf("not a PostgreSQL URL: %v", redactStoreErr(err))
		}
		if _, has := u.User.Password(); has || u.Query().Has("password") {
			return "", "", fmt.Errorf("the URL holds a password; put it in %s, --store-password-file or ~/.pgpass instead (URLs end up in shell history, unit files and logs)",
				StorePasswordEnv)
		}
		return enginePostgres, "", nil
	}
	return "", "", errors.New("give sqlite:PATH or postgres://USER@HOST[:PORT]/DB")
}

// RedactStoreURL returns s without a password (in the user part or the
// query), for messages.
func RedactStoreURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		if strings.Contains(s, "@") || strings.Contains(s, "password") {
			return "(store URL that does not parse)"
		}
		return s
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// redactStoreErr keeps url.Parse's errors, which quote the URL, out of
// messages.
func redactStoreErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// openStoreDB opens the database of a store URL; password, when not
// empty, is PostgreSQL's (otherwise StorePasswordEnv, or libpq's sources).
func openStoreDB(storeURL, password string) (*storeDB, error) {
	engine, path, err := ParseStoreURL(storeURL)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", RedactStoreURL(storeURL), err)
	}
	d := &storeDB{engine: engine, timeout: DefaultStoreTimeout}
	if engine == engineSQLite {
		d.name, d.id = path, path
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		// Made 0600 before SQLite opens it: SQLite gives relay.db-wal and
		// relay.db-shm the database file's mode, whatever the umask.
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		f.Close()
		os.Chmod(path, 0o600) // a store made by an older version
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate")
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		d.sql = db
		return d, nil
	}
	d.name = RedactStoreURL(storeURL)
	cfg, err := pgx.ParseConfig(storeURL)
	if err != nil {
		return nil, fmt.Errorf("store %s: %v", d.name, err)
	}
	d.id = fmt.Sprintf("postgres://%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
	if password == "" {
		password = os.Getenv(StorePasswordEnv)
	}
	if password != "" {
		cfg.Password = password
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "catchall-relay"
	}
	d.pgConfig = cfg
	d.sql = stdlib.OpenDB(*cfg)
	// A few connections per instance: the store is written in batches
	// (statistics, registrations), never once per message.
	d.sql.SetMaxOpenConns(8)
	d.sql.SetMaxIdleConns(4)
	d.sql.SetConnMaxIdleTime(5 * time.Minute)
	return d, nil
}

// rebind writes the ? placeholders of q as PostgreSQL's $1, $2 … (the
// statements have no ? inside string literals).
func (d *storeDB) rebind(q string) string {
	if d.engine != enginePostgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

func (d *storeDB) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d.timeout)
}

// Exec runs one statement.
func (d *storeDB) Exec(q string, args ...any) (sql.Result, error) {
	if err := d.ready(); err != nil {
		return nil, err
	}
	d.queries.Add(1)
	ctx, cancel := d.ctx()
	defer cancel()
	return d.sql.ExecContext(ctx, d.rebind(q), args...)
}

// storeRows are a query's rows; Close ends the query's time limit too.
type storeRows struct {
	*sql.Rows
	cancel context.CancelFunc
}

func (r *storeRows) Close() error {
	err := r.Rows.Close()
	r.cancel()
	return err
}

// Query runs a query; close the rows.
func (d *storeDB) Query(q string, args ...any) (*storeRows, error) {
	if err := d.ready(); err != nil {
		return nil, err
	}
	d.queries.Add(1)
	ctx, cancel := d.ctx()
	rows, err := d.sql.QueryContext(ctx, d.rebind(q), args...)
	if err != nil {
		cancel()
		return nil, err
	}
	return &storeRows{rows, cancel}, nil
}

// storeRow is QueryRow's row.
type storeRow struct {
	row    *sql.Row
	cancel context.CancelFunc
	err    error // the store could not be made ready
}

func (r storeRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.cancel()
	return r.row.Scan(dest...)
}

// QueryRow runs a query for one row.
func (d *storeDB) QueryRow(q string, args ...any) storeRow {
	if err := d.ready(); err != nil {
		return storeRow{err: err}
	}
	d.queries.Add(1)
	ctx, cancel := d.ctx()
	return storeRow{row: d.sql.QueryRowContext(ctx, d.rebind(q), args...), cancel: cancel}
}

// storeTx is a transaction, with one time limit for all of it.
type storeTx struct {
	tx     *sql.Tx
	d      *storeDB
	ctx    context.Context
	cancel context.CancelFunc
}

// Begin starts a transaction; Commit or Rollback it.
func (d *storeDB) Begin() (*storeTx, error) {
	if err := d.ready(); err != nil {
		return nil, err
	}
	return d.begin()
}

// begin is Begin without waiting for ready (migratePostgres's own).
func (d *storeDB) begin() (*storeTx, error) {
	d.queries.Add(1)
	ctx, cancel := d.ctx()
	tx, err := d.sql.BeginTx(ctx, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	return &storeTx{tx, d, ctx, cancel}, nil
}

func (t *storeTx) Exec(q string, args ...any) (sql.Result, error) {
	t.d.queries.Add(1)
	return t.tx.ExecContext(t.ctx, t.d.rebind(q), args...)
}

func (t *storeTx) Query(q string, args ...any) (*sql.Rows, error) {
	t.d.queries.Add(1)
	return t.tx.QueryContext(t.ctx, t.d.rebind(q), args...)
}

func (t *storeTx) QueryRow(q string, args ...any) *sql.Row {
	t.d.queries.Add(1)
	return t.tx.QueryRowContext(t.ctx, t.d.rebind(q), args...)
}

func (t *storeTx) Commit() error {
	defer t.cancel()
	return t.tx.Commit()
}

// Rollback ends the transaction if Commit did not; after Commit it does
// nothing.
func (t *storeTx) Rollback() error {
	defer t.cancel()
	return t.tx.Rollback()
}

// upsertBatch is how many rows one multi-row INSERT of upsertRows
// carries: statistics for a thousand aliases are a few statements, not a
// thousand (and far below SQLite's limit on parameters).
const upsertBatch = 200

// upsertRows runs head + "(?, …), (?, …) …" + tail for rows, upsertBatch
// rows at a time (every row has the same number of values).
func (t *storeTx) upsertRows(head string, rows [][]any, tail string) error {
	for len(rows) > 0 {
		n := min(len(rows), upsertBatch)
		var b strings.Builder
		b.WriteString(head)
		args := make([]any, 0, n*len(rows[0]))
		for i, r := range rows[:n] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(" + strings.TrimSuffix(strings.Repeat("?, ", len(r)), ", ") + ")")
			args = append(args, r...)
		}
		b.WriteString(tail)
		if _, err := t.Exec(b.String(), args...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// changed counts a change of aliases, burners or users in the store's
// generation, which every relay polls (Store.Generation), and on
// PostgreSQL tells the other instances at once (NOTIFY, delivered when
// the transaction commits).
func (t *storeTx) changed() error {
	if _, err := t.Exec(`INSERT INTO meta (key, value) VALUES ('generation', 1) ON CONFLICT(key) DO UPDATE SET value = meta.value + 1`); err != nil {
		return err
	}
	if t.d.engine != enginePostgres {
		return nil
	}
	_, err := t.Exec(`SELECT pg_notify(?, 'changed')`, notifyChannel)
	return err
}

// PingStore connects to the store of a store URL and runs one statement,
// without making or changing anything (catchall relay check). A SQLite
// store that does not exist yet is not made.
func PingStore(storeURL, password string) error {
	engine, path, err := ParseStoreURL(storeURL)
	if err != nil {
		return fmt.Errorf("store %s: %w", RedactStoreURL(storeURL), err)
	}
	if engine == engineSQLite {
		if _, err := os.Stat(path); err != nil {
			return nil // made at the first start
		}
	}
	d, err := openStoreDB(storeURL, password)
	if err != nil {
		return err
	}
	defer d.sql.Close()
	return d.QueryRow(`SELECT 1`).Scan(new(int))
}
