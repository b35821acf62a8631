package imapsync

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/catchall/catchall/archive"
)

// PushOptions configures Push. The zero value pushes every archived message
// into the folder of the same name with the defaults documented below.
type PushOptions struct {
	// Route, when not nil, files messages elsewhere than in their folder
	// (catchall push --split-by): it is given the start of each message (at
	// least its header, up to 64 KiB) and returns the archive-style folder
	// name ("Aliases/adobe") the message goes to, or "" to keep its folder.
	// It is called from one goroutine.
	Route func(head []byte) string
	// Connections is the number of parallel IMAP connections; zero means 4.
	// No more are opened than there are batches to send.
	Connections int
	// BatchMessages and BatchBytes bound one pipelined run of APPENDs; zero
	// means 100 messages and 16 MiB.
	BatchMessages int
	BatchBytes    int64
	// Retries is how often a message is tried again after a transient error
	// (a dropped connection, BYE, [UNAVAILABLE], [INUSE]); zero means 5.
	Retries int
	// Backoff is the first wait before a retry; it doubles up to 30 s. Zero
	// means one second.
	Backoff time.Duration
	// Settle is how long the destination is given, after an interrupted
	// run's last APPEND, to finish storing what it had already received
	// before the messages of unknown outcome are searched for: a server goes
	// on saving a message whose client was killed after sending it, and a
	// search that comes first would miss it and append it again. A run
	// that finds in-flight rows of an interrupted run waits Settle before
	// its first search, and a worker whose connection broke during APPENDs
	// waits at least Settle before searching for them. Zero means 3 s.
	Settle time.Duration
	// Recheck looks for every journalled message on the destination again
	// instead of trusting the journal, and appends those no longer there
	// (deleted on the destination since): one listing per folder.
	Recheck bool
	// DryRun works out what would be created and appended and changes
	// nothing, neither on the server nor in the archive.
	DryRun bool
	// Repair sends a message the destination refused for its bytes (NUL,
	// line ends that are not CRLF: Cyrus) again with NUL as a space and
	// every line end CRLF, and records both hashes in the journal. Off by
	// default: the archive keeps the original either way.
	Repair bool
	// Logger receives diagnostics; nil discards.
	Logger *slog.Logger
	// Progress, when not nil, is told about the work.
	Progress Progress
}

// PushFolder says what a push did (or, dry, would do) in one destination
// folder.
type PushFolder struct {
	Name     string // the destination's name (decoded)
	Create   bool   // the folder did not exist and was (would be) created
	Messages int    // messages appended (dry run: to append)
	Bytes    int64  // their size
	Already  int    // already on the destination (journal, or found by search)
	Check    int    // dry run: messages of unknown outcome a real run searches for first
	Failed   int
}

// PushReport is the outcome of Push.
type PushReport struct {
	Folders     []*PushFolder
	Messages    int
	Bytes       int64
	Already     int
	Created     int
	Notes       []string  // renamed folders, dropped keywords
	Failures    []Failure // archive folder and UID of each message not appended
	Connections int       // connections opened
	Elapsed     time.Duration
}

// DestKey names a destination account in the push journal: the login and the
// server's address, lower case.
func DestKey(srv *Server) string {
	return strings.ToLower(srv.URL.User) + "@" + strings.ToLower(srv.URL.Addr())
}

// Push appends every archived message that is not on the destination yet to
// the account on srv. It returns an error only when it cannot work at all
// (cannot connect, wrong password, unreadable archive); messages the server
// refuses are listed in the report with the reason, and everything else goes
// on.
func Push(ctx context.Context, srv *Server, arc *archive.Archive, opts *PushOptions) (*PushReport, error) {
	p := newPusher(ctx, srv, arc, opts)
	defer p.conns.close()
	return p.run(ctx)
}

// newPusher returns a pusher for the account on srv with the defaults of
// opts (nil: all of them) filled in, ready to run, or to look at the
// destination for VerifyDest. Its connections are closed when ctx ends,
// until p.conns.close.
func newPusher(ctx context.Context, srv *Server, arc *archive.Archive, opts *PushOptions) *pusher {
	if opts == nil {
		opts = &PushOptions{}
	}
	p := &pusher{srv: srv, arc: arc, opts: *opts, start: time.Now(), dest: DestKey(srv),
		folders: map[string]*destFolder{}, notes: map[string]bool{}, dropped: map[string]map[string]bool{}}
	o := &p.opts
	transferDefaults{connections: 4, batchMessages: 100, batchBytes: 16 << 20, retries: 5}.
		apply(&o.Connections, &o.BatchMessages, &o.BatchBytes, &o.Retries, &o.Backoff)
	p.log = orDiscard(o.Logger)
	p.backoff = backoff{first: o.Backoff, max: 30 * time.Second}
	p.conns = newConnSet(ctx, srv)
	return p
}

