package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/catchall/catchall/classify"
	"github.com/catchall/catchall/internal/cli"
)

// storeFlags choose the mail store to read: exactly one of them.
type storeFlags struct {
	archive string
	maildir string
	mbox    string
	domains []string
}

func (s *storeFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&s.archive, "archive", "", "read the archive `DIR` written by fetch")
	fs.StringVar(&s.maildir, "maildir", "", "read a Maildir or a tree of them in `DIR` (nested folders or Maildir++ dot-folders)")
	fs.StringVar(&s.mbox, "mbox", "", "read an mbox `FILE` (e.g. a Thunderbird export)")
	fs.StringArrayVar(&s.domains, "domain", nil, "the catch-all `DOMAIN` (repeatable; default: detected from the mail)")
}

func (s *storeFlags) source() (classify.Source, error) {
	var src []classify.Source
	if s.archive != "" {
		src = append(src, &classify.ArchiveSource{Dir: s.archive})
	}
	if s.maildir != "" {
		src = append(src, &classify.MaildirSource{Dir: s.maildir})
	}
	if s.mbox != "" {
		src = append(src, &classify.MboxSource{Path: s.mbox})
	}
	if len(src) != 1 {
		return nil, cli.Usagef("give exactly one of --archive, --maildir and --mbox")
	}
	return src[0], nil
}

const storeHelp = `It reads the archive written by fetch (--archive), any Maildir tree
(--maildir: nested folders, or Maildir++ dot-folders as Dovecot and Courier
store them on disk) or an mbox file (--mbox), header by header.

The real recipient of each message is found in order of trust: an
original-recipient field (X-Original-To, Envelope-To, …) or Delivered-To
above the top-most Received of your own server, then "Received: … for
<addr>" added by your server, then To/Cc at your domains (counted for each
when there are several). Subaddresses (alias+tag@) count under the alias.
The final mailbox everything was delivered to is detected and reported, not
listed as an alias. Mail in a Sent folder counts as sent from its alias;
folders are told by their SPECIAL-USE role, else by a top-level name.

Without --domain, a domain is yours only on evidence that it delivered here:
delivery headers your host wrote (X-Original-To, Delivered-To, Envelope-To,
"for <addr>" of the top-most Received), the final mailbox, your Sent folder.
To/Cc and list mail never count. The domains and their evidence are printed;
when the evidence is weak the command stops (exit 2) and asks for --domain.`

func aliasesCommand(g *globals) *cobra.Command {
	var (
		store  storeFlags
		format string
	)
	cmd := &cobra.Command{
		Use:   "aliases (--archive DIR | --maildir DIR | --mbox FILE)",
		Short: "List every address at your domain that ever received mail",
		Long: "List every address at your domain that ever received mail: messages, first\n" +
			"and last seen, replies, share of bulk mail, top sender domains, folders and\n" +
			"which header revealed it. One row per alias, sorted, then a summary line.\n\n" + storeHelp,
		Example: "  catchall aliases --archive ~/mail-archive\n  catchall aliases --maildir ~/Maildir --domain example.com --format csv > aliases.csv",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			src, err := store.source()
			if err != nil {
				return err
			}
			if format != "table" && format != "csv" && format != "json" {
				return cli.Usagef("--format must be table, csv or json")
			}
			inv, err := buildInventory(cmd, src, store.domains)
			if err != nil {
				return err
			}
			switch format {
			case "csv":
				fmt.Fprintln(g.stderr, inv.DomainsLine()) // stdout is the CSV
				err = inv.WriteCSV(g.stdout)
			case "json":
				err = inv.WriteJSON(g.stdout)
			default:
				inv.WriteTable(g.stdout)
			}
			return err
		},
	}
	store.register(cmd.Flags())
	cmd.Flags().StringVar(&format, "format", "table", "output format: table, csv or json")
	return cmd
}

// classifyConfig holds the config tables classify reads itself.
type classifyConfig struct {
	Known map[string]classify.Tag `toml:"known"`
	Rule  []classify.Rule         `toml:"rule"`
}

