// Package report writes a plan, and optionally the inventory of the archive
// it came from, as one self-contained HTML page that a user opens in a
// browser to review the migration before doing it.
//
// # The page
//
//   - a summary: aliases and messages, totals per tag (with how many of them
//     forward and block) and per breach verdict;
//   - "check these first": the (up to CheckFirst) aliases classify is least
//     sure of, lowest confidence first, with their reasons (rows the user
//     edited are left out: their tag is the user's);
//   - a table of every alias (alias, tag, confidence, action, forward_to,
//     messages, first and last seen, breach verdict and breach badges with
//     their dates, reasons in a <details> per row), sortable by any column
//     but the reasons and filterable by text, tag, action and verdict. A
//     confidence below LowConfidence is marked "low" (a class and the word);
//   - rows of a domain that is no longer the user's (domain_status
//     "foreign") apart, in "Not at your domains": they are in no config, so
//     they are in neither the table, the timeline nor the totals;
//   - with Options.Burners (the relay's store), "Burners": the store's
//     burners that the plan does not list yet, with their service, note,
//     when they were made, their first and last mail and how many messages
//     were forwarded and refused;
//   - a row's note (the plan's note column; for a burner whose row has
//     none, the store's) under its alias;
//   - a timeline in the table's order: one row per alias from first to last
//     seen, a heat cell for each month that received mail (only with an
//     inventory: the plan has no per-month counts) and a mark at each breach
//     date;
//   - the Have I Been Pwned attribution whenever the plan holds breach data.
//
// Both the table and the timeline draw only the rows in view (a single SVG
// for the timeline), so a plan of thousands of aliases stays fast; a table
// row whose reasons are open is taller, and the table measures it.
//
// The totals, "check these first", "Not at your domains" and "Burners" are plain HTML
// (their reasons open without script); the table and the timeline need
// JavaScript.
//
// # Safety
//
// Everything in the plan is untrusted: an alias or a target may hold HTML
// or script. The data is embedded once, as JSON inside <script
// type="application/json"> with <, >, &, U+2028 and U+2029 escaped, and the
// page builds its DOM with textContent and setAttribute only. The page
// makes no network request: no external script, style, font or image; the
// only URL is the attribution's link, which is followed only when clicked.
// A Content-Security-Policy that allows nothing but the page's own inline
// script and style (by hash) backs this up.
//
// # Output
//
// The same plan, inventory and Options give byte-identical output; the one
// time shown is Options.Now.
//
// # Self-test
//
// Opened with the fragment #selftest (or #selftest:QUERY), the page sorts
// and filters itself through its own controls and writes what it found as
// JSON into <pre id="selftest">; the browser test reads it back.
package report

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/idna"

	"github.com/catchall/catchall/classify"
	"github.com/catchall/catchall/classify/breach"
)

// Options configures Write. A nil *Options means the defaults.
type Options struct {
	// Title is the page's title and heading; empty means "catchall report".
	Title string
	// Now is the time on the page's "generated" line; the zero value means
	// the current time. Set it for reproducible output.
	Now time.Time
	// Burners are the relay store's burners (catchall report --spool); nil
	// means no store was given, and the page has no "Burners" section.
	Burners []Burner
}

// Burner is one burner of the relay's store.
type Burner struct {
	Alias     string // the address, as in the plan (lower case, punycode)
	Service   string
	Note      string
	Created   time.Time // zero: unknown
	FirstMail time.Time // zero: no mail yet
	LastMail  time.Time
	Forwarded int64
	Refused   int64
}

// burnerRow is a Burner as the page shows it.
type burnerRow struct {
	Alias, Unicode, Service, Note string
	Created, First, Last          string // YYYY-MM-DD (UTC) or ""
	Forwarded, Refused            int64
}

// DefaultTitle is the title of a page whose Options give none.
const DefaultTitle = "catchall report"

// LowConfidence is the confidence below which a row is marked low.
const LowConfidence = 0.7

