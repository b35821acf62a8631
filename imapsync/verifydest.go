package imapsync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/catchall/catchall/archive"
)

// DestVerifyOptions configures VerifyDest.
type DestVerifyOptions struct {
	// Hashes downloads every message of the destination folders and compares
	// SHA-256 with the archive, instead of Message-ID and size only.
	Hashes bool
	// Route says where messages the push journal does not know were to go,
	// as in PushOptions.
	Route func(head []byte) string
	// Progress, when not nil, is told about the work.
	Progress Progress
}

// VerifyDest proves that every archived message arrived on the destination
// account srv: in the folder the push journal recorded for it (or, for a
// message the journal does not know, the folder push would choose), there
// must be a message with the same Message-ID and size — with Hashes, the
// same bytes. Each archived message is matched with its own destination
// message, so two identical archived messages need two copies.
//
// In the report, a folder's OnServer is the number of archived messages
// expected in it; Missing are those not found, Mismatched those whose
// Message-ID was found with a different size or different bytes. Problem.UID
// is the archived message's UID and Problem.Detail names its archive folder.
// A message whose folder cannot be told (the Route needs its header and its
// archived file cannot be read) is missing in the total, in no folder, and
// its Problem.Folder is its archive folder. Messages on the destination that
// did not come from the archive are not counted.
func VerifyDest(ctx context.Context, srv *Server, arc *archive.Archive, opts *DestVerifyOptions) (*VerifyReport, error) {
	if opts == nil {
		opts = &DestVerifyOptions{}
	}
	p := newPusher(ctx, srv, arc, &PushOptions{Route: opts.Route})
	defer p.conns.close()
	c, err := p.conns.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer p.conns.hangUp(c)
	mapper, err := p.discover(c)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, startErr("listing folders", err)
	}
	rep := &VerifyReport{}
	expected, err := p.expected(mapper, rep)
	if err != nil {
		return nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(expected)) {
		fv, err := verifyDestFolder(c, p.folders[name], expected[name], opts, rep)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			return nil, err
		}
		rep.add(fv)
	}
	c.Logout().Wait()
	return rep, nil
}

// expected returns the archived messages by the destination folder they
// should be in, each as push sent it (push --repair may have sent other
// bytes). A message whose folder cannot be told is a problem in rep.
func (p *pusher) expected(mapper *folderMapper, rep *VerifyReport) (map[string][]*archive.Entry, error) {
	r, err := p.resolver(mapper)
	if err != nil {
		return nil, err
	}
	out := map[string][]*archive.Entry{}
	for _, es := range r.entries {
		for _, e := range es {
			var remote string
			if j := r.row(e); j != nil {
				remote = j.Folder
				if j.SentSHA256 != "" {
					// push --repair sent other bytes: those are what to find.
					sent := *e
					sent.Size, sent.SHA256 = j.SentSize, j.SentSHA256
					e = &sent
				}
			} else if remote, err = r.target(e); err != nil {
				rep.Total.OnServer++
				rep.Total.Missing++
				rep.Problems = append(rep.Problems, destProblem(e.Folder, e, "missing", "cannot tell which destination folder it belongs in: "+err.Error()))
				continue
			}
			p.folder(remote)
			out[remote] = append(out[remote], e)
		}
	}
	return out, nil
}

// destProblem is a problem of VerifyDest with the archived message e,
// found in (or missing from) the destination folder.
func destProblem(folder string, e *archive.Entry, kind, detail string) Problem {
	return Problem{Folder: folder, UID: e.UID, Kind: kind, Detail: fmt.Sprintf("archived as %s uid %d: %s", e.Folder, e.UID, detail)}
}

// destMsg is what verification knows about one destination message.
type destMsg struct {
	uid   imap.UID
	size  int64
	msgID string
	sum   string // with Hashes only
	used  bool
}

