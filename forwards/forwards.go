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
// safely.
var ErrUnsafe = errors.New("unsafe address")

// CheckAddress returns addr normalised (lower case, punycode domain) or an
// error wrapping ErrUnsafe if it has characters no format may write.
func CheckAddress(addr string) (string, error) {
	a, ok := classify.NormalizeAddress(strings.TrimSpace(addr))
	if !ok {
		return "", fmt.Errorf("%w %q: not an address", ErrUnsafe, addr)
	}
	local, domain, _ := strings.Cut(a, "@")
	for i := 0; i < len(local); i++ {
		c := local[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", c) >= 0) {
			return "", fmt.Errorf("%w %q: the local part may hold only letters, digits, dots and !#$%%&'*+-/=?^_`{|}~", ErrUnsafe, addr)
		}
	}
	if strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.Contains(local, "..") {
		return "", fmt.Errorf("%w %q: dots at the start, end or twice in a row", ErrUnsafe, addr)
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return "", fmt.Errorf("%w %q: the domain needs a dot", ErrUnsafe, addr)
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-") {
			return "", fmt.Errorf("%w %q: bad domain label %q", ErrUnsafe, addr, l)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return "", fmt.Errorf("%w %q: bad character in the domain", ErrUnsafe, addr)
			}
		}
	}
	return a, nil
}

// FromPlan builds the input from a plan. Forward rows without forward_to
// go to defaultTo (--to); without it they are an error. Every problem is
// reported at once.
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
	if defaultTo != "" {
		for _, t := range strings.Fields(defaultTo) {
			a, err := CheckAddress(t)
			if err != nil {
				problems = append(problems, fmt.Errorf("--to: %w", err))
			}
			def = append(def, a)
		}
	}
	domains := map[string]bool{}
	for _, row := range p.Rows {
		if row.Foreign() {
			in.LeftOut = append(in.LeftOut, row.Alias())
			continue
		}
		alias, err := CheckAddress(row.Alias())
		if err != nil {
			problems = append(problems, fmt.Errorf("alias %w", err))
			continue
		}
		r := Rule{Alias: alias, Tag: classify.Tag(row["tag"]), Action: classify.Action(row["action"])}
		switch r.Action {
		case classify.ActionBlock:
		case classify.ActionForward:
			for _, t := range strings.Fields(row["forward_to"]) {
				a, err := CheckAddress(t)
				if err != nil {
					problems = append(problems, fmt.Errorf("%s: forward_to %w", alias, err))
					continue
				}
				if !slices.Contains(r.Targets, a) {
					r.Targets = append(r.Targets, a)
				}
			}
			if len(r.Targets) == 0 {
				if def == nil {
					problems = append(problems, fmt.Errorf("%s: forward with no forward_to: fill it in the plan or give --to ADDR", alias))
					continue
				}
				r.Targets = slices.Clone(def)
			}
		default:
			problems = append(problems, fmt.Errorf("%s: action %q must be forward or block", alias, row["action"]))
			continue
		}
		for _, t := range r.Targets {
			if t == alias {
				problems = append(problems, fmt.Errorf("%s forwards to itself: a mail loop", alias))
			}
		}
		domains[classify.Domain(alias)] = true
		in.Rules = append(in.Rules, r)
	}
	for d := range domains {
		in.Domains = append(in.Domains, d)
	}
	slices.Sort(in.Domains)
	slices.SortFunc(in.Rules, func(a, b Rule) int { return strings.Compare(a.Alias, b.Alias) })
	return in, errors.Join(problems...)
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
