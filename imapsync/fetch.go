package imapsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/catchall/catchall/archive"
)

// FetchOptions configures Fetch. The zero value fetches every folder with
// the defaults documented on each field.
type FetchOptions struct {
	// Include lists folder patterns to fetch (see the fetch command's help for
	// the pattern syntax); empty means every folder.
	Include []string
	// Exclude lists folder patterns to leave out, applied after Include.
	Exclude []string
	// Connections is the number of parallel IMAP connections; zero means 4.
	Connections int
	// BatchMessages and BatchBytes bound one UID FETCH command; zero means
	// 500 messages and 32 MiB.
	BatchMessages int
	BatchBytes    int64
	// Retries is how many times a batch is retried on a fresh connection after
	// the connection failed; zero means 6.
	Retries int
	// Backoff is the first wait before reconnecting; it doubles on every
	// further failure up to one minute. Zero means one second.
	Backoff time.Duration
	// DryRun lists what would be fetched without writing anything.
	DryRun bool
	// Logger receives progress and diagnostics; nil discards.
	Logger *slog.Logger
	// Progress, when not nil, is told about the work as it is found and done.
	Progress Progress
}

// Progress receives the totals as folders are scanned and the work as it is
// done. Implementations must be safe for concurrent use.
type Progress interface {
	AddTotal(messages int, bytes int64)
	Add(messages int, bytes int64)
	// ListingDone says every folder has been looked at: the totals are
	// complete. Until then they grow, so a progress bar should not show a
	// percentage or an ETA.
	ListingDone()
}

// Failure is a message (UID non-zero) or folder that could not be fetched.
type Failure struct {
	Folder string
	UID    uint32
	Err    error
	// Permanent (push): the destination refuses the message itself, or its
	// folder, so no re-run will change it; Repairable: push --repair would
	// change the bytes it refused (NUL, bare line ends).
	Permanent, Repairable bool
}

func (f Failure) String() string {
	if f.UID == 0 {
		return fmt.Sprintf("%s: %v", f.Folder, f.Err)
	}
	return fmt.Sprintf("%s uid %d: %v", f.Folder, f.UID, f.Err)
}

// FolderReport says what a fetch did in one folder.
type FolderReport struct {
	Name        string
	Skipped     bool   // unchanged since the last complete fetch
	New         int    // messages fetched (dry run: would be fetched)
	Bytes       int64  // their size
	FlagUpdates int    // messages whose flags changed
	Gone        int    // messages the server no longer has (kept in the archive)
	UIDValidity uint32 // the server's current UIDVALIDITY
	Reset       bool   // UIDVALIDITY changed; the earlier copy was kept
}

// Report is the outcome of Fetch.
type Report struct {
	Folders  []*FolderReport
	Messages int
	Bytes    int64
	Failures []Failure
	Elapsed  time.Duration
}

// Fetch copies the account on srv into arc: every selected folder, every
// message not yet archived, and flag changes of those already archived. It
// returns an error only when it cannot work at all (cannot connect, wrong
// password, unreadable archive); failures of single messages or folders are
// listed in the report and everything else is kept.
func Fetch(ctx context.Context, srv *Server, arc *archive.Archive, opts *FetchOptions) (*Report, error) {
	if opts == nil {
		opts = &FetchOptions{}
	}
	f := &fetcher{srv: srv, arc: arc, opts: *opts, start: time.Now()}
	f.setDefaults()
	return f.run(ctx)
}

type fetcher struct {
	srv   *Server
	arc   *archive.Archive
	opts  FetchOptions
	log   *slog.Logger
	start time.Time

	mu    sync.Mutex
	cond  *sync.Cond
	queue []*task // fetch tasks
	scans []*folderJob
	// scansLeft counts the scans not yet over (guarded by mu).
	scansLeft int
	active    int // tasks being worked on
	fatal     error
	report    Report
	condStor  bool
	conns     *connSet
	backoff   backoff
}

func (f *fetcher) setDefaults() {
	o := &f.opts
	transferDefaults{connections: 4, batchMessages: 500, batchBytes: 32 << 20, retries: 6}.
		apply(&o.Connections, &o.BatchMessages, &o.BatchBytes, &o.Retries, &o.Backoff)
	f.log = orDiscard(o.Logger)
	f.cond = sync.NewCond(&f.mu)
	f.backoff = backoff{first: o.Backoff, max: time.Minute}
}

