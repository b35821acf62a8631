package classify

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/catchall/catchall/internal/csvsafe"
	"github.com/catchall/catchall/internal/safeio"
)

// Plan columns written by classify, in order.
var planColumns = []string{
	"alias", "tag", "action", "forward_to", "confidence", "reasons", "messages", "sent", "first_seen",
	"last_seen", "service_domain", "folders", "top_senders", "revealed_by", "subaddresses", "leak_since",
	"unrelated_senders", "source", "auto_tag", "auto_action", "auto_forward_to",
}

var requiredColumns = []string{"alias", "tag", "action", "forward_to"}

// Sources of a row's tag, action and forward_to.
const (
	SourceAuto   = "auto"
	SourceManual = "manual"
)

// Row is one alias of the plan: every column by name.
type Row map[string]string

// Alias returns the row's alias.
func (r Row) Alias() string { return r["alias"] }

// Edited reports whether the user owns the row's tag, action and
// forward_to: its source is manual, or they differ from what classify (or
// breach) last proposed in the auto_* columns. Such values are kept by
// every re-run of classify and breach.
func (r Row) Edited() bool {
	if r["source"] == SourceManual {
		return true
	}
	if _, ok := r["auto_tag"]; !ok {
		return false
	}
	return r["tag"] != r["auto_tag"] || r["action"] != r["auto_action"] || r["forward_to"] != r["auto_forward_to"]
}

// UserOwned reports whether the row's tag, action and forward_to are the
// user's: edited (see Edited), or with nothing recording what a tool
// proposed for it (a row written by hand or by another tool).
func (r Row) UserOwned() bool {
	return r.Edited() || r["auto_tag"] == "" && r["auto_action"] == ""
}

// Plan is a plan file in memory.
type Plan struct {
	Columns []string // in file order; new columns are appended
	Rows    []Row    // sorted by alias
}

// ErrPlan is wrapped by every error about a plan file's content.
var ErrPlan = errors.New("invalid plan")

// ReadPlan reads a plan file (CSV, or JSON for a .json name). Every problem
// is reported at once, with its line (CSV) or index (JSON). Aliases are
// normalised (lower case, punycode).
func ReadPlan(path string) (*Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p, err := ParsePlan(data, IsJSON(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// IsJSON reports whether a plan file name means JSON (a .json extension).
func IsJSON(path string) bool { return strings.EqualFold(filepath.Ext(path), ".json") }

// ParsePlan parses a plan from memory, as ReadPlan does a file.
func ParsePlan(data []byte, isJSON bool) (*Plan, error) {
	var p *Plan
	var err error
	if isJSON {
		p, err = parseJSONPlan(data)
	} else {
		p, err = parseCSVPlan(data)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPlan, err)
	}
	return p, nil
}

func parseCSVPlan(data []byte) (*Plan, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a spreadsheet's BOM
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	records, err := r.ReadAll()
	if err != nil {
		return nil, err
	}
	if len(records) == 0 {
		return nil, errors.New("empty file: expected a header row")
	}
	p := &Plan{}
	for _, c := range records[0] {
		p.Columns = append(p.Columns, strings.ToLower(strings.TrimSpace(csvsafe.Unescape(strings.TrimSpace(c)))))
	}
	var problems []error
	for i, rec := range records[1:] {
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if len(rec) > len(p.Columns) {
			problems = append(problems, fmt.Errorf("line %d: %d fields, the header has only %d (a comma too many, or a cell with a comma that is not in quotes)", i+2, len(rec), len(p.Columns)))
			continue
		}
		// A row may stop after any column: the missing cells are empty.
		row := Row{}
		for j, c := range p.Columns {
			if j < len(rec) {
				row[c] = strings.TrimSpace(csvsafe.Unescape(strings.TrimSpace(rec[j])))
			} else {
				row[c] = ""
			}
		}
		p.Rows = append(p.Rows, row)
	}
	return p, errors.Join(append(problems, p.validate("line", 2)...)...)
}

func parseJSONPlan(data []byte) (*Plan, error) {
	var raw []map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("expected a JSON array of objects: %v", err)
	}
	p := &Plan{}
	seen := map[string]bool{}
	for _, c := range planColumns {
		seen[c] = true
	}
	p.Columns = slices.Clone(planColumns)
	for _, obj := range raw {
		row := Row{}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			lk := strings.ToLower(k)
			switch v := obj[k].(type) {
			case nil:
				row[lk] = ""
			case string:
				row[lk] = strings.TrimSpace(v)
			case float64:
				row[lk] = strconv.FormatFloat(v, 'f', -1, 64)
			case bool:
				row[lk] = strconv.FormatBool(v)
			case []any:
				var parts []string
				for _, e := range v {
					parts = append(parts, fmt.Sprint(e))
				}
				row[lk] = strings.Join(parts, " ")
			default:
				b, _ := json.Marshal(v)
				row[lk] = string(b)
			}
			if !seen[lk] {
				seen[lk] = true
				p.Columns = append(p.Columns, lk)
			}
		}
		p.Rows = append(p.Rows, row)
	}
	if len(raw) == 0 {
		return p, nil
	}
	return p, errors.Join(p.validate("entry", 1)...)
}