// CheckFirst is how many rows "check these first" lists at most.
const CheckFirst = 10

// DomainForeign is the domain_status of a row kept from a domain that is no
// longer the user's (one the user edited): no config has it.
const DomainForeign = "foreign"

// AttributionURL is where the attribution links to (never fetched).
const AttributionURL = "https://haveibeenpwned.com/"

//go:embed page.html
var pageHTML string

//go:embed report.js
var scriptJS string

//go:embed report.css
var styleCSS string

var page = template.Must(template.New("page").Parse(pageHTML))

// csp allows the page's own inline script and style, by hash, and nothing
// else: no network, no image, no plugin, no form, no base URL.
var csp = "default-src 'none'; script-src " + hash(scriptJS) + "; style-src " + hash(styleCSS) +
	"; base-uri 'none'; form-action 'none'"

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// Hit is one breach of an alias, as the plan's breaches column names it.
type Hit struct {
	Name string `json:"name"`
	Date string `json:"date,omitempty"` // YYYY-MM-DD as HIBP gives it; "" if unknown
	Weak string `json:"weak,omitempty"` // why it counts for less (spam list, unverified, …)
}

// ParseBreaches reads the plan's breaches column as catchall breach writes
// it: "Name (YYYY-MM-DD[, weak])" items joined by "; ". An item that does
// not have this shape is kept whole as a name without a date.
func ParseBreaches(s string) []Hit {
	var out []Hit
	for item := range strings.SplitSeq(s, "; ") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		h := Hit{Name: item}
		if i := strings.LastIndex(item, " ("); i > 0 && strings.HasSuffix(item, ")") {
			inner := item[i+2 : len(item)-1]
			date, weak, _ := strings.Cut(inner, ", ")
			if _, err := time.Parse(time.DateOnly, date); err == nil || date == "" {
				h = Hit{Name: item[:i], Date: date, Weak: weak}
			}
		}
		out = append(out, h)
	}
	return out
}

// alias is one row of the page's data.
type alias struct {
	Alias     string `json:"alias"`
	Unicode   string `json:"unicode,omitempty"` // the alias with its domain in Unicode, if that differs
	Tag       string `json:"tag"`
	Action    string `json:"action"`
	ForwardTo string `json:"forward_to"`
	Messages  int    `json:"messages"`
	First     string `json:"first"` // YYYY-MM-DD or ""
	Last      string `json:"last"`
	Verdict   string `json:"verdict"`
	Breaches  []Hit  `json:"breaches"`
	// Months holds month index (from data.Start) and count pairs, flat:
	// [i0, n0, i1, n1, …], ascending.
	Months []int `json:"months"`
	// Confidence is the plan's confidence, 0..1; nil if the row has none
	// (or not a number in 0..1).
	Confidence *float64 `json:"confidence"`
	Reasons    []string `json:"reasons"`        // the reasons column split at "; "
	Note       string   `json:"note,omitempty"` // the note column, or the relay store's note of a burner

	edited bool // the user owns the row's tag, action and forward_to
}

// Percent is the confidence as the page shows it ("62 %"), "" if none. The
// page's script computes the same.
func (a *alias) Percent() string {
	if a.Confidence == nil {
		return ""
	}
	return strconv.Itoa(int(math.Floor(*a.Confidence*100+1e-9))) + " %"
}

// Low reports whether the row's confidence is below LowConfidence.
func (a *alias) Low() bool { return a.Confidence != nil && *a.Confidence < LowConfidence }

// ReasonText is the reasons as one line, "; "-separated.
func (a *alias) ReasonText() string { return strings.Join(a.Reasons, "; ") }

// ReasonCount is "1 reason" or "N reasons".
func (a *alias) ReasonCount() string {
	if len(a.Reasons) == 1 {
		return "1 reason"
	}
	return strconv.Itoa(len(a.Reasons)) + " reasons"
}

