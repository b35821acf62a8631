package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/catchall/catchall/internal/cli"
)

// genDocsCommand writes the man pages and the shell completions that the
// Debian package installs (make deb). Hidden: it is for packaging, and its
// output is a build artifact, never committed.
func genDocsCommand(g *globals) *cobra.Command {
	var manDir, complDir string
	cmd := &cobra.Command{
		Use:   "gen-docs [--man DIR] [--completions DIR]",
		Short: "Write the man pages (section 1) and the bash, zsh and fish completions, for packaging",
		Long: `Write a man page for every command into --man DIR (catchall.1,
catchall-relay.1, catchall-relay-check.1, …), made from the commands' own
help, and the completion scripts into --completions DIR: catchall (bash),
_catchall (zsh) and catchall.fish. The pages are dated SOURCE_DATE_EPOCH when
it is set (reproducible builds), else today. Defaults that depend on the user
running it (the relay's --spool) read as the home and state directories of
whoever runs it: run it with HOME=~ and without STATE_DIRECTORY and
XDG_STATE_HOME for pages that say "~/.local/state/…".`,
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if manDir == "" && complDir == "" {
				return cli.Usagef("give --man DIR, --completions DIR or both")
			}
			root := cmd.Root()
			if manDir != "" {
				date := time.Now()
				if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
					n, err := strconv.ParseInt(s, 10, 64)
					if err != nil {
						return cli.Usagef("SOURCE_DATE_EPOCH %q: not a number of seconds", s)
					}
					date = time.Unix(n, 0).UTC()
				}
				if err := os.MkdirAll(manDir, 0o755); err != nil {
					return err
				}
				if err := writeManPages(root, date, manDir); err != nil {
					return fmt.Errorf("man pages: %w", err)
				}
			}
			if complDir != "" {
				if err := os.MkdirAll(complDir, 0o755); err != nil {
					return err
				}
				for name, gen := range map[string]func(f *os.File) error{
					"catchall":      func(f *os.File) error { return root.GenBashCompletionV2(f, true) },
					"_catchall":     func(f *os.File) error { return root.GenZshCompletion(f) },
					"catchall.fish": func(f *os.File) error { return root.GenFishCompletion(f, true) },
				} {
					if err := writeWith(filepath.Join(complDir, name), gen); err != nil {
						return fmt.Errorf("completion %s: %w", name, err)
					}
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&manDir, "man", "", "write the man pages into `DIR`")
	cmd.Flags().StringVar(&complDir, "completions", "", "write the completion scripts into `DIR`")
	return cmd
}

// writeManPages writes a man page for every command of the tree under
// root into dir, dated date. The descriptions are written as they are in
// --help, line for line: cobra hands them to a Markdown renderer, which
// would take "<alias>" for an HTML tag and reflow the tables. It changes
// the commands (their Long), so it is for a tree made to be written.
func writeManPages(root *cobra.Command, date time.Time, dir string) error {
	var prepare func(c *cobra.Command)
	prepare = func(c *cobra.Command) {
		if c.Long != "" {
			c.Long = "```\n" + strings.TrimRight(c.Long, "\n") + "\n```"
		}
		for _, sub := range c.Commands() {
			prepare(sub)
		}
	}
	prepare(root)
	root.InitDefaultVersionFlag() // cobra adds it when it runs: list it too
	root.DisableAutoGenTag = true
	v, _, _ := strings.Cut(version(), ",") // version() prefers the link-time buildVersion
	v, _, _ = strings.Cut(v, " commit")
	header := &doc.GenManHeader{Section: "1", Date: &date, Source: "catchall " + v, Manual: "catchall manual"}
	return doc.GenManTree(root, header, dir)
}

// writeWith creates path (0644) and fills it with gen.
func writeWith(path string, gen func(*os.File) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = gen(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
