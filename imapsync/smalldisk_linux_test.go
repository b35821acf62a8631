package imapsync

import (
	"testing"

	"golang.org/x/sys/unix"
)

// smallDisk mounts a tmpfs of the given size (e.g. "2m") and returns it; the
// test is skipped where mounting is not allowed (not root, no privilege).
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		t.Skipf("cannot mount a small tmpfs here (%v)", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}
