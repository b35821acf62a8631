package main

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// serviceUser is the user the relay runs as, for relay check: the files
// the relay opens itself (not the secrets systemd hands over as
// credentials) must be readable by it, and the plan's directory writable.
type serviceUser struct {
	name string
	uid  uint32
	gids map[uint32]bool
}

// lookupServiceUser finds name; a user that does not exist (the relay is
// not installed yet) is not checked.
func lookupServiceUser(name string) (*serviceUser, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, err
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, err
	}
	s := &serviceUser{name: name, uid: uint32(uid), gids: map[uint32]bool{}}
	gids, err := u.GroupIds()
	if err != nil {
		gids = []string{u.Gid}
	}
	for _, g := range append(gids, u.Gid) {
		if n, err := strconv.ParseUint(g, 10, 32); err == nil {
			s.gids[uint32(n)] = true
		}
	}
	return s, nil
}

// accessError says which path the user may not use, and how.
type accessError struct {
	user, path string
	dir        bool // path is a directory above the file (or the directory asked about)
	want       os.FileMode
	msg        string
}

func (e *accessError) Error() string { return e.msg }

// fix is the command that lets the user do what it may not.
func (e *accessError) fix() string {
	bits := map[os.FileMode]string{4: "g+r", 3: "g+wx", 2: "g+w", 1: "g+x"}[e.want]
	return "chgrp " + e.user + " " + e.path + " && chmod " + bits + " " + e.path
}

// may reports whether the user may do want (4 read, 2 write, 1 search)
// on path, and why not (an *accessError): every directory above it, and
// above what a symbolic link points to (certbot's live/ → archive/), must
// let the user search it. root may do anything.
func (s *serviceUser) may(path string, want os.FileMode) error {
	if s.uid == 0 {
		return nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	paths := []string{abs}
	if real, err := filepath.EvalSymlinks(abs); err == nil && real != abs {
		paths = append(paths, real)
	}
	for _, p := range paths {
		for dir := filepath.Dir(p); ; dir = filepath.Dir(dir) {
			if err := s.allowed(dir, 1, true); err != nil {
				return err
			}
			if dir == "/" {
				break
			}
		}
	}
	return s.allowed(paths[len(paths)-1], want, want&1 != 0)
}

func (s *serviceUser) allowed(path string, want os.FileMode, dir bool) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	perm := fi.Mode().Perm()
	var have os.FileMode
	switch {
	case st.Uid == s.uid:
		have = perm >> 6 & 7
	case s.gids[st.Gid]:
		have = perm >> 3 & 7
	default:
		have = perm & 7
	}
	if have&want != want {
		what := map[os.FileMode]string{4: "read", 3: "write in", 2: "write", 1: "enter"}[want]
		return &accessError{user: s.name, path: path, dir: dir, want: want,
			msg: fmt.Sprintf("%s cannot %s %s (mode %04o, owner uid %d, group gid %d)", s.name, what, path, perm, st.Uid, st.Gid)}
	}
	return nil
}
