package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/catchall/catchall/archive"
	"github.com/catchall/catchall/classify"
	"github.com/catchall/catchall/imapsync"
	"github.com/catchall/catchall/internal/cli"
)

// parseSplitBy checks --split-by.
func parseSplitBy(s string) (classify.SplitBy, error) {
	by, err := classify.ParseSplitBy(s)
	if err != nil {
		return "", cli.Usagef("--split-by must be alias or tag, not %q", s)
	}
	return by, nil
}

// splitRoute reads --plan for --split-by (checked by parseSplitBy) and
// returns the route they mean (nil without --split-by).
func splitRoute(by classify.SplitBy, planFile string) (func([]byte) string, error) {
	if by == classify.SplitNone {
		if planFile != "" {
			return nil, cli.Usagef("--plan is only used with --split-by alias or tag")
		}
		return nil, nil
	}
	if planFile == "" {
		return nil, cli.Usagef("--split-by %s needs --plan FILE (written by classify)", by)
	}
	plan, err := classify.ReadPlan(planFile)
	if err != nil {
		return nil, cli.Exit(cli.ExitUsage, err)
	}
	r, err := classify.NewRouter(by, plan)
	if err != nil {
		return nil, cli.Exit(cli.ExitUsage, err)
	}
	return r.Folder, nil
}

// openArchive opens an existing archive for push or verify.
func openArchive(dir string) (*archive.Archive, error) {
	if dir == "" {
		return nil, cli.Usagef("--archive is required")
	}
	if _, err := os.Stat(filepath.Join(dir, archive.IndexFile)); err != nil {
		return nil, cli.Usagef("%s is not an archive (no %s): run fetch first", dir, archive.IndexFile)
	}
	arc, err := archive.Open(dir)
	if err != nil {
		return nil, cli.Exit(cli.ExitUsage, err)
	}
	return arc, nil
}

