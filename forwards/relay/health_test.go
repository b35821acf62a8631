package relay

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestHealthDeferredTooLong: a message still waiting after failed attempts
// more than MaxDeferredAge after it arrived asks for a person (503), with
// the queue's ages in the JSON; before that, the queue alone is no problem.
func TestHealthDeferredTooLong(t *testing.T) {
	tr := startRelay(t, testConfig(t, "127.0.0.1:1")) // the smarthost is down
	if err := sendMail(t, tr.addr, "a@far.test", []string{"bank@example.org"}, simpleMessage); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a first failed attempt", func() bool { return testutil.ToFloat64(tr.metrics.deferred) >= 1 })
	if code, h := health(t, tr); code != 200 || h.QueueMessages != 1 || h.Status != "ok" {
		t.Fatalf("after one failed attempt: %d %+v", code, h)
	}
	tr.advance(t, MaxDeferredAge+time.Minute)
	code, h := health(t, tr)
	if code != 503 || h.Status != "attention" || h.OldestDeferredAge < MaxDeferredAge.Seconds() || h.DeferredMessages != 1 ||
		!strings.Contains(strings.Join(h.Problems, " "), "failed attempts") {
		t.Errorf("after %s: %d %+v", MaxDeferredAge, code, h)
	}
}

// TestHealthStoreUnreachable: a store that cannot be read is a 503 naming it.
func TestHealthStoreUnreachable(t *testing.T) {
	sk := newSink(t)
	tr := startRelay(t, testConfig(t, sk.addr))
	if code, h := health(t, tr); code != 200 || !h.StoreReachable {
		t.Fatalf("healthy relay: %d %+v", code, h)
	}
	tr.store.db.sql.Close()
	code, h := health(t, tr)
	if code != 503 || h.StoreReachable || !strings.Contains(fmt.Sprint(h.Problems), "store unreachable") {
		t.Errorf("with the store closed: %d %+v", code, h)
	}
}

// TestHealthCountsFailedKept: messages that failed for good and could not
// be reported wait in SPOOL/failed for a person; /healthz counts them (not
// their .state files) for the dashboard's queue panel.
func TestHealthCountsFailedKept(t *testing.T) {
	sk := newSink(t)
	cfg := testConfig(t, sk.addr)
	tr := startRelay(t, cfg)
	dir := filepath.Join(cfg.Spool, "failed")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a1", "a1.state", "b2", "b2.state"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, h := health(t, tr); h.FailedKept != 2 {
		t.Errorf("failed_kept = %d, want 2", h.FailedKept)
	}
}