type pusher struct {
	srv   *Server
	arc   *archive.Archive
	opts  PushOptions
	log   *slog.Logger
	start time.Time
	dest  string

	uidPlus bool
	limit   int64 // APPENDLIMIT, 0 if none

	mu       sync.Mutex
	folders  map[string]*destFolder // by destination name
	order    []*destFolder
	queue    []*pushBatch
	report   PushReport
	conns    *connSet
	backoff  backoff
	notes    map[string]bool
	dropped  map[string]map[string]bool // folder → keywords left out
	fatalErr error
	// interrupted is set when the journal holds in-flight rows of an
	// earlier run: their APPENDs may still be being stored.
	interrupted bool
	// appendUnselected is set, for the rest of the run, once the
	// destination refused an APPEND while a folder was selected (Courier:
	// "NO Current box is selected READ-ONLY."): from then on every
	// connection appends with no folder selected.
	appendUnselected atomic.Bool
}

// destFolder is one destination folder during a run.
//
// Once workers run, sends into the folder hold excl for reading and searches
// (reconcile) hold it for writing: a search never runs while an APPEND into
// the folder is unanswered, so it cannot take a copy about to be claimed
// by that APPEND's answer for another message. uidValidity is written, and
// claimed replaced, only under excl held for writing; claimed and anon are
// written under p.mu too (sends run in parallel).
type destFolder struct {
	excl        sync.RWMutex
	remote      string
	exists      bool
	uidValidity uint32
	perm        []imap.Flag
	permKnown   bool
	claimed     map[uint32]bool // UIDs known to hold archived messages
	// anon counts, by SHA-256, the messages known to be in the folder whose
	// UID is unknown (done without APPENDUID): a search skips that many
	// unclaimed copies, which are theirs.
	anon    map[string]int
	report  *PushFolder
	unknown []*pushMsg // outcome unknown: search before appending
	todo    []*pushMsg
}

// pushMsg is one archived message to push.
type pushMsg struct {
	e        *archive.Entry
	dest     *destFolder // where it goes
	check    *destFolder // where an earlier attempt may have put it
	attempts int
	// With push --repair, a message the destination refused for its bytes
	// is sent repaired: data holds those bytes, e their size and hash, and
	// orig the archived message's SHA-256 (the journal's key to it).
	data []byte
	orig string
}

// archiveSHA is the SHA-256 of the archived message, repaired or not.
func (m *pushMsg) archiveSHA() string {
	if m.orig != "" {
		return m.orig
	}
	return m.e.SHA256
}

// journalRow is the journal row of m in df.
func (m *pushMsg) journalRow(df *destFolder, state string, uv, uid uint32) archive.JournalEntry {
	j := archive.JournalEntry{Message: m.e.ID, SHA256: m.archiveSHA(), Folder: df.remote, UIDValidity: uv, UID: uid, State: state}
	if m.orig != "" {
		j.SentSHA256, j.SentSize = m.e.SHA256, m.e.Size
	}
	return j
}

// pushBatch is one pipelined run of APPENDs into one folder.
type pushBatch struct {
	dest *destFolder
	msgs []*pushMsg
}

func (p *pusher) settle() time.Duration {
	if p.opts.Settle > 0 {
		return p.opts.Settle
	}
	return 3 * time.Second
}

func (p *pusher) folder(remote string) *destFolder {
	if df := p.folders[remote]; df != nil {
		return df
	}
	df := &destFolder{remote: remote, claimed: map[uint32]bool{}, anon: map[string]int{}, report: &PushFolder{Name: remote}}
	p.folders[remote] = df
	p.order = append(p.order, df)
	return df
}

// existingFolder returns the destination folder called name as LIST showed
// it: by its exact name or else, for servers whose names ignore case, the
// only existing folder whose name differs from it in case alone; nil if
// there is none.
func (p *pusher) existingFolder(name string) *destFolder {
	if df := p.folders[name]; df != nil && df.exists {
		return df
	}
	var found *destFolder
	for _, df := range p.order {
		if df.exists && strings.EqualFold(df.remote, name) {
			if found != nil {
				return nil // several: the server tells case apart
			}
			found = df
		}
	}
	return found
}

