package classify

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
)

// InputError is an error about what a step was given — a plan or list
// that cannot be read, a value that cannot be used — rather than about its
// work: the caller fixes the input and runs the step again. The steps of
// classify, classify/breach, classify/report and forwards return it.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// RunOptions are the inputs of Run, the classify step.
type RunOptions struct {
	// Source is the mail to read.
	Source Source
	// Domains are the user's domains; empty means detected from the mail
	// (see Options.Domains).
	Domains []string
	// Plan is the plan file to write, or to update when it exists (CSV, or
	// JSON for a .json name); the user's edits in it are kept (MergeAt).
	Plan string
	// Config is the user's knowledge: mailboxes, known aliases, rules
	// (see Config.Validate); nil means none.
	Config *Config
}

// RunResult is what Run did.
type RunResult struct {
	Plan      *Plan       // the plan as written
	Inventory *Inventory  // what the mail says about every alias
	Merge     MergeResult // what changed in the plan
}

// Run is the classify step: it reads every message of opts.Source, tags
// every alias and writes the plan, keeping the user's edits. A plan that
// cannot be read is an *InputError; a mailbox that does not tell which
// domains are the user's a *DomainError (see Build).
func Run(ctx context.Context, opts *RunOptions) (*RunResult, error) {
	cfg := opts.Config
	if cfg == nil {
		cfg = &Config{}
	}
	plan := &Plan{}
	if _, err := os.Stat(opts.Plan); err == nil {
		if plan, err = ReadPlan(opts.Plan); err != nil {
			return nil, &InputError{err}
		}
	}
	inv, err := Build(ctx, opts.Source, &Options{Domains: opts.Domains})
	if err != nil {
		return nil, err
	}
	res := plan.MergeAt(cfg.Rows(inv), inv.Domains)
	if err := plan.Write(opts.Plan); err != nil {
		return nil, fmt.Errorf("writing plan: %w", err)
	}
	return &RunResult{Plan: plan, Inventory: inv, Merge: res}, nil
}

// Validate returns every problem of the config's known aliases and rules
// at once, joined; nil when there is none.
func (c *Config) Validate() error {
	var problems []error
	for k, v := range c.Known {
		if !v.Valid() {
			problems = append(problems, fmt.Errorf("[known] %q: tag %q must be personal, business or disposable", k, v))
		}
	}
	for i, r := range c.Rules {
		if r.Pattern == "" || !r.Tag.Valid() || (r.Action != "" && r.Action != ActionForward && r.Action != ActionBlock) {
			problems = append(problems, fmt.Errorf("[[rule]] %d: needs a pattern, a tag (personal, business, disposable) and optionally an action (forward, block)", i+1))
		}
	}
	return errors.Join(problems...)
}

// Valid reports whether t is one of the three tags.
func (t Tag) Valid() bool {
	switch t {
	case TagPersonal, TagBusiness, TagDisposable:
		return true
	}
	return false
}

// LowestConfidence returns up to n automatically tagged rows with a
// confidence below 0.8, lowest first: the ones to check first.
func (p *Plan) LowestConfidence(n int) []Row {
	var rows []Row
	for _, r := range p.Rows {
		c, err := strconv.ParseFloat(r["confidence"], 64)
		if err == nil && c < 0.8 && !r.Edited() && !r.Foreign() {
			rows = append(rows, r)
		}
	}
	slices.SortStableFunc(rows, func(a, b Row) int {
		ca, _ := strconv.ParseFloat(a["confidence"], 64)
		cb, _ := strconv.ParseFloat(b["confidence"], 64)
		return cmp.Compare(ca, cb)
	})
	return rows[:min(n, len(rows))]
}
