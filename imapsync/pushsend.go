package imapsync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/catchall/catchall/archive"
)

// errNotSent marks a send that failed before any APPEND went out: its
// messages are exactly as unsure as they were before.
var errNotSent = errors.New("nothing sent")

// worker sends batches until none are left. c is an open connection or nil
// (dialled when there is work).
func (p *pusher) worker(ctx context.Context, c *conn) {
	defer func() {
		if c != nil {
			c.Logout().Wait()
			p.conns.hangUp(c)
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
				wait := p.backoff.delay(failures)
				if unsure {
					// The server may still be storing what it received
					// before the connection broke.
					wait = max(wait, p.settle())
				}
				if sleep(ctx, wait) != nil {
					return
				}
			}
			if ctx.Err() != nil {
				return
			}
			if c == nil {
				var err error
				if c, err = p.conns.dial(ctx); err != nil {
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
					if isLocal(err) {
						p.setFatal(err)
						return
					}
					p.conns.hangUp(c)
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
			if isLocal(err) {
				p.setFatal(err)
				return
			}
			pending = append(retry, rest...)
			if err != nil {
				// The connection broke: the outcome of rest is unknown.
				p.conns.hangUp(c)
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

// next hands a worker the next batch to send; nil when none is left or the
// run has failed.
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

// setFatal ends the run with err (the first one counts): no batch is handed
// out after it.
func (p *pusher) setFatal(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fatalErr == nil {
		p.fatalErr = err
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
			if err := c.unselect(); err != nil {
				return msgs, nil, fmt.Errorf("%w: %w", errNotSent, err)
			}
		}
	default:
		// Servers append much faster into the selected mailbox: Dovecot keeps
		// it and its index open instead of opening them for every APPEND
		// (measured: 3 to 5 times the messages per second). Read-only is
		// enough, and changes nothing on the server. A server that refuses
		// that (Courier) makes the run fall back to appending with nothing
		// selected (appendUnselected).
		if _, err := c.ensureSelected(df.remote, &imap.SelectOptions{ReadOnly: true}); err != nil && !errors.As(err, new(*imap.Error)) {
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
		return msgs, nil, &localError{"local error", err}
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
		return rest, retry, &localError{"local error", err}
	}
	if err := p.arc.JournalForget(jctx, p.dest, forget); err != nil {
		return rest, retry, &localError{"local error", err}
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

// allowedFlags returns the flags of a message to send with APPEND: every
// system flag (RFC 3501 §6.3.11: a server stores what it can), and keywords
// only when the folder's PERMANENTFLAGS list them or have \* (RFC 3501
// §7.1); \Recent is never sent. dropped lists the keywords left out.
func allowedFlags(flags []string, perm []imap.Flag, permKnown bool) (keep []imap.Flag, dropped []string) {
	all := slices.Contains(perm, imap.FlagWildcard) || !permKnown
	for _, f := range flags {
		if f == "" || strings.EqualFold(f, `\Recent`) {
			continue
		}
		listed := slices.ContainsFunc(perm, func(p imap.Flag) bool { return strings.EqualFold(string(p), f) })
		if strings.HasPrefix(f, `\`) || listed || all {
			keep = append(keep, imap.Flag(f))
		} else {
			dropped = append(dropped, f)
		}
	}
	return keep, dropped
}

// refusedError is a connection ended by go-imap after the destination
// refused an APPEND before its literal (NO instead of "+"): the server
// answered; nothing was lost on the network.
type refusedError struct{ no *imap.Error }

func (e *refusedError) Error() string {
	return "the destination refused a message (" + e.no.Text + ") and the connection was closed after it"
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
