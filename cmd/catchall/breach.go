package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/catchall/catchall/classify"
	"github.com/catchall/catchall/classify/breach"
	"github.com/catchall/catchall/internal/cli"
)

func breachCommand(g *globals) *cobra.Command {
	var (
		planPath     string
		breachesPath string
		online       bool
		domainSearch bool
		apiURL       string
	)
	cmd := &cobra.Command{
		Use:   "breach --plan FILE",
		Short: "Find which aliases were leaked in a data breach, and block the disposable ones",
		Long: `Cross-check every alias of the plan against Have I Been Pwned data and
write the columns breaches and breach_verdict:

  breached   a named breach hit it: its service (adobe@ ↔ adobe.com) was
             breached while the alias existed, or, with --online, HIBP lists
             the address itself
  leaked     no named breach, but organisations unrelated to its service
             started writing to it after its first month (from classify)
  aggregate  only in spam lists, stealer logs or breaches HIBP marks
             fabricated, retired or unverified
  clean      none of these

A breached or leaked disposable alias gets action block (forward_to
emptied) unless the row is yours: source manual, or tag, action or
forward_to changed by you since classify or breach proposed them. Personal and business
aliases are flagged, never blocked automatically.

Offline (the default) it uses the public breach list: download it once with
"catchall breach update", or give a copy with --breaches FILE. Nothing is
sent anywhere without --online. With --online and the API key in env
HIBP_API_KEY, it asks haveibeenpwned.com for each alias, at the rate your
subscription allows; --domain-search asks once for the whole domain (it must
be verified for your key in the HIBP dashboard). Answers are cached for a
week in ~/.cache/catchall.

` + breach.Attribution,
		Example: "  catchall breach update\n  catchall breach --plan plan.csv\n  HIBP_API_KEY=... catchall breach --plan plan.csv --online --domain-search",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if planPath == "" {
				return cli.Usagef("--plan is required")
			}
			if domainSearch && !online {
				return cli.Usagef("--domain-search asks haveibeenpwned.com: give --online too")
			}
			if online && os.Getenv("HIBP_API_KEY") == "" {
				return cli.Usagef("--online needs the API key in env HIBP_API_KEY")
			}
			logger, err := g.logger()
			if err != nil {
				return err
			}
			results, err := breach.Apply(cmd.Context(), &breach.ApplyOptions{Plan: planPath, List: breachesPath, Online: online, DomainSearch: domainSearch,
				APIKey: os.Getenv("HIBP_API_KEY"), APIURL: apiURL, Logger: logger})
			if err != nil {
				return breachError(err)
			}
			breach.WriteTable(g.stdout, results, true)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&planPath, "plan", "", "the plan `FILE` written by classify (updated in place)")
	fs.StringVar(&breachesPath, "breaches", "", "use this breach list `FILE` (the JSON of GET /api/v3/breaches) instead of the cached one")
	fs.BoolVar(&online, "online", false, "ask haveibeenpwned.com about each alias (API key in env HIBP_API_KEY)")
	fs.BoolVar(&domainSearch, "domain-search", false, "with --online: one query per domain (it must be verified for your key)")
	fs.StringVar(&apiURL, "hibp-url", breach.DefaultURL, "the HIBP API's base `URL`")

	var out string
	update := &cobra.Command{
		Use:   "update",
		Short: "Download the public breach list from haveibeenpwned.com (no key needed)",
		Long: "Download the public breach list (GET /api/v3/breaches, no key needed) and keep it in\n" +
			"~/.cache/catchall/breaches.json (or --out FILE) for offline checks.\n\n" + breach.Attribution,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := &breach.Client{BaseURL: apiURL, UserAgent: "catchall"}
			list, raw, err := c.Breaches(cmd.Context())
			if errors.Is(err, breach.ErrUnreachable) {
				err = fmt.Errorf("%w; without a network, copy the list from a machine that has one and give it to breach with --breaches FILE", err)
			}
			if err != nil {
				return cli.Exit(cli.ExitConnect, err)
			}
			if out == "" {
				cache, err := breach.DefaultCache()
				if err != nil {
					return cli.Exit(cli.ExitUsage, fmt.Errorf("%w (give --out FILE)", err))
				}
				out = cache.ListPath()
				err = cache.SaveList(raw)
				if err != nil {
					return err
				}
			} else if err := classify.WriteFileAtomic(out, raw); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "%d breaches saved to %s\n%s\n", len(list), out, breach.Attribution)
			return nil
		},
	}
	update.Flags().StringVar(&out, "out", "", "write the list to `FILE` instead of the cache")
	update.Flags().StringVar(&apiURL, "hibp-url", breach.DefaultURL, "the HIBP API's base `URL`")
	cmd.AddCommand(update)
	return cmd
}

// breachError says what to do about an error of breach.Apply: how to get a
// list, and how to work offline.
func breachError(err error) error {
	switch {
	case errors.Is(err, breach.ErrNoList):
		return cli.Usagef("no breach list yet: run \"catchall breach update\" once while online (it downloads the public list from haveibeenpwned.com; the check then works offline), or give --breaches FILE")
	case errors.Is(err, breach.ErrUnreachable):
		return fmt.Errorf("%w; to check offline, run \"catchall breach update\" beforehand while online, or give --breaches FILE, and leave out --online", err)
	case errors.Is(err, breach.ErrNoCache):
		return fmt.Errorf("%w (give --breaches FILE)", err)
	}
	return err
}
