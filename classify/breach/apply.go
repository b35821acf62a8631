package breach

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/catchall/catchall/classify"
)

// ErrNoList is returned by Apply when there is no breach list to check
// against (none given, none saved in the cache) and it may not ask online.
var ErrNoList = errors.New("no breach list yet")

// ApplyOptions are the inputs of Apply, the breach step.
type ApplyOptions struct {
	// Plan is the plan file; its breach columns are updated in place.
	Plan string
	// List is the breach list file (the JSON of GET /api/v3/breaches); ""
	// means the one Cache keeps (Cache.ListPath), which may be missing
	// when Online.
	List string
	// Online asks HIBP about every alias with APIKey; DomainSearch asks
	// once per domain instead (see Options).
	Online, DomainSearch bool
	APIKey               string
	// APIURL is HIBP's API; "" means DefaultURL.
	APIURL string
	// Cache keeps the list and online answers; nil means DefaultCache.
	Cache  *Cache
	Logger *slog.Logger // nil discards
}

// Apply is the breach step: it reads the plan and the breach list, checks
// every alias (Check) and writes the plan back. A plan or list that cannot
// be read, or Online without an API key, is a *classify.InputError; no
// list at all, offline, is ErrNoList.
func Apply(ctx context.Context, opts *ApplyOptions) ([]Result, error) {
	plan, err := classify.ReadPlan(opts.Plan)
	if err != nil {
		return nil, &classify.InputError{Err: err}
	}
	cache := opts.Cache
	if cache == nil {
		if cache, err = DefaultCache(); err != nil && opts.List == "" {
			return nil, &classify.InputError{Err: err}
		}
	}
	o := &Options{Online: opts.Online, DomainSearch: opts.DomainSearch, Cache: cache, Logger: opts.Logger}
	path := opts.List
	if path == "" {
		path = cache.ListPath()
	}
	o.List, err = LoadList(path)
	switch {
	case errors.Is(err, os.ErrNotExist) && opts.List == "" && !opts.Online:
		return nil, &classify.InputError{Err: ErrNoList}
	case errors.Is(err, os.ErrNotExist) && opts.List == "":
		o.List = nil // online only
	case err != nil:
		return nil, &classify.InputError{Err: err}
	}
	if opts.Online {
		if opts.APIKey == "" {
			return nil, &classify.InputError{Err: errors.New("the online check needs an API key")}
		}
		o.Client = &Client{BaseURL: opts.APIURL, APIKey: opts.APIKey, UserAgent: "catchall", Logger: opts.Logger}
	}
	results, err := Check(ctx, plan, o)
	if err != nil {
		return nil, err
	}
	if err := plan.Write(opts.Plan); err != nil {
		return nil, fmt.Errorf("writing plan: %w", err)
	}
	return results, nil
}
