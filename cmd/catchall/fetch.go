package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/catchall/catchall/archive"
	"github.com/catchall/catchall/imapsync"
	"github.com/catchall/catchall/internal/cli"
)

func fetchCommand(g *globals) *cobra.Command {
	var (
		srv         = serverFlags{account: source}
		conn        connFlags
		archiveDir  string
		folders     folderFlags
		connections int
		dryRun      bool
	)
	cmd := &cobra.Command{
		Use:   "fetch --from URL --archive DIR",
		Short: "Download every message of an IMAP account into a local archive",
		Long: `Download every message of an IMAP account into a local archive.

The archive is one Maildir per folder (DIR/<folder>/{cur,new,tmp}, folder
names in UTF-8 with "/" between levels, "INBOX" for the inbox) plus an SQLite
index DIR/index.db. Each file holds exactly the bytes the server returned;
flags are kept in file names and index, keywords and INTERNALDATE in the index
(and the file's mtime). Everything is created 0700/0600.

Run it again at any time: only new messages are fetched and changed flags
updated (with CONDSTORE an unchanged folder costs one STATUS). An interrupted
run, even kill -9, resumes without duplicates or gaps. Messages the server
deleted stay in the archive. If a folder's UIDVALIDITY changes, it is fetched
again; the earlier copy is kept and identical messages are stored once.

Folder patterns (--folder, --exclude, repeatable) match the archive names:
"*" matches anything including "/", "%" anything within one level, "?" one
character. --exclude wins over --folder.

Messages that cannot be fetched are listed on stderr and the exit code is 1;
everything else is kept.`,
		Example: `  CATCHALL_PASSWORD=... catchall fetch --from imaps://me%40example.com@imap.example.com --archive ~/mail-archive
  catchall fetch --from imaps://me@mail.example.net --archive arch --password-command 'pass show mail' --exclude Trash --exclude 'Junk*'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if archiveDir == "" {
				return cli.Usagef("--archive is required")
			}
			if err := checkConnections(connections); err != nil {
				return err
			}
			rep, err := fetchArchive(cmd.Context(), g, &srv, conn, archiveDir,
				imapsync.FetchOptions{Include: folders.include, Exclude: folders.exclude, Connections: connections, DryRun: dryRun})
			return reportFetch(g.stdout, g.stderr, rep, err, dryRun)
		},
	}
	fs := cmd.Flags()
	srv.register(fs, "the account to download,")
	conn.register(fs)
	fs.StringVar(&archiveDir, "archive", "", "the archive `DIR` (created if missing)")
	folders.register(fs, "fetch")
	fs.IntVar(&connections, "connections", 4, "parallel IMAP connections (folders and ranges of big folders in parallel)")
	fs.BoolVar(&dryRun, "dry-run", false, "show what would be fetched; write nothing")
	return cmd
}

// checkConnections checks --connections.
func checkConnections(n int) error {
	if n < 1 || n > 32 {
		return cli.Usagef("--connections must be between 1 and 32")
	}
	return nil
}

// fetchArchive is the fetch step: the account of src downloaded into the
// archive in dir (created if missing; with opts.DryRun nothing is
// written), with a progress bar on a terminal.
func fetchArchive(ctx context.Context, g *globals, src *serverFlags, conn connFlags, dir string, opts imapsync.FetchOptions) (*imapsync.Report, error) {
	server, err := src.server(ctx, g, conn)
	if err != nil {
		return nil, err
	}
	openDir := dir
	if opts.DryRun {
		// Read an existing archive; write nothing, not even a new one.
		if _, err := os.Stat(filepath.Join(dir, archive.IndexFile)); err != nil {
			tmp, err := os.MkdirTemp("", "catchall-dry-run-")
			if err != nil {
				return nil, err
			}
			defer os.RemoveAll(tmp)
			openDir = tmp
		}
	}
	arc, err := archive.Open(openDir)
	if err != nil {
		return nil, cli.Exit(cli.ExitUsage, err)
	}
	defer arc.Close()
	opts.Logger = server.Logger
	var finish func()
	opts.Progress, finish = g.progress("fetching", opts.DryRun)
	rep, err := imapsync.Fetch(ctx, server, arc, &opts)
	finish()
	if errors.Is(err, imapsync.ErrNoFolder) {
		err = fmt.Errorf("%w; see --folder and --exclude", err)
	}
	return rep, src.explain(err)
}

// reportFetch prints what fetchArchive did (stdout) and what failed
// (stderr), and returns the command's error.
func reportFetch(stdout, stderr io.Writer, rep *imapsync.Report, err error, dryRun bool) error {
	if rep != nil {
		printFetch(stdout, rep, dryRun)
		for _, f := range rep.Failures {
			fmt.Fprintf(stderr, "catchall: fetch: %s\n", f)
		}
	}
	if err != nil {
		return err
	}
	if len(rep.Failures) > 0 {
		return cli.Exit(cli.ExitPartial, fmt.Errorf("%d items could not be fetched (listed above); run fetch again to retry them", len(rep.Failures)))
	}
	return nil
}
