//go:build unix

package relay

import sys "golang.org/x/sys/unix"

// diskFree returns the bytes free (for an unprivileged user) and the size
// of the file system holding dir.
func diskFree(dir string) (free, total uint64, err error) {
	var st sys.Statfs_t
	if err := sys.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	return st.Bavail * uint64(st.Bsize), st.Blocks * uint64(st.Bsize), nil
}
