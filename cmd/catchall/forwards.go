package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/catchall/catchall/classify"
	"github.com/catchall/catchall/forwards"
	"github.com/catchall/catchall/internal/cli"
)

func forwardsCommand(g *globals) *cobra.Command {
	var (
		planPath, format, outDir, to, catchAll string
		burners                                bool
		burnerLen                              int
	)
	all := forwards.Formats()
	cmd := &cobra.Command{
		Use:   "forwards --plan FILE --format FORMAT --out DIR",
		Short: "Write forwarding configuration for the new mail host from the plan",
		Long: `Write ready-to-install forwarding configuration for the host your mail
moves to, from the plan's alias, action and forward_to columns, with an
INSTALL.txt saying where each file goes and which command activates it, and
a list of what that host cannot do for this plan — read it before switching.

Formats: ` + strings.Join(forwards.FormatNames(), ", ") + `. Several, comma-separated, go to one
subdirectory each.

The action decides: a block row's forward_to is kept in the plan and
ignored, so flipping action alone blocks and unblocks. A forward row with an
empty forward_to goes to --forward-to (--to is the old spelling); without it
such a row is left out with a warning, never guessed.

Every address is checked first (one rule for every step: RFC 5321 dot-atom,
ASCII, a local part of at most 64 bytes). A row that cannot be written
safely — quotes, backslashes, spaces, 8-bit or control characters, "a/../b",
a Postfix key starting with "#", a mail loop — is left out of that format
with a warning naming it and the reason; the rest is written and the exit
code is 1. A generated file never means something other than the plan.
--catch-all receives mail for addresses the plan does not name (without it,
those are refused where the host can). --burners accepts addresses shaped
like signed burners (catchall burner new) where the host can; only catchall
relay can check their signature.`,
		Example: "  catchall forwards --plan plan.csv --format postfix,sieve --out configs --forward-to me@new-host.example",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if planPath == "" || format == "" || outDir == "" {
				return cli.Usagef("--plan, --format and --out are required")
			}
			formats, err := forwards.ParseFormats(format)
			if err != nil {
				return cli.Exit(cli.ExitUsage, err)
			}
			if err := checkAddressFlags("--forward-to", to, "--catch-all", catchAll); err != nil {
				return err
			}
			res, err := forwards.Generate(&forwards.GenerateOptions{Plan: planPath, Formats: formats, Out: outDir, DefaultTo: to, CatchAll: catchAll,
				Burners: burners, BurnerLen: burnerLen})
			return reportForwards(g.stdout, g.stderr, res, err)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&planPath, "plan", "", "the plan `FILE`")
	fs.StringVar(&format, "format", "", "what to write: `FORMAT`[,FORMAT…] ("+strings.Join(forwards.FormatNames(), ", ")+")")
	fs.StringVar(&outDir, "out", "", "write into `DIR` (created 0700)")
	fs.StringVar(&to, "forward-to", "", "forward rows with an empty forward_to go to `ADDR` (without it they are left out)")
	fs.StringVar(&to, "to", "", "the old spelling of --forward-to")
	fs.StringVar(&catchAll, "catch-all", "", "mail to addresses the plan does not name goes to `ADDR` (default: refused)")
	fs.BoolVar(&burners, "burners", false, "accept signed-burner-shaped addresses SERVICE.TAG@domain (postfix: virtual.pcre) for --to, else the plan's most common target")
	fs.IntVar(&burnerLen, "burner-length", 6, "characters in a burner's tag (catchall burner new --length)")
	cmd.RegisterFlagCompletionFunc("format", formatCompletion(all))
	cmd.AddCommand(forwardsImportCommand(g))
	return cmd
}

// checkAddressFlags checks the addresses of flags given as pairs of flag
// name and value (space-separated addresses), as every target will.
func checkAddressFlags(flagsAndValues ...string) error {
	for i := 0; i+1 < len(flagsAndValues); i += 2 {
		for _, a := range strings.Fields(flagsAndValues[i+1]) {
			if _, err := forwards.CheckAddress(a); err != nil {
				return cli.Usagef("%s: %v", flagsAndValues[i], err)
			}
		}
	}
	return nil
}

// leftOut is a row left out as it is printed: with what to do about a
// forward row without a target.
func leftOut(s forwards.Skip) string {
	if s.Reason == forwards.ReasonNoTarget {
		return s.String() + ": give --forward-to ADDR"
	}
	return s.String()
}

