package imapsync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/catchall/catchall/archive"
)

// VerifyOptions configures Verify.
type VerifyOptions struct {
	// Include and Exclude choose folders as in FetchOptions; folders left out
	// are not compared at all (neither missing nor extra).
	Include, Exclude []string
	// Hashes compares the SHA-256 of every message's bytes on the server with
	// the archive's (downloading everything again), instead of sizes only.
	Hashes bool
	// Progress, when not nil, is told about the work.
	Progress Progress
}

// Problem is one message that did not verify.
type Problem struct {
	Folder string
	UID    uint32 // server UID; for extra messages the archived UID
	Kind   string // "missing", "extra", "mismatched" or "unreadable" (a folder)
	Detail string
}

// FolderVerify is the verification result of one folder.
type FolderVerify struct {
	Name       string
	OnServer   int // messages on the server
	Verified   int
	Missing    int // on the server, not (intact) in the archive
	Extra      int // in the archive, no longer on the server
	Mismatched int // present in both with different size or bytes
}

// VerifyReport is the outcome of Verify.
type VerifyReport struct {
	Folders  []*FolderVerify
	Total    FolderVerify
	Problems []Problem
	// Unreadable counts the folders verify could not open: names the
	// server sends in invalid modified UTF-7 (a Problem each).
	Unreadable int
}

// OK reports whether every message on the server is in the archive intact.
func (r *VerifyReport) OK() bool {
	return r.Total.Missing == 0 && r.Total.Mismatched == 0 && r.Unreadable == 0
}

// Verify compares the archive with the account on srv: every message of every
// selectable folder must be archived with the same size (and, with Hashes,
// the same bytes), and its file must exist with that size.
func Verify(ctx context.Context, srv *Server, arc *archive.Archive, opts *VerifyOptions) (*VerifyReport, error) {
	if opts == nil {
		opts = &VerifyOptions{}
	}
	conns := newConnSet(ctx, srv) // Ctrl-C stops even a long read
	defer conns.close()
	c, err := conns.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer conns.hangUp(c)
	remote, err := listFolders(c)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, startErr("listing folders", c.cause(err))
	}
	rep := &VerifyReport{}
	for _, name := range c.guard.BadNames() {
		rep.Unreadable++
		rep.Problems = append(rep.Problems, Problem{name, 0, "unreadable", errBadName.Error()})
	}
	onServer := map[string]bool{}
	for _, rf := range remote {
		onServer[rf.Name] = true // also the ones left out: they are not extra
	}
	for _, rf := range selectFolders(remote, opts.Include, opts.Exclude) {
		if rf.NoSelect {
			continue
		}
		fv, err := verifyFolder(ctx, c, arc, rf, opts, rep)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			return nil, err
		}
		rep.add(fv)
	}
	locals, err := arc.Folders()
	if err != nil {
		return nil, err
	}
	for _, lf := range locals {
		if onServer[lf.Name] || !selected(lf.Name, opts.Include, opts.Exclude) {
			continue
		}
		fv := &FolderVerify{Name: lf.Name}
		err := arc.Entries(lf.Name, 0, func(e *archive.Entry) error {
			fv.Extra++
			rep.Problems = append(rep.Problems, Problem{lf.Name, e.UID, "extra", "folder no longer on the server"})
			return nil
		})
		if err != nil {
			return nil, err
		}
		rep.add(fv)
	}
	c.Logout().Wait()
	return rep, nil
}

func (r *VerifyReport) add(fv *FolderVerify) {
	r.Folders = append(r.Folders, fv)
	r.Total.OnServer += fv.OnServer
	r.Total.Verified += fv.Verified
	r.Total.Missing += fv.Missing
	r.Total.Extra += fv.Extra
	r.Total.Mismatched += fv.Mismatched
}

