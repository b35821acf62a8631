package imapsync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/catchall/catchall/archive"
)

// msgMeta is what a scan learns about a server message before fetching it.
type msgMeta struct {
	size  int64
	flags []string
}

// scan opens a folder, compares its messages with the archive, records flag
// changes and expunges, and queues the new messages in batches.
func (f *fetcher) scan(ctx context.Context, log *slog.Logger, c *conn, job *folderJob) error {
	sel, err := f.examine(c, job, true)
	if err != nil {
		return err
	}
	name, local, rep := job.remote.Name, job.local, job.report
	uv := sel.UIDValidity
	if local.UIDValidity != 0 && local.UIDValidity != uv {
		rep.Reset = true
		log.Warn("UIDVALIDITY changed: fetching the folder again; the earlier copy stays in the archive and identical messages are not stored twice",
			"folder", name, "old", local.UIDValidity, "new", uv)
	}
	rep.UIDValidity = uv
	job.uidNext, job.modSeq = uint32(sel.UIDNext), sel.HighestModSeq

	known, err := f.arc.KnownUIDs(name, uv)
	if err != nil {
		return fmt.Errorf("reading index: %w", err)
	}
	live := 0
	for _, k := range known {
		if !k.Gone {
			live++
		}
	}

	server := map[imap.UID]msgMeta{}
	flagChanges := map[uint32][]string{}
	var gone []uint32
	incremental := f.condStor && local.State == archive.StateComplete && local.UIDValidity == uv && local.HighestModSeq != 0 && local.UIDNext != 0
	if sel.NumMessages > 0 {
		if incremental {
			// New messages only.
			var set imap.UIDSet
			set.AddRange(imap.UID(local.UIDNext), 0)
			if err := fetchMeta(c, set, 0, true, func(uid imap.UID, m msgMeta) {
				if uint32(uid) >= local.UIDNext {
					server[uid] = m
				}
			}); err != nil {
				return err
			}
			// Flag changes of known messages since the last run (RFC 7162 §3.1.4).
			var all imap.UIDSet
			all.AddRange(1, 0)
			if err := fetchMeta(c, all, local.HighestModSeq, false, func(uid imap.UID, m msgMeta) {
				if k, ok := known[uint32(uid)]; ok && k.Flags != strings.Join(archive.NormalizeFlags(m.flags), " ") {
					flagChanges[uint32(uid)] = m.flags
				}
			}); err != nil {
				return err
			}
			// Expunges: only when the counts say there were any.
			if int(sel.NumMessages) != live+len(server) {
				uids, err := searchAll(c)
				if err != nil {
					return err
				}
				onServer := map[uint32]bool{}
				for _, u := range uids {
					onServer[uint32(u)] = true
					if _, ok := known[uint32(u)]; !ok {
						if _, ok := server[u]; !ok {
							server[u] = msgMeta{size: -1} // on the server, not in the archive
						}
					}
				}
				for uid, k := range known {
					if !k.Gone && !onServer[uid] {
						gone = append(gone, uid)
					}
				}
			}
		} else {
			var all imap.UIDSet
			all.AddRange(1, 0)
			if err := fetchMeta(c, all, 0, true, func(uid imap.UID, m msgMeta) { server[uid] = m }); err != nil {
				return err
			}
			if len(server) != int(sel.NumMessages) {
				// Some FETCH responses went missing: ask SEARCH for the full list.
				uids, err := searchAll(c)
				if err != nil {
					return err
				}
				for _, u := range uids {
					if _, ok := server[u]; !ok {
						server[u] = msgMeta{size: -1}
					}
				}
				log.Warn("server listed fewer messages than it holds; completed the list with SEARCH", "folder", name,
					"exists", sel.NumMessages, "listed", len(server))
			}
			for uid, k := range known {
				if _, ok := server[imap.UID(uid)]; !ok && !k.Gone {
					gone = append(gone, uid)
				}
			}
		}
	} else {
		for uid, k := range known {
			if !k.Gone {
				gone = append(gone, uid)
			}
		}
	}

	var toFetch []imap.UID
	for uid, m := range server {
		k, ok := known[uint32(uid)]
		if !ok {
			toFetch = append(toFetch, uid)
			continue
		}
		if !incremental && m.size >= 0 && !k.Gone && k.Flags != strings.Join(archive.NormalizeFlags(m.flags), " ") {
			flagChanges[uint32(uid)] = m.flags
		}
	}
	slices.Sort(toFetch)
	slices.Sort(gone)
	rep.FlagUpdates, rep.Gone = len(flagChanges), len(gone)
	if !f.opts.DryRun {
		if err := f.arc.UpdateFlags(ctx, local, uv, flagChanges); err != nil {
			f.setFatal(fmt.Errorf("updating flags in %s: %w", name, err))
			return nil
		}
		if err := f.arc.MarkGone(ctx, name, uv, gone); err != nil {
			f.setFatal(fmt.Errorf("updating index for %s: %w", name, err))
			return nil
		}
		if len(gone) > 0 {
			log.Info("messages deleted on the server are kept in the archive", "folder", name, "count", len(gone))
		}
	}

	// Batch the new messages.
	var tasks []*task
	var cur *task
	var curBytes int64
	var total int64
	for _, uid := range toFetch {
		size := max(server[uid].size, 0)
		total += size
		if cur == nil || len(cur.uids) >= f.opts.BatchMessages || (curBytes+size > f.opts.BatchBytes && len(cur.uids) > 0) {
			cur = &task{job: job, sizes: map[imap.UID]int64{}}
			curBytes = 0
			tasks = append(tasks, cur)
		}
		cur.uids = append(cur.uids, uid)
		cur.sizes[uid] = size
		curBytes += size
	}
	if f.opts.DryRun {
		rep.New, rep.Bytes = len(toFetch), total
		return nil
	}
	if f.opts.Progress != nil {
		f.opts.Progress.AddTotal(len(toFetch), total)
	}
	if len(toFetch) > 0 {
		log.Debug("scanned folder", "folder", name, "new", len(toFetch), "bytes", total, "flag_updates", len(flagChanges), "gone", len(gone))
	}
	f.mu.Lock()
	job.pending = len(tasks)
	// New batches go first in line so that connections spread over one big folder.
	f.queue = append(tasks, f.queue...)
	f.mu.Unlock()
	f.cond.Broadcast()
	if len(tasks) == 0 {
		f.finishFolder(job)
	}
	return nil
}

