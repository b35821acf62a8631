package breach

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/catchall/catchall/classify"
)

// Verdict is what the cross-check concluded about an alias.
type Verdict string

// The verdicts, in the plan's breach_verdict column.
const (
	VerdictBreached  Verdict = "breached"
	VerdictLeaked    Verdict = "leaked"
	VerdictAggregate Verdict = "aggregate"
	VerdictClean     Verdict = "clean"
	// VerdictNeverGiven: only spam ever arrived, so no service was given
	// the address and none can have lost it; classify blocks it already.
	VerdictNeverGiven Verdict = "never-given"
)

// tooLate is how close to the start of the archive an alias's first message
// may be for the alias to possibly predate the archive.
const tooLate = 30 * 24 * time.Hour

// Hit is one breach that concerns an alias.
type Hit struct {
	Breach Breach
	Online bool // HIBP lists the address itself (not inferred from the domain)
}

func (h Hit) String() string {
	s := h.Breach.Name + " (" + h.Breach.BreachDate
	if w := h.Breach.Weak(); w != "" {
		s += ", " + w
	}
	return s + ")"
}

// Result is the cross-check of one alias.
type Result struct {
	Alias     string
	Tag       string
	Service   string
	Hits      []Hit
	Verdict   Verdict
	Notes     []string // e.g. that the archive starts too late to tell
	LeakSince string   // from the plan
	Blocked   bool     // switched to block by this run
	Pinned    bool     // would have been blocked, but the user pinned the row
}

// Input is the breach data to decide on.
type Input struct {
	// List is the public breach list (offline data); may be nil online.
	List []Breach
	// Accounts holds online answers: the breaches HIBP lists per address.
	// An address present with no breaches was checked and is clean.
	Accounts map[string][]Breach
}

// Decide cross-checks every row of the plan and writes the columns
// breaches, breach_verdict and breach_action; a breached or leaked
// disposable alias that the user did not pin (source manual) gets action
// block. It returns the results in plan order.
func Decide(p *classify.Plan, in *Input) []Result {
	for _, c := range []string{"breaches", "breach_verdict", "breach_notes", "breach_action"} {
		if !slices.Contains(p.Columns, c) {
			p.Columns = append(p.Columns, c)
		}
	}
	var start time.Time
	for _, r := range p.Rows {
		if t := parseDate(r["first_seen"]); !t.IsZero() && (start.IsZero() || t.Before(start)) {
			start = t
		}
	}
	var out []Result
	for _, row := range p.Rows {
		res := decideRow(row, in, start)
		row["breaches"] = joinHits(res.Hits)
		row["breach_verdict"] = string(res.Verdict)
		row["breach_notes"] = strings.Join(res.Notes, "; ")
		if row["breach_action"] == string(classify.ActionBlock) && row["action"] == string(classify.ActionBlock) && !res.wantsBlock() {
			// Blocked by an earlier run on evidence that no longer holds:
			// classify's next run restores its own proposal.
			row["breach_action"] = ""
		}
		if res.wantsBlock() {
			if row.Edited() {
				res.Pinned = true
			} else {
				if row["action"] != string(classify.ActionBlock) {
					res.Blocked = true
				}
				// forward_to stays: flipping action back unblocks.
				row["action"], row["auto_action"] = string(classify.ActionBlock), string(classify.ActionBlock)
				row["breach_action"] = string(classify.ActionBlock)
			}
		}
		out = append(out, res)
	}
	return out
}

func (r *Result) wantsBlock() bool {
	return r.Tag == string(classify.TagDisposable) && (r.Verdict == VerdictBreached || r.Verdict == VerdictLeaked)
}

func decideRow(row classify.Row, in *Input, start time.Time) Result {
	alias := row.Alias()
	local, _, _ := strings.Cut(alias, "@")
	stem := classify.Stem(local)
	res := Result{Alias: alias, Tag: row["tag"], Service: row["service_domain"], LeakSince: row["leak_since"]}
	first := parseDate(row["first_seen"])
	seen := map[string]bool{}

	// Online: HIBP lists the address.
	if list, ok := in.Accounts[alias]; ok {
		for _, b := range list {
			if !seen[b.Name] {
				seen[b.Name] = true
				res.Hits = append(res.Hits, Hit{Breach: b, Online: true})
			}
		}
	}
	// Offline: the alias's service was breached while the alias existed.
	for _, b := range in.List {
		if b.Domain == "" || seen[b.Name] {
			continue
		}
		if !(res.Service != "" && classify.Registrable(b.Domain) == classify.Registrable(res.Service) || classify.NameMatches(stem, b.Domain)) {
			continue
		}
		date := b.Date()
		switch {
		case first.IsZero() || date.IsZero():
			res.Notes = append(res.Notes, fmt.Sprintf("%s breach (%s): no dates to compare", b.Name, b.BreachDate))
		case date.After(first):
			seen[b.Name] = true
			res.Hits = append(res.Hits, Hit{Breach: b})
		case !start.IsZero() && first.Sub(start) < tooLate:
			res.Notes = append(res.Notes, fmt.Sprintf("%s breach (%s): the archive starts %s, too late to tell whether the alias existed then",
				b.Name, b.BreachDate, start.Format("2006-01-02")))
		}
	}
	strong := false
	for _, h := range res.Hits {
		if h.Breach.Weak() == "" {
			strong = true
		}
	}
	unrelated, _ := strconv.Atoi(row["unrelated_senders"])
	switch {
	case strings.HasPrefix(row["reasons"], classify.ReasonNeverGiven):
		res.Verdict, res.Hits = VerdictNeverGiven, nil
		res.Notes = append(res.Notes, "only spam ever arrived: no service was given this address, so none lost it")
	case strong:
		res.Verdict = VerdictBreached
	case len(res.Hits) > 0:
		res.Verdict = VerdictAggregate
	case res.LeakSince != "" && unrelated >= 2:
		res.Verdict = VerdictLeaked
		res.Notes = append(res.Notes, fmt.Sprintf("%d unrelated senders since %s", unrelated, res.LeakSince))
	default:
		res.Verdict = VerdictClean
	}
	return res
}

func joinHits(hits []Hit) string {
	parts := make([]string, len(hits))
	for i, h := range hits {
		parts[i] = h.String()
	}
	return strings.Join(parts, "; ")
}
