package testtools

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres is the acceptance suite's private PostgreSQL cluster, started
// by scripts/testenv/postgres.sh (CATCHALL_TEST_POSTGRES and the variables
// its env command prints), with a database made for one test.
type Postgres struct {
	// URL is the test's own database, dropped when the test ends:
	// postgres://postgres@127.0.0.1:PORT/DB?sslmode=disable.
	URL string
	// Password is the superuser's; NeedPostgres puts it in
	// CATCHALL_STORE_PASSWORD, where the relay reads it.
	Password string
	// CA is the PEM file of the server's self-signed certificate, for
	// sslrootcert= (the server offers TLS).
	CA       string
	dir, ctl string
}

// NeedPostgres returns the cluster with a new database for t, or skips t
// when no cluster runs (make test starts one).
func NeedPostgres(t testing.TB) *Postgres {
	t.Helper()
	base := os.Getenv("CATCHALL_TEST_POSTGRES")
	if base == "" {
		if os.Getenv("CATCHALL_TEST_TOOLS") == "1" {
			t.Fatal("CATCHALL_TEST_TOOLS=1 but no PostgreSQL cluster (CATCHALL_TEST_POSTGRES): scripts/test.sh starts one")
		}
		t.Skip("no PostgreSQL: run make test (scripts/test.sh starts a private cluster), or scripts/testenv/postgres.sh start DIR and eval its env")
	}
	p := &Postgres{Password: os.Getenv("CATCHALL_TEST_POSTGRES_PASSWORD"), dir: os.Getenv("CATCHALL_TEST_POSTGRES_DIR"),
		ctl: os.Getenv("CATCHALL_TEST_POSTGRES_CTL"), CA: os.Getenv("CATCHALL_TEST_POSTGRES_CA")}
	t.Setenv("CATCHALL_STORE_PASSWORD", p.Password)
	var b [6]byte
	rand.Read(b[:])
	db := "t_" + hex.EncodeToString(b[:])
	admin := p.connect(t, base)
	if _, err := admin.Exec(context.Background(), "CREATE DATABASE "+db); err != nil {
		t.Fatalf("creating the test database: %v", err)
	}
	admin.Close(context.Background())
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + db
	p.URL = u.String()
	t.Cleanup(func() {
		p.Start(t) // a test that stopped the server
		c := p.connect(t, base)
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping the test database: %v", err)
		}
	})
	return p
}

func (p *Postgres) connect(t testing.TB, u string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(u)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Password = p.Password
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("connecting to the test cluster: %v", err)
	}
	return c
}

// Conn returns a connection to the test's database, closed when t ends.
func (p *Postgres) Conn(t testing.TB) *pgx.Conn {
	t.Helper()
	c := p.connect(t, p.URL)
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// Stop stops the server (fast shutdown: clients are disconnected).
func (p *Postgres) Stop(t testing.TB) {
	t.Helper()
	if out, err := exec.Command(p.ctl, "stop", p.dir).CombinedOutput(); err != nil {
		t.Fatalf("stopping PostgreSQL: %v\n%s", err, out)
	}
}

// Start starts the server again (nothing when it runs).
func (p *Postgres) Start(t testing.TB) {
	t.Helper()
	if out, err := exec.Command(p.ctl, "start", p.dir).CombinedOutput(); err != nil {
		t.Fatalf("starting PostgreSQL: %v\n%s", err, out)
	}
}
