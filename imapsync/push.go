package imapsync

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/catchall/catchall/internal/archive"
)

// # Push
//
// Push is the inverse of Fetch: every archived message is appended (APPEND,
// RFC 3501 §6.3.11) to the destination account with its exact bytes, its
// flags and keywords (as far as the destination's PERMANENTFLAGS allow) and
// its INTERNALDATE. Folders are created with the destination's namespace
// prefix and delimiter; a folder whose source had a special-use role (RFC
// 6154) goes to the destination's folder with that role.
//
// Nothing is appended twice. Before a batch of APPENDs is sent, one row per
// message is committed to the archive's push journal as "in flight"; when the
// server answers OK, the row becomes "done" with the UID from APPENDUID. A
// later run skips done rows whose folder still has the same UIDVALIDITY, and
// searches the destination for the messages of in-flight rows (and of done
// rows whose UIDVALIDITY changed): UID SEARCH HEADER Message-ID (or LARGER/
// SMALLER by size for messages without one), then the candidates' bytes are
// compared by SHA-256. Only messages not found are appended.

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
	if opts == nil {
		opts = &PushOptions{}
	}
	p := &pusher{srv: srv, arc: arc, opts: *opts, start: time.Now(), dest: DestKey(srv)}
	o := &p.opts
	if o.Connections <= 0 {
		o.Connections = 4
	}
	if o.BatchMessages <= 0 {
		o.BatchMessages = 100
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = 16 << 20
	}
	if o.Retries <= 0 {
		o.Retries = 5
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	p.log = o.Logger
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.conns = map[*conn]bool{}
	p.route = o.Route
	return p.run(ctx)
}

