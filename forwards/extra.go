package forwards

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/catchall/catchall/classify"
)

// extraFormats lists the formats of hosted forwarding services and other
// MTAs (Exim, procmail, Cloudflare, ForwardEmail, ImprovMX, SimpleLogin,
// addy.io); see their files.
func extraFormats() []Format {
	return []Format{Exim{}, Procmail{}, Cloudflare{}, ForwardEmail{}, ImprovMX{}, SimpleLogin{}, Addy{}}
}

// extraImporters lists their importers.
func extraImporters() []Importer {
	return []Importer{ForwardEmail{}, SimpleLogin{}, Addy{}}
}

// The helpers below are shared by the formats of this group; their names
// start with xtra so that they cannot clash with the rest of the package.

// xtraCheck checks the input again before anything is written: Input may be
// built by hand, not only by FromPlan, and every escaping of these formats
// relies on the character set CheckAddress allows.
func xtraCheck(in *Input) error {
	if in == nil {
		return fmt.Errorf("no input")
	}
	same := func(what, a string) error {
		n, err := CheckAddress(a)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if n != a {
			return fmt.Errorf("%s: %w %q: not normalised (want %q)", what, ErrUnsafe, a, n)
		}
		return nil
	}
	if in.CatchAll != "" {
		if err := same("catch-all", in.CatchAll); err != nil {
			return err
		}
	}
	for _, d := range in.Domains {
		if _, err := CheckAddress("x@" + d); err != nil {
			return fmt.Errorf("domain %q: %w", d, err)
		}
	}
	seen := map[string]bool{}
	for _, r := range in.Rules {
		if err := same("alias", r.Alias); err != nil {
			return err
		}
		if seen[r.Alias] {
			return fmt.Errorf("alias %s appears twice", r.Alias)
		}
		seen[r.Alias] = true
		switch r.Action {
		case classify.ActionBlock:
		case classify.ActionForward:
			if len(r.Targets) == 0 {
				return fmt.Errorf("%s: forward with no target", r.Alias)
			}
			for _, t := range r.Targets {
				if err := same(r.Alias+": target", t); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("%s: action %q must be forward or block", r.Alias, r.Action)
		}
	}
	return nil
}

// xtraDomains returns the domains of the input: Input.Domains and those of
// the rules, sorted, each once.
func xtraDomains(in *Input) []string {
	ds := slices.Clone(in.Domains)
	for _, r := range in.Rules {
		ds = append(ds, classify.Domain(r.Alias))
	}
	slices.Sort(ds)
	return slices.Compact(ds)
}

// xtraRulesOf returns the rules of one domain, sorted by alias.
func xtraRulesOf(in *Input, domain string) []Rule {
	var out []Rule
	for _, r := range in.Rules {
		if classify.Domain(r.Alias) == domain {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b Rule) int { return strings.Compare(a.Alias, b.Alias) })
	return out
}

// xtraLocal returns the local part of an address.
func xtraLocal(addr string) string {
	l, _, _ := strings.Cut(addr, "@")
	return l
}

// xtraPerDomain names a file: base+ext with one domain, base-DOMAIN+ext
// with several.
func xtraPerDomain(in *Input, base, ext, domain string) string {
	if len(xtraDomains(in)) <= 1 {
		return base + ext
	}
	return base + "-" + domain + ext
}

// xtraJSON marshals v indented, without HTML escaping (& < > stay as they
// are), with a final newline.
func xtraJSON(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		panic(err) // only plain structs of strings and bools are encoded
	}
	return b.Bytes()
}

// xtraList writes addresses for a sentence: all of them up to ten, else
// the first ten and how many more.
func xtraList(addrs []string) string { return xtraListSep(addrs, ", ") }

// xtraListSep is xtraList with another separator.
func xtraListSep(items []string, sep string) string {
	const most = 10
	if len(items) <= most {
		return strings.Join(items, sep)
	}
	return fmt.Sprintf("%s%sand %d more", strings.Join(items[:most], sep), sep, len(items)-most)
}

// xtraAllTargets returns every target of the forward rules and the
// catch-all, sorted, each once.
func xtraAllTargets(in *Input) []string {
	var ts []string
	for _, r := range in.Forwarded() {
		ts = append(ts, r.Targets...)
	}
	if in.CatchAll != "" {
		ts = append(ts, in.CatchAll)
	}
	slices.Sort(ts)
	return slices.Compact(ts)
}

// xtraPlural returns n and the noun, with an s unless n is 1.
func xtraPlural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if strings.HasSuffix(noun, "s") {
		return fmt.Sprintf("%d %ses", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// xtraMerger collects imported rules by alias: targets are added once
// each, in order; an alias both blocked and forwarded is an error (where
// names what the caller reports, such as "line 4").
type xtraMerger struct {
	rules map[string]*Rule
	where map[string]string
	seen  map[[2]string]bool // alias, target
}

func newXtraMerger() *xtraMerger {
	return &xtraMerger{rules: map[string]*Rule{}, where: map[string]string{}, seen: map[[2]string]bool{}}
}

func (m *xtraMerger) add(alias string, block bool, targets []string, where string) error {
	r, ok := m.rules[alias]
	if !ok {
		r = &Rule{Alias: alias, Action: classify.ActionForward}
		if block {
			r.Action = classify.ActionBlock
		}
		m.rules[alias] = r
		m.where[alias] = where
	} else if (r.Action == classify.ActionBlock) != block {
		return fmt.Errorf("%s: %s is both blocked and forwarded (also on %s)", where, alias, m.where[alias])
	}
	if !block {
		for _, t := range targets {
			if k := [2]string{alias, t}; !m.seen[k] {
				m.seen[k] = true
				r.Targets = append(r.Targets, t)
			}
		}
	}
	return nil
}

func (m *xtraMerger) result() []Rule {
	out := make([]Rule, 0, len(m.rules))
	for _, r := range m.rules {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b Rule) int { return strings.Compare(a.Alias, b.Alias) })
	return out
}