// fetchMeta runs UID FETCH (UID FLAGS [RFC822.SIZE]) [CHANGEDSINCE] over set.
func fetchMeta(c *conn, set imap.UIDSet, changedSince uint64, size bool, fn func(imap.UID, msgMeta)) error {
	cmd := c.Fetch(set, &imap.FetchOptions{UID: true, Flags: true, RFC822Size: size, ChangedSince: changedSince})
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		var uid imap.UID
		m := msgMeta{size: -1}
		for item := msg.Next(); item != nil; item = msg.Next() {
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				uid = it.UID
			case imapclient.FetchItemDataFlags:
				m.flags = flagStrings(it.Flags)
			case imapclient.FetchItemDataRFC822Size:
				m.size = it.Size
			}
		}
		if uid != 0 {
			fn(uid, m)
		}
	}
	if err := cmd.Close(); err != nil {
		return fmt.Errorf("UID FETCH (FLAGS): %w", err)
	}
	return nil
}

func searchAll(c *conn) ([]imap.UID, error) {
	data, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
	if err != nil {
		return nil, fmt.Errorf("UID SEARCH ALL: %w", err)
	}
	return data.AllUIDs(), nil
}

func flagStrings(flags []imap.Flag) []string {
	out := make([]string, len(flags))
	for i, f := range flags {
		out[i] = string(f)
	}
	return out
}

// finishTask counts one batch of job as done.
func (f *fetcher) finishTask(job *folderJob, failed bool) {
	f.mu.Lock()
	job.pending--
	if failed {
		job.failed = true
	}
	last := job.pending == 0
	f.mu.Unlock()
	if last {
		f.finishFolder(job)
	}
}

// finishFolder records the folder's state once all its batches are done:
// complete, so that the next run can skip it, unless something failed.
func (f *fetcher) finishFolder(job *folderJob) {
	if f.opts.DryRun {
		return
	}
	state := archive.StateComplete
	if job.failed {
		state = archive.StatePartial
	}
	uv := job.report.UIDValidity
	if uv == 0 {
		uv = job.local.UIDValidity
		state = archive.StatePartial
	}
	if err := f.arc.SetFolderState(job.remote.Name, uv, job.uidNext, job.modSeq, state); err != nil {
		f.setFatal(fmt.Errorf("updating index for %s: %w", job.remote.Name, err))
	}
}