// folderJob is the shared state of one folder during a run.
type folderJob struct {
	remote  *remoteFolder
	local   *archive.Folder
	report  *FolderReport
	status  *imap.StatusData
	uidNext uint32
	modSeq  uint64
	pending int  // fetch tasks not yet done
	failed  bool // some message failed: the folder stays partial
}

// task is one UID FETCH worth of messages of one folder.
type task struct {
	job     *folderJob
	uids    []imap.UID
	sizes   map[imap.UID]int64
	attempt int
}

func (f *fetcher) run(ctx context.Context) (*Report, error) {
	f.conns = newConnSet(ctx, f.srv)
	defer f.conns.close()
	c, err := f.conns.dial(ctx)
	if err != nil {
		return nil, err
	}
	f.condStor = c.Caps().Has(imap.CapCondStore)
	all, err := listFolders(c)
	err = c.cause(err)
	if err != nil {
		f.conns.hangUp(c)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, startErr("listing folders", err)
	}
	for _, name := range c.guard.BadNames() {
		f.fail(Failure{Folder: name, Err: errBadName})
	}
	folders := selectFolders(all, f.opts.Include, f.opts.Exclude)
	if len(folders) == 0 {
		f.conns.hangUp(c)
		return nil, fmt.Errorf("%w (the server has %d)", ErrNoFolder, len(all))
	}
	if err := f.statusAll(c, folders); err != nil {
		f.conns.hangUp(c)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, startErr("reading folder status", err)
	}
	for _, rf := range folders {
		if rf.NoSelect {
			continue
		}
		job, err := f.prepare(ctx, rf)
		if err != nil {
			f.fail(Failure{Folder: rf.Name, Err: err})
			continue
		}
		f.report.Folders = append(f.report.Folders, job.report)
		if job.report.Skipped {
			continue
		}
		f.scans = append(f.scans, job)
	}
	f.scansLeft = len(f.scans)
	if len(f.scans) == 0 && f.opts.Progress != nil {
		f.opts.Progress.ListingDone()
	}

	n := 1
	if len(f.scans) > 0 {
		n = f.opts.Connections // batches of one big folder spread over all of them
	}
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		var first *conn
		if i == 0 {
			first = c
		}
		go func(id int, c *conn) {
			defer wg.Done()
			f.worker(ctx, id, c)
		}(i, first)
	}
	wg.Wait()
	for _, fr := range f.report.Folders {
		f.report.Messages += fr.New
		f.report.Bytes += fr.Bytes
	}
	f.report.Elapsed = time.Since(f.start)
	if f.fatal != nil {
		return &f.report, f.fatal
	}
	return &f.report, ctx.Err()
}

// startErr classifies a failure before any work could start: a network
// failure means the server cannot be used (ErrConnect), an IMAP error is the
// server's answer.
func startErr(what string, err error) error {
	var imapErr *imap.Error
	if errors.As(err, &imapErr) {
		return fmt.Errorf("%s: the server said: %s", what, imapErr.Text)
	}
	var lim *LimitError
	if errors.As(err, &lim) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%w: %s: %v", ErrConnect, what, netErrText(err))
}

// statusAll fills in the status of every selectable folder, with pipelined
// STATUS commands where LIST-STATUS did not already provide it.
func (f *fetcher) statusAll(c *conn, folders []*remoteFolder) error {
	type pending struct {
		rf  *remoteFolder
		cmd *imapclient.StatusCommand
	}
	var cmds []pending
	for _, rf := range folders {
		if rf.NoSelect || rf.Status != nil {
			continue
		}
		cmds = append(cmds, pending{rf, c.Status(rf.Remote, statusOptions(c))})
	}
	for _, p := range cmds {
		st, err := p.cmd.Wait()
		if err != nil {
			var imapErr *imap.Error
			if !errors.As(err, &imapErr) {
				return fmt.Errorf("STATUS %q: %w", p.rf.Remote, err)
			}
			// The folder vanished or cannot be opened; SELECT will tell.
			continue
		}
		p.rf.Status = st
	}
	return nil
}

