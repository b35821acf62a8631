package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/catchall/catchall/classify"
	"github.com/catchall/catchall/forwards"
	"github.com/catchall/catchall/forwards/srs"
)

// MaxLineLength is the longest line accepted, in commands and in DATA.
// RFC 5322 allows 998 bytes, but real mail breaks that; Postfix accepts any
// length. Longer lines are refused (554 5.6.0) rather than altered.
const MaxLineLength = 1 << 20

// routing is what Reload computes; sessions read it without locks.
type routing struct {
	domains  map[string]bool
	defaults []string // targets of new burners and the catch-all
}

// Relay is the burner-alias relay: an SMTP server for the user's domains
// that forwards each alias as the plan says, through a durable spool, to
// the smarthost.
type Relay struct {
	cfg     Config
	log     *slog.Logger
	store   *Store
	spool   *Spool
	queue   *queue
	srs     *srs.Codec
	metrics *metrics

	rt atomic.Pointer[routing]

	limMu    sync.Mutex
	limiters map[string]*limEntry

	planMu  sync.Mutex
	planMod time.Time
	// notified is signalled when the store announces a change (the
	// PostgreSQL listener); the poller reloads at once.
	notified chan struct{}

	users    atomic.Pointer[Users] // the submission port's accounts; nil: none
	usersMu  sync.Mutex
	usersMod time.Time
	auth     *authLimiter

	// authFailure is the smarthost's refusal of the relay's login while
	// logins fail, nil once one works (/healthz shows it).
	authFailure atomic.Pointer[string]
	// dkimFailing is set while the DKIM key fails to sign (logged once).
	dkimFailing atomic.Bool

	breach breachStatus // the breach watch, for /healthz
	// refusals are the recent refusals, for GET /api/refusals.
	refusals *refusalLog
	// lastDelivery is when the smarthost last took a message (/healthz).
	lastDelivery atomic.Pointer[time.Time]
}

// New checks cfg (Validate), opens the spool and the alias store, imports
// the plan if one is given, and loads the queued messages. Call Close when
// done.
func New(cfg Config) (*Relay, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.defaults()
	r := &Relay{cfg: cfg, log: cfg.Logger, srs: cfg.SRS, limiters: map[string]*limEntry{}, queue: newQueue(cfg.Clock), notified: make(chan struct{}, 1),
		auth: newAuthLimiter(cfg.AuthFailures, cfg.AuthLockout), refusals: newRefusalLog(cfg.Clock.Now())}
	var err error
	if r.spool, err = OpenSpool(cfg.Spool); err != nil {
		return nil, err
	}
	storeURL := StoreURL(cfg.Store, cfg.Spool)
	if engine, _, _ := ParseStoreURL(storeURL); engine == enginePostgres {
		// A shared store: kept in a snapshot in the spool, from which the
		// relay starts when the store cannot be reached.
		r.store, err = OpenStoreSnapshot(storeURL, cfg.StorePassword, filepath.Join(cfg.Spool, SnapshotFile), cfg.Logger)
	} else {
		r.store, err = OpenStoreWith(storeURL, cfg.StorePassword)
	}
	if err != nil {
		return nil, err
	}
	r.store.log = cfg.Logger
	if st := r.store.State(); !st.Reachable {
		r.log.Warn("store unreachable at start: serving the aliases of its snapshot until it is back", "store", r.store.Name(),
			"aliases", r.store.Len(), "as_of", st.Synced.Format(time.RFC3339), "queued_writes", st.Pending, "err", st.Error)
	}
	r.store.clock = cfg.Clock
	r.store.QueueWrites(true)
	r.metrics = newMetrics(r)
	// At start the plan is imported only when it is not the one this
	// relay imported last into this store: a relay sharing the store must
	// not undo, with an old copy, what another imported or edited since.
	err = r.reload(false)
	if uerr := r.loadUsers(true); uerr != nil {
		if r.cfg.Users == UsersInStore && !r.store.State().Reachable {
			if u := r.store.snapshotUsers(); u != nil {
				r.users.Store(u)
				r.log.Warn("the store's users cannot be read until the store is back: logins are checked against its snapshot's",
					"users", len(u.hashes), "err", uerr)
			} else {
				r.log.Warn("the store's users cannot be read until the store is back, and its snapshot has none: no one can log in meanwhile", "err", uerr)
			}
		} else {
			err = errors.Join(err, uerr)
		}
	}
	if err != nil {
		r.store.Close()
		return nil, err
	}
	if cfg.ReverseAliases && cfg.DKIM == nil {
		r.log.Warn("reverse aliases without a DKIM key: forwarded mail comes From: your domains unsigned, and fails DMARC where you publish a policy")
	}
	ids, err := r.spool.List()
	if err != nil {
		r.store.Close()
		return nil, err
	}
	for _, id := range ids {
		st, _ := r.spool.LoadState(id)
		r.queue.add(id, st.Next)
	}
	if len(ids) > 0 {
		r.log.Info("spool loaded", "messages", len(ids))
	}
	return r, nil
}