func verifyDestFolder(c *conn, df *destFolder, want []*archive.Entry, opts *DestVerifyOptions, rep *VerifyReport) (*FolderVerify, error) {
	fv := &FolderVerify{Name: df.remote, OnServer: len(want)}
	problem := func(e *archive.Entry, kind, detail string) {
		rep.Problems = append(rep.Problems, destProblem(df.remote, e, kind, detail))
	}
	var have []*destMsg
	if df.exists {
		sel, err := c.selectMailbox(df.remote, &imap.SelectOptions{ReadOnly: true})
		if err != nil {
			return nil, fmt.Errorf("EXAMINE %q: %w", df.remote, err)
		}
		if sel.NumMessages > 0 {
			if have, err = destListing(c, opts); err != nil {
				return nil, fmt.Errorf("UID FETCH in %q: %w", df.remote, err)
			}
		}
	}
	byID := map[string][]*destMsg{}
	for _, m := range have {
		byID[m.msgID] = append(byID[m.msgID], m)
	}
	for _, e := range want {
		cands := byID[e.MessageID]
		i := slices.IndexFunc(cands, func(m *destMsg) bool {
			return !m.used && m.size == e.Size && (!opts.Hashes || m.sum == e.SHA256)
		})
		switch {
		case i >= 0:
			cands[i].used = true
			fv.Verified++
		case e.MessageID != "" && slices.ContainsFunc(cands, func(m *destMsg) bool { return !m.used }):
			fv.Mismatched++
			m := cands[slices.IndexFunc(cands, func(m *destMsg) bool { return !m.used })]
			if m.size != e.Size {
				problem(e, "mismatched", fmt.Sprintf("Message-ID <%s> is uid %d on the destination with %d bytes, %d archived", e.MessageID, m.uid, m.size, e.Size))
			} else {
				problem(e, "mismatched", fmt.Sprintf("Message-ID <%s> is uid %d on the destination with different bytes", e.MessageID, m.uid))
			}
			m.used = true
		default:
			fv.Missing++
			if df.exists {
				problem(e, "missing", "not on the destination")
			} else {
				problem(e, "missing", "the folder does not exist on the destination")
			}
		}
	}
	if opts.Progress != nil {
		opts.Progress.Add(len(want), 0)
	}
	return fv, nil
}

// destListing fetches UID, size and Message-ID (and with Hashes the SHA-256
// of the bytes) of every message of the selected folder.
func destListing(c *conn, opts *DestVerifyOptions) ([]*destMsg, error) {
	fo := &imap.FetchOptions{UID: true, RFC822Size: true}
	if opts.Hashes {
		fo.BodySection = []*imap.FetchItemBodySection{{Peek: true}}
	} else {
		fo.BodySection = []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Message-ID"}, Peek: true}}
	}
	var all imap.UIDSet
	all.AddRange(1, 0)
	var out []*destMsg
	cmd := c.Fetch(all, fo)
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		m := &destMsg{size: -1}
		for item := msg.Next(); item != nil; item = msg.Next() {
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				m.uid = it.UID
			case imapclient.FetchItemDataRFC822Size:
				if m.sum == "" {
					m.size = it.Size
				}
			case imapclient.FetchItemDataBodySection:
				if it.Literal == nil {
					continue
				}
				h := sha256.New()
				var head headBuf
				w := io.MultiWriter(h, &head)
				if opts.Progress != nil {
					w = io.MultiWriter(h, &head, progressWriter{io.Discard, opts.Progress})
				}
				n, err := copyLiteral(w, it.Literal)
				if err != nil {
					abandon(c, cmd)
					return nil, err
				}
				m.msgID = archive.MessageID(head.b)
				if opts.Hashes {
					m.size, m.sum = n, hex.EncodeToString(h.Sum(nil))
				}
			}
		}
		if m.uid != 0 {
			out = append(out, m)
		}
	}
	return out, cmd.Close()
}

// headBuf keeps the first 32 KiB written to it.
type headBuf struct{ b []byte }

func (h *headBuf) Write(p []byte) (int, error) {
	if room := 32<<10 - len(h.b); room > 0 {
		h.b = append(h.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}