func classifyCommand(g *globals) *cobra.Command {
	var (
		store    storeFlags
		planPath string
		main     string
		business string
	)
	cmd := &cobra.Command{
		Use:   "classify (--archive DIR | --maildir DIR | --mbox FILE) --plan FILE",
		Short: "Tag every alias personal, business or disposable in a plan you can edit",
		Long: `Tag every alias personal, business or disposable, with a confidence and
short reasons, propose an action (forward or block) and forward_to, and
write the plan: CSV, or JSON when FILE ends in .json. Review it and edit
tag, action and forward_to freely: re-running classify refreshes the
statistics and keeps every value you changed (and every row whose source you
set to "manual").

Signals: personal — you sent from it to people, conversations with
individuals at freemail providers, mail clients, no bulk mail; business —
role names (invoices@, support@, jobs@ …) with real correspondence, business
services (hosting, developer tools, banking, shipping) you wrote from,
organisations you replied to; disposable — mail mostly from one organisation
(matching the name: adobe@ ← adobe.com, also via DKIM and Feedback-ID), bulk
headers, a welcome or confirm-your-address message, never sent from. An
alias only strangers ever wrote to (no sender twice, no reply, never sent
from, mostly in Junk) was never given out: disposable, action block,
whatever its name. postmaster@ and abuse@ are always forwarded. The
lowest-confidence rows are printed to check first.

The config file (--config) may name the new mailboxes and override the
heuristics:

  main-mailbox = "me@new-host.example"
  business-mailbox = "work@new-host.example"
  [known]
  "shop-bluepeak" = "business"          # local part or full address
  [[rule]]
  pattern = "*-newsletter"              # glob on the local part or address
  tag = "disposable"
  action = "block"

` + storeHelp,
		Example:     "  catchall classify --archive ~/mail-archive --plan plan.csv --main-mailbox me@new-host.example",
		Args:        cobra.NoArgs,
		Annotations: map[string]string{cli.ConfigTables: "known,rule"},
		RunE: func(cmd *cobra.Command, _ []string) error {
			src, err := store.source()
			if err != nil {
				return err
			}
			if planPath == "" {
				return cli.Usagef("--plan is required")
			}
			cfg := &classify.Config{MainMailbox: strings.ToLower(main), BusinessMailbox: strings.ToLower(business), Known: map[string]classify.Tag{}}
			if path, _ := cmd.Flags().GetString("config"); path != "" {
				var cc classifyConfig
				if _, err := toml.DecodeFile(path, &cc); err != nil {
					return cli.Usagef("reading config %s: %v", path, err)
				}
				for k, v := range cc.Known {
					cfg.Known[strings.ToLower(k)] = v
				}
				cfg.Rules = cc.Rule
				if err := cfg.Validate(); err != nil {
					return cli.Usagef("config %s: %s", path, oneLine(err))
				}
			}
			res, err := classify.Run(cmd.Context(), &classify.RunOptions{Source: src, Domains: store.domains, Plan: planPath, Config: cfg})
			if err != nil {
				return inventoryError(err, "run fetch first, or use --maildir")
			}
			printClassify(g.stdout, res, planPath)
			return nil
		},
	}
	store.register(cmd.Flags())
	fs := cmd.Flags()
	fs.StringVar(&planPath, "plan", "", "the plan `FILE` to write (or update): CSV, or JSON for *.json")
	fs.StringVar(&main, "main-mailbox", "", "forward personal and disposable aliases to this `ADDR` (default: leave forward_to empty)")
	fs.StringVar(&business, "business-mailbox", "", "forward business aliases to this `ADDR` (default: the main mailbox)")
	return cmd
}

// buildInventory reads the store; a mailbox that does not tell which
// domains are the user's is a usage error (exit 2): give --domain.
func buildInventory(cmd *cobra.Command, src classify.Source, domains []string) (*classify.Inventory, error) {
	inv, err := classify.Build(cmd.Context(), src, &classify.Options{Domains: domains})
	return inv, inventoryError(err, "run fetch first, or use --maildir")
}

// inventoryError says what to do about an error of classify.Build: name
// the domains when the mail does not tell them (exit 2), fetch when there
// is no archive (fetchHint).
func inventoryError(err error, fetchHint string) error {
	var de *classify.DomainError
	switch {
	case errors.As(err, &de):
		return cli.Exit(cli.ExitUsage, fmt.Errorf("%w; run it again with --domain YOUR-DOMAIN (repeatable)", err))
	case errors.Is(err, classify.ErrNotArchive):
		return cli.Exit(cli.ExitPartial, fmt.Errorf("%w: %s", err, fetchHint))
	}
	return err
}

// printClassify writes what classify did: the domains and their evidence,
// what was read, the rows to check first, and the plan's counts.
func printClassify(w io.Writer, res *classify.RunResult, planPath string) {
	fmt.Fprintln(w, res.Inventory.DomainsLine())
	fmt.Fprintln(w, res.Inventory.Summary())
	if low := res.Plan.LowestConfidence(5); len(low) > 0 {
		fmt.Fprintln(w, "check these first (lowest confidence):")
		for _, r := range low {
			fmt.Fprintf(w, "  %s  %s %s  %s%%  %s\n", r.Alias(), r["tag"], r["action"], confidencePercent(r["confidence"]), r["reasons"])
		}
	}
	if l := notAtLine(res); l != "" {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintln(w, planLine(res, planPath))
}

// classifySummary is what migrate shows of classify: which domains were
// taken as the user's and why (the plan stands on it), and the plan.
func classifySummary(res *classify.RunResult, planPath string) []string {
	sum := []string{res.Inventory.DomainsLine()}
	if l := notAtLine(res); l != "" {
		sum = append(sum, l)
	}
	return append(sum, planLine(res, planPath))
}

// notAtLine is the line about the plan's rows at other domains, or "".
func notAtLine(res *classify.RunResult) string {
	if res.Merge.Dropped == 0 && res.Merge.KeptForeign == 0 {
		return ""
	}
	return fmt.Sprintf("not at %s: %d rows dropped, %d you edited kept as domain_status=foreign (left out of every config)",
		strings.Join(res.Inventory.Domains, ", "), res.Merge.Dropped, res.Merge.KeptForeign)
}

// planLine is the plan's counts and what changed in it.
func planLine(res *classify.RunResult, planPath string) string {
	tags, blocked := res.Plan.Counts()
	m := res.Merge
	return fmt.Sprintf("plan %s: %d aliases — %d personal, %d business, %d disposable (%d to block); %d new, %d refreshed, %d kept as you edited them, %d only in the plan",
		planPath, len(res.Plan.Rows), tags["personal"], tags["business"], tags["disposable"], blocked, m.New, m.Updated, m.KeptEdits, m.KeptOnlyInPlan)
}

func confidencePercent(c string) string {
	f, err := strconv.ParseFloat(c, 64)
	if err != nil {
		return "?"
	}
	return strconv.Itoa(int(f*100 + 0.5))
}
