package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/catchall/catchall/classify/report"
	"github.com/catchall/catchall/internal/cli"
)

func reportCommand(g *globals) *cobra.Command {
	var (
		planPath string
		archive  string
		spool    string
		sf       relayStoreFlags
		outPath  string
		title    string
	)
	cmd := &cobra.Command{
		Use:   "report --plan FILE [--archive DIR] [--spool DIR | --store URL] --out FILE.html",
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
  - the Have I Been Pwned attribution when the plan holds breach data;
  - each alias's note (the plan's note column) with its address;
  - with --spool (the relay's spool, SPOOL/relay.db), the relay's burners
    that the plan does not list yet (catchall relay export adds them):
    service, note, when made, first and last mail, messages forwarded and
    refused; a burner row of the plan without a note shows the store's.

Everything from the plan is shown as text, never as markup. The page stays
quick with thousands of aliases: only the rows in view are drawn.`,
		Example: "  catchall report --plan plan.csv --out report.html\n  catchall report --plan plan.csv --archive ~/mail-archive --out report.html --title \"example.com aliases\"\n  catchall report --plan plan.csv --spool /var/lib/catchall-relay --out report.html",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if planPath == "" {
				return cli.Usagef("--plan is required")
			}
			if outPath == "" {
				return cli.Usagef("--out is required (the HTML file to write)")
			}
			opts := &report.Options{Title: title}
			if spool != "" || sf.url != "" {
				var err error
				if opts.Burners, err = storeBurners(sf, spool); err != nil {
					return err
				}
			}
			res, err := report.Generate(cmd.Context(), &report.GenerateOptions{Plan: planPath, Archive: archive, Out: outPath, Options: opts})
			if err != nil {
				return inventoryError(err, "run fetch first")
			}
			fmt.Fprintln(g.stdout, reportLine(outPath, res))
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&planPath, "plan", "", "the plan `FILE` (CSV, or JSON for *.json)")
	fs.StringVar(&archive, "archive", "", "also read the archive `DIR` written by fetch, for messages per month")
	fs.StringVar(&spool, "spool", "", "also read the relay's store in the spool `DIR` (relay.db): its burners and their notes")
	sf.register(fs, "read the burners from this relay store `URL` (the relay's --store) instead")
	fs.StringVar(&outPath, "out", "", "write the page to this `FILE` (mode 0600)")
	fs.StringVar(&title, "title", "", "the page's title (default \""+report.DefaultTitle+"\")")
	return cmd
}

// reportLine says what the page was made from.
func reportLine(outPath string, res *report.Generated) string {
	from := []string{"the plan"}
	if res.Archive {
		from = append(from, fmt.Sprintf("%d messages of the archive", res.Messages))
	}
	if res.Store {
		from = append(from, fmt.Sprintf("%d burners of the relay store (%d not in the plan)", res.Burners, res.Outside))
	}
	return fmt.Sprintf("wrote %s: %d aliases from %s", outPath, res.Aliases, listOf(from))
}

// listOf joins "a", "a and b", "a, b and c".
func listOf(items []string) string {
	if len(items) <= 1 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

// storeBurners reads the burners of the relay store (--store, or that of
// spool) for the report.
func storeBurners(sf relayStoreFlags, spool string) ([]report.Burner, error) {
	st, err := sf.open(spool)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	bs, err := st.Burners()
	if err != nil {
		return nil, err
	}
	out := make([]report.Burner, 0, len(bs))
	for _, b := range bs {
		out = append(out, report.Burner{Alias: b.Address, Service: b.Service, Note: b.Note, Created: b.Created,
			FirstMail: b.FirstMail, LastMail: b.LastMail, Forwarded: b.Forwarded, Refused: b.Refused})
	}
	return out, nil
}
