package imapsync

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/catchall/catchall/internal/archive"
)

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