// SplitReasons reads the plan's reasons column: short sentences joined by
// "; ". Empty items are dropped.
func SplitReasons(s string) []string {
	out := []string{}
	for item := range strings.SplitSeq(s, "; ") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// parseConfidence reads the confidence column; nil if it is not a number in
// 0..1.
func parseConfidence(s string) *float64 {
	c, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(c) || c < 0 || c > 1 {
		return nil
	}
	return &c
}

// data is everything the page's script draws.
type data struct {
	Start    string   `json:"start"`     // first month of the timeline, "2006-01"; "" if nothing is dated
	Months   int      `json:"months"`    // months in the timeline
	MaxMonth int      `json:"max_month"` // the largest count of one month
	Archive  bool     `json:"archive"`   // per-month counts are present
	LowBelow float64  `json:"low_below"` // LowConfidence
	Aliases  []*alias `json:"aliases"`   // in plan order (sorted by alias), without Foreign
	Foreign  []*alias `json:"-"`         // rows with domain_status "foreign", in plan order
}

// total is one line of a totals table.
type total struct {
	Name                     string
	Aliases, Messages        int
	Forward, Block, Breached int
}

// view is the template's input.
type view struct {
	Title, Generated, CSP           string
	Aliases, Messages               int
	Archive, HasBreaches            bool
	Tags, Verdicts                  []total
	AttrBefore, AttrLink, AttrAfter string
	AttrURL                         string
	CheckFirst, Foreign             []*alias
	BurnerSection                   bool        // Options.Burners was given
	Burners                         []burnerRow // those not in the plan
	StoreBurners                    int         // every burner of the store
	LowPercent                      string
	CheckFirstMax                   int
	Data                            template.JS
	Script                          template.JS
	Style                           template.CSS
}

// Write writes the page for plan and, if inv is not nil, the archive's
// inventory (per-month counts, and first/last seen and messages where the
// plan lacks them).
func Write(w io.Writer, plan *classify.Plan, inv *classify.Inventory, opts *Options) error {
	if plan == nil {
		return fmt.Errorf("report: no plan")
	}
	if opts == nil {
		opts = &Options{}
	}
	d := build(plan, inv)
	withNotes(d, opts.Burners)
	js, err := json.Marshal(d) // escapes <, >, &, U+2028 and U+2029
	if err != nil {
		return fmt.Errorf("encoding report data: %w", err)
	}
	v := &view{Title: opts.Title, CSP: csp, Aliases: len(d.Aliases), Archive: d.Archive, AttrURL: AttributionURL,
		Data: template.JS(js), Script: template.JS(scriptJS), Style: template.CSS(styleCSS)}
	if v.Title == "" {
		v.Title = DefaultTitle
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	v.Generated = now.UTC().Format("2006-01-02 15:04 UTC")
	v.Tags, v.Verdicts = totals(d.Aliases)
	v.CheckFirst, v.Foreign, v.LowPercent = checkFirst(d.Aliases), d.Foreign, strconv.Itoa(int(LowConfidence*100))+" %"
	v.CheckFirstMax = CheckFirst
	if opts.Burners != nil {
		v.BurnerSection, v.StoreBurners, v.Burners = true, len(opts.Burners), burnersOutside(plan, opts.Burners)
	}
	for _, a := range d.Aliases {
		v.Messages += a.Messages
		if a.Verdict != "" || len(a.Breaches) > 0 {
			v.HasBreaches = true
		}
	}
	v.AttrBefore, v.AttrLink, v.AttrAfter = breach.Attribution, "", ""
	if before, after, ok := strings.Cut(breach.Attribution, "Have I Been Pwned"); ok {
		v.AttrBefore, v.AttrLink, v.AttrAfter = before, "Have I Been Pwned", after
	}
	var buf bytes.Buffer
	if err := page.Execute(&buf, v); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// WriteFile writes the page to path atomically (temp file, fsync, rename),
// mode 0600.
func WriteFile(path string, plan *classify.Plan, inv *classify.Inventory, opts *Options) error {
	var buf bytes.Buffer
	if err := Write(&buf, plan, inv, opts); err != nil {
		return err
	}
	return classify.WriteFileAtomic(path, buf.Bytes())
}

// burnersOutside returns the burners the plan has no row for, sorted by
// alias.
func burnersOutside(plan *classify.Plan, burners []Burner) []burnerRow {
	in := map[string]bool{}
	for _, r := range plan.Rows {
		in[r.Alias()] = true
	}
	out := []burnerRow{}
	for _, b := range burners {
		if in[b.Alias] {
			continue
		}
		out = append(out, burnerRow{Alias: b.Alias, Unicode: unicodeOf(b.Alias), Service: b.Service, Note: b.Note,
			Created: day(b.Created), First: day(b.FirstMail), Last: day(b.LastMail), Forwarded: b.Forwarded, Refused: b.Refused})
	}
	slices.SortFunc(out, func(a, b burnerRow) int { return strings.Compare(a.Alias, b.Alias) })
	return out
}

func day(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.DateOnly)
}

// unicodeOf returns the alias with its domain in Unicode, "" if that is
// the same.
func unicodeOf(addr string) string {
	if local, domain, ok := strings.Cut(addr, "@"); ok && strings.Contains(domain, "xn--") {
		if u, err := idna.Display.ToUnicode(domain); err == nil && u != domain {
			return local + "@" + u
		}
	}
	return ""
}

// withNotes gives a row without a note its burner's note from the store.
func withNotes(d *data, burners []Burner) {
	notes := map[string]string{}
	for _, b := range burners {
		if b.Note != "" {
			notes[b.Alias] = b.Note
		}
	}
	for _, as := range [][]*alias{d.Aliases, d.Foreign} {
		for _, a := range as {
			if a.Note == "" {
				a.Note = notes[a.Alias]
			}
		}
	}
}

// build turns the plan and inventory into the page's data.
func build(plan *classify.Plan, inv *classify.Inventory) *data {
	d := &data{Archive: inv != nil, LowBelow: LowConfidence, Aliases: make([]*alias, 0, len(plan.Rows))}
	monthsOf := make([]map[string]int, 0, len(plan.Rows))
	var lo, hi string // month range, "2006-01"
	widen := func(m string) {
		if m == "" {
			return
		}
		if lo == "" || m < lo {
			lo = m
		}
		if m > hi {
			hi = m
		}
	}
	for _, r := range plan.Rows {
		a := &alias{Alias: r.Alias(), Tag: r["tag"], Action: r["action"], ForwardTo: r["forward_to"],
			First: dateOnly(r["first_seen"]), Last: dateOnly(r["last_seen"]), Verdict: r["breach_verdict"],
			Breaches: ParseBreaches(r["breaches"]), Months: []int{}, Confidence: parseConfidence(r["confidence"]),
			Reasons: SplitReasons(r["reasons"]), Note: strings.TrimSpace(r["note"]), edited: r.Edited()}
		if a.Breaches == nil {
			a.Breaches = []Hit{}
		}
		a.Unicode = unicodeOf(a.Alias)
		n, err := strconv.Atoi(r["messages"])
		var months map[string]int
		if inv != nil {
			if s := inv.Aliases[a.Alias]; s != nil {
				if err != nil {
					n, err = s.Received, nil
				}
				if a.First == "" && !s.First.IsZero() {
					a.First = s.First.UTC().Format(time.DateOnly)
				}
				if a.Last == "" && !s.Last.IsZero() {
					a.Last = s.Last.UTC().Format(time.DateOnly)
				}
				months = s.Months
			}
		}
		if err == nil {
			a.Messages = n
		}
		if r["domain_status"] == DomainForeign {
			d.Foreign = append(d.Foreign, a)
			continue
		}
		widen(month(a.First))
		widen(month(a.Last))
		for _, h := range a.Breaches {
			widen(month(h.Date))
		}
		for m := range months {
			if _, err := time.Parse("2006-01", m); err == nil {
				widen(m)
			}
		}
		d.Aliases = append(d.Aliases, a)
		monthsOf = append(monthsOf, months)
	}
	if lo == "" {
		return d
	}
	d.Start = lo
	d.Months = monthIndex(lo, hi) + 1
	for i, a := range d.Aliases {
		keys := make([]string, 0, len(monthsOf[i]))
		for m := range monthsOf[i] {
			keys = append(keys, m)
		}
		slices.Sort(keys)
		for _, m := range keys {
			c := monthsOf[i][m]
			if _, err := time.Parse("2006-01", m); err != nil || c <= 0 {
				continue
			}
			a.Months = append(a.Months, monthIndex(lo, m), c)
			d.MaxMonth = max(d.MaxMonth, c)
		}
	}
	return d
}

// checkFirst returns the (up to CheckFirst) rows with the lowest
// confidence, lowest first, ties in plan order; rows without a confidence
// and rows the user edited are left out.
func checkFirst(aliases []*alias) []*alias {
	var out []*alias
	for _, a := range aliases {
		if a.Confidence != nil && !a.edited {
			out = append(out, a)
		}
	}
	slices.SortStableFunc(out, func(a, b *alias) int { return cmp.Compare(*a.Confidence, *b.Confidence) })
	return out[:min(len(out), CheckFirst)]
}

// dateOnly returns the YYYY-MM-DD date at the start of s, "" if there is none.
func dateOnly(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 10 {
		if _, err := time.Parse(time.DateOnly, s[:10]); err == nil {
			return s[:10]
		}
	}
	return ""
}

func month(date string) string {
	if len(date) < 7 {
		return ""
	}
	return date[:7]
}

// monthIndex counts the months from lo to m, both "2006-01".
func monthIndex(lo, m string) int {
	a, _ := time.Parse("2006-01", lo)
	b, _ := time.Parse("2006-01", m)
	return (b.Year()-a.Year())*12 + int(b.Month()) - int(a.Month())
}

// Order of the known tags and verdicts in the totals; others follow sorted.
var (
	tagOrder     = []string{string(classify.TagPersonal), string(classify.TagBusiness), string(classify.TagDisposable)}
	verdictOrder = []string{string(breach.VerdictBreached), string(breach.VerdictLeaked), string(breach.VerdictAggregate), string(breach.VerdictClean)}
)

// NotChecked names the verdict of an alias that catchall breach has not seen.
const NotChecked = "not checked"

func totals(aliases []*alias) (tags, verdicts []total) {
	byTag, byVerdict := map[string]*total{}, map[string]*total{}
	get := func(m map[string]*total, k string) *total {
		if m[k] == nil {
			m[k] = &total{Name: k}
		}
		return m[k]
	}
	for _, a := range aliases {
		v := a.Verdict
		if v == "" {
			v = NotChecked
		}
		for _, t := range []*total{get(byTag, a.Tag), get(byVerdict, v)} {
			t.Aliases++
			t.Messages += a.Messages
			switch classify.Action(a.Action) {
			case classify.ActionForward:
				t.Forward++
			case classify.ActionBlock:
				t.Block++
			}
			if a.Verdict == string(breach.VerdictBreached) || a.Verdict == string(breach.VerdictLeaked) {
				t.Breached++
			}
		}
	}
	return ordered(byTag, tagOrder), ordered(byVerdict, append(slices.Clone(verdictOrder), NotChecked))
}

// ordered lists m's totals: the names in order first, then the rest sorted.
func ordered(m map[string]*total, order []string) []total {
	rank := func(name string) int {
		if i := slices.Index(order, name); i >= 0 {
			return i
		}
		return len(order)
	}
	out := make([]total, 0, len(m))
	for _, t := range m {
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b total) int {
		return cmp.Or(cmp.Compare(rank(a.Name), rank(b.Name)), strings.Compare(a.Name, b.Name))
	})
	return out
}