// Close flushes statistics and closes the store.
func (r *Relay) Close() error { return r.store.Close() }

// Store returns the alias store.
func (r *Relay) Store() *Store { return r.store }

// Reload re-imports the plan (when the relay has one), recomputes the
// domains and default targets, and reads the users file again. A plan or
// users file with errors is not taken: the relay keeps what it had and the
// error is returned.
func (r *Relay) Reload() error { return errors.Join(r.reload(true), r.loadUsers(true)) }

// loadUsers reads Config.Users; without force, only when the file changed.
func (r *Relay) loadUsers(force bool) error {
	if r.cfg.Users == UsersInStore {
		if !force {
			return nil // read again when the store announces a change
		}
		return r.loadStoreUsers()
	}
	if r.cfg.Users == "" {
		return nil
	}
	r.usersMu.Lock()
	defer r.usersMu.Unlock()
	var mod time.Time
	if fi, err := os.Stat(r.cfg.Users); err == nil {
		mod = fi.ModTime()
	}
	if !force && mod.Equal(r.usersMod) {
		return nil
	}
	r.usersMod = mod // a broken file is reported once per change
	u, err := ReadUsers(r.cfg.Users)
	if err != nil {
		return fmt.Errorf("users: %w", err)
	}
	r.users.Store(u)
	r.log.Info("users loaded", "users", r.cfg.Users, "count", len(u.hashes))
	return nil
}

// reload is Reload; without force, the plan file is imported again only
// when its content is not what this relay last imported into this store
// (SPOOL/plan.imported), so that an import or edit by another process
// (catchall relay import, another relay sharing the store) is taken as it
// is rather than undone by this relay's copy.
func (r *Relay) reload(force bool) error {
	r.planMu.Lock()
	defer r.planMu.Unlock()
	return r.reloadLocked(force)
}

