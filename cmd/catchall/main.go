// Command catchall moves a catch-all mailbox to wherever the mail goes next:
// it downloads the account, inventories and tags every alias, checks them
// against breach data, writes forwarding rules, relays burner aliases and
// uploads the history. Run "catchall --help" for the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/catchall/catchall/classify"
	"github.com/catchall/catchall/classify/breach"
	"github.com/catchall/catchall/imapsync"
	"github.com/catchall/catchall/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// globals are the flags every command has.
type globals struct {
	config    string
	quiet     bool
	logFormat string
	verbose   bool
	stdout    io.Writer
	stderr    io.Writer
	// resolver answers relay check's DNS questions; nil: the system's.
	resolver dnsResolver
}

// logger is the logger the global flags ask for.
func (g *globals) logger() (*slog.Logger, error) {
	l, err := cli.Logger(g.stderr, g.logFormat, g.verbose, g.quiet)
	if err != nil {
		return nil, cli.Usagef("--log-format must be text or json, not %q", g.logFormat)
	}
	return l, nil
}

// progress returns the progress bar of verb on stderr when it is a
// terminal and the bar is wanted (not --quiet, not a dry run), else nil;
// finish removes it.
func (g *globals) progress(verb string, dryRun bool) (p imapsync.Progress, finish func()) {
	if g.quiet || dryRun || !cli.IsTerminal(os.Stderr) || g.stderr != os.Stderr {
		return nil, func() {}
	}
	b := NewBar(g.stderr, verb)
	return b, b.Finish
}

// run executes one catchall command line and returns its exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runWith(ctx, &globals{stdout: stdout, stderr: stderr}, args, stdin)
}

// runWith is run with the globals given (g.stdout and g.stderr set).
func runWith(ctx context.Context, g *globals, args []string, stdin io.Reader) int {
	stdout, stderr := g.stdout, g.stderr
	root := newRoot(g)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetArgs(args)

	return exitCode(stderr, root.ExecuteContext(ctx))
}

// exitCode prints err on stderr, as every command and every step of
// migrate ends, and returns the exit code it means.
func exitCode(stderr io.Writer, err error) int {
	if err == nil {
		return cli.ExitOK
	}
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "catchall: interrupted; everything stored so far is kept, run the same command again to continue")
		return cli.ExitPartial
	}
	fmt.Fprintf(stderr, "catchall: %s\n", oneLine(err))
	var ee *cli.ExitError
	var ie *classify.InputError
	switch {
	case errors.As(err, &ee):
		return ee.Code
	case errors.Is(err, imapsync.ErrNoFolder), errors.As(err, &ie):
		return cli.ExitUsage
	case errors.Is(err, imapsync.ErrConnect), errors.Is(err, imapsync.ErrAuth),
		errors.Is(err, breach.ErrUnauthorized), errors.Is(err, breach.ErrForbidden):
		return cli.ExitConnect
	}
	// cobra's own errors: unknown command, bad arguments.
	if msg := err.Error(); strings.HasPrefix(msg, "unknown command") || strings.HasPrefix(msg, "accepts ") ||
		strings.HasPrefix(msg, "requires ") || strings.HasPrefix(msg, "invalid argument") {
		return cli.ExitUsage
	}
	return cli.ExitPartial
}

// oneLine folds a multi-line error (cobra's suggestions, joined config
// problems) onto one line.
func oneLine(err error) string {
	lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
	var parts []string
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}

// newRoot builds the command tree; g receives the global flags.
func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "catchall",
		Short: "Move a catch-all mailbox: download, inventory aliases, forward, relay, upload",
		Long: `catchall helps people whose mail host is turning off catch-all addresses.

It downloads every message of the old account over IMAP into a local archive
(Maildir + SQLite index), and the later steps read that archive.

Passwords never go on the command line: set CATCHALL_PASSWORD, or use
--password-file FILE or --password-command CMD.

Exit codes: 0 done, 1 finished but some items failed (listed on stderr), or
the run was interrupted or stopped by a local error such as a full disk,
2 usage or configuration error, 3 cannot connect or authenticate.`,
		Version:       version(),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return cli.ApplyConfig(cmd)
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.config, "config", "", "read flags from this TOML `FILE` (keys are long flag names)")
	pf.BoolVarP(&g.quiet, "quiet", "q", false, "no progress bar, only warnings and errors")
	pf.StringVar(&g.logFormat, "log-format", "text", "log format on stderr: text or json")
	pf.BoolVarP(&g.verbose, "verbose", "v", false, "debug logging, with protocol transcripts (credentials redacted)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cli.Exit(cli.ExitUsage, err) })

	root.AddCommand(fetchCommand(g), verifyCommand(g), aliasesCommand(g), classifyCommand(g), breachCommand(g), forwardsCommand(g),
		relayCommand(g), burnerCommand(g), dkimCommand(g), pushCommand(g), reportCommand(g), migrateCommand(g), genDocsCommand(g))
	// cobra adds "completion" itself at Execute; adding it here lists it in
	// the reference too. It takes its output writer now, hence SetOut first.
	root.SetOut(g.stdout)
	root.SetErr(g.stderr)
	root.InitDefaultCompletionCmd()
	return root
}

// buildVersion and buildCommit are set at link time by the package build
// (-ldflags "-X main.buildVersion=… -X main.buildCommit=…", see
// scripts/version.sh); empty, the build information says.
var buildVersion, buildCommit string

// version is the version, the commit and the Go version the binary was
// built with: the link-time values when set, else the module version and
// the VCS stamp of its build information ("(devel)" when there is none).
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = &debug.BuildInfo{GoVersion: runtime.Version()}
	}
	return versionOf(bi, buildVersion, buildCommit)
}

// versionOf is version for the given build information and link-time values.
func versionOf(bi *debug.BuildInfo, v, commit string) string {
	dirty := false
	if v == "" {
		v = bi.Main.Version
	}
	if v == "" {
		v = "(devel)"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if commit == "" {
				commit = s.Value
			}
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if len(commit) > 12 {
		commit = commit[:12]
	}
	if commit != "" {
		v += " commit " + commit
		if dirty {
			v += " (modified)"
		}
	}
	return v + ", " + bi.GoVersion
}
