package forwards

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/catchall/catchall/classify"
)

// GenerateOptions are the inputs of Generate, the forwards step.
type GenerateOptions struct {
	// Plan is the plan file (CSV, or JSON for a .json name).
	Plan string
	// Formats are written in this order (see ParseFormats).
	Formats []Format
	// Out is the directory written (created 0700); with more than one
	// format, each gets a subdirectory named after it.
	Out string
	// DefaultTo (space-separated addresses) is where forward rows with an
	// empty forward_to go; "" leaves them out (see FromPlan).
	DefaultTo string
	// CatchAll receives mail for addresses the plan does not name; ""
	// refuses it where the host can.
	CatchAll string
	// Burners accepts signed-burner-shaped addresses with tags of
	// BurnerLen characters, for DefaultTo or else the plan's most common
	// target, where the host can.
	Burners   bool
	BurnerLen int
}

// Generated is what Generate wrote.
type Generated struct {
	// Skipped are the rows every format leaves out, with the reason.
	Skipped []Skip
	// LeftOut are the rows not at the user's domains (Input.LeftOut).
	LeftOut []string
	// Formats are the formats written, in the order asked for.
	Formats []FormatResult
}

// FormatResult is what one format got.
type FormatResult struct {
	Name string
	Dir  string // where its files and INSTALL.txt are
	// Rules, Forwarded and Blocked count the rules written.
	Rules, Forwarded, Blocked int
	// Limits are what the host cannot do for this plan (also in
	// INSTALL.txt).
	Limits []string
	// Skipped are the rows this format cannot express, left out of it.
	Skipped []Skip
}

// SkippedCount is how many rows were left out, by every format or by one.
func (g *Generated) SkippedCount() int {
	n := len(g.Skipped)
	for _, f := range g.Formats {
		n += len(f.Skipped)
	}
	return n
}

// ErrNoBurnerTarget is returned by Generate when Burners is asked for but
// there is nowhere to send them: no DefaultTo, no forward row.
var ErrNoBurnerTarget = errors.New("no target for burners: give a default target")

// Generate is the forwards step: it reads the plan and writes every format
// with its INSTALL.txt into opts.Out. A plan that cannot be read, or a
// DefaultTo or CatchAll that is not an address, is a
// *classify.InputError. On an error while writing, the formats written
// before are in the result.
func Generate(opts *GenerateOptions) (*Generated, error) {
	plan, err := classify.ReadPlan(opts.Plan)
	if err != nil {
		return nil, &classify.InputError{Err: err}
	}
	in, err := FromPlan(plan, opts.DefaultTo, opts.CatchAll)
	if err != nil {
		return nil, &classify.InputError{Err: err}
	}
	res := &Generated{Skipped: in.Skipped, LeftOut: in.LeftOut}
	if opts.Burners {
		in.Burners = &Burners{TagLen: opts.BurnerLen, Targets: in.DefaultTargets(opts.DefaultTo)}
		if len(in.Burners.Targets) == 0 {
			return res, &classify.InputError{Err: ErrNoBurnerTarget}
		}
	}
	for _, f := range opts.Formats {
		dir := opts.Out
		if len(opts.Formats) > 1 {
			dir = filepath.Join(opts.Out, f.Name())
		}
		fin, unsafe := in.For(f)
		out, err := Write(f, fin)
		if err != nil {
			return res, fmt.Errorf("%s: %w", f.Name(), err)
		}
		if err := out.WriteDir(dir); err != nil {
			return res, err
		}
		res.Formats = append(res.Formats, FormatResult{Name: f.Name(), Dir: dir, Rules: len(fin.Rules),
			Forwarded: len(fin.Forwarded()), Blocked: len(fin.Blocked()), Limits: out.Limits, Skipped: unsafe})
	}
	return res, nil
}

// WriteDir writes the output's files and INSTALL.txt, with the limits at
// its end, into dir (created 0700), each file atomically.
func (o *Output) WriteDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, f := range o.Files {
		if err := classify.WriteFileAtomic(filepath.Join(dir, f.Name), f.Data); err != nil {
			return err
		}
	}
	install := o.Install
	if len(o.Limits) > 0 {
		install += "\nWhat this host cannot do for this plan\n--------------------------------------\n"
		for _, l := range o.Limits {
			install += "- " + l + "\n"
		}
	}
	return classify.WriteFileAtomic(filepath.Join(dir, "INSTALL.txt"), []byte(install))
}