// prepare reconciles the folder's Maildir with the index and decides whether
// the folder needs a scan at all.
func (f *fetcher) prepare(ctx context.Context, rf *remoteFolder) (*folderJob, error) {
	job := &folderJob{remote: rf, status: rf.Status, report: &FolderReport{Name: rf.Name}}
	attrs := make([]string, len(rf.Attrs))
	for i, a := range rf.Attrs {
		attrs[i] = string(a)
	}
	var err error
	if f.opts.DryRun {
		job.local, err = f.arc.Folder(rf.Name)
		if err != nil {
			return nil, err
		}
		if job.local == nil {
			job.local = &archive.Folder{Name: rf.Name, Remote: rf.Remote, State: archive.StateNew}
		}
	} else {
		job.local, err = f.arc.AddFolder(rf.Name, rf.Remote, rf.Delim, strings.Join(attrs, " "))
		if err != nil {
			return nil, err
		}
		res, err := f.arc.Reconcile(ctx, job.local)
		if err != nil {
			return nil, fmt.Errorf("reconciling archive: %w", err)
		}
		if res != (archive.ReconcileResult{}) {
			f.log.Info("reconciled archive with index", "folder", rf.Name, "adopted", res.Adopted, "forgotten", res.Forgotten,
				"renamed", res.Moved, "unfinished_removed", res.TmpRemoved, "foreign_files", res.Foreign)
		}
		if res.Adopted > 0 || res.Forgotten > 0 {
			// Files and index disagreed: a full scan (not an incremental
			// one) finds what must be fetched again and fixes adopted rows.
			job.local.State = archive.StatePartial
			return job, nil
		}
	}
	st, l := job.status, job.local
	if st == nil || l.State != archive.StateComplete || st.NumMessages == nil || l.UIDValidity != st.UIDValidity || l.UIDNext != uint32(st.UIDNext) {
		return job, nil
	}
	if !f.condStor || st.HighestModSeq == 0 || st.HighestModSeq != l.HighestModSeq {
		return job, nil // without CONDSTORE only a FLAGS scan finds flag changes
	}
	n, err := f.arc.Count(rf.Name, st.UIDValidity)
	if err != nil {
		return nil, err
	}
	if n == int(*st.NumMessages) {
		job.report.Skipped = true
		job.report.UIDValidity = st.UIDValidity
	}
	return job, nil
}

func (f *fetcher) fail(fl Failure) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.report.Failures = append(f.report.Failures, fl)
	f.log.Error("fetch failed", "folder", fl.Folder, "uid", fl.UID, "err", fl.Err)
}

// next hands a worker its next piece of work: a folder to scan or a batch to
// fetch. It returns false when everything is done.
func (f *fetcher) next() (job *folderJob, t *task, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for {
		if f.fatal != nil {
			return nil, nil, false
		}
		if len(f.scans) > 0 {
			job, f.scans = f.scans[0], f.scans[1:]
			f.active++
			return job, nil, true
		}
		if len(f.queue) > 0 {
			t, f.queue = f.queue[0], f.queue[1:]
			f.active++
			return nil, t, true
		}
		if f.active == 0 {
			return nil, nil, false
		}
		f.cond.Wait()
	}
}

func (f *fetcher) done() {
	f.mu.Lock()
	f.active--
	f.mu.Unlock()
	f.cond.Broadcast()
}

func (f *fetcher) setFatal(err error) {
	f.mu.Lock()
	if f.fatal == nil {
		f.fatal = err
	}
	f.mu.Unlock()
	f.cond.Broadcast()
}

