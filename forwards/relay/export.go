package relay

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/catchall/catchall/classify"
)

// Columns relay export writes, in the order a new plan file gets them.
var exportColumns = []string{"alias", "tag", "action", "forward_to", "first_seen", "last_seen", "service_domain",
	"source", "note", "auto_tag", "auto_action", "auto_forward_to"}

// ExportResult counts what Export did.
type ExportResult struct {
	Burners   int // burners in the store
	Added     int // new rows
	Refreshed int // rows already in the plan
}

func (r ExportResult) String() string {
	return fmt.Sprintf("%d burners: %d added, %d refreshed", r.Burners, r.Added, r.Refreshed)
}

// Export merges burners into the plan as the package documentation says
// ("Burners into the plan"). New rows go where the alias sorts, before the
// first row whose alias sorts after it; the other rows keep their order.
func Export(p *classify.Plan, burners []Burner) ExportResult {
	res := ExportResult{Burners: len(burners)}
	had := len(p.Columns)
	defer func() {
		// Columns the plan did not have, in exportColumns' order; a plan
		// that gets a row of export's gets all of them.
		if res.Added > 0 {
			for _, c := range exportColumns {
				if !slices.Contains(p.Columns, c) {
					p.Columns = append(p.Columns, c)
				}
			}
		}
		rank := func(c string) int { return slices.Index(exportColumns, c) }
		slices.SortStableFunc(p.Columns[had:], func(a, b string) int { return rank(a) - rank(b) })
	}()
	index := map[string]classify.Row{}
	for _, r := range p.Rows {
		index[r.Alias()] = r
	}
	for _, b := range burners {
		tag, action, to := string(classify.TagDisposable), string(classify.ActionForward), ""
		fromPlan := false
		if e := b.Entry; e != nil {
			action = string(e.Action)
			if e.Action == classify.ActionForward {
				to = strings.Join(e.Targets, " ")
			}
			fromPlan = e.Source == SourcePlan
		}
		r, ok := index[b.Address]
		if !ok {
			r = classify.Row{"alias": b.Address}
			setVerdict(p, r, tag, action, to)
			set(p, r, "source", SourceBurner)
			i := slices.IndexFunc(p.Rows, func(o classify.Row) bool { return o.Alias() > b.Address })
			if i < 0 {
				i = len(p.Rows)
			}
			p.Rows = slices.Insert(p.Rows, i, r)
			index[b.Address] = r
			res.Added++
		} else {
			if !fromPlan && !r.UserOwned() {
				setVerdict(p, r, tag, action, to)
				if s := r["source"]; s == "" || s == classify.SourceAuto {
					set(p, r, "source", SourceBurner)
				}
			}
			res.Refreshed++
		}
		if r["service_domain"] == "" {
			set(p, r, "service_domain", b.Service)
		}
		if b.Note != "" {
			set(p, r, "note", b.Note)
		}
		if d := day(b.FirstMail); d != "" {
			if old := dateOf(r["first_seen"]); old == "" || d < old {
				set(p, r, "first_seen", d)
			}
		}
		if d := day(b.LastMail); d != "" {
			if old := dateOf(r["last_seen"]); old == "" || d > old {
				set(p, r, "last_seen", d)
			}
		}
	}
	return res
}

// set sets a cell, adding its column to the plan when the value is not
// empty and the plan does not have it yet.
// setVerdict sets the tag, action and forward_to of r, and the same as
// what the relay decided (auto_*), so that a later edit shows.
func setVerdict(p *classify.Plan, r classify.Row, tag, action, to string) {
	for _, prefix := range []string{"", "auto_"} {
		set(p, r, prefix+"tag", tag)
		set(p, r, prefix+"action", action)
		set(p, r, prefix+"forward_to", to)
	}
}

func set(p *classify.Plan, r classify.Row, col, v string) {
	if v != "" && !slices.Contains(p.Columns, col) {
		p.Columns = append(p.Columns, col)
	}
	r[col] = v
}

func day(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.DateOnly)
}

// dateOf returns the YYYY-MM-DD date a plan cell starts with, "" if none.
func dateOf(s string) string {
	if len(s) >= 10 {
		if _, err := time.Parse(time.DateOnly, s[:10]); err == nil {
			return s[:10]
		}
	}
	return ""
}

// ExportPlan merges the store's burners into the plan file at path (CSV,
// or JSON for a .json name), creating it when it does not exist. The file
// is rewritten (atomically) only when something changed. An error reading
// the plan wraps classify.ErrPlan.
func ExportPlan(st *Store, path string) (ExportResult, error) {
	burners, err := st.Burners()
	if err != nil {
		return ExportResult{}, err
	}
	p, err := classify.ReadPlan(path)
	var before []byte
	switch {
	case errors.Is(err, fs.ErrNotExist):
		p = &classify.Plan{Columns: slices.Clone(exportColumns)}
	case err != nil:
		if !errors.Is(err, classify.ErrPlan) {
			err = fmt.Errorf("%w: %w", classify.ErrPlan, err)
		}
		return ExportResult{}, err
	default:
		if before, err = p.Encode(classify.IsJSON(path)); err != nil {
			return ExportResult{}, err
		}
	}
	res := Export(p, burners)
	after, err := p.Encode(classify.IsJSON(path))
	if err != nil {
		return res, err
	}
	if before != nil && bytes.Equal(before, after) {
		return res, nil
	}
	return res, classify.WriteFileAtomic(path, after)
}