var bodyOptions = &imap.FetchOptions{
	UID:          true,
	Flags:        true,
	InternalDate: true,
	RFC822Size:   true,
	BodySection:  []*imap.FetchItemBodySection{{Peek: true}},
}

// fetchBatch downloads t's messages with one pipelined UID FETCH, streaming
// each body to disk. On return t.uids holds what is still to do.
func (f *fetcher) fetchBatch(ctx context.Context, log *slog.Logger, c *conn, t *task) error {
	job := t.job
	if _, err := f.examine(c, job, false); err != nil {
		return err
	}
	if c.uidValid != job.report.UIDValidity {
		return errUIDValidityChanged
	}
	before := len(t.uids)
	cmd := c.Fetch(imap.UIDSetNum(t.uids...), bodyOptions)
	got, fetchErr := f.receive(ctx, c, cmd, job, t.sizes)
	t.uids = slices.DeleteFunc(t.uids, func(u imap.UID) bool { return got[u] })
	if len(t.uids) < before {
		t.attempt = 0 // progress: a flaky connection gets a fresh set of retries
	}
	if fetchErr != nil {
		return fetchErr
	}
	if f.fatalErr() != nil {
		return nil
	}
	// The server said OK but left some out (go-imap drops FETCH responses
	// whose UID comes after the body). Look at each one on its own.
	for _, uid := range slices.Clone(t.uids) {
		ok, err := f.fetchOneBySeq(ctx, log, c, job, uid, t.sizes)
		if err != nil {
			return err
		}
		if ok {
			t.uids = slices.DeleteFunc(t.uids, func(u imap.UID) bool { return u == uid })
		}
	}
	for _, uid := range t.uids {
		f.fail(Failure{Folder: job.remote.Name, UID: uint32(uid), Err: errors.New("the server did not return this message")})
	}
	f.finishTask(job, len(t.uids) > 0)
	t.uids = nil
	return nil
}

// fetchOneBySeq fetches one message by sequence number, which go-imap can
// match to the command whatever the order of the response items. It returns
// false if the server no longer has the message.
func (f *fetcher) fetchOneBySeq(ctx context.Context, log *slog.Logger, c *conn, job *folderJob, uid imap.UID, sizes map[imap.UID]int64) (bool, error) {
	data, err := c.Search(&imap.SearchCriteria{UID: []imap.UIDSet{imap.UIDSetNum(uid)}}, nil).Wait()
	if err != nil {
		return false, fmt.Errorf("SEARCH UID %d: %w", uid, err)
	}
	seqs := data.AllSeqNums()
	if len(seqs) != 1 {
		log.Info("message was deleted on the server during the run", "folder", job.remote.Name, "uid", uid)
		return true, nil
	}
	cmd := c.Fetch(imap.SeqSetNum(seqs[0]), bodyOptions)
	got, err := f.receive(ctx, c, cmd, job, sizes)
	if err != nil {
		return false, err
	}
	return got[uid], nil
}

func (f *fetcher) fatalErr() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fatal
}

// receive reads the responses of a body FETCH, writing each message through
// the archive's tmp/ → fsync → rename → index path, committing in groups.
// It returns the UIDs stored.
func (f *fetcher) receive(ctx context.Context, c *conn, cmd *imapclient.FetchCommand, job *folderJob, sizes map[imap.UID]int64) (map[imap.UID]bool, error) {
	got := map[imap.UID]bool{}
	var pending []*archive.Incoming
	var pendingBytes int64
	commit := func() {
		if len(pending) == 0 {
			return
		}
		err := f.arc.Commit(ctx, pending)
		if err != nil {
			f.setFatal(fmt.Errorf("writing archive: %w", err))
		} else {
			f.mu.Lock()
			for _, in := range pending {
				got[imap.UID(in.UID)] = true
				job.report.New++
				job.report.Bytes += in.Size()
			}
			f.mu.Unlock()
			if f.opts.Progress != nil {
				f.opts.Progress.Add(len(pending), 0)
			}
		}
		pending, pendingBytes = nil, 0
	}
	var readErr error
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		in, err := f.readMessage(msg, job)
		if err != nil {
			readErr = err
			break
		}
		if in == nil {
			continue
		}
		if _, wanted := sizes[imap.UID(in.UID)]; !wanted || got[imap.UID(in.UID)] {
			in.Abort()
			continue
		}
		pending = append(pending, in)
		pendingBytes += in.Size()
		if len(pending) >= 256 || pendingBytes >= 32<<20 {
			commit()
		}
	}
	var lerr *localError
	if errors.As(readErr, &lerr) {
		// The literal was read to its end: the connection is fine, the
		// command can be drained; the run stops (fatal already set).
		cmd.Close()
		commit()
		return got, readErr
	}
	if readErr != nil {
		// The connection is broken mid-literal. Close it and let go-imap's
		// decoder goroutine exit before draining the command: draining
		// first would read the same buffer concurrently with the decoder.
		abandon(c, cmd)
		commit()
		return got, readErr
	}
	closeErr := cmd.Close()
	commit()
	if closeErr != nil {
		return got, fmt.Errorf("UID FETCH: %w", closeErr)
	}
	return got, nil
}

