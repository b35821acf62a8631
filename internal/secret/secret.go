// Package secret reads passwords and API keys from the places the catchall
// contract allows: an environment variable, a file, or the output of a command.
// Never from a flag value, so that secrets stay out of shell history and
// process listings.
package secret

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// ErrNoSecret is returned by Source.Get when no source is configured.
var ErrNoSecret = errors.New("no password given")

// Source says where one secret comes from. At most one of File and Command may
// be set; when neither is set the environment variable Env is read.
type Source struct {
	Env     string // name of the environment variable, e.g. "CATCHALL_PASSWORD"
	File    string // path of a file whose first line is the secret
	Command string // shell command whose first output line is the secret
	// Timeout bounds Command; zero means one minute.
	Timeout time.Duration
}

// Get returns the secret. File and command output are trimmed of one trailing
// line ending (CRLF or LF); everything else is kept, including spaces.
func (s Source) Get(ctx context.Context) (string, error) {
	switch {
	case s.File != "" && s.Command != "":
		return "", errors.New("give either a password file or a password command, not both")
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			return "", fmt.Errorf("reading password file: %w", err)
		}
		return firstLine(b, "password file "+s.File)
	case s.Command != "":
		timeout := s.Timeout
		if timeout == 0 {
			timeout = time.Minute
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", s.Command)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			msg := strings.TrimSpace(stderr.String())
			if i := strings.IndexByte(msg, '\n'); i >= 0 {
				msg = msg[:i]
			}
			if msg != "" {
				return "", fmt.Errorf("password command failed: %w: %s", err, msg)
			}
			return "", fmt.Errorf("password command failed: %w", err)
		}
		return firstLine(out, "password command output")
	case s.Env != "":
		if v, ok := os.LookupEnv(s.Env); ok && v != "" {
			return v, nil
		}
		return "", fmt.Errorf("%w: set %s, or use a password file or command", ErrNoSecret, s.Env)
	}
	return "", ErrNoSecret
}

func firstLine(b []byte, what string) (string, error) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) == 0 {
		return "", fmt.Errorf("%w: %s is empty", ErrNoSecret, what)
	}
	return string(b), nil
}
