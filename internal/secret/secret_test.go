package secret

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGet(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pw")
	os.WriteFile(file, []byte("s3cret with space\r\nsecond line\n"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	t.Setenv("TEST_SECRET_SET", "from-env")
	cases := []struct {
		name    string
		src     Source
		want    string
		wantErr string
	}{
		{"env", Source{Env: "TEST_SECRET_SET"}, "from-env", ""},
		{"env unset", Source{Env: "TEST_SECRET_UNSET"}, "", "set TEST_SECRET_UNSET"},
		{"file first line", Source{Env: "TEST_SECRET_SET", File: file}, "s3cret with space", ""},
		{"file missing", Source{File: filepath.Join(dir, "nope")}, "", "reading password file"},
		{"file empty", Source{File: empty}, "", "is empty"},
		{"command", Source{Command: "printf 'cmd-secret\\n'"}, "cmd-secret", ""},
		{"command fails", Source{Command: "echo oops >&2; exit 3"}, "", "oops"},
		{"both", Source{File: file, Command: "true"}, "", "not both"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.src.Get(context.Background())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if _, err := (Source{Env: "TEST_SECRET_UNSET"}).Get(context.Background()); !errors.Is(err, ErrNoSecret) {
		t.Errorf("unset env: %v, want ErrNoSecret", err)
	}
}