// worker owns one connection and processes work until there is none left.
func (f *fetcher) worker(ctx context.Context, id int, c *conn) {
	log := f.log.With("conn", id)
	defer func() {
		if c != nil {
			if ctx.Err() == nil && f.fatalErr() == nil {
				c.Logout().Wait()
			}
			f.conns.hangUp(c)
		}
	}()
	for {
		job, t, ok := f.next()
		if !ok {
			return
		}
		if job != nil {
			t = &task{job: job} // a scan is retried like a batch
		}
		for {
			if ctx.Err() != nil {
				f.setFatal(ctx.Err())
				f.done()
				return
			}
			var err error
			if c == nil || isClosed(c) {
				if c != nil {
					f.conns.hangUp(c)
				}
				c, err = f.reconnect(ctx, log, t.attempt)
				if err != nil {
					c = nil
					if errors.Is(err, ErrAuth) {
						f.setFatal(err)
						f.done()
						return
					}
					t.attempt++
					if t.attempt <= f.opts.Retries {
						continue
					}
					f.giveUp(t, job != nil, err)
					break
				}
			}
			if job != nil {
				err = f.scan(ctx, log, c, job)
			} else {
				err = f.fetchBatch(ctx, log, c, t)
			}
			err = c.cause(err)
			if err == nil {
				break
			}
			if ctx.Err() != nil || f.fatalErr() != nil {
				break // the run is over: cancelled, or a fatal error (disk full)
			}
			if !retryable(err) {
				f.giveUp(t, job != nil, err)
				break
			}
			log.Warn("connection failed; reconnecting", "folder", t.job.remote.Name, "attempt", t.attempt+1, "err", err)
			f.conns.hangUp(c)
			c = nil
			t.attempt++
			if t.attempt > f.opts.Retries {
				f.giveUp(t, job != nil, err)
				break
			}
		}
		if job != nil {
			f.scanned() // whether it worked or not
		}
		f.done()
	}
}

// scanned counts a folder scan as over; after the last one the totals are
// complete.
func (f *fetcher) scanned() {
	f.mu.Lock()
	f.scansLeft--
	last := f.scansLeft == 0
	f.mu.Unlock()
	if last && f.opts.Progress != nil {
		f.opts.Progress.ListingDone()
	}
}

// reconnect dials again, waiting first when this is a retry.
func (f *fetcher) reconnect(ctx context.Context, log *slog.Logger, attempt int) (*conn, error) {
	if attempt > 0 {
		wait := f.backoff.delay(attempt)
		log.Info("waiting before reconnecting", "wait", wait)
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
	return f.conns.dial(ctx)
}

// giveUp records the failure of every message of t (or of its folder scan).
func (f *fetcher) giveUp(t *task, scan bool, err error) {
	if scan {
		f.fail(Failure{Folder: t.job.remote.Name, Err: err})
		t.job.failed = true
		f.finishFolder(t.job)
		return
	}
	for _, uid := range t.uids {
		f.fail(Failure{Folder: t.job.remote.Name, UID: uint32(uid), Err: err})
	}
	f.finishTask(t.job, true)
}

// retryable reports whether err is worth a new connection: network failures,
// BYE, and the server saying it is busy or throttling us.
func retryable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, ErrAuth) || errors.Is(err, errUIDValidityChanged) || isLocal(err) || errors.As(err, new(*LimitError)) {
		return false
	}
	var imapErr *imap.Error
	if errors.As(err, &imapErr) {
		// [LIMIT] on a read is a rate or bandwidth limit (on APPEND it is a
		// size limit, which push does not retry).
		return busy(imapErr) || imapErr.Code == imap.ResponseCodeLimit || imapErr.Type == imap.StatusResponseTypeBye
	}
	return true // I/O error: the connection is gone
}

// busy reports whether the server refused because it is busy or throttling
// this client (RFC 5530 UNAVAILABLE, INUSE; THROTTLED; "try again"): the
// same command may succeed later.
func busy(e *imap.Error) bool {
	switch e.Code {
	case imap.ResponseCodeUnavailable, imap.ResponseCodeInUse, "THROTTLED":
		return true
	}
	text := strings.ToLower(e.Text)
	return strings.Contains(text, "throttl") || strings.Contains(text, "try again")
}

// ErrNoFolder means the include and exclude patterns left no folder.
var ErrNoFolder = errors.New("no folder matches the include and exclude patterns")

var errUIDValidityChanged = errors.New("UIDVALIDITY changed during the run; run fetch again to fetch the new generation")

// examine opens job's folder read-only on c: for a scan always, which
// needs the folder's current state; for a batch only when c does not have
// it open already (then data is nil).
func (f *fetcher) examine(c *conn, job *folderJob, scan bool) (*imap.SelectData, error) {
	open := c.ensureSelected
	if scan {
		open = c.selectMailbox
	}
	data, err := open(job.remote.Remote, &imap.SelectOptions{ReadOnly: true, CondStore: f.condStor})
	if err != nil {
		return nil, fmt.Errorf("EXAMINE %q: %w", job.remote.Remote, err)
	}
	return data, nil
}