// validate checks the rows; first is the line or index of the first row.
func (p *Plan) validate(unit string, first int) []error {
	var problems []error
	for _, c := range requiredColumns {
		if !slices.Contains(p.Columns, c) {
			problems = append(problems, fmt.Errorf("the required column %q is missing", c))
		}
	}
	if len(problems) > 0 {
		return problems
	}
	seen := map[string]int{}
	for i, row := range p.Rows {
		at := fmt.Sprintf("%s %d", unit, i+first)
		// An alias that is not an address stays as written: every step
		// that uses the plan leaves that row out with the reason (see
		// SafeAddress), and the other rows work.
		alias := row["alias"]
		if a, ok := NormalizeAddress(alias); ok {
			alias = a
		}
		row["alias"] = alias
		if j, dup := seen[alias]; dup {
			problems = append(problems, fmt.Errorf("%s: %s is already in %s %d", at, alias, unit, j))
		}
		seen[alias] = i + first
		switch Tag(row["tag"]) {
		case TagPersonal, TagBusiness, TagDisposable:
		default:
			problems = append(problems, fmt.Errorf("%s: tag %q must be personal, business or disposable", at, row["tag"]))
		}
		switch Action(row["action"]) {
		case ActionForward, ActionBlock:
			// forward_to is kept on a block row, and ignored: flipping
			// action alone blocks and unblocks.
		default:
			problems = append(problems, fmt.Errorf("%s: action %q must be forward or block", at, row["action"]))
		}
		// Targets are normalised where they are addresses; one that is not
		// makes the steps leave the row out, naming it.
		var targets []string
		for _, t := range strings.Fields(row["forward_to"]) {
			if a, ok := NormalizeAddress(t); ok {
				t = a
			}
			targets = append(targets, t)
		}
		row["forward_to"] = strings.Join(targets, " ")
	}
	return problems
}

// Write writes the plan atomically (temp file, fsync, rename), mode 0600.
func (p *Plan) Write(path string) error {
	data, err := p.Encode(IsJSON(path))
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, data)
}

