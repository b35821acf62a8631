package imapsync

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/catchall/catchall/archive"
)

// resolver says where each archived message goes on the destination, for
// push and VerifyDest alike. The push journal's row of a message, when it
// is about the message's bytes, says where a run put it (or tried to);
// otherwise the message goes to the folder its route chooses
// (PushOptions.Route), or else to its own archive folder, as the
// destination names that folder (folderMapper).
type resolver struct {
	arc     *archive.Archive
	journal map[int64]*archive.JournalEntry
	mapper  *folderMapper
	route   func(head []byte) string
	note    func(string)
	names   map[string]string // archive folder name → destination name
	// entries holds the archived messages, folder by folder.
	entries [][]*archive.Entry
}

// resolver reads the archive's messages and the push journal of p.dest,
// and gives mapper the special-use roles of the archive's folders.
func (p *pusher) resolver(mapper *folderMapper) (*resolver, error) {
	folders, err := p.arc.Folders()
	if err != nil {
		return nil, err
	}
	journal, err := p.arc.Journal(p.dest)
	if err != nil {
		return nil, fmt.Errorf("reading push journal: %w", err)
	}
	r := &resolver{arc: p.arc, journal: journal, mapper: mapper, route: p.opts.Route, note: p.note,
		names: map[string]string{}, entries: make([][]*archive.Entry, len(folders))}
	for i, f := range folders {
		mapper.addRole(f.Name, f.Attrs)
		if err := p.arc.Entries(f.Name, 0, func(e *archive.Entry) error {
			r.entries[i] = append(r.entries[i], e)
			return nil
		}); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// row returns the journal's row of e, or nil when the journal does not
// know e: it has no row for e's id, or the row is about other bytes.
func (r *resolver) row(e *archive.Entry) *archive.JournalEntry {
	if j := r.journal[e.ID]; j != nil && j.SHA256 == e.SHA256 {
		return j
	}
	return nil
}

// target returns the destination folder e goes to when it is pushed now:
// the one its route chooses, or else the one of its archive folder. When
// the route needs e's header and its file cannot be read, where e goes is
// unknown: that is an error, of this message alone.
func (r *resolver) target(e *archive.Entry) (string, error) {
	name := e.Folder
	if r.route != nil {
		head, err := readHead(r.arc.Dir(), e.Path)
		if err != nil {
			return "", fmt.Errorf("reading archived file: %w", err)
		}
		if t := r.route(head); t != "" {
			name = t
		}
	}
	if remote, ok := r.names[name]; ok {
		return remote, nil
	}
	remote, note := r.mapper.remote(name)
	if note != "" {
		r.note(fmt.Sprintf("folder %q is %q on the destination: %s", name, remote, note))
	}
	r.names[name] = remote
	return remote, nil
}

// plan decides for every archived message where it goes and whether it is
// there already, is to be looked for, or is to be appended.
func (p *pusher) plan(mapper *folderMapper) error {
	r, err := p.resolver(mapper)
	if err != nil {
		return err
	}
	// UIDs the journal says are taken, so that a search never takes one
	// message for another identical one; done rows without a UID are
	// counted in anon instead (below).
	for _, j := range r.journal {
		if j.State == archive.JournalDone && j.UID != 0 && !p.opts.Recheck {
			if df := p.existingFolder(j.Folder); df != nil && df.uidValidity == j.UIDValidity {
				df.claimed[j.UID] = true
			}
		}
	}
	ids := map[int64]bool{}
	for _, es := range r.entries {
		for _, e := range es {
			ids[e.ID] = true
		}
	}
	// Journal rows of archive rows that are gone: the archive may hold the
	// same message again under a new row (a file re-adopted by Reconcile, a
	// message fetched again), which must be looked for, not appended again.
	orphans := map[string][]*archive.JournalEntry{}
	for id, j := range r.journal {
		if !ids[id] {
			orphans[j.SHA256] = append(orphans[j.SHA256], j)
		}
	}
	for _, es := range r.entries {
		for _, e := range es {
			j := r.row(e)
			if j != nil && j.State == archive.JournalDone && j.UIDValidity != 0 && !p.opts.Recheck {
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
			remote, err := r.target(e)
			if err != nil {
				p.report.Failures = append(p.report.Failures, Failure{Folder: e.Folder, UID: e.UID, Err: err})
				continue
			}
			m := &pushMsg{e: e, dest: p.folder(remote)}
			if j != nil {
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
	if p.opts.Progress != nil {
		p.opts.Progress.ListingDone()
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

// readHead returns the start of an archived message, enough for its header.
func readHead(dir, path string) ([]byte, error) {
	f, err := os.Open(filepath.Join(dir, path))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	head := make([]byte, 64<<10)
	n, err := io.ReadFull(f, head)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		err = nil
	}
	return head[:n], err
}