// formatCompletion completes --format from the format names, after a comma too.
func formatCompletion(m map[string]forwards.Format) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		done, _ := cutLast(toComplete, ",")
		var out []cobra.Completion
		for name := range m {
			if done != "" {
				name = done + "," + name
			}
			if strings.HasPrefix(name, toComplete) {
				out = append(out, name)
			}
		}
		slices.Sort(out)
		return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
	}
}

// cutLast splits s at the last sep: the part before it (or "") and after.
func cutLast(s, sep string) (before, after string) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):]
	}
	return "", s
}

// reportForwards prints what forwards.Generate wrote (stdout) and the rows
// it left out (stderr), and returns the command's error.
func reportForwards(stdout, stderr io.Writer, res *forwards.Generated, err error) error {
	if res != nil {
		for _, s := range res.Skipped {
			fmt.Fprintf(stderr, "catchall: forwards: left out %s\n", leftOut(s))
		}
		if len(res.LeftOut) > 0 {
			fmt.Fprintf(stderr, "catchall: forwards: %d rows of the plan are not at your domains (domain_status foreign) and are left out: %s\n",
				len(res.LeftOut), strings.Join(res.LeftOut, " "))
		}
		for _, f := range res.Formats {
			for _, s := range f.Skipped {
				fmt.Fprintf(stderr, "catchall: forwards: left out %s\n", leftOut(s))
			}
			fmt.Fprintln(stdout, formatLine(f))
			if len(f.Limits) > 0 {
				fmt.Fprintf(stdout, "  what %s cannot do for this plan:\n", f.Name)
				for _, l := range f.Limits {
					fmt.Fprintf(stdout, "  - %s\n", l)
				}
			}
		}
	}
	switch {
	case errors.Is(err, forwards.ErrNoBurnerTarget):
		return cli.Usagef("--burners: give --forward-to ADDR, where burners go")
	case err != nil:
		return err
	case res.SkippedCount() > 0:
		return cli.Exit(cli.ExitPartial, fmt.Errorf("%d rows left out (listed above); everything else is written", res.SkippedCount()))
	}
	return nil
}

// formatLine is what was written for one format.
func formatLine(f forwards.FormatResult) string {
	return fmt.Sprintf("%s: %d rules (%d forward, %d block) → %s (see INSTALL.txt)", f.Name, f.Rules, f.Forwarded, f.Blocked, f.Dir)
}

func forwardsImportCommand(g *globals) *cobra.Command {
	var format, planPath string
	imps := forwards.Importers()
	var names []string
	for n := range imps {
		names = append(names, n)
	}
	slices.Sort(names)
	cmd := &cobra.Command{
		Use:   "import --format FORMAT --plan FILE INPUT...",
		Short: "Read existing forwarding configuration back into a plan",
		Long: `Read forwarding configuration back into a plan: ` + strings.Join(names, ", ") + `.
Give all files of one configuration (for postfix: virtual and access).
An existing plan keeps its other columns; imported rows get source manual,
so classify will not change them. New aliases are tagged disposable until
you say otherwise.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			imp, ok := imps[format]
			if !ok {
				return cli.Usagef("--format must be one of %s", strings.Join(names, ", "))
			}
			if planPath == "" {
				return cli.Usagef("--plan is required")
			}
			var data []byte
			for _, a := range args {
				b, err := os.ReadFile(a)
				if err != nil {
					return cli.Exit(cli.ExitUsage, err)
				}
				data = append(append(data, b...), '\n')
			}
			rules, err := imp.Import(data)
			if err != nil {
				return cli.Usagef("%s: %v", format, err)
			}
			plan := &classify.Plan{Columns: []string{"alias", "tag", "action", "forward_to", "source"}}
			if _, err := os.Stat(planPath); err == nil {
				if plan, err = classify.ReadPlan(planPath); err != nil {
					return cli.Exit(cli.ExitUsage, err)
				}
			}
			n, added := forwards.MergeRules(plan, rules)
			if err := plan.Write(planPath); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "%d rules imported from %s into %s (%d new aliases)\n", n, format, planPath, added)
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "the configuration's `FORMAT`")
	cmd.Flags().StringVar(&planPath, "plan", "", "the plan `FILE` to create or update")
	return cmd
}
