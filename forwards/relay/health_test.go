package relay

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// healthz returns /healthz's status code and JSON.
func healthz(t *testing.T, tr *testRelay) (int, Health) {
	t.Helper()
	rec := httptest.NewRecorder()
	tr.AdminHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	var h Health
	if err := json.Unmarshal(rec.Body.Bytes(), &h); err != nil {
		t.Fatalf("/healthz is not JSON: %v\n%s", err, rec.Body.String())
	}
	return rec.Code, h
}

// TestHealthDeferredTooLong: a message still waiting after failed attempts
// more than MaxDeferredAge after it arrived asks for a person (503), with
// the queue's ages in the JSON; before that, the queue alone is no problem.
func TestHealthDeferredTooLong(t *testing.T) {
	sk := newSink(t)
	addr := sk.addr
	sk.srv.Close()
	sk.ln.Close() // the smarthost is down
	tr := startRelay(t, testConfig(t, addr))
	if err := sendMail(t, tr.addr, "a@far.test", []string{"bank@example.org"}, simpleMessage); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a first failed attempt", func() bool { return testutil.ToFloat64(tr.metrics.deferred) >= 1 })
	if code, h := healthz(t, tr); code != 200 || h.QueueMessages != 1 || h.Status != "ok" {
		t.Fatalf("after one failed attempt: %d %+v", code, h)
	}
	tr.advance(t, MaxDeferredAge+time.Minute)
	code, h := healthz(t, tr)
	if code != 503 || h.Status != "attention" || h.OldestDeferredAge < MaxDeferredAge.Seconds() ||
		!strings.Contains(strings.Join(h.Problems, " "), "failed attempts") {
		t.Errorf("after %s: %d %+v", MaxDeferredAge, code, h)
	}
}

// TestHealthStoreUnreachable: a store that cannot be read is a 503 naming it.
func TestHealthStoreUnreachable(t *testing.T) {
	sk := newSink(t)
	tr := startRelay(t, testConfig(t, sk.addr))
	if code, h := healthz(t, tr); code != 200 || !h.StoreReachable {
		t.Fatalf("healthy relay: %d %+v", code, h)
	}
	tr.store.db.Close()
	code, h := healthz(t, tr)
	if code != 503 || h.StoreReachable || !strings.Contains(fmt.Sprint(h.Problems), "store unreachable") {
		t.Errorf("with the store closed: %d %+v", code, h)
	}
}
