// Package cli holds the plumbing every catchall command shares: the config
// file, exit codes, logging and where secrets come from.
//
// # Config file
//
// Every command accepts --config FILE, a TOML file whose keys are the
// command's long flag names:
//
//	from = "imaps://me%40example.com@imap.example.com"
//	archive = "/home/me/mail-archive"
//	folder = ["INBOX", "Archive/*"]
//	connections = 4
//
// Flags given on the command line win over the file. Keys the command does
// not know are reported all at once, with exit code 2.
package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Exit codes of the catchall contract.
const (
	ExitOK      = 0 // done
	ExitPartial = 1 // finished, but some items failed (each listed on stderr)
	ExitUsage   = 2 // usage or configuration error
	ExitConnect = 3 // cannot connect or authenticate
)

// ExitError carries an exit code with the error that caused it.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// Exit wraps err with an exit code; a nil err stays nil.
func Exit(code int, err error) error {
	if err == nil {
		return nil
	}
	return &ExitError{Code: code, Err: err}
}

// Usagef returns a usage error (exit code 2).
func Usagef(format string, args ...any) error {
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf(format, args...)}
}

// ConfigTables is the cobra annotation listing, comma-separated, the config
// keys a command reads itself (tables such as [known] or [[rule]]) rather
// than as flags.
const ConfigTables = "catchall/config-tables"

// ApplyConfig reads the TOML file named by the --config flag, if any, and sets
// every flag of cmd that the command line did not set.
func ApplyConfig(cmd *cobra.Command) error {
	path, _ := cmd.Flags().GetString("config")
	if path == "" {
		return nil
	}
	var values map[string]any
	if _, err := toml.DecodeFile(path, &values); err != nil {
		return Usagef("reading config %s: %v", path, err)
	}
	var problems []error
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		if slices.Contains(strings.Split(cmd.Annotations[ConfigTables], ","), key) {
			continue // read by the command itself
		}
		fl := cmd.Flags().Lookup(key)
		if fl == nil || key == "config" || key == "help" {
			problems = append(problems, fmt.Errorf("unknown key %q (the %q command has no --%s flag)", key, cmd.Name(), key))
			continue
		}
		if fl.Changed {
			continue
		}
		if err := setFlag(fl, values[key]); err != nil {
			problems = append(problems, fmt.Errorf("key %q: %v", key, err))
		}
	}
	if len(problems) > 0 {
		return Usagef("config %s: %w", path, errors.Join(problems...))
	}
	return nil
}

func setFlag(fl *pflag.Flag, v any) error {
	switch v := v.(type) {
	case []any:
		if !strings.HasSuffix(fl.Value.Type(), "Slice") && !strings.HasSuffix(fl.Value.Type(), "Array") {
			return fmt.Errorf("takes one value, not a list")
		}
		for _, e := range v {
			if err := fl.Value.Set(fmt.Sprint(e)); err != nil {
				return err
			}
		}
	case map[string]any:
		return fmt.Errorf("takes a value, not a table")
	default:
		if err := fl.Value.Set(fmt.Sprint(v)); err != nil {
			return err
		}
	}
	fl.Changed = true
	return nil
}

// Logger returns the logger the global flags ask for: text or JSON on w, at
// debug level with verbose, warnings and errors only with quiet.
func Logger(w io.Writer, format string, verbose, quiet bool) (*slog.Logger, error) {
	level := slog.LevelInfo
	switch {
	case verbose:
		level = slog.LevelDebug
	case quiet:
		level = slog.LevelWarn
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: boundAttr}
	switch format {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", format)
}

// MaxLogValue bounds a string logged: a folder name or an error from a
// hostile server can be many megabytes, and the log is not the place for it.
const MaxLogValue = 1024

// boundAttr shortens string and error values longer than MaxLogValue.
func boundAttr(_ []string, a slog.Attr) slog.Attr {
	var s string
	switch v := a.Value; {
	case v.Kind() == slog.KindString:
		s = v.String()
	case v.Kind() == slog.KindAny:
		err, ok := v.Any().(error)
		if !ok {
			return a
		}
		s = err.Error()
	default:
		return a
	}
	if len(s) <= MaxLogValue {
		return a
	}
	cut := MaxLogValue
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return slog.String(a.Key, fmt.Sprintf("%s… (%d bytes)", s[:cut], len(s)))
}

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
