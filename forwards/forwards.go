// Package forwards turns the plan into forwarding configuration for the
// host the mail moves to: one Format per kind of host, each writing
// ready-to-install files, the steps to install them (INSTALL.txt) and what
// the host cannot express for this plan.
//
// # Input
//
// Rules come from the plan's alias, action and forward_to columns. Every
// address is checked before anything is written: lower case, IDN domains in
// punycode, a local part of RFC 5322 atext and dots only (no quotes,
// backslashes, spaces or control characters). An address outside that set
// is refused with an error naming the row, so no generated file can mean
// anything but the plan: the Sieve, regular-expression, shell and HCL
// metacharacters that remain possible (such as + = / ' { } | $ ^ ? # *) are
// escaped by each format.
package forwards

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/catchall/catchall/classify"
)

// Rule is what happens to mail for one alias.
type Rule struct {
	Alias   string          // full address, lower case, punycode domain
	Tag     classify.Tag    // personal, business or disposable
	Action  classify.Action // forward or block
	Targets []string        // for forward: one or more addresses
}

// Input is everything a format needs.
type Input struct {
	Rules   []Rule   // sorted by alias
	Domains []string // the domains of the aliases, sorted
	// CatchAll, when not empty, receives mail for addresses of Domains that
	// no rule names; otherwise such mail is refused where the host can.
	CatchAll string
	// LeftOut are the plan's rows marked foreign (domain_status): at a
	// domain that is no longer the user's; no rule is made of them.
	LeftOut []string
	// Skipped are the plan's rows that cannot be forwarded safely, with
	// the reason; every target leaves them out.
	Skipped []Skip
	// Burners, when not nil, accepts signed burner addresses
	// (SERVICE.TAG@domain, see catchall burner new) where the host can.
	Burners *Burners
}

// Burners is the signed-burner pattern: SERVICE.TAG@domain, where TAG is
// TagLen base32 characters. Only catchall relay can check the signature;
// other hosts can at most accept the shape.
type Burners struct {
	TagLen  int
	Targets []string
}

// File is one generated file.
type File struct {
	Name string // relative to the output directory
	Data []byte
}

// Output is what a format produces.
type Output struct {
	Files   []File
	Install string   // the steps to install and activate the files (INSTALL.txt)
	Limits  []string // what this host cannot do for this plan: the user must know before switching
}

// Format writes one kind of configuration.
type Format interface {
	// Name is the --format value.
	Name() string
	// Generate writes the configuration for in.
	Generate(in *Input) (*Output, error)
}

// Importer reads a configuration back into rules (forwards import).
type Importer interface {
	Name() string
	// Import parses data; rules without a target are blocks.
	Import(data []byte) ([]Rule, error)
}

// ErrUnsafe is wrapped by errors about addresses that cannot be written
// safely (classify.ErrUnsafe: one rule for every step).
var ErrUnsafe = classify.ErrUnsafe

// CheckAddress returns addr normalised (lower case, punycode domain) or an
// error wrapping ErrUnsafe if it has characters no format may write: see
// classify.SafeAddress, the one address rule of classify, the plan, every
// format and the relay.
func CheckAddress(addr string) (string, error) { return classify.SafeAddress(addr) }

// Skip is a plan row a target leaves out, with the reason: the rest of the
// plan is written; the command says so and exits 1.
type Skip struct {
	Alias  string
	Reason string
}

func (s Skip) String() string { return s.Alias + ": " + s.Reason }

// ReasonNoTarget is the Skip.Reason of a forward row with an empty
// forward_to when there is no default target.
const ReasonNoTarget = "forward with an empty forward_to and no default target"