type pusher struct {
	srv   *Server
	arc   *archive.Archive
	opts  PushOptions
	log   *slog.Logger
	start time.Time
	dest  string
	route func([]byte) string

	uidPlus bool
	limit   int64 // APPENDLIMIT, 0 if none

	mu       sync.Mutex
	folders  map[string]*destFolder // by destination name
	order    []*destFolder
	queue    []*pushBatch
	report   PushReport
	conns    map[*conn]bool
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

func (p *pusher) dial(ctx context.Context) (*conn, error) {
	c, err := p.srv.dial(ctx, nil)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.conns[c] = true
	p.report.Connections++
	p.mu.Unlock()
	if ctx.Err() != nil {
		c.raw.Conn.Close()
	}
	return c, nil
}

func (p *pusher) hangUp(c *conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	closeConn(c)
}

func (p *pusher) run(ctx context.Context) (*PushReport, error) {
	p.folders = map[string]*destFolder{}
	p.notes = map[string]bool{}
	p.dropped = map[string]map[string]bool{}
	c, err := p.dial(ctx)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for c := range p.conns {
			c.raw.Conn.Close()
		}
	})
	defer stop()
	fail := func(what string, err error) (*PushReport, error) {
		p.hangUp(c)
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
		p.hangUp(c)
		return nil, err
	}
	if p.opts.DryRun {
		c.Logout().Wait()
		p.hangUp(c)
		return p.finish(), nil
	}
	if err := p.arc.InitJournal(); err != nil {
		p.hangUp(c)
		return nil, err
	}
	// Messages whose earlier APPEND has an unknown outcome are looked for
	// first, on this connection, once the server has had time to finish
	// storing what an interrupted run had sent it. The wait is not cut by
	// the age of the in-flight rows: those of a batch are all written before
	// its first APPEND, which may have been sent long after.
	if wait := p.settle(); p.interrupted {
		p.log.Info("waiting for the destination to finish storing the interrupted run's last messages", "wait", wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			p.hangUp(c)
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
	for _, df := range p.order {
		if len(df.unknown) == 0 {
			continue
		}
		notFound, err := p.reconcile(ctx, c, df, df.unknown)
		if err != nil {
			if errors.Is(err, errLocal) {
				p.hangUp(c)
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
		p.hangUp(c)
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

// discover learns the destination's namespace, delimiter, special-use
// folders and the UIDVALIDITY of its folders.
func (p *pusher) discover(c *conn) (*folderMapper, error) {
	caps := c.Caps()
	p.uidPlus = caps.Has(imap.CapUIDPlus)
	if l, ok := caps.AppendLimit(); ok && l != nil {
		p.limit = int64(*l)
	}
	m := &folderMapper{roles: map[imap.MailboxAttr]string{}}
	haveDelim := false
	if caps.Has(imap.CapNamespace) || caps.Has(imap.CapIMAP4rev2) {
		ns, err := c.Namespace().Wait()
		if err != nil {
			return nil, fmt.Errorf("NAMESPACE: %w", err)
		}
		if len(ns.Personal) > 0 {
			m.prefix, m.delim, haveDelim = ns.Personal[0].Prefix, delimString(ns.Personal[0].Delim), true
		}
	}
	if !haveDelim {
		// RFC 3501 §6.3.8: LIST "" "" returns the delimiter.
		data, err := c.List("", "", nil).Collect()
		if err != nil {
			return nil, fmt.Errorf("LIST: %w", err)
		}
		if len(data) > 0 {
			m.delim = delimString(data[0].Delim)
		}
	}
	opts := &imap.ListOptions{}
	if caps.Has(imap.CapSpecialUse) {
		opts.ReturnSpecialUse = true
	}
	if caps.Has(imap.CapListStatus) || caps.Has(imap.CapIMAP4rev2) {
		opts.ReturnStatus = &imap.StatusOptions{UIDValidity: true}
	}
	data, err := c.List("", "*", opts).Collect()
	if err != nil {
		return nil, fmt.Errorf("LIST: %w", err)
	}
	var status []*destFolder
	for _, d := range data {
		if slices.Contains(d.Attrs, imap.MailboxAttrNonExistent) {
			continue
		}
		name := d.Mailbox
		if strings.EqualFold(name, "INBOX") {
			name = "INBOX"
		}
		df := p.folder(name)
		if slices.Contains(d.Attrs, imap.MailboxAttrNoSelect) {
			continue // a parent only: appending creates nothing there
		}
		df.exists = true
		if d.Status != nil && d.Status.UIDValidity != 0 {
			df.uidValidity = d.Status.UIDValidity
		} else {
			status = append(status, df)
		}
		for _, r := range specialUses {
			if slices.Contains(d.Attrs, r) && m.roles[r] == "" {
				m.roles[r] = name
			}
		}
	}
	return m, p.statusAll(c, status)
}

// statusAll reads the UIDVALIDITY of folders with pipelined STATUS commands.
func (p *pusher) statusAll(c *conn, folders []*destFolder) error {
	type pending struct {
		df  *destFolder
		cmd interface {
			Wait() (*imap.StatusData, error)
		}
	}
	var cmds []pending
	for _, df := range folders {
		cmds = append(cmds, pending{df, c.Status(df.remote, &imap.StatusOptions{UIDValidity: true})})
	}
	for _, pc := range cmds {
		st, err := pc.cmd.Wait()
		if err != nil {
			var imapErr *imap.Error
			if errors.As(err, &imapErr) {
				if folderGone(imapErr) {
					pc.df.exists = false
					continue
				}
				// LIST shows it, STATUS is refused: its UIDVALIDITY is
				// unknown, so what the journal says of it is checked by a
				// search (which fails the run if the folder stays unreadable).
				p.log.Warn("STATUS refused", "folder", pc.df.remote, "err", err)
				pc.df.uidValidity = 0
				continue
			}
			return fmt.Errorf("STATUS %q: %w", pc.df.remote, err)
		}
		pc.df.uidValidity = st.UIDValidity
	}
	return nil
}

// folderGone reports whether a refusal to open or inspect a folder says that
// it does not exist (RFC 5530 NONEXISTENT, RFC 3501 TRYCREATE); any other NO
// says nothing about the folder's messages.
func folderGone(e *imap.Error) bool {
	return e.Code == imap.ResponseCodeNonExistent || e.Code == imap.ResponseCodeTryCreate
}

// plan decides for every archived message where it goes and whether it is
// there already, is to be looked for, or is to be appended.
func (p *pusher) plan(mapper *folderMapper) error {
	folders, err := p.arc.Folders()
	if err != nil {
		return err
	}
	journal, err := p.arc.Journal(p.dest)
	if err != nil {
		return fmt.Errorf("reading push journal: %w", err)
	}
	for _, f := range folders {
		mapper.addRole(f.Name, f.Attrs)
	}
	// UIDs the journal says are taken, so that a search never takes one
	// message for another identical one; done rows without a UID are
	// counted in anon instead (below).
	for _, j := range journal {
		if j.State == archive.JournalDone && j.UID != 0 && !p.opts.Recheck {
			if df := p.existingFolder(j.Folder); df != nil && df.uidValidity == j.UIDValidity {
				df.claimed[j.UID] = true
			}
		}
	}
	remoteOf := map[string]string{}
	mapName := func(name string) string {
		if r, ok := remoteOf[name]; ok {
			return r
		}
		r, note := mapper.remote(name)
		if note != "" {
			p.note(fmt.Sprintf("folder %q is %q on the destination: %s", name, r, note))
		}
		remoteOf[name] = r
		return r
	}
	entriesOf := make([][]*archive.Entry, len(folders))
	ids := map[int64]bool{}
	for i, f := range folders {
		if err := p.arc.Entries(f.Name, 0, func(e *archive.Entry) error {
			entriesOf[i] = append(entriesOf[i], e)
			ids[e.ID] = true
			return nil
		}); err != nil {
			return err
		}
	}
	// Journal rows of archive rows that are gone: the archive may hold the
	// same message again under a new row (a file re-adopted by Reconcile, a
	// message fetched again), which must be looked for, not appended again.
	orphans := map[string][]*archive.JournalEntry{}
	for id, j := range journal {
		if !ids[id] {
			orphans[j.SHA256] = append(orphans[j.SHA256], j)
		}
	}
	for i, f := range folders {
		for _, e := range entriesOf[i] {
			j := journal[e.ID]
			if j != nil && j.SHA256 == e.SHA256 && j.State == archive.JournalDone && j.UIDValidity != 0 && !p.opts.Recheck {
				// The server's spelling of the folder may differ in case
				// from the journal's (rows of older versions).
				if prev := p.existingFolder(j.Folder); prev != nil && prev.uidValidity == j.UIDValidity {
					prev.report.Already++
					if j.UID == 0 {
						if j.SentSHA256 != "" {
							prev.anon[j.SentSHA256]++ // the repaired copy is what is there
						} else {
							prev.anon[j.SHA256]++
						}
					}
					continue // there: no need to read it for --split-by
				}
			}
			target := f.Name
			if p.route != nil {
				head, err := readHead(p.arc.Dir(), e.Path)
				if err != nil {
					p.report.Failures = append(p.report.Failures, Failure{Folder: e.Folder, UID: e.UID, Err: fmt.Errorf("reading archived file: %w", err)})
					continue
				}
				if t := p.route(head); t != "" {
					target = t
				}
			}
			m := &pushMsg{e: e, dest: p.folder(mapName(target))}
			if j != nil && j.SHA256 == e.SHA256 {
				if prev := p.existingFolder(j.Folder); prev != nil {
					m.check = prev
				} else {
					// LIST does not show the folder it went to: look where
					// it goes now rather than take it for lost (a search in
					// a folder that does not exist finds nothing at no cost).
					m.check = m.dest
				}
				if j.State == archive.JournalInFlight {
					p.interrupted = true
				}
				if j.SentSHA256 != "" {
					// An earlier run sent it repaired: look for that copy,
					// and send that again if it is not there.
					if _, err := p.repair(m); err != nil {
						p.report.Failures = append(p.report.Failures, Failure{Folder: e.Folder, UID: e.UID, Err: fmt.Errorf("repairing it again: %w", err)})
						continue
					}
				}
			} else if o := orphans[e.SHA256]; len(o) > 0 {
				j := o[len(o)-1]
				orphans[e.SHA256] = o[:len(o)-1]
				m.check = m.dest
				if prev := p.existingFolder(j.Folder); prev != nil {
					m.check = prev
					if prev.uidValidity == j.UIDValidity {
						delete(prev.claimed, j.UID) // its copy is this message's to find
					}
				}
				if j.State == archive.JournalInFlight {
					p.interrupted = true
				}
			} else if p.opts.Recheck {
				// Not in the journal at all (pushed under another address
				// of the server, say): look before appending.
				m.check = m.dest
			}
			if p.limit > 0 && e.Size > p.limit {
				m.dest.report.Failed++
				p.report.Failures = append(p.report.Failures, Failure{Folder: e.Folder, UID: e.UID, Permanent: true,
					Err: fmt.Errorf("not appended: %d bytes is more than the destination accepts (APPENDLIMIT %d bytes)", e.Size, p.limit)})
				continue
			}
			if m.check != nil {
				m.check.unknown = append(m.check.unknown, m)
				m.dest.report.Check++
				continue
			}
			m.dest.todo = append(m.dest.todo, m)
			m.dest.report.Messages++
			m.dest.report.Bytes += e.Size
		}
	}
	for _, df := range p.order {
		if !df.exists && len(df.todo) > 0 {
			df.report.Create = true
		}
	}
	if p.opts.DryRun {
		return nil
	}
	// A real run counts appended messages as they go.
	for _, df := range p.order {
		df.report.Messages, df.report.Bytes, df.report.Check = 0, 0, 0
		if p.opts.Progress != nil {
			var n int
			var b int64
			for _, m := range df.todo {
				n++
				b += m.e.Size
			}
			for _, m := range df.unknown {
				n++
				b += m.e.Size
			}
			p.opts.Progress.AddTotal(n, b)
		}
	}
	return nil
}

// createFolders creates the destination folders that have messages coming
// and do not exist yet, subscribes them, and reads their UIDVALIDITY.
//
// A server whose folder names ignore case may hold the folder under another
// spelling: then the messages go to that folder, named as the server names
// it (in the journal too), so that the next run finds them.
func (p *pusher) createFolders(c *conn) error {
	var created []*destFolder
	for _, df := range slices.Clone(p.order) {
		if df.exists || len(df.todo) == 0 && len(df.unknown) == 0 {
			continue
		}
		already := false
		if err := c.Create(df.remote, nil).Wait(); err != nil {
			var imapErr *imap.Error
			if !errors.As(err, &imapErr) {
				return fmt.Errorf("CREATE %q: %w", df.remote, err)
			}
			if imapErr.Code != imap.ResponseCodeAlreadyExists {
				// The destination will not make that name (Courier refuses
				// an emoji): try the name with every character outside
				// printable ASCII as "_", once; the journal records where
				// each message went, so re-runs and verify --to find them.
				alt := asciiFolderName(df.remote)
				if alt == df.remote || !p.createAs(c, df, alt, imapErr) {
					for _, m := range df.todo {
						p.failFor(m, fmt.Errorf("cannot create folder %q on the destination: %s", df.remote, imapErr.Text), false)
					}
					df.todo = nil
					continue
				}
				created = append(created, df)
				continue
			}
			already = true
			if other := p.existingFolder(df.remote); other != nil {
				p.moveTo(df, other) // LIST showed it in another spelling
				continue
			}
		}
		// Ask for the server's spelling of what it created or has.
		name := df.remote
		list, err := c.List("", df.remote, nil).Collect()
		if err != nil {
			var imapErr *imap.Error
			if !errors.As(err, &imapErr) {
				return fmt.Errorf("LIST %q: %w", df.remote, err)
			}
		}
		for _, l := range list {
			if l.Mailbox != df.remote && strings.EqualFold(l.Mailbox, df.remote) && !strings.EqualFold(l.Mailbox, "INBOX") {
				name = l.Mailbox
			}
		}
		if name != df.remote {
			if other := p.folders[name]; other != nil {
				if !already {
					other.report.Create = true
				}
				if !other.exists {
					other.exists = true
					created = append(created, other)
				}
				p.moveTo(df, other)
				continue
			}
			p.note(fmt.Sprintf("folder %q is %q on the destination: its folder names ignore case", df.remote, name))
			delete(p.folders, df.remote)
			df.remote, df.report.Name = name, name
			p.folders[name] = df
		}
		df.exists, df.report.Create = true, !already
		if !already {
			c.Subscribe(df.remote).Wait() // for mail clients that show subscribed folders only; best effort
		}
		created = append(created, df)
	}
	return p.statusAll(c, created)
}

// createAs makes df the destination folder alt, after the destination
// refused to create df's name (why): it creates alt, or takes it if it
// exists, and reports whether df can be used under that name.
func (p *pusher) createAs(c *conn, df *destFolder, alt string, why *imap.Error) bool {
	already := false
	if err := c.Create(alt, nil).Wait(); err != nil {
		var imapErr *imap.Error
		if !errors.As(err, &imapErr) || imapErr.Code != imap.ResponseCodeAlreadyExists {
			return false
		}
		already = true
	}
	p.note(fmt.Sprintf("the destination refused to create folder %q (%s): its messages went to %q", df.remote, why.Text, alt))
	p.log.Warn("folder created under another name", "folder", df.remote, "as", alt, "answer", why.Text)
	if other := p.folders[alt]; other != nil && other != df {
		other.exists = true
		p.moveTo(df, other)
		return false
	}
	delete(p.folders, df.remote)
	df.remote, df.report.Name = alt, alt
	p.folders[alt] = df
	df.exists, df.report.Create = true, !already
	if !already {
		c.Subscribe(alt).Wait()
	}
	return true
}

// asciiFolderName is name with every character outside printable ASCII
// made "_": the fallback for a destination that cannot store the name.
func asciiFolderName(name string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '_'
		}
		return r
	}, name)
}

// moveTo sends the messages planned for df, a folder the server has under
// another spelling, to that folder.
func (p *pusher) moveTo(df, other *destFolder) {
	df.report.Create = false
	for _, m := range df.todo {
		m.dest = other
	}
	other.todo = append(other.todo, df.todo...)
	other.report.Messages += df.report.Messages
	other.report.Bytes += df.report.Bytes
	df.todo, df.report.Messages, df.report.Bytes = nil, 0, 0
}

// permanentFlags reads PERMANENTFLAGS (SELECT) of every folder with
// messages to append.
func (p *pusher) permanentFlags(c *conn) error {
	for _, df := range p.order {
		if len(df.todo) == 0 {
			continue
		}
		// SELECT, not EXAMINE: a read-only folder has no permanent flags.
		sel, err := c.Select(df.remote, nil).Wait()
		if err != nil {
			var imapErr *imap.Error
			if errors.As(err, &imapErr) {
				continue // APPEND will say what is wrong
			}
			return fmt.Errorf("EXAMINE %q: %w", df.remote, err)
		}
		df.perm, df.permKnown = sel.PermanentFlags, len(sel.PermanentFlags) > 0
		if !df.permKnown {
			df.perm = sel.Flags // RFC 3501 §7.1: without PERMANENTFLAGS, FLAGS are permanent
		}
		df.permKnown = true
		if sel.UIDValidity != 0 {
			df.uidValidity = sel.UIDValidity
		}
		c.selected = df.remote
	}
	if c.Caps().Has(imap.CapUnselect) || c.Caps().Has(imap.CapIMAP4rev2) {
		if c.Unselect().Wait() == nil {
			c.selected = ""
		}
	}
	return nil
}

// batches cuts the messages to append into batches.
func (p *pusher) batches() {
	for _, df := range p.order {
		var cur *pushBatch
		var bytes int64
		for _, m := range df.todo {
			if cur == nil || len(cur.msgs) >= p.opts.BatchMessages || bytes+m.e.Size > p.opts.BatchBytes && len(cur.msgs) > 0 {
				cur = &pushBatch{dest: df}
				p.queue = append(p.queue, cur)
				bytes = 0
			}
			cur.msgs = append(cur.msgs, m)
			bytes += m.e.Size
		}
		df.todo = nil
	}
}

func (p *pusher) next() *pushBatch {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.queue) == 0 || p.fatalErr != nil {
		return nil
	}
	b := p.queue[0]
	p.queue = p.queue[1:]
	return b
}

func (p *pusher) setFatal(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fatalErr == nil {
		p.fatalErr = err
	}
}

// errLocal marks failures of this machine (the archive), which end the run.
var errLocal = errors.New("local error")

// errNotSent marks a send that failed before any APPEND went out: its
// messages are exactly as unsure as they were before.
var errNotSent = errors.New("nothing sent")

// worker sends batches until none are left. c is an open connection or nil
// (dialled when there is work).
func (p *pusher) worker(ctx context.Context, c *conn) {
	defer func() {
		if c != nil {
			c.Logout().Wait()
			p.hangUp(c)
		}
	}()
	for b := p.next(); b != nil; b = p.next() {
		pending := b.msgs
		unsure := false // pending may have arrived: search before appending again
		failures := 0
		searchFailures := 0 // consecutive failed searches
		notSent := 0        // consecutive connections lost before anything was sent
		var lastErr error
		for len(pending) > 0 {
			if failures > 0 {
				wait := min(p.opts.Backoff<<min(failures-1, 10), 30*time.Second)
				if unsure {
					// The server may still be storing what it received
					// before the connection broke.
					wait = max(wait, p.settle())
				}
				select {
				case <-ctx.Done():
				case <-time.After(wait):
				}
			}
			if ctx.Err() != nil {
				return
			}
			if c == nil {
				var err error
				if c, err = p.dial(ctx); err != nil {
					if ctx.Err() != nil {
						return
					}
					failures++
					lastErr = err
					p.log.Warn("reconnecting", "err", err, "attempt", failures)
					if failures > p.opts.Retries+1 {
						p.setFatal(err)
						return
					}
					continue
				}
			}
			if unsure {
				notFound, err := p.reconcile(ctx, c, b.dest, pending)
				if err != nil {
					if errors.Is(err, errLocal) {
						p.setFatal(err)
						return
					}
					p.hangUp(c)
					c, lastErr = nil, err
					if ctx.Err() != nil {
						return
					}
					p.log.Warn("searching the destination failed", "folder", b.dest.remote, "err", err)
					failures++
					if searchFailures++; searchFailures > p.opts.Retries {
						// Give up on this batch; the journal keeps the rows in
						// flight, so the next run searches for them again.
						for _, m := range pending {
							p.fail(m, fmt.Errorf("not appended: an earlier APPEND may have stored it and the destination could not be searched for it: %s", netErrText(err)))
							if p.opts.Progress != nil {
								p.opts.Progress.Add(1, m.e.Size)
							}
						}
						pending = nil
					}
					continue
				}
				searchFailures = 0
				pending, unsure = nil, false
				for _, m := range notFound {
					if m.attempts > p.opts.Retries {
						p.fail(m, fmt.Errorf("the destination broke off each of the %d times this message was sent: %s", m.attempts, netErrText(lastErr)))
						continue
					}
					pending = append(pending, m)
				}
				continue
			}
			rest, retry, err := p.send(ctx, c, b.dest, pending)
			if errors.Is(err, errLocal) {
				p.setFatal(err)
				return
			}
			pending = append(retry, rest...)
			if err != nil {
				// The connection broke: the outcome of rest is unknown.
				p.hangUp(c)
				c, lastErr = nil, err
				if ctx.Err() != nil {
					return
				}
				if re := (*refusedError)(nil); errors.As(err, &re) {
					p.log.Info("reconnecting after a refusal", "folder", b.dest.remote, "err", err)
					if len(rest) == 0 {
						continue // every message was answered: nothing to search for, nothing to wait for
					}
				} else {
					p.log.Warn("connection lost while appending", "folder", b.dest.remote, "err", err)
				}
				failures++
				if !errors.Is(err, errNotSent) {
					unsure = true
					notSent = 0
				} else if notSent++; notSent > p.opts.Retries {
					// The destination keeps breaking off before anything
					// is sent: give up on the batch (journal rows of earlier
					// attempts, if any, stay in flight for the next run).
					for _, m := range pending {
						p.fail(m, fmt.Errorf("not appended: the destination broke off %d times before it could be sent: %s", notSent, netErrText(err)))
						if p.opts.Progress != nil {
							p.opts.Progress.Add(1, m.e.Size)
						}
					}
					pending = nil
				}
				continue
			}
			if len(retry) > 0 {
				failures++ // transient refusals: wait, then try those again
			} else {
				failures = 0
			}
		}
	}
}

// appendResult is the answer to one APPEND.
type appendResult struct {
	m   *pushMsg
	cmd interface {
		Wait() (*imap.AppendData, error)
	}
	sendErr error
}

// send appends msgs to df, pipelined, with journal rows in flight first. It
// returns the messages not answered when the connection broke (err set), and
// those refused for a transient reason (to try again later). The first
// unanswered message whose literal was sent counts an attempt: it may be
// what breaks the connection.
func (p *pusher) send(ctx context.Context, c *conn, df *destFolder, msgs []*pushMsg) (rest, retry []*pushMsg, err error) {
	df.excl.RLock()
	defer df.excl.RUnlock()
	unselected := p.appendUnselected.Load() // once: another worker may set it meanwhile
	switch {
	case unselected:
		if c.selected != "" {
			if err := deselect(c); err != nil {
				return msgs, nil, fmt.Errorf("%w: %w", errNotSent, err)
			}
		}
	case c.selected != df.remote:
		// Servers append much faster into the selected mailbox: Dovecot keeps
		// it and its index open instead of opening them for every APPEND
		// (measured: 3 to 5 times the messages per second). Read-only is
		// enough, and changes nothing on the server. A server that refuses
		// that (Courier) makes the run fall back to appending with nothing
		// selected (appendUnselected).
		c.selected = ""
		if _, err := c.Select(df.remote, &imap.SelectOptions{ReadOnly: true}).Wait(); err == nil {
			c.selected = df.remote
		} else if !errors.As(err, new(*imap.Error)) {
			// The connection broke before anything was sent.
			return msgs, nil, fmt.Errorf("%w: %w", errNotSent, err)
		}
	}
	// A NO to an APPEND while a folder is selected may mean "not while a
	// folder is selected": the first time, such messages are tried again
	// with nothing selected rather than counted as refused.
	probeSelected := c.selected != "" && !unselected
	rows := make([]archive.JournalEntry, 0, len(msgs))
	for _, m := range msgs {
		rows = append(rows, m.journalRow(df, archive.JournalInFlight, df.uidValidity, 0))
	}
	if err := p.arc.JournalPut(ctx, p.dest, rows); err != nil {
		return msgs, nil, fmt.Errorf("%w: %v", errLocal, err)
	}
	var results []appendResult
	var local []*pushMsg // could not be read here: never sent
	for _, m := range msgs {
		var f io.ReadCloser
		var err error
		if m.data != nil {
			f = io.NopCloser(bytes.NewReader(m.data)) // repaired (push --repair)
		} else if file, ferr := os.Open(filepath.Join(p.arc.Dir(), m.e.Path)); ferr != nil {
			err = ferr
		} else {
			f = file
			var st os.FileInfo
			if st, err = file.Stat(); err == nil && st.Size() != m.e.Size {
				err = fmt.Errorf("has %d bytes, the index says %d: changed after it was fetched", st.Size(), m.e.Size)
			}
			if err != nil {
				file.Close()
			}
		}
		if err != nil {
			p.failFor(m, fmt.Errorf("archived file %s: %w", m.e.Path, err), false)
			local = append(local, m)
			continue
		}
		flags, dropped := allowedFlags(m.e.Flags, df.perm, df.permKnown)
		if len(dropped) > 0 {
			p.mu.Lock()
			if p.dropped[df.remote] == nil {
				p.dropped[df.remote] = map[string]bool{}
			}
			for _, d := range dropped {
				p.dropped[df.remote][d] = true
			}
			p.mu.Unlock()
		}
		cmd := c.Append(df.remote, m.e.Size, &imap.AppendOptions{Flags: flags, Time: m.e.InternalDate})
		_, werr := io.Copy(cmd, f)
		f.Close()
		cerr := cmd.Close()
		results = append(results, appendResult{m: m, cmd: cmd, sendErr: errors.Join(werr, cerr)})
		if werr != nil || cerr != nil {
			break // refused before the literal, or the connection broke
		}
	}
	sent := map[*pushMsg]bool{}
	var done []archive.JournalEntry
	var forget []int64
	for _, m := range local {
		forget = append(forget, m.e.ID)
	}
	// When the server refuses a synchronizing literal (NO instead of "+"),
	// go-imap ends the connection and completes every APPEND still waiting
	// for its answer with that very error value: for those it tells
	// nothing, they may have been stored. Only the last APPEND sent can be
	// the refused one: sending stops there.
	var refused *imap.Error
	if n := len(results); n > 0 && errors.As(results[n-1].sendErr, &refused) && refused.Type == imap.StatusResponseTypeBye {
		refused = nil
	}
	var broken error
	counted := false
	for i, r := range results {
		sent[r.m] = true
		last := i == len(results)-1
		if broken != nil && !(last && refused != nil) {
			rest = append(rest, r.m)
			continue
		}
		data, werr := waitAppend(c, r.cmd)
		var imapErr *imap.Error
		if last && refused != nil {
			werr = refused // the server answered NO before the literal
		}
		switch {
		case !last && refused != nil && errors.As(werr, &imapErr) && imapErr == refused:
			// Not this message's answer: its outcome is unknown.
			if broken == nil {
				broken = fmt.Errorf("the connection was closed after the destination refused a message: %s", refused.Text)
			}
			rest = append(rest, r.m)
		case werr == nil && r.sendErr == nil:
			uv, uid := df.uidValidity, uint32(0)
			if data != nil && data.UID != 0 && (p.uidPlus || data.UIDValidity != 0) {
				uid = uint32(data.UID)
				if data.UIDValidity != 0 {
					uv = data.UIDValidity
				}
			}
			done = append(done, r.m.journalRow(df, archive.JournalDone, uv, uid))
			p.mu.Lock()
			df.report.Messages++
			df.report.Bytes += r.m.e.Size
			if uid != 0 {
				df.claimed[uid] = true
			} else {
				df.anon[r.m.e.SHA256]++
			}
			p.mu.Unlock()
			if p.opts.Progress != nil {
				p.opts.Progress.Add(1, r.m.e.Size)
			}
		case errors.As(werr, &imapErr) && imapErr.Type != imap.StatusResponseTypeBye:
			// The server answered NO or BAD: the message is not there.
			forget = append(forget, r.m.e.ID)
			if probeSelected && imapErr.Code == "" && !permanentRefusal(imapErr) {
				// A refusal that names no reason (TOOBIG, OVERQUOTA …, or
				// "invalid header" say it is the message) may be about the
				// selected folder.
				if p.appendUnselected.CompareAndSwap(false, true) {
					p.log.Info("the destination refused an APPEND while a folder was selected; appending with no folder selected from now on",
						"folder", df.remote, "answer", imapErr.Text)
					p.note(fmt.Sprintf("the destination refused APPEND while a folder was selected (%q): push appended with nothing selected", imapErr.Text))
				}
				retry = append(retry, r.m) // once more, unselected; not an attempt
				continue
			}
			if transient(imapErr) && r.m.attempts < p.opts.Retries {
				r.m.attempts++
				retry = append(retry, r.m)
				continue
			}
			fixable := repairableRefusal(imapErr)
			if fixable && p.opts.Repair && r.m.data == nil {
				changed, err := p.repair(r.m)
				if err != nil {
					p.failFor(r.m, fmt.Errorf("%w; repairing it failed: %v", refusal(imapErr), err), false)
					if p.opts.Progress != nil {
						p.opts.Progress.Add(1, r.m.e.Size)
					}
					continue
				}
				if changed {
					p.log.Info("sending a repaired copy", "folder", df.remote, "uid", r.m.e.UID, "answer", imapErr.Text)
					retry = append(retry, r.m) // the repaired bytes; not an attempt
					continue
				}
			}
			if permanentRefusal(imapErr) {
				p.failFor(r.m, refusal(imapErr), fixable)
			} else {
				p.fail(r.m, refusal(imapErr))
			}
			if p.opts.Progress != nil {
				p.opts.Progress.Add(1, r.m.e.Size)
			}
		default:
			broken = errors.Join(werr, r.sendErr)
			rest = append(rest, r.m)
			if !counted && refused == nil {
				// The first unanswered one may be what the server cannot
				// take (after a refusal, the refusal ended the connection,
				// and go-imap may report that as a network error).
				r.m.attempts++
				counted = true
			}
		}
	}
	for _, m := range msgs {
		if !sent[m] && !slices.Contains(local, m) {
			rest = append(rest, m)
			if broken == nil {
				broken = errors.New("connection closed")
			}
		}
	}
	// The server has answered: record it even when the run is being
	// interrupted, or answered messages would stay in flight.
	jctx := context.WithoutCancel(ctx)
	if err := p.arc.JournalPut(jctx, p.dest, done); err != nil {
		return rest, retry, fmt.Errorf("%w: %v", errLocal, err)
	}
	if err := p.arc.JournalForget(jctx, p.dest, forget); err != nil {
		return rest, retry, fmt.Errorf("%w: %v", errLocal, err)
	}
	if refused != nil && (broken != nil || isClosed(c)) {
		// go-imap closed the connection after the NO: a refusal, not a
		// lost connection (the worker says so and reconnects).
		return rest, retry, &refusedError{refused}
	}
	if broken != nil {
		if isClosed(c) || !errors.As(broken, new(*imap.Error)) {
			return rest, retry, broken
		}
	}
	return rest, retry, nil
}

// refusedError is a connection ended by go-imap after the destination
// refused an APPEND before its literal (NO instead of "+"): the server
// answered; nothing was lost on the network.
type refusedError struct{ no *imap.Error }

func (e *refusedError) Error() string {
	return "the destination refused a message (" + e.no.Text + ") and the connection was closed after it"
}

// deselect leaves the selected folder without changing it: UNSELECT where
// the server has it, else EXAMINE of a folder that cannot exist, which
// fails and so leaves nothing selected (RFC 3501 §6.3.1; CLOSE would
// expunge a folder selected read-write).
func deselect(c *conn) error {
	if c.Caps().Has(imap.CapUnselect) || c.Caps().Has(imap.CapIMAP4rev2) {
		if err := c.Unselect().Wait(); err != nil && !errors.As(err, new(*imap.Error)) {
			return err
		}
		c.selected = ""
		return nil
	}
	_, err := c.Select("catchall-no-such-folder-"+strconv.FormatInt(time.Now().UnixNano(), 36), &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil && !errors.As(err, new(*imap.Error)) {
		return err
	}
	c.selected = ""
	return nil
}

// waitAppend waits for the answer to an APPEND. go-imap never completes a
// command begun after the connection closed (beta.8), so a closed connection
// ends the wait.
func waitAppend(c *conn, cmd interface {
	Wait() (*imap.AppendData, error)
}) (*imap.AppendData, error) {
	type result struct {
		data *imap.AppendData
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		d, err := cmd.Wait()
		ch <- result{d, err}
	}()
	select {
	case r := <-ch:
		return r.data, r.err
	case <-c.Closed():
		select {
		case r := <-ch:
			return r.data, r.err
		case <-time.After(2 * time.Second):
			return nil, errors.New("the server closed the connection")
		}
	}
}

// transient reports whether a refusal may go away by itself (RFC 5530).
func transient(e *imap.Error) bool {
	return busy(e) || e.Code == imap.ResponseCodeServerBug
}

// refusal explains a NO or BAD answer to APPEND.
func refusal(e *imap.Error) error {
	why := ""
	switch e.Code {
	case imap.ResponseCodeTooBig:
		why = "the message is too big for the destination: "
	case imap.ResponseCodeOverQuota:
		why = "the destination account is full: "
	case imap.ResponseCodeLimit:
		why = "the destination hit a limit: "
	case imap.ResponseCodeTryCreate:
		why = "the destination folder does not exist: "
	}
	code := ""
	if e.Code != "" {
		code = "[" + string(e.Code) + "] "
	}
	return fmt.Errorf("refused by the destination: %s%s%s", why, code, e.Text)
}

// permanentRefusal reports whether a NO to APPEND is about the message
// itself, so that no re-run will change it: too big, not parseable, bytes
// the server does not store (Cyrus: NUL, bare newlines). A full account, a
// missing folder or an unexplained NO may go away.
func permanentRefusal(e *imap.Error) bool {
	switch e.Code {
	case imap.ResponseCodeTooBig, imap.ResponseCodeParse, imap.ResponseCodeCannot:
		return true
	case imap.ResponseCodeOverQuota, imap.ResponseCodeTryCreate:
		return false
	}
	t := strings.ToLower(e.Text)
	for _, w := range []string{"too large", "too big", "nul", "bare", "newline", "8bit", "8-bit", "invalid", "syntax", "malformed", "parse"} {
		if strings.Contains(t, w) {
			return true
		}
	}
	return repairableRefusal(e)
}

// repairableRefusal reports whether the destination refused bytes push
// --repair changes: NUL, or line ends that are not CRLF.
func repairableRefusal(e *imap.Error) bool {
	t := strings.ToLower(e.Text)
	for _, w := range []string{"nul", "bare", "newline", "line end", "line-end", "lf", "cr"} {
		if strings.Contains(t, w) && (w != "lf" && w != "cr" || containsWord(t, w)) {
			return true
		}
	}
	return e.Code == imap.ResponseCodeParse && strings.Contains(t, "line")
}

func containsWord(s, w string) bool {
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return !('a' <= r && r <= 'z') }) {
		if f == w {
			return true
		}
	}
	return false
}