func (p *pusher) note(s string) {
	if !p.notes[s] {
		p.notes[s] = true
		p.report.Notes = append(p.report.Notes, s)
	}
}

// failFor is fail for a failure no re-run will fix (the destination refuses
// the message itself, or the folder): Permanent in the report; repairable
// when push --repair would change what was refused.
func (p *pusher) failFor(m *pushMsg, err error, repairable bool) {
	p.fail(m, err)
	p.mu.Lock()
	f := &p.report.Failures[len(p.report.Failures)-1]
	f.Permanent, f.Repairable = true, repairable && m.data == nil
	p.mu.Unlock()
}

func (p *pusher) fail(m *pushMsg, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.report.Failures = append(p.report.Failures, Failure{Folder: m.e.Folder, UID: m.e.UID, Err: err})
	m.dest.report.Failed++
}

func (p *pusher) run(ctx context.Context) (*PushReport, error) {
	c, err := p.conns.dial(ctx)
	if err != nil {
		return nil, err
	}
	fail := func(what string, err error) (*PushReport, error) {
		p.conns.hangUp(c)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, startErr(what, err)
	}
	mapper, err := p.discover(c)
	if err != nil {
		return fail("listing folders", err)
	}
	if err := p.plan(mapper); err != nil {
		p.conns.hangUp(c)
		return nil, err
	}
	if p.opts.DryRun {
		c.Logout().Wait()
		p.conns.hangUp(c)
		return p.finish(), nil
	}
	if err := p.arc.InitJournal(); err != nil {
		p.conns.hangUp(c)
		return nil, err
	}
	// Messages whose earlier APPEND has an unknown outcome are looked for
	// first, on this connection, once the server has had time to finish
	// storing what an interrupted run had sent it. The wait is not cut by
	// the age of the in-flight rows: those of a batch are all written before
	// its first APPEND, which may have been sent long after.
	if wait := p.settle(); p.interrupted {
		p.log.Info("waiting for the destination to finish storing the interrupted run's last messages", "wait", wait.Round(time.Millisecond))
		if err := sleep(ctx, wait); err != nil {
			p.conns.hangUp(c)
			return nil, err
		}
	}
	for _, df := range p.order {
		if len(df.unknown) == 0 {
			continue
		}
		notFound, err := p.reconcile(ctx, c, df, df.unknown)
		if err != nil {
			if isLocal(err) {
				p.conns.hangUp(c)
				return nil, err
			}
			return fail("searching the destination", err)
		}
		for _, m := range notFound {
			m.dest.todo = append(m.dest.todo, m)
		}
		df.unknown = nil
	}
	if err := p.createFolders(c); err != nil {
		return fail("creating folders", err)
	}
	if err := p.permanentFlags(c); err != nil {
		return fail("reading permanent flags", err)
	}
	p.batches()
	if len(p.queue) == 0 {
		c.Logout().Wait()
		p.conns.hangUp(c)
		return p.finish(), ctx.Err()
	}
	n := min(p.opts.Connections, len(p.queue))
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		var first *conn
		if i == 0 {
			first = c
		}
		wg.Add(1)
		go func(c *conn) {
			defer wg.Done()
			p.worker(ctx, c)
		}(first)
	}
	wg.Wait()
	rep := p.finish()
	if p.fatalErr != nil {
		return rep, p.fatalErr
	}
	return rep, ctx.Err()
}

func (p *pusher) finish() *PushReport {
	r := &p.report
	r.Connections = p.conns.count()
	for _, df := range p.order {
		f := df.report
		if f.Messages+f.Already+f.Failed+f.Check == 0 && !f.Create {
			continue
		}
		r.Folders = append(r.Folders, f)
		r.Messages += f.Messages
		r.Bytes += f.Bytes
		r.Already += f.Already
		if f.Create {
			r.Created++
		}
	}
	slices.SortFunc(r.Folders, func(a, b *PushFolder) int { return strings.Compare(a.Name, b.Name) })
	for _, name := range slices.Sorted(maps.Keys(p.dropped)) {
		r.Notes = append(r.Notes, fmt.Sprintf("%s: keywords %s dropped: the destination's PERMANENTFLAGS do not allow them",
			name, strings.Join(slices.Sorted(maps.Keys(p.dropped[name])), " ")))
	}
	r.Elapsed = time.Since(p.start)
	return r
}
