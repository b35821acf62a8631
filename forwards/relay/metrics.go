package relay

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type metrics struct {
	reg           *prometheus.Registry
	sessions      prometheus.Counter
	connections   prometheus.Gauge
	accepted      prometheus.Counter
	acceptedBytes prometheus.Counter
	acceptLatency prometheus.Histogram
	refused       *prometheus.CounterVec
	burners       prometheus.Counter
	delivered     prometheus.Counter
	deferred      prometheus.Counter
	failed        prometheus.Counter
	dsn           *prometheus.CounterVec
	deliveryDelay prometheus.Histogram
	spoolErrors   prometheus.Counter
	authFailures  prometheus.Counter
	sent          prometheus.Counter
}

func newMetrics(r *Relay) *metrics {
	reg := prometheus.NewRegistry()
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m := &metrics{
		reg:           reg,
		sessions:      prometheus.NewCounter(prometheus.CounterOpts{Name: "catchall_relay_sessions_total", Help: "SMTP sessions started."}),
		connections:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "catchall_relay_connections", Help: "Open SMTP connections."}),
		accepted:      prometheus.NewCounter(prometheus.CounterOpts{Name: "catchall_relay_accepted_total", Help: "Messages accepted (spooled and answered 250)."}),
		acceptedBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "catchall_relay_accepted_bytes_total", Help: "Bytes of accepted messages."}),
		acceptLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "catchall_relay_accept_seconds", Help: "Time from DATA to 250, including the fsyncs.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		refused:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "catchall_relay_refused_total", Help: "Refusals, by reason."}, []string{"reason"}),
		burners:       prometheus.NewCounter(prometheus.CounterOpts{Name: "catchall_relay_burners_registered_total", Help: "Signed burners seen for the first time."}),
		delivered:     prometheus.NewCounter(prometheus.CounterOpts{Name: "catchall_relay_delivered_total", Help: "Recipients delivered to the smarthost."}),
		deferred:      prometheus.NewCounter(prometheus.CounterOpts{Name: "catchall_relay_deferred_total", Help: "Delivery attempts that will be retried."}),
		failed:        prometheus.NewCounter(prometheus.CounterOpts{Name: "catchall_relay_failed_total", Help: "Recipients that failed for good."}),
		dsn:           prometheus.NewCounterVec(prometheus.CounterOpts{Name: "catchall_relay_dsn_total", Help: "Failures reported to the sender (sent) or not (suppressed: sender not trusted)."}, []string{"outcome"}),
		deliveryDelay: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "catchall_relay_delivery_delay_seconds", Help: "Time from acceptance to delivery.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 14)}),
		spoolErrors:   prometheus.NewCounter(prometheus.CounterOpts{Name: "catchall_relay_spool_errors_total", Help: "Messages refused with 4xx because the spool could not take them."}),
		authFailures:  prometheus.NewCounter(prometheus.CounterOpts{Name: "catchall_relay_smarthost_auth_failures_total", Help: "Logins the smarthost refused (wrong password or user)."}),
		sent:          prometheus.NewCounter(prometheus.CounterOpts{Name: "catchall_relay_sent_total", Help: "Messages users sent through the submission port (accepted)."}),
	}
	for _, c := range []prometheus.Collector{m.sessions, m.connections, m.accepted, m.acceptedBytes, m.acceptLatency, m.refused, m.burners,
		m.delivered, m.deferred, m.failed, m.dsn, m.deliveryDelay, m.spoolErrors, m.authFailures, m.sent} {
		f(c)
	}
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "catchall_relay_queue_messages", Help: "Messages in the spool."}, func() float64 { return float64(r.queue.len()) }))
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "catchall_relay_aliases", Help: "Aliases known (plan and burners)."}, func() float64 { return float64(r.store.Len()) }))
	f(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "catchall_relay_store_queries_total", Help: "Statements sent to the alias store (transactions count once, and each statement in them)."},
		func() float64 { return float64(r.store.Queries()) }))
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "catchall_relay_store_pending_writes", Help: "Writes waiting for the alias store to be reachable again."},
		func() float64 { return float64(r.store.Pending()) }))
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "catchall_relay_store_staleness_seconds", Help: "Time since the aliases in memory were last known to be the store's."},
		func() float64 { return r.store.Staleness().Seconds() }))
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// MaxDeferredAge is how long a message may wait after a failed attempt
// before /healthz asks for a person.
const MaxDeferredAge = 6 * time.Hour

