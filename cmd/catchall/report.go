package main

import (
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/catchall/catchall/classify"
	"github.com/catchall/catchall/classify/report"
	"github.com/catchall/catchall/internal/cli"
)

func reportCommand(g *globals) *cobra.Command {
	var (
		planPath string
		archive  string
		outPath  string
		title    string
	)
	cmd := &cobra.Command{
		Use:   "report --plan FILE [--archive DIR] --out FILE.html",
		Short: "Write the plan as one HTML page: sortable alias table, timeline, breaches",
		Long: `Write the plan as one self-contained HTML page to review before migrating.
Open it in any browser; it loads nothing from the network.

The page shows:
  - totals per tag (aliases, messages, how many forward and block, how many
    were breached or leaked) and per breach verdict;
  - every alias with its tag, action, forward_to, messages, first and last
    seen, and its breach verdict and breaches with their dates (the columns
    catchall breach writes), sortable by any column and filtered by text,
    tag, action or verdict;
  - a timeline in the same order: one row per alias from first to last
    seen, breach dates marked in red. With --archive, each month that
    received mail is a cell, darker for more; without it the page uses the
    plan's first_seen, last_seen and messages only.
  - the Have I Been Pwned attribution when the plan holds breach data.

Everything from the plan is shown as text, never as markup. The page stays
quick with thousands of aliases: only the rows in view are drawn.`,
		Example: "  catchall report --plan plan.csv --out report.html\n  catchall report --plan plan.csv --archive ~/mail-archive --out report.html --title \"example.com aliases\"",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if planPath == "" {
				return cli.Usagef("--plan is required")
			}
			if outPath == "" {
				return cli.Usagef("--out is required (the HTML file to write)")
			}
			plan, err := classify.ReadPlan(planPath)
			if err != nil {
				return cli.Exit(cli.ExitUsage, err)
			}
			var inv *classify.Inventory
			if archive != "" {
				// The plan names the domains: no need to detect them.
				var domains []string
				for _, r := range plan.Rows {
					if d := classify.Domain(r.Alias()); d != "" && !slices.Contains(domains, d) {
						domains = append(domains, d)
					}
				}
				inv, err = classify.Build(cmd.Context(), &classify.ArchiveSource{Dir: archive}, &classify.Options{Domains: domains})
				if err != nil {
					return cli.Exit(cli.ExitPartial, err)
				}
			}
			if err := report.WriteFile(outPath, plan, inv, &report.Options{Title: title}); err != nil {
				return fmt.Errorf("writing report: %w", err)
			}
			from := "the plan"
			if inv != nil {
				from = fmt.Sprintf("the plan and %d messages of the archive", inv.Messages)
			}
			fmt.Fprintf(g.stdout, "wrote %s: %d aliases from %s\n", outPath, len(plan.Rows), from)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&planPath, "plan", "", "the plan `FILE` (CSV, or JSON for *.json)")
	fs.StringVar(&archive, "archive", "", "also read the archive `DIR` written by fetch, for messages per month")
	fs.StringVar(&outPath, "out", "", "write the page to this `FILE` (mode 0600)")
	fs.StringVar(&title, "title", "", "the page's title (default \""+report.DefaultTitle+"\")")
	return cmd
}
