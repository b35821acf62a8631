// Package safeio writes files so that a crash leaves either the old or the
// new content, never half of one (as chasquid's internal/safeio does).
package safeio

import (
	"os"
	"path/filepath"
)

// WriteFile writes data to path through a temporary file in the same
// directory, created with mode 0600, fsynced and renamed over path; the
// directory is fsynced too, so the rename survives a power loss.
func WriteFile(path string, data []byte) error { return write(path, data, os.Rename) }

// CreateFile writes data to a new file at path as WriteFile does (0600,
// fsynced, then the directory), but never replaces a file: when path exists
// it returns an error that wraps fs.ErrExist and leaves the file alone. The
// new file appears whole or not at all: it is linked into place, as link(2),
// unlike rename(2), fails when the name is taken.
func CreateFile(path string, data []byte) error { return write(path, data, os.Link) }

// write writes data to a temporary file beside path and puts it there
// with place (rename or link).
func write(path string, data []byte, place func(tmp, path string) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := place(f.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