// reloadLocked is reload with planMu held.
func (r *Relay) reloadLocked(force bool) error {
	var planChanged bool
	var sum string
	if r.cfg.Plan != "" {
		fi, err := os.Stat(r.cfg.Plan)
		if err != nil {
			return fmt.Errorf("plan: %w", err)
		}
		if force || !fi.ModTime().Equal(r.planMod) {
			sum, err = r.planSum()
			if err != nil {
				return fmt.Errorf("plan: %w", err)
			}
			planChanged = force || sum != r.importedSum() || r.store.Len() == 0
		}
		r.planMod = fi.ModTime() // a broken plan is reported once per change
	}
	// A relay starting from its store's snapshot (the store unreachable)
	// has no routing yet: it is made from the aliases in memory, and the
	// plan is imported, or the aliases loaded, once the store is back.
	fromSnapshot := r.rt.Load() == nil && !r.store.State().Reachable
	if planChanged {
		res, err := ImportPlan(r.store, r.cfg.Plan, r.cfg.DefaultTargets)
		if err != nil {
			if errors.Is(err, ErrStoreWrite) {
				r.planMod = time.Time{} // a good plan the store could not take: again at the next poll
			}
			if !fromSnapshot || !errors.Is(err, ErrStoreWrite) {
				return err
			}
		} else {
			r.setImportedSum(sum)
			for _, sk := range res.Skipped {
				r.log.Warn("plan row left out", "plan", r.cfg.Plan, "alias", sk.Alias, "why", sk.Reason)
			}
			if len(res.LeftOut) > 0 {
				r.log.Info("plan rows not at your domains left out", "plan", r.cfg.Plan, "aliases", strings.Join(res.LeftOut, " "))
			}
			r.log.Info("plan imported", "plan", r.cfg.Plan, "result", res.String(), "left_out", len(res.Skipped))
		}
	} else if err := r.store.Load(); err != nil && !fromSnapshot {
		return err
	}
	doms := map[string]bool{}
	for _, d := range r.cfg.Domains {
		a, err := forwards.CheckAddress("x@" + d)
		if err != nil {
			return fmt.Errorf("domain %s: not a domain name", d)
		}
		doms[classify.Domain(a)] = true
	}
	count := map[string]int{}
	r.store.mu.RLock()
	for _, a := range r.store.aliases {
		if len(r.cfg.Domains) == 0 {
			doms[classify.Domain(a.Address)] = true
		}
		if a.Action == classify.ActionForward && len(a.Targets) > 0 {
			count[strings.Join(a.Targets, " ")]++
		}
	}
	r.store.mu.RUnlock()
	if len(doms) == 0 {
		return ErrNoDomains
	}
	rt := &routing{domains: doms, defaults: r.cfg.DefaultTargets}
	if len(rt.defaults) == 0 {
		best, n := "", 0
		for t, c := range count {
			if c > n || c == n && t < best {
				best, n = t, c
			}
		}
		if best != "" {
			rt.defaults = strings.Fields(best)
			r.log.Info("new burners and the catch-all go to the plan's most common target", "to", best)
		}
	}
	r.rt.Store(rt)
	if r.srs != nil && r.srs.Domain == "" {
		ds := make([]string, 0, len(doms))
		for d := range doms {
			ds = append(ds, d)
		}
		slices.Sort(ds)
		r.srs.Domain = ds[0]
	}
	return nil
}

// ErrStoreWrite is wrapped by ImportPlan's error when the plan was good
// but the store could not take it.
var ErrStoreWrite = errors.New("cannot write the alias store")

// PlanImport is what importing a plan file did.
type PlanImport struct {
	ImportResult
	// Skipped are the rows left out, with the reason (an address no target
	// can take safely, a forward row with no target); every other row is
	// served.
	Skipped []forwards.Skip
	// LeftOut are rows marked as not at the user's domains.
	LeftOut []string
}

// ImportPlan reads a plan file into the store (relay import, and the
// relay at start and on every change). Forward rows with an
// empty forward_to go to defaultTo (--forward-to). A plan that cannot be
// read (a line that is not valid, see classify.ReadPlan) changes nothing:
// the store keeps the last good plan and the error names the line and what
// to write there. A row that cannot be served safely is skipped and listed;
// the others are imported.
func ImportPlan(st *Store, path string, defaultTo []string) (PlanImport, error) {
	p, err := classify.ReadPlan(path)
	if err != nil {
		return PlanImport{}, err
	}
	in, err := forwards.FromPlan(p, strings.Join(defaultTo, " "), "")
	if err != nil {
		return PlanImport{}, fmt.Errorf("plan %s: %w", path, err)
	}
	notes := map[string]string{}
	for _, row := range p.Rows {
		if a, err := forwards.CheckAddress(row.Alias()); err == nil {
			notes[a] = row["note"]
		}
	}
	res, err := st.importPlan(in.Rules, notes)
	if err != nil {
		err = fmt.Errorf("%w %s: %w", ErrStoreWrite, st.Name(), err)
	}
	return PlanImport{ImportResult: res, Skipped: in.Skipped, LeftOut: in.LeftOut}, err
}

