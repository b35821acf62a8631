//go:build !linux

package imapsync

import "testing"

func smallDisk(t *testing.T, size string) string {
	t.Skip("needs Linux tmpfs")
	return ""
}
