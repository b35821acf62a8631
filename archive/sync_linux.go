package archive

import (
	"os"

	"golang.org/x/sys/unix"
)

// perFileSync is false on Linux: one syncfs(2) per batch (flushFiles) makes
// every closed message file durable at the cost of about one fsync.
const perFileSync = false

// flushFiles makes the data of the files written since the last call
// durable.
func flushFiles(root *os.File) error {
	return unix.Syncfs(int(root.Fd()))
}