// repairMessage returns b with every line end CRLF (a bare LF or a lone
// CR becomes CRLF) and every NUL byte a space — what RFC 5322 allows and
// strict servers store — and whether anything changed.
func repairMessage(b []byte) ([]byte, bool) {
	out := make([]byte, 0, len(b)+len(b)/32)
	changed := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == 0:
			out = append(out, ' ')
			changed = true
		case c == '\r' && i+1 < len(b) && b[i+1] == '\n':
			out = append(out, '\r', '\n')
			i++
		case c == '\r' || c == '\n':
			out = append(out, '\r', '\n')
			changed = true
		default:
			out = append(out, c)
		}
	}
	return out, changed
}

// repair loads m's archived bytes and, when push --repair would change
// them, makes m the repaired message (its size and hash; orig keeps the
// archived message's hash).
func (p *pusher) repair(m *pushMsg) (bool, error) {
	raw, err := os.ReadFile(filepath.Join(p.arc.Dir(), m.e.Path))
	if err != nil {
		return false, err
	}
	if sum := sha256.Sum256(raw); hex.EncodeToString(sum[:]) != m.archiveSHA() {
		return false, fmt.Errorf("archived file %s changed after it was fetched", m.e.Path)
	}
	fixed, changed := repairMessage(raw)
	if !changed {
		return false, nil
	}
	sum := sha256.Sum256(fixed)
	e := *m.e
	e.Size, e.SHA256 = int64(len(fixed)), hex.EncodeToString(sum[:])
	m.orig, m.e, m.data = m.archiveSHA(), &e, fixed
	return true, nil
}

