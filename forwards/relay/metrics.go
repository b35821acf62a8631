package relay

import (
	"net/http"
	"os"
	"path/filepath"

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
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// AdminHandler serves /metrics (Prometheus) and /healthz: 200 "ok" while
// the spool is writable and the smarthost takes the relay's login, 503
// with the reason otherwise (mail is still accepted and queued); and the
// JSON API under /api/ (see "Admin API" in the package documentation),
// behind the access checks of adminAuth.
func (r *Relay) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(r.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		f, err := os.CreateTemp(filepath.Join(r.cfg.Spool, "tmp"), "healthz")
		if err == nil {
			f.Close()
			os.Remove(f.Name())
		}
		if err != nil {
			http.Error(w, "spool not writable: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		if a := r.authFailure.Load(); a != nil {
			http.Error(w, "smarthost refuses the login (mail is queued until it is fixed): "+*a, http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	r.apiRoutes(mux)
	return newAdminAuth(r).wrap(mux)
}