func pushCommand(g *globals) *cobra.Command {
	var (
		dest        = serverFlags{account: destination}
		conn        connFlags
		archiveDir  string
		splitBy     string
		planFile    string
		connections int
		dryRun      bool
		recheck     bool
		repair      bool
	)
	cmd := &cobra.Command{
		Use:   "push --archive DIR --to URL",
		Short: "Upload the archived history into the new account",
		Long: `Append every archived message to the destination account, with its exact
bytes, flags, keywords (where the destination keeps them) and INTERNALDATE.

Folders keep their names, created with the destination's namespace prefix and
delimiter ("Archive/2019" is "INBOX.Archive.2019" on a Courier-style server);
a name component holding the destination's delimiter or a character it cannot
store is renamed ("_" instead) and reported; a folder the destination refuses
to create (Courier and an emoji) is created with its non-ASCII characters as
"_", reported, and recorded so that re-runs and verify --to find it. A folder
the old server marked
\Sent, \Drafts, \Junk, \Trash or \Archive goes to the destination's folder
with that role, when it announces one.

--split-by alias files each message sent to an alias of the plan under
Aliases/<local part>; --split-by tag under Personal/, Business/ or
Disposable/<local part> by the plan's tag. Messages sent to no alias of the
plan keep their folder.

Run it again at any time: a journal in the archive's index records every
message appended (with its UID, from APPENDUID) and every APPEND in flight,
so an interrupted run, even kill -9, neither appends a message twice nor
misses one; messages of unknown outcome are looked for on the destination
(Message-ID, size, then SHA-256 of the bytes) before being appended again.
A second run appends nothing. A message deleted on the destination after it
was pushed stays deleted; --recheck looks for every message again (one
listing per folder) and appends the ones missing, as verify --to reports them.

Messages the destination refuses are listed on stderr with the reason and
the exit code is 1; everything else is appended. Each is "refused for good"
(the message itself: too big, bytes the server does not store) — no re-run
changes that — or may go through on another run (account full, a server
error). --repair sends a message refused for NUL bytes or line ends that are
not CRLF (Cyrus) again with NUL as a space and CRLF line ends; the archive
keeps the original and the journal both hashes, so verify --to accounts for
it. A server that refuses APPEND while a folder is selected (Courier) is
detected on the first refusal; push then appends with nothing selected.
Password: env CATCHALL_DEST_PASSWORD, --dest-password-file or
--dest-password-command.`,
		Example: `  CATCHALL_DEST_PASSWORD=... catchall push --archive ~/mail-archive --to imaps://me%40new-host.example@imap.new-host.example
  catchall push --archive arch --to imaps://me@imap.new.example --split-by tag --plan plan.csv --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkConnections(connections); err != nil {
				return err
			}
			by, err := parseSplitBy(splitBy)
			if err != nil {
				return err
			}
			t, err := openPushTarget(cmd.Context(), g, &dest, conn, archiveDir, by, planFile)
			if err != nil {
				return err
			}
			defer t.arc.Close()
			rep, err := t.push(cmd.Context(), g, imapsync.PushOptions{Connections: connections, DryRun: dryRun, Recheck: recheck, Repair: repair})
			return reportPush(g.stdout, g.stderr, rep, err, dryRun, repair)
		},
	}
	fs := cmd.Flags()
	dest.register(fs, "the account to upload into,")
	fs.StringVar(&archiveDir, "archive", "", "the archive `DIR` written by fetch")
	fs.StringVar(&splitBy, "split-by", "", "file messages by the alias they were sent to: alias or tag (needs --plan)")
	fs.StringVar(&planFile, "plan", "", "the plan `FILE` (CSV or JSON) for --split-by")
	fs.IntVar(&connections, "connections", 4, "parallel IMAP connections")
	fs.BoolVar(&recheck, "recheck", false, "do not trust the journal: look for every message on the destination and append those missing (deleted there since)")
	fs.BoolVar(&repair, "repair", false, "send a message the destination refuses for its bytes (NUL, line ends that are not CRLF: Cyrus) again with NUL as a space and CRLF line ends; the archive keeps the original, the journal both hashes")
	fs.BoolVar(&dryRun, "dry-run", false, "show which folders would be created and what would be appended; change nothing")
	conn.register(fs)
	return cmd
}

// pushTarget is what push and verify --to work on: the archive, the
// destination and where --split-by files messages.
type pushTarget struct {
	dest   *serverFlags
	arc    *archive.Archive
	server *imapsync.Server
	route  func(head []byte) string
}

// openPushTarget reads the plan of --split-by (checked by parseSplitBy),
// opens the archive and makes the destination's server; Close t.arc.
func openPushTarget(ctx context.Context, g *globals, dest *serverFlags, conn connFlags, archiveDir string, by classify.SplitBy, planFile string) (*pushTarget, error) {
	route, err := splitRoute(by, planFile)
	if err != nil {
		return nil, err
	}
	arc, err := openArchive(archiveDir)
	if err != nil {
		return nil, err
	}
	server, err := dest.server(ctx, g, conn)
	if err != nil {
		arc.Close()
		return nil, err
	}
	return &pushTarget{dest: dest, arc: arc, server: server, route: route}, nil
}

// push is the push step: the archive appended to the destination, with a
// progress bar on a terminal.
func (t *pushTarget) push(ctx context.Context, g *globals, opts imapsync.PushOptions) (*imapsync.PushReport, error) {
	opts.Route, opts.Logger = t.route, t.server.Logger
	var finish func()
	opts.Progress, finish = g.progress("pushing", opts.DryRun)
	rep, err := imapsync.Push(ctx, t.server, t.arc, &opts)
	finish()
	return rep, t.dest.explain(err)
}

// reportPush prints what push did (stdout), its notes and what was not
// appended (stderr), and returns the command's error.
func reportPush(stdout, stderr io.Writer, rep *imapsync.PushReport, err error, dryRun, repair bool) error {
	if rep != nil {
		printPush(stdout, rep, dryRun)
		for _, n := range rep.Notes {
			fmt.Fprintf(stderr, "catchall: push: note: %s\n", n)
		}
		for _, f := range rep.Failures {
			kind := "not appended (may go through on another run)"
			if f.Permanent {
				kind = "refused for good"
			}
			fmt.Fprintf(stderr, "catchall: push: %s: %s\n", kind, f)
		}
	}
	if err != nil {
		return err
	}
	if len(rep.Failures) > 0 {
		return cli.Exit(cli.ExitPartial, errors.New(pushFailureSummary(rep.Failures, repair)))
	}
	return nil
}

// pushFailureSummary says how many messages were not appended, which of
// them no re-run will fix and why, and what --repair would do.
func pushFailureSummary(fails []imapsync.Failure, repair bool) string {
	permanent, repairable := 0, 0
	for _, f := range fails {
		if f.Permanent {
			permanent++
		}
		if f.Repairable {
			repairable++
		}
	}
	parts := []string{fmt.Sprintf("%d messages were not appended (listed above)", len(fails))}
	if n := len(fails) - permanent; n > 0 {
		parts = append(parts, fmt.Sprintf("%d may go through if you run push again", n))
	}
	if permanent > 0 {
		parts = append(parts, fmt.Sprintf("%d were refused for good: no re-run will change that (the destination refuses the message itself or its folder)", permanent))
	}
	if repairable > 0 && !repair {
		parts = append(parts, fmt.Sprintf("push --repair would send %d of those with NUL as a space and CRLF line ends", repairable))
	}
	return strings.Join(parts, "; ")
}