// reconcile looks for msgs in df (whose APPEND may or may not have
// happened): it searches by Message-ID (or by size for messages without
// one), compares the candidates' SHA-256, and records each message found as
// done and already there. It returns the messages not found, which are to
// be appended.
func (p *pusher) reconcile(ctx context.Context, c *conn, df *destFolder, msgs []*pushMsg) (notFound []*pushMsg, err error) {
	// No APPEND into df is unanswered while this runs (see destFolder).
	df.excl.Lock()
	defer df.excl.Unlock()
	if !df.exists {
		return msgs, nil // LIST does not show it: nothing can be in it
	}
	c.selected = "" // a failed SELECT leaves nothing selected (RFC 3501 §6.3.1)
	sel, err := c.Select(df.remote, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		var imapErr *imap.Error
		if errors.As(err, &imapErr) && folderGone(imapErr) {
			return msgs, nil // the folder is gone: so is everything in it
		}
		// Any other refusal says nothing about what is in the folder.
		return nil, fmt.Errorf("EXAMINE %q: %w", df.remote, err)
	}
	if df.uidValidity != sel.UIDValidity {
		p.mu.Lock()
		df.uidValidity, df.claimed = sel.UIDValidity, map[uint32]bool{}
		p.mu.Unlock()
	}
	cands := make([][]imap.UID, len(msgs))
	// Many to look for: one FETCH of every Message-ID and size beats a
	// SEARCH each. It is also the way out when the server refuses to
	// search.
	listing := len(msgs) > 16
	if sel.NumMessages > 0 && !listing {
		// One SEARCH at a time: untagged SEARCH results of pipelined
		// commands cannot be told apart, and Dovecot does run them in
		// parallel (RFC 3501 §5.5).
		for i, m := range msgs {
			bySize := &imap.SearchCriteria{Larger: m.e.Size - 1, Smaller: m.e.Size + 1}
			crit := bySize
			if m.e.MessageID != "" && isSearchable(m.e.MessageID) {
				crit = &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: m.e.MessageID}}}
			}
			data, err := c.UIDSearch(crit, nil).Wait()
			var imapErr *imap.Error
			if errors.As(err, &imapErr) && crit != bySize {
				// Refused (e.g. [BADCHARSET] for a Message-ID that is not
				// ASCII): a NO is no "not there". Search by size instead.
				p.log.Debug("SEARCH HEADER refused, searching by size", "folder", df.remote, "err", err)
				data, err = c.UIDSearch(bySize, nil).Wait()
			}
			if errors.As(err, &imapErr) {
				p.log.Debug("SEARCH refused, listing the folder", "folder", df.remote, "err", err)
				listing = true
				break
			}
			if err != nil {
				return nil, fmt.Errorf("UID SEARCH in %q: %w", df.remote, err)
			}
			cands[i] = data.AllUIDs()
		}
	}
	if sel.NumMessages > 0 && listing {
		list, err := destListing(c, &DestVerifyOptions{})
		if err != nil {
			return nil, fmt.Errorf("UID FETCH in %q: %w", df.remote, err)
		}
		byID := map[string][]imap.UID{}
		bySize := map[int64][]imap.UID{}
		for _, d := range list {
			byID[d.msgID] = append(byID[d.msgID], d.uid)
			bySize[d.size] = append(bySize[d.size], d.uid)
		}
		for i, m := range msgs {
			if m.e.MessageID != "" {
				cands[i] = byID[m.e.MessageID]
			}
			if len(cands[i]) == 0 {
				// No Message-ID, or one read differently from what fetch
				// stored: the size finds it too, the hash decides.
				cands[i] = bySize[m.e.Size]
			}
		}
	}
	var all []imap.UID
	for _, cs := range cands {
		for _, u := range cs {
			if !df.claimed[uint32(u)] && !slices.Contains(all, u) {
				all = append(all, u)
			}
		}
	}
	var sums map[imap.UID]string
	if len(all) > 0 {
		slices.Sort(all)
		if sums, err = bodyHashes(c, all); err != nil {
			return nil, fmt.Errorf("UID FETCH in %q: %w", df.remote, err)
		}
	}
	var done []archive.JournalEntry
	for i, m := range msgs {
		found := imap.UID(0)
		// Copies of these bytes whose UID is unknown belong to messages
		// already done: leave that many unclaimed copies to them.
		skip := df.anon[m.e.SHA256]
		cs := slices.Clone(cands[i])
		slices.Sort(cs)
		for _, u := range cs {
			if df.claimed[uint32(u)] || sums[u] != m.e.SHA256 {
				continue
			}
			if skip > 0 {
				skip--
				continue
			}
			found = u
			break
		}
		if found == 0 {
			notFound = append(notFound, m)
			continue
		}
		p.mu.Lock()
		df.claimed[uint32(found)] = true
		df.report.Already++
		p.mu.Unlock()
		done = append(done, archive.JournalEntry{Message: m.e.ID, SHA256: m.e.SHA256, Folder: df.remote, UIDValidity: sel.UIDValidity, UID: uint32(found), State: archive.JournalDone})
		if p.opts.Progress != nil {
			p.opts.Progress.Add(1, m.e.Size)
		}
	}
	c.selected = df.remote
	if c.Caps().Has(imap.CapUnselect) || c.Caps().Has(imap.CapIMAP4rev2) {
		if c.Unselect().Wait() == nil {
			c.selected = ""
		}
	}
	if err := p.arc.JournalPut(context.WithoutCancel(ctx), p.dest, done); err != nil {
		return nil, fmt.Errorf("%w: %v", errLocal, err)
	}
	return notFound, nil
}

// isSearchable reports whether a Message-ID can be sent as a search string
// (an astring without CR, LF or NUL).
func isSearchable(s string) bool {
	// archive.MessageID stands in U+FFFD for bytes that are not UTF-8 and
	// cuts very long IDs: neither can be found by what the server holds.
	return !strings.ContainsAny(s, "\r\n\x00\uFFFD") && len(s) < 900
}
