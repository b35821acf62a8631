package relay

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// DefaultMaxConns is the default bound on all connections at once.
const DefaultMaxConns = 1000

// DefaultMaxSession is the default bound on one connection's life: a 50 MB
// message at 20 KB/s takes 45 minutes.
const DefaultMaxSession = 2 * time.Hour

// listener wraps the SMTP listener: at most perIP connections from one
// address (an IPv6 /64 counts as one) and total in all (more are told 421
// and closed), and every connection gets an
// idle timeout that restarts with each read and write, so a slow DATA that
// keeps moving is never cut while a silent client is.
type listener struct {
	net.Listener
	r          *Relay
	perIP      int
	total      int
	idle       time.Duration
	maxSession time.Duration

	mu    sync.Mutex
	count map[string]int
	open  int
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := clientKey(c.RemoteAddr())
		l.mu.Lock()
		busy := ""
		switch {
		case l.total > 0 && l.open >= l.total:
			busy = "421 4.3.2 too many connections, try again later\r\n"
		case l.perIP > 0 && l.count[ip] >= l.perIP:
			busy = "421 4.7.0 too many connections from your address, try again later\r\n"
		}
		if busy != "" {
			l.mu.Unlock()
			l.r.metrics.refused.WithLabelValues("connections").Inc()
			l.r.log.Info("refused", "client", ip, "reason", "too many connections")
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			c.Write([]byte(busy))
			c.Close()
			continue
		}
		l.count[ip]++
		l.open++
		l.mu.Unlock()
		l.r.metrics.connections.Inc()
		var end time.Time
		if l.maxSession > 0 {
			end = time.Now().Add(l.maxSession)
		}
		return &idleConn{Conn: c, idle: l.idle, end: end, release: func() {
			l.mu.Lock()
			if l.count[ip]--; l.count[ip] <= 0 {
				delete(l.count, ip)
			}
			l.open--
			l.mu.Unlock()
			l.r.metrics.connections.Dec()
		}}, nil
	}
}

// idleConn times out when nothing moves for idle, and at the latest at end. After a timeout every
// further read fails at once, so a client that went silent in DATA does
// not have its leftovers read as commands.
type idleConn struct {
	net.Conn
	idle     time.Duration
	end      time.Time // no reads or writes after this; zero: no bound
	release  func()
	once     sync.Once
	timedOut atomic.Bool
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "idle timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return false }

func (c *idleConn) Read(p []byte) (int, error) {
	if c.timedOut.Load() {
		return 0, timeoutError{}
	}
	c.Conn.SetReadDeadline(c.deadline())
	n, err := c.Conn.Read(p)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		c.timedOut.Store(true)
	}
	return n, err
}

func (c *idleConn) Write(p []byte) (int, error) {
	c.Conn.SetWriteDeadline(c.deadline())
	return c.Conn.Write(p)
}

// deadline is the idle timeout from now, but never past the session's end
// (a client trickling a byte now and then cannot hold a connection for ever).
func (c *idleConn) deadline() time.Time {
	var d time.Time
	if c.idle > 0 {
		d = time.Now().Add(c.idle)
	}
	if !c.end.IsZero() && (d.IsZero() || c.end.Before(d)) {
		d = c.end
	}
	return d
}

func (c *idleConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// allow takes a token of the rate limit of one client (a clientKey) for a
// message, and reports whether there was one (always, when rates are not
// limited).
func (r *Relay) allow(ip string) bool {
	lim := r.limiter(ip)
	return lim == nil || lim.AllowN(r.cfg.Clock.Now(), 1)
}

// charge takes a token of the rate limit of one client for a refused
// recipient, also from an empty bucket, which then owes it: a guess costs
// what a message does.
func (r *Relay) charge(ip string) {
	if lim := r.limiter(ip); lim != nil {
		lim.ReserveN(r.cfg.Clock.Now(), 1) // never cancelled: the debt stands
	}
}

// owes reports whether a client's bucket is below empty, with tokens owed
// for recipients refused when it had none left. An empty bucket is not
// enough: the MAIL of a client sending at its rate takes the last token,
// and its recipients must still be looked at.
func (r *Relay) owes(ip string) bool {
	lim := r.limiter(ip)
	return lim != nil && lim.TokensAt(r.cfg.Clock.Now()) < 0
}

// limiter returns the rate limiter of one client (a clientKey), which its
// messages and refused recipients draw on, or nil when rates are not
// limited.
func (r *Relay) limiter(ip string) *rate.Limiter {
	if r.cfg.RatePerMinute <= 0 {
		return nil
	}
	r.limMu.Lock()
	defer r.limMu.Unlock()
	e := r.limiters[ip]
	if e == nil {
		if len(r.limiters) > 100000 { // forget idle clients rather than grow without bound
			now := r.cfg.Clock.Now()
			for k, v := range r.limiters {
				if now.Sub(v.last) > 10*time.Minute {
					delete(r.limiters, k)
				}
			}
		}
		burst := max(10, r.cfg.RatePerMinute/6)
		e = &limEntry{Limiter: rate.NewLimiter(rate.Limit(float64(r.cfg.RatePerMinute)/60), burst)}
		r.limiters[ip] = e
	}
	e.last = r.cfg.Clock.Now()
	return e.Limiter
}

type limEntry struct {
	*rate.Limiter
	last time.Time
}

// clientKey is what per-client limits count by: the IPv4 address, or the
// /64 of an IPv6 address (one customer's network hands out many).
func clientKey(a net.Addr) string {
	ip := net.ParseIP(remoteIP(a))
	if ip == nil {
		return remoteIP(a)
	}
	if ip.To4() == nil {
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return ip.String()
}