// changed reports whether the plan file changed since it was imported, or
// another process (catchall relay import) imported into the store.
func (r *Relay) changed() bool {
	r.planMu.Lock()
	defer r.planMu.Unlock()
	// Against the generation the aliases in memory were loaded at: a
	// change this relay has not loaded yet, by any process.
	if g, err := r.store.Generation(); err == nil && g != r.store.loadedGen.Load() {
		return true
	}
	if r.cfg.Plan == "" {
		return false
	}
	fi, err := os.Stat(r.cfg.Plan)
	return err == nil && !fi.ModTime().Equal(r.planMod)
}

// Run listens on cfg.Listen (and cfg.Admin) and serves until ctx ends.
func (r *Relay) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", r.cfg.Listen)
	if err != nil {
		return err
	}
	if r.cfg.Admin != "" {
		aln, err := net.Listen("tcp", r.cfg.Admin)
		if err != nil {
			ln.Close()
			return fmt.Errorf("admin listener: %w", err)
		}
		if r.cfg.AdminTLS != nil {
			aln = tls.NewListener(aln, r.cfg.AdminTLS)
		}
		hs := adminServer(r.AdminHandler())
		go hs.Serve(aln)
		defer hs.Close()
	}
	var sub net.Listener
	if r.cfg.Submission != "" {
		if sub, err = net.Listen("tcp", r.cfg.Submission); err != nil {
			ln.Close()
			return fmt.Errorf("submission listener: %w", err)
		}
	}
	return r.ServeSubmission(ctx, ln, sub)
}

// Serve accepts SMTP connections on ln and delivers the spool until ctx
// ends; then it stops accepting, lets sessions in flight finish (up to a
// minute), lets deliveries in flight finish, and returns.
func (r *Relay) Serve(ctx context.Context, ln net.Listener) error {
	return r.ServeSubmission(ctx, ln, nil)
}

// smtpServer is a go-smtp server with the relay's limits, and its
// listener wrapped with the connection limits and timeouts.
func (r *Relay) smtpServer(ln net.Listener, newSession func(*smtp.Conn) (smtp.Session, error)) (*smtp.Server, net.Listener) {
	s := smtp.NewServer(smtp.BackendFunc(newSession))
	s.Domain = r.cfg.Hostname
	s.MaxMessageBytes = r.cfg.MaxSize
	s.MaxRecipients = r.cfg.MaxRecipients
	s.MaxLineLength = MaxLineLength
	s.EnableSMTPUTF8 = true
	s.TLSConfig = r.cfg.TLS
	s.ErrorLog = slogErrorLog{r.log}
	return s, &listener{Listener: ln, r: r, perIP: r.cfg.MaxConnsPerIP, total: r.cfg.MaxConns, maxSession: r.cfg.MaxSession, idle: r.cfg.IdleTimeout, count: map[string]int{}}
}

