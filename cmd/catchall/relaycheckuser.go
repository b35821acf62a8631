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
	name     string
	uid      uint32
	gids     map[uint32]bool
	resolved bool
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
	s := &serviceUser{name: name, uid: uint32(uid), gids: map[uint32]bool{}, resolved: true}
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

// may reports whether the user may do want (4 read, 2 write, 1 search)
// on the file path, and why not: every directory above it must let the
// user search it. root may do anything.
func (s *serviceUser) may(path string, want os.FileMode) error {
	if s.uid == 0 {
		return nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	for dir := filepath.Dir(abs); ; dir = filepath.Dir(dir) {
		if err := s.allowed(dir, 1); err != nil {
			return err
		}
		if dir == "/" {
			break
		}
	}
	return s.allowed(abs, want)
}

func (s *serviceUser) allowed(path string, want os.FileMode) error {
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
		return fmt.Errorf("%s cannot %s %s (mode %04o, owner uid %d, group gid %d)", s.name, what, path, perm, st.Uid, st.Gid)
	}
	return nil
}