// Health is the JSON of /healthz.
type Health struct {
	Status               string     `json:"status"` // "ok", or "attention" (503) when Problems is not empty
	QueueMessages        int        `json:"queue_messages"`
	DeferredMessages     int        `json:"deferred_messages"` // queued after at least one failed attempt
	FailedKept           int        `json:"failed_kept"`       // in SPOOL/failed: failed for good, not reported`
	OldestQueuedAge      float64    `json:"oldest_queued_age_s"`
	OldestDeferredAge    float64    `json:"oldest_deferred_age_s"`
	LastSmarthostSuccess *time.Time `json:"last_smarthost_success"`
	SmarthostLoginRefuse bool       `json:"smarthost_login_refused"`
	SpoolWritable        bool       `json:"spool_writable"`
	StoreReachable       bool       `json:"store_reachable"`
	Store                StoreState `json:"store"`
	BreachList           struct {
		LastOK *time.Time `json:"last_ok"`
		Error  *string    `json:"error"`
	} `json:"breach_list"`
	Problems []string `json:"problems"` // what needs a person, one sentence each
}

// Health looks at the queue, the smarthost, the spool, the store and the
// breach watch.
func (r *Relay) Health() Health {
	h := Health{Status: "ok", Problems: []string{}}
	now := r.cfg.Clock.Now()
	f, err := os.CreateTemp(filepath.Join(r.cfg.Spool, "tmp"), "healthz")
	if err == nil {
		f.Close()
		os.Remove(f.Name())
		h.SpoolWritable = true
	} else {
		h.Problems = append(h.Problems, "spool not writable: "+err.Error())
	}
	err = r.store.db.QueryRow(`SELECT 1`).Scan(new(int))
	r.store.reached(err)
	if err == nil {
		h.StoreReachable = true
	} else {
		msg := "store unreachable: " + oneLine(err)
		if n := r.store.Pending(); n > 0 {
			msg += fmt.Sprintf(" (%d writes wait for it)", n)
		}
		if r.cfg.StoreStale > 0 {
			if left := r.cfg.StoreStale - r.store.Staleness(); left > 0 {
				msg += fmt.Sprintf("; aliases answered from memory for %s more, then 451", left.Round(time.Second))
			} else {
				msg += "; recipients answered 451 (only signed burners taken)"
			}
		}
		h.Problems = append(h.Problems, msg)
	}
	h.Store = r.store.State()
	if a := r.authFailure.Load(); a != nil {
		h.SmarthostLoginRefuse = true
		h.Problems = append(h.Problems, "smarthost refuses the login (mail is queued until it is fixed): "+*a)
	}
	if t := r.lastDelivery.Load(); t != nil {
		u := t.UTC()
		h.LastSmarthostSuccess = &u
	}
	queued, _ := scanDir(r.spool.queue)
	h.QueueMessages = len(queued)
	var oldest, deferred time.Duration
	for _, m := range queued {
		age := now.Sub(m.Received)
		oldest = max(oldest, age)
		if m.State.Attempts > 0 {
			deferred = max(deferred, age)
			h.DeferredMessages++
		}
	}
	if ents, err := os.ReadDir(filepath.Join(r.cfg.Spool, "failed")); err == nil {
		for _, e := range ents {
			if !strings.HasSuffix(e.Name(), ".state") {
				h.FailedKept++
			}
		}
	}
	h.OldestQueuedAge, h.OldestDeferredAge = oldest.Seconds(), deferred.Seconds()
	if deferred > MaxDeferredAge {
		h.Problems = append(h.Problems, fmt.Sprintf("a message has waited %s after failed attempts (more than %s): see the log", deferred.Round(time.Minute), MaxDeferredAge))
	}
	if r.cfg.BreachWatch > 0 {
		st := &r.breach
		st.mu.Lock()
		if !st.lastOK.IsZero() {
			t := st.lastOK.UTC()
			h.BreachList.LastOK = &t
		}
		if st.err != "" {
			e := st.err
			h.BreachList.Error = &e
			if now.Sub(st.failing) > 2*r.cfg.BreachWatch {
				h.Problems = append(h.Problems, "the breach list has not been read for more than two periods: "+e)
			}
		}
		st.mu.Unlock()
	}
	if len(h.Problems) > 0 {
		h.Status = "attention"
	}
	return h
}

// AdminHandler serves /metrics (Prometheus) and /healthz: Health as JSON,
// 200 when its status is ok, 503 when something needs a person (mail is
// still accepted and queued); and the JSON API under /api/ (see "Admin
// API" in the package documentation), behind the access checks of
// adminAuth.
func (r *Relay) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(r.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		h := r.Health()
		w.Header().Set("Content-Type", "application/json")
		if h.Status != "ok" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(h)
	})
	r.apiRoutes(mux)
	r.dashboardRoutes(mux)
	return newAdminAuth(r).wrap(mux)
}