// ServeSubmission is Serve with the submission port on sub as well (nil
// for none): the users' mail clients send there after AUTH, which is
// offered only over TLS (STARTTLS, or TLS from the first byte with
// Config.SubmissionTLS) or to a client on loopback.
func (r *Relay) ServeSubmission(ctx context.Context, ln, sub net.Listener) error {
	s, wrapped := r.smtpServer(ln, r.newSession)
	var subSrv *smtp.Server
	var subLn net.Listener
	if sub != nil {
		subSrv, subLn = r.smtpServer(sub, r.newSubSession)
		// The session decides: AUTH over TLS or from loopback (538 otherwise).
		subSrv.AllowInsecureAuth = true
		if r.cfg.SubmissionTLS {
			subLn = tls.NewListener(subLn, r.cfg.TLS)
		}
	}

	dctx, stopDeliveries := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	if r.store.Engine() == enginePostgres {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.listenStore(dctx)
		}()
	}
	for i := 0; i < r.cfg.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.worker(dctx)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		// A timer set again after each poll rather than a ticker: a test's
		// fake clock sees the poller waiting only once a poll is done.
		r.breachTick(dctx)
		r.digestTick()
		t := r.cfg.Clock.NewTimer(2 * time.Second)
		defer t.Stop()
		resynced := r.cfg.Clock.Now() // the last full reload (Config.StoreResync)
		storeDown := false
		for {
			select {
			case <-dctx.Done():
				return
			case <-r.notified:
				// Another instance (or this one) changed the shared store,
				// or the listener (re)connected: read it again only when its
				// generation moved.
				if !r.changed() {
					continue
				}
				if err := r.reload(false); err != nil {
					r.log.Error("store changed but was not reloaded: the aliases in memory stay", "err", err)
				}
				if err := r.loadStoreUsers(); err != nil {
					r.log.Error("store changed but its users were not read: the users before stay", "err", err)
				}
				continue
			case <-t.Chan():
				flushErr := r.store.Flush()
				if r.changed() || r.cfg.Clock.Since(resynced) >= r.cfg.StoreResync {
					resynced = r.cfg.Clock.Now()
					if err := r.reload(false); err != nil && r.store.State().Reachable {
						r.log.Error("plan changed but was not imported: the last good plan stays in force until it is fixed", "err", err)
					}
					if err := r.loadStoreUsers(); err != nil && r.store.State().Reachable {
						r.log.Error("the store's users were not read: the users before stay", "err", err)
					}
				}
				// Logged once per outage: Flush and the change counter's
				// poll are the store's heartbeat.
				switch st := r.store.State(); {
				case !st.Reachable && !storeDown:
					storeDown = true
					r.log.Error("store unreachable: answering from the aliases in memory, writes queued", "store", r.store.Name(),
						"err", st.Error, "stale_after", r.cfg.StoreStale.String())
				case st.Reachable && storeDown && flushErr == nil:
					storeDown = false
					r.log.Info("store reachable again: queued writes written", "store", r.store.Name())
				case flushErr != nil && st.Reachable:
					r.log.Error("statistics", "err", flushErr)
				}
				if err := r.loadUsers(false); err != nil {
					r.log.Error("users file changed but was not read: the users before stay until it is fixed", "err", err)
				}
				r.breachTick(dctx)
				r.digestTick()
				t.Reset(2 * time.Second)
			}
		}
	}()

	serveErr := make(chan error, 2)
	go func() { serveErr <- s.Serve(wrapped) }()
	r.log.Info("relay listening", "addr", ln.Addr().String(), "domains", len(r.rt.Load().domains), "aliases", r.store.Len(), "queued", r.queue.len())
	if subSrv != nil {
		go func() { serveErr <- subSrv.Serve(subLn) }()
		r.log.Info("submission listening", "addr", sub.Addr().String(), "implicit_tls", r.cfg.SubmissionTLS)
	}

	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
	}
	r.log.Info("shutting down: finishing sessions in flight")
	sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	for _, srv := range []*smtp.Server{s, subSrv} {
		if srv == nil {
			continue
		}
		if serr := srv.Shutdown(sctx); serr != nil && !errors.Is(serr, smtp.ErrServerClosed) {
			srv.Close()
		}
	}
	cancel()
	stopDeliveries()
	wg.Wait()
	if errors.Is(err, smtp.ErrServerClosed) {
		err = nil
	}
	return err
}

type slogErrorLog struct{ l *slog.Logger }

func (s slogErrorLog) Printf(format string, v ...any) {
	s.l.Debug("smtp", "msg", fmt.Sprintf(format, v...))
}
func (s slogErrorLog) Println(v ...any) { s.l.Debug("smtp", "msg", fmt.Sprint(v...)) }

// adminServer is the admin listener's http.Server: every request and
// response is small (no endpoint streams), so a client that sends or reads
// slowly, or idles, is cut off rather than holding a connection.
func adminServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 64 << 10}
}