// Encode returns the plan as CSV or JSON.
func (p *Plan) Encode(isJSON bool) ([]byte, error) {
	var buf bytes.Buffer
	if isJSON {
		out := make([]map[string]string, len(p.Rows))
		for i, r := range p.Rows {
			out[i] = r
		}
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return nil, err
		}
	} else {
		w := csv.NewWriter(&buf)
		w.Write(csvsafe.Record(slices.Clone(p.Columns)))
		for _, r := range p.Rows {
			rec := make([]string, len(p.Columns))
			for i, c := range p.Columns {
				rec[i] = csvsafe.Escape(r[c]) // no spreadsheet evaluates a cell
			}
			w.Write(rec)
		}
		w.Flush()
		if err := w.Error(); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

// WriteFileAtomic writes data to path so that a crash leaves either the old
// or the new file, never half of one (mode 0600; see safeio.WriteFile).
func WriteFileAtomic(path string, data []byte) error { return safeio.WriteFile(path, data) }

// MergeResult counts what Merge did.
type MergeResult struct {
	New, Updated, KeptEdits, KeptOnlyInPlan int
	// Foreign rows are at a domain that is not the user's: Dropped were
	// classify's own and are gone, KeptForeign were edited by the user and
	// stay, marked, in no config.
	Dropped, KeptForeign int
}

// DomainStatusForeign marks a row (column domain_status) at a domain that
// is no longer one of the user's: an earlier wrong detection or a changed
// --domain. The user edited it, so it is kept, but no config, relay or
// report treats it as an alias.
const DomainStatusForeign = "foreign"

// Foreign reports whether the row is marked as not at the user's domains.
func (r Row) Foreign() bool { return r["domain_status"] == DomainStatusForeign }

// MergeAt is Merge for a mailbox whose aliases are at domains: rows at
// other domains that classify wrote are dropped, rows there the user edited
// are kept and marked foreign (domain_status), and rows at domains lose
// such a mark.
func (p *Plan) MergeAt(fresh []Row, domains []string) MergeResult {
	res := p.Merge(fresh)
	if len(domains) == 0 {
		return res
	}
	ours := map[string]bool{}
	for _, d := range domains {
		ours[d] = true
	}
	kept := p.Rows[:0]
	for _, r := range p.Rows {
		switch {
		case ours[Domain(r.Alias())]:
			if r.Foreign() {
				r["domain_status"] = ""
			}
		case r.UserOwned():
			if !slices.Contains(p.Columns, "domain_status") {
				p.Columns = append(p.Columns, "domain_status")
			}
			r["domain_status"] = DomainStatusForeign
			res.KeptForeign++
			res.KeptOnlyInPlan--
		default:
			res.Dropped++
			res.KeptOnlyInPlan--
			continue
		}
		kept = append(kept, r)
	}
	p.Rows = kept
	return res
}

// Merge folds freshly computed rows into the plan. A row the user edited
// (source manual, or tag, action or forward_to different from what classify
// proposed last time) keeps those three values and is marked manual; its
// statistics are refreshed. Rows only in the plan are kept. Columns the
// user added are kept.
func (p *Plan) Merge(fresh []Row) MergeResult {
	var res MergeResult
	for _, c := range planColumns {
		if !slices.Contains(p.Columns, c) {
			p.Columns = append(p.Columns, c)
		}
	}
	index := map[string]Row{}
	for _, r := range p.Rows {
		index[r.Alias()] = r
	}
	for _, f := range fresh {
		old, ok := index[f.Alias()]
		if !ok {
			p.Rows = append(p.Rows, f)
			index[f.Alias()] = f
			res.New++
			continue
		}
		edited := old.Edited()
		if _, hasAuto := old["auto_tag"]; !edited && !hasAuto {
			// Written by hand or by another tool: its values are the user's.
			edited = old["tag"] != f["tag"] || old["action"] != f["action"] || old["forward_to"] != f["forward_to"]
		}
		keep := map[string]string{"tag": old["tag"], "action": old["action"], "forward_to": old["forward_to"]}
		for k, v := range f {
			old[k] = v
		}
		if edited {
			for k, v := range keep {
				old[k] = v
			}
			old["source"] = SourceManual
			res.KeptEdits++
		} else {
			if old["breach_action"] == string(ActionBlock) {
				// catchall breach blocked it: that stands until breach runs
				// again (forward_to stays, for the day it is unblocked).
				old["action"], old["auto_action"] = string(ActionBlock), string(ActionBlock)
			}
			res.Updated++
		}
	}
	res.KeptOnlyInPlan = len(p.Rows) - len(fresh)
	slices.SortFunc(p.Rows, func(a, b Row) int { return strings.Compare(a.Alias(), b.Alias()) })
	return res
}
