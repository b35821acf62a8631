//go:build !unix

package relay

import "errors"

// diskFree is not known on this system.
func diskFree(string) (free, total uint64, err error) {
	return 0, 0, errors.New("not known on this system")
}