func verifyFolder(ctx context.Context, c *conn, arc *archive.Archive, rf *remoteFolder, opts *VerifyOptions, rep *VerifyReport) (*FolderVerify, error) {
	fv := &FolderVerify{Name: rf.Name}
	sel, err := c.selectMailbox(rf.Remote, &imap.SelectOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("EXAMINE %q: %w", rf.Remote, err)
	}
	entries := map[uint32]*archive.Entry{}
	var others []*archive.Entry
	err = arc.Entries(rf.Name, 0, func(e *archive.Entry) error {
		if e.UIDValidity == sel.UIDValidity {
			entries[e.UID] = e
		} else {
			others = append(others, e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	problem := func(uid uint32, kind, detail string) {
		rep.Problems = append(rep.Problems, Problem{rf.Name, uid, kind, detail})
	}
	seen := map[uint32]bool{}
	var suspects []imap.UID
	if sel.NumMessages > 0 {
		var all imap.UIDSet
		all.AddRange(1, 0)
		fo := &imap.FetchOptions{UID: true, RFC822Size: true}
		if opts.Hashes {
			fo.BodySection = []*imap.FetchItemBodySection{{Peek: true}}
		}
		cmd := c.Fetch(all, fo)
		for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
			var uid imap.UID
			size, sum := int64(-1), ""
			for item := msg.Next(); item != nil; item = msg.Next() {
				switch it := item.(type) {
				case imapclient.FetchItemDataUID:
					uid = it.UID
				case imapclient.FetchItemDataRFC822Size:
					size = it.Size
				case imapclient.FetchItemDataBodySection:
					if it.Literal == nil {
						continue
					}
					h := sha256.New()
					var w io.Writer = h
					if opts.Progress != nil {
						w = progressWriter{h, opts.Progress}
					}
					n, err := copyLiteral(w, it.Literal)
					if err != nil {
						abandon(c, cmd)
						return nil, fmt.Errorf("reading %q uid %d: %w", rf.Remote, uid, err)
					}
					size, sum = n, hex.EncodeToString(h.Sum(nil))
				}
			}
			if uid == 0 || seen[uint32(uid)] {
				continue
			}
			seen[uint32(uid)] = true
			fv.OnServer++
			e := entries[uint32(uid)]
			switch {
			case e == nil:
				fv.Missing++
				problem(uint32(uid), "missing", "not in the archive")
				continue
			case size >= 0 && e.Size != size && sum == "":
				// Some servers' RFC822.SIZE is not the length of BODY[]
				// (Exchange, go-imap's memory server): compare the bytes.
				suspects = append(suspects, uid)
				continue
			case size >= 0 && e.Size != size:
				fv.Mismatched++
				problem(uint32(uid), "mismatched", fmt.Sprintf("size %d on the server, %d archived", size, e.Size))
				continue
			case sum != "" && e.SHA256 != sum:
				fv.Mismatched++
				problem(uint32(uid), "mismatched", "bytes differ from the server's")
				continue
			}
			if detail := checkFile(arc, e, opts.Hashes); detail != "" {
				fv.Missing++
				problem(uint32(uid), "missing", detail)
				continue
			}
			fv.Verified++
		}
		if err := cmd.Close(); err != nil {
			return nil, fmt.Errorf("UID FETCH in %q: %w", rf.Remote, err)
		}
		if len(suspects) > 0 {
			sums, err := bodyHashes(c, suspects)
			if err != nil {
				return nil, fmt.Errorf("in %q: %w", rf.Remote, err)
			}
			for _, uid := range suspects {
				e := entries[uint32(uid)]
				if sums[uid] != e.SHA256 {
					fv.Mismatched++
					problem(uint32(uid), "mismatched", "bytes differ from the server's")
				} else if detail := checkFile(arc, e, opts.Hashes); detail != "" {
					fv.Missing++
					problem(uint32(uid), "missing", detail)
				} else {
					fv.Verified++
				}
			}
		}
		if fv.OnServer != int(sel.NumMessages) {
			return nil, fmt.Errorf("%q holds %d messages but the server listed %d; cannot verify", rf.Remote, sel.NumMessages, fv.OnServer)
		}
	}
	var extra []uint32
	for uid := range entries {
		if !seen[uid] {
			extra = append(extra, uid)
		}
	}
	slices.Sort(extra)
	for _, uid := range extra {
		fv.Extra++
		problem(uid, "extra", "no longer on the server")
	}
	for _, e := range others {
		fv.Extra++
		problem(e.UID, "extra", fmt.Sprintf("from an earlier UIDVALIDITY %d", e.UIDValidity))
	}
	if opts.Progress != nil {
		opts.Progress.Add(fv.OnServer, 0)
	}
	return fv, nil
}

// checkFile reports what is wrong with an archived message's file, or "".
func checkFile(arc *archive.Archive, e *archive.Entry, hashes bool) string {
	path := filepath.Join(arc.Dir(), e.Path)
	if !hashes {
		st, err := os.Stat(path)
		if err != nil {
			return "archived file is missing: " + e.Path
		}
		if st.Size() != e.Size {
			return fmt.Sprintf("archived file %s has %d bytes, expected %d", e.Path, st.Size(), e.Size)
		}
		return ""
	}
	size, sum, _, err := archive.HashFile(path)
	if err != nil {
		return "archived file is unreadable: " + err.Error()
	}
	if size != e.Size || sum != e.SHA256 {
		return "archived file " + e.Path + " was changed after it was fetched"
	}
	return ""
}

// bodyHashes downloads the given messages and returns their SHA-256.
func bodyHashes(c *conn, uids []imap.UID) (map[imap.UID]string, error) {
	out := map[imap.UID]string{}
	cmd := c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		var uid imap.UID
		var sum string
		for item := msg.Next(); item != nil; item = msg.Next() {
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				uid = it.UID
			case imapclient.FetchItemDataBodySection:
				if it.Literal == nil {
					continue
				}
				h := sha256.New()
				if _, err := copyLiteral(h, it.Literal); err != nil {
					abandon(c, cmd)
					return nil, err
				}
				sum = hex.EncodeToString(h.Sum(nil))
			}
		}
		if uid != 0 {
			out[uid] = sum
		}
	}
	return out, cmd.Close()
}
