package report

import (
	"context"
	"fmt"
	"slices"

	"github.com/catchall/catchall/classify"
)

// GenerateOptions are the inputs of Generate, the report step.
type GenerateOptions struct {
	// Plan is the plan file (CSV, or JSON for a .json name).
	Plan string
	// Archive, when not "", is the archive written by fetch: the page
	// gets each alias's messages per month from it.
	Archive string
	// Out is the page written (atomically, mode 0600).
	Out string
	// Options are the page's title, clock and the relay's burners; nil
	// means the defaults.
	Options *Options
}

// Generated says what the page was made from.
type Generated struct {
	Aliases int // rows of the plan
	// Archive: the archive was read, Messages of it.
	Archive  bool
	Messages int
	// Store: the relay store's burners were given (Options.Burners), Burners
	// of them, Outside the plan those the plan has no row for.
	Store            bool
	Burners, Outside int
}

// Generate is the report step: it reads the plan and, when given, the
// archive (its domains taken from the plan's aliases), and writes the page.
// A plan that cannot be read is a *classify.InputError; an archive that
// cannot be read is classify.Build's error.
func Generate(ctx context.Context, opts *GenerateOptions) (*Generated, error) {
	plan, err := classify.ReadPlan(opts.Plan)
	if err != nil {
		return nil, &classify.InputError{Err: err}
	}
	res := &Generated{Aliases: len(plan.Rows)}
	var inv *classify.Inventory
	if opts.Archive != "" {
		// The plan names the domains: no need to detect them.
		var domains []string
		for _, r := range plan.Rows {
			if d := classify.Domain(r.Alias()); d != "" && !slices.Contains(domains, d) {
				domains = append(domains, d)
			}
		}
		inv, err = classify.Build(ctx, &classify.ArchiveSource{Dir: opts.Archive}, &classify.Options{Domains: domains})
		if err != nil {
			return nil, err
		}
		res.Archive, res.Messages = true, inv.Messages
	}
	if err := WriteFile(opts.Out, plan, inv, opts.Options); err != nil {
		return nil, fmt.Errorf("writing report: %w", err)
	}
	if o := opts.Options; o != nil && o.Burners != nil {
		res.Store, res.Burners, res.Outside = true, len(o.Burners), len(burnersOutside(plan, o.Burners))
	}
	return res, nil
}
