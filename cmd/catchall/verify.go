package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/catchall/catchall/imapsync"
	"github.com/catchall/catchall/internal/cli"
)

func verifyCommand(g *globals) *cobra.Command {
	var (
		srv        = serverFlags{account: source}
		conn       connFlags
		archiveDir string
		hashes     bool
		folders    folderFlags
		dest       = serverFlags{account: destination}
		splitBy    string
		planFile   string
	)
	cmd := &cobra.Command{
		Use:   "verify (--from URL | --to URL) --archive DIR",
		Short: "Prove the archive holds every message of the account, intact",
		Long: `Compare the archive with the account: every message of every folder must
be archived with the same size, and its file must be there with that size.
With --hashes, every message is downloaded again and its SHA-256 compared
with the archived file's.

Prints "N/N verified" per folder and in total, with the numbers of missing
(on the server, not in the archive), extra (archived, no longer on the server)
and mismatched messages; each problem is listed on stderr. Exit code 1 when
anything is missing or mismatched; extra messages are not an error.
--folder and --exclude choose folders as for fetch: give the same ones you
fetched with, and the folders left out are not compared.

With --to instead of --from, prove that push delivered the archive to the
destination account: every archived message must be in the folder push put
it in (the push journal says which; give --split-by and --plan as you gave
them to push for messages it does not know), matched by Message-ID and size
or, with --hashes, by SHA-256 of the bytes. Prints "N/N verified" per
destination folder; each missing or mismatched message is listed on stderr
and the exit code is 1. Password: env CATCHALL_DEST_PASSWORD,
--dest-password-file or --dest-password-command.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dest.url != "" {
				if srv.url != "" {
					return cli.Usagef("give either --from or --to, not both")
				}
				if len(folders.include)+len(folders.exclude) > 0 {
					return cli.Usagef("--folder and --exclude go with --from only")
				}
				return verifyTo(cmd, g, &dest, conn, archiveDir, hashes, splitBy, planFile)
			}
			if splitBy != "" || planFile != "" {
				return cli.Usagef("--split-by and --plan go with --to only")
			}
			arc, err := openArchive(archiveDir)
			if err != nil {
				return err
			}
			defer arc.Close()
			server, err := srv.server(cmd.Context(), g, conn)
			if err != nil {
				return err
			}
			opts := &imapsync.VerifyOptions{Hashes: hashes, Include: folders.include, Exclude: folders.exclude}
			rep, err := imapsync.Verify(cmd.Context(), server, arc, opts)
			if err != nil {
				return srv.explain(err)
			}
			return reportVerify(g.stdout, g.stderr, rep, "", func(p imapsync.Problem) string {
				return fmt.Sprintf("%s uid %d: %s: %s", p.Folder, p.UID, p.Kind, p.Detail)
			})
		},
	}
	fs := cmd.Flags()
	srv.register(fs, "the account to compare with,")
	conn.register(fs)
	fs.StringVar(&archiveDir, "archive", "", "the archive `DIR` written by fetch")
	fs.BoolVar(&hashes, "hashes", false, "download every message again and compare SHA-256, not only sizes")
	folders.register(fs, "verify")
	dest.register(fs, "instead of --from: the account push uploaded into,")
	fs.StringVar(&splitBy, "split-by", "", "with --to: as given to push (alias or tag)")
	fs.StringVar(&planFile, "plan", "", "with --to and --split-by: the plan `FILE` given to push")
	return cmd
}

// verifyTo is verify --to: the archive against the destination of push.
func verifyTo(cmd *cobra.Command, g *globals, dest *serverFlags, conn connFlags, archiveDir string, hashes bool, splitBy, planFile string) error {
	by, err := parseSplitBy(splitBy)
	if err != nil {
		return err
	}
	t, err := openPushTarget(cmd.Context(), g, dest, conn, archiveDir, by, planFile)
	if err != nil {
		return err
	}
	defer t.arc.Close()
	rep, err := imapsync.VerifyDest(cmd.Context(), t.server, t.arc, &imapsync.DestVerifyOptions{Hashes: hashes, Route: t.route})
	if err != nil {
		return dest.explain(err)
	}
	return reportVerify(g.stdout, g.stderr, rep, " on the destination", func(p imapsync.Problem) string {
		return fmt.Sprintf("%s: %s: %s", p.Folder, p.Kind, p.Detail)
	})
}

// reportVerify prints the verify report (stdout) and each problem as
// problem says (stderr), and returns the command's error; where says on
// which side messages are missing ("" for the archive).
func reportVerify(stdout, stderr io.Writer, rep *imapsync.VerifyReport, where string, problem func(imapsync.Problem) string) error {
	printVerify(stdout, rep)
	for _, p := range rep.Problems {
		fmt.Fprintf(stderr, "catchall: verify: %s\n", problem(p))
	}
	if !rep.OK() {
		return cli.Exit(cli.ExitPartial, fmt.Errorf("%d missing, %d mismatched%s", rep.Total.Missing, rep.Total.Mismatched, where))
	}
	return nil
}