// FromPlan builds the input from a plan. The action decides: forward_to is
// ignored on block rows; an empty forward_to on a forward row means
// defaultTo (--forward-to, the same on every command that reads a plan);
// without it such a row is skipped, never guessed. A row that cannot be written safely (an address outside
// classify.SafeAddress, no target at all, a target that is the alias
// itself) is left out and listed in Skipped; rows marked foreign are
// listed in LeftOut. The error is only about defaultTo and catchAll.
func FromPlan(p *classify.Plan, defaultTo, catchAll string) (*Input, error) {
	in := &Input{}
	var problems []error
	if catchAll != "" {
		a, err := CheckAddress(catchAll)
		if err != nil {
			problems = append(problems, fmt.Errorf("catch-all: %w", err))
		}
		in.CatchAll = a
	}
	var def []string
	for _, t := range strings.Fields(defaultTo) {
		a, err := CheckAddress(t)
		if err != nil {
			problems = append(problems, fmt.Errorf("default target: %w", err))
		}
		def = append(def, a)
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	domains := map[string]bool{}
	seen := map[string]bool{}
	for _, row := range p.Rows {
		if row.Foreign() {
			in.LeftOut = append(in.LeftOut, row.Alias())
			continue
		}
		r, reason := ruleOf(row, def)
		if reason != "" {
			in.Skipped = append(in.Skipped, Skip{Alias: row.Alias(), Reason: reason})
			continue
		}
		if seen[r.Alias] {
			in.Skipped = append(in.Skipped, Skip{Alias: row.Alias(), Reason: "the same address as another row"})
			continue
		}
		seen[r.Alias] = true
		domains[classify.Domain(r.Alias)] = true
		in.Rules = append(in.Rules, r)
	}
	for d := range domains {
		in.Domains = append(in.Domains, d)
	}
	slices.Sort(in.Domains)
	slices.SortFunc(in.Rules, func(a, b Rule) int { return strings.Compare(a.Alias, b.Alias) })
	return in, nil
}

// ruleOf makes the rule of one plan row, or says why it cannot.
func ruleOf(row classify.Row, def []string) (Rule, string) {
	alias, err := CheckAddress(row.Alias())
	if err != nil {
		return Rule{}, err.Error()
	}
	r := Rule{Alias: alias, Tag: classify.Tag(row["tag"]), Action: classify.Action(row["action"])}
	switch r.Action {
	case classify.ActionBlock:
		return r, "" // forward_to is kept in the plan, and ignored
	case classify.ActionForward:
	default:
		return Rule{}, fmt.Sprintf("action %q must be forward or block", row["action"])
	}
	for _, t := range strings.Fields(row["forward_to"]) {
		a, err := CheckAddress(t)
		if err != nil {
			return Rule{}, "forward_to " + err.Error()
		}
		if !slices.Contains(r.Targets, a) {
			r.Targets = append(r.Targets, a)
		}
	}
	if len(r.Targets) == 0 {
		if len(def) == 0 {
			return Rule{}, ReasonNoTarget
		}
		r.Targets = slices.Clone(def)
	}
	if slices.Contains(r.Targets, alias) {
		return Rule{}, "forwards to itself: a mail loop"
	}
	return r, ""
}

// RuleChecker is implemented by a format that cannot express some rules
// classify.SafeAddress allows (a Postfix map key starting with '#' is a
// comment): CheckRule says why, and the rule is left out of that format.
type RuleChecker interface {
	CheckRule(r Rule) error
}

// withoutUnsafe is For for a format's own Generate: the rules it cannot
// express are left out and named in the output's limits, so that no
// caller gets a file that means something else.
func withoutUnsafe(f Format, in *Input) (*Input, []string) {
	out, skipped := in.For(f)
	var limits []string
	for _, s := range skipped {
		limits = append(limits, "left out "+s.String())
	}
	return out, limits
}

// For returns the input as format f can take it: the rules it cannot
// express safely are left out and returned with the reason.
func (in *Input) For(f Format) (*Input, []Skip) {
	rc, ok := f.(RuleChecker)
	if !ok {
		return in, nil
	}
	out := *in
	out.Rules = nil
	var skipped []Skip
	for _, r := range in.Rules {
		if err := rc.CheckRule(r); err != nil {
			skipped = append(skipped, Skip{Alias: r.Alias, Reason: fmt.Sprintf("%s: %v", f.Name(), err)})
			continue
		}
		out.Rules = append(out.Rules, r)
	}
	return &out, skipped
}

// DefaultTargets returns the targets of to (space-separated), or else the
// most common targets of the forward rules.
func (in *Input) DefaultTargets(to string) []string {
	if t := strings.Fields(to); len(t) > 0 {
		out := make([]string, 0, len(t))
		for _, a := range t {
			if n, err := CheckAddress(a); err == nil {
				out = append(out, n)
			}
		}
		return out
	}
	count := map[string]int{}
	best, n := "", 0
	for _, r := range in.Rules {
		if r.Action != classify.ActionForward {
			continue
		}
		k := strings.Join(r.Targets, " ")
		count[k]++
		if c := count[k]; c > n || c == n && k < best {
			best, n = k, c
		}
	}
	return strings.Fields(best)
}

// Formats returns every format, by name.
func Formats() map[string]Format {
	m := map[string]Format{}
	for _, f := range []Format{Postfix{}, Sieve{}, PlanCSV{}, PlanJSON{}} {
		m[f.Name()] = f
	}
	for _, f := range extraFormats() {
		m[f.Name()] = f
	}
	return m
}

// FormatNames returns the names of every format, sorted.
func FormatNames() []string {
	var names []string
	for n := range Formats() {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ParseFormats returns the formats of a comma-separated list of names.
func ParseFormats(list string) ([]Format, error) {
	all := Formats()
	var formats []Format
	for _, name := range strings.Split(list, ",") {
		f, ok := all[strings.TrimSpace(name)]
		if !ok {
			return nil, fmt.Errorf("unknown format %q; formats: %s", name, strings.Join(FormatNames(), ", "))
		}
		formats = append(formats, f)
	}
	return formats, nil
}

// Importers returns every importer, by name.
func Importers() map[string]Importer {
	m := map[string]Importer{}
	for _, f := range []Importer{Postfix{}, Sieve{}, PlanCSV{}, PlanJSON{}} {
		m[f.Name()] = f
	}
	for _, f := range extraImporters() {
		m[f.Name()] = f
	}
	return m
}

// Forwarded returns the forward rules.
func (in *Input) Forwarded() []Rule { return in.withAction(classify.ActionForward) }

// Blocked returns the block rules.
func (in *Input) Blocked() []Rule { return in.withAction(classify.ActionBlock) }

func (in *Input) withAction(a classify.Action) []Rule {
	var out []Rule
	for _, r := range in.Rules {
		if r.Action == a {
			out = append(out, r)
		}
	}
	return out
}

// burnerFormat is implemented by the formats that can accept the
// signed-burner shape (Input.Burners).
type burnerFormat interface{ acceptsBurners() }

func (Postfix) acceptsBurners() {}

// Write is f.Generate(in) with, in the limits, every setting of in the
// format does not use: nothing the user asked for is dropped silently.
func Write(f Format, in *Input) (*Output, error) {
	out, err := f.Generate(in)
	if err != nil {
		return nil, err
	}
	if _, ok := f.(burnerFormat); in.Burners != nil && !ok {
		what := "refused"
		if in.CatchAll != "" {
			what = "taken by the catch-all like any other unknown address"
		}
		out.Limits = append(out.Limits, fmt.Sprintf("--burners is not used by %s: it cannot express the signed-burner shape SERVICE.TAG@domain, so burner addresses not in the plan are %s; catchall relay accepts them (and checks their signature), Postfix accepts their shape.", f.Name(), what))
	}
	return out, nil
}
