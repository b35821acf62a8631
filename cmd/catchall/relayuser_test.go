package main

import (
	"os"
	"strings"
	"testing"

	"github.com/catchall/catchall/forwards/relay"
)

// TestRelayUser: add takes the password from stdin, writes the file 0600,
// list names the users, del removes one; a short password is refused.
func TestRelayUser(t *testing.T) {
	path := t.TempDir() + "/relay.users" // made by add
	cli := func(stdin string, args ...string) (int, string) {
		var out, errOut strings.Builder
		code := run(t.Context(), append([]string{"relay", "user"}, append(args, "--users", path)...), strings.NewReader(stdin), &out, &errOut)
		return code, out.String() + errOut.String()
	}
	if code, out := cli("a long password\n", "add", "me"); code != 0 {
		t.Fatalf("add: %d %s", code, out)
	}
	if code, out := cli("short\n", "add", "you"); code != 2 || !strings.Contains(out, "shorter") {
		t.Errorf("short password: %d %s", code, out)
	}
	if code, out := cli("", "add", "bad:name"); code != 2 {
		t.Errorf("bad name: %d %s", code, out)
	}
	cli("another password\n", "add", "you")
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("users file: %v %v", fi, err)
	}
	if b, _ := os.ReadFile(path); strings.Contains(string(b), "a long password") {
		t.Error("the password is in the file")
	}
	u, err := relay.ReadUsers(path)
	if err != nil || !u.Check("me", "a long password") || !u.Check("you", "another password") {
		t.Fatalf("users: %v", err)
	}
	if _, out := cli("", "list"); out != "me\nyou\n" {
		t.Errorf("list: %q", out)
	}
	if code, _ := cli("", "del", "you"); code != 0 {
		t.Error("del")
	}
	if code, _ := cli("", "del", "you"); code != 2 {
		t.Error("del of a missing user")
	}
	if _, out := cli("", "list"); out != "me\n" {
		t.Errorf("list after del: %q", out)
	}
}
