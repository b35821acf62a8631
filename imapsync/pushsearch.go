package imapsync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/catchall/catchall/archive"
)

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
	sel, err := c.selectMailbox(df.remote, &imap.SelectOptions{ReadOnly: true})
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
	if c.canUnselect() {
		c.unselect() // a broken connection shows at the next command
	}
	if err := p.arc.JournalPut(context.WithoutCancel(ctx), p.dest, done); err != nil {
		return nil, &localError{"local error", err}
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