// readMessage consumes one FETCH response, streaming its body into a new
// tmp/ file. It returns nil (and no error) for a response without a body.
func (f *fetcher) readMessage(msg *imapclient.FetchMessageData, job *folderJob) (*archive.Incoming, error) {
	var in *archive.Incoming
	var uid imap.UID
	var flags []string
	var date time.Time
	var size int64 = -1
	for item := msg.Next(); item != nil; item = msg.Next() {
		switch it := item.(type) {
		case imapclient.FetchItemDataUID:
			uid = it.UID
		case imapclient.FetchItemDataFlags:
			flags = flagStrings(it.Flags)
		case imapclient.FetchItemDataInternalDate:
			date = it.Time
		case imapclient.FetchItemDataRFC822Size:
			size = it.Size
		case imapclient.FetchItemDataBodySection:
			if it.Literal == nil || in != nil {
				continue
			}
			var err error
			in, err = f.arc.Create(job.local)
			if err != nil {
				io.Copy(io.Discard, it.Literal) // let go-imap read on
				lerr := &localError{"writing archive", err}
				f.setFatal(lerr)
				return nil, lerr
			}
			var w io.Writer = in
			if f.opts.Progress != nil {
				w = progressWriter{in, f.opts.Progress}
			}
			if _, err := copyLiteral(w, it.Literal); err != nil {
				in.Abort()
				var lerr *localError
				if errors.As(err, &lerr) {
					f.setFatal(lerr)
					return nil, lerr
				}
				return nil, fmt.Errorf("receiving message body: %w", err)
			}
		}
	}
	if in == nil {
		return nil, nil
	}
	if uid == 0 {
		in.Abort()
		return nil, nil
	}
	if size >= 0 && size != in.Size() {
		f.log.Debug("RFC822.SIZE differs from the body's length; keeping the body as sent", "folder", job.remote.Name, "uid", uid,
			"rfc822_size", size, "body", in.Size())
	}
	if date.IsZero() {
		date = time.Now()
	}
	in.UIDValidity, in.UID, in.InternalDate, in.Flags = job.report.UIDValidity, uint32(uid), date, flags
	// Close the file now: a pending batch holds no file descriptors.
	if err := in.Close(); err != nil {
		lerr := &localError{"writing archive", err}
		f.setFatal(lerr)
		return nil, lerr
	}
	return in, nil
}

type progressWriter struct {
	w io.Writer
	p Progress
}

func (pw progressWriter) Write(b []byte) (int, error) {
	n, err := pw.w.Write(b)
	pw.p.Add(0, int64(n))
	return n, err
}

// copyLiteral copies a FETCH literal to w. go-imap ends a literal cut short by
// a dropped connection like a complete one, so the byte count is checked:
// a truncated message is never taken for a whole one. When w fails (disk
// full), the rest of the literal is still read, so that go-imap's reader is
// not left waiting, and a *localError is returned.
func copyLiteral(w io.Writer, lit imap.LiteralReader) (int64, error) {
	lw := &localWriter{w: w}
	n, err := io.Copy(lw, lit)
	if lw.err != nil {
		io.Copy(io.Discard, lit)
		return n, &localError{"writing archive", lw.err}
	}
	if err == nil && n != lit.Size() {
		err = fmt.Errorf("connection ended after %d of %d bytes", n, lit.Size())
	}
	return n, err
}

// localWriter remembers the error of the writer it wraps.
type localWriter struct {
	w   io.Writer
	err error
}

func (lw *localWriter) Write(p []byte) (int, error) {
	n, err := lw.w.Write(p)
	if err != nil && lw.err == nil {
		lw.err = err
	}
	return n, err
}
