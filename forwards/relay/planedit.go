package relay

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"unicode"

	"github.com/catchall/catchall/classify"
	"github.com/catchall/catchall/forwards"
	"github.com/catchall/catchall/internal/csvsafe"
)

// AliasEdit is a change of one alias's user columns; nil fields stay as they are.
type AliasEdit struct {
	Action, ForwardTo, Tag, Note *string
}

// ErrUnknownAlias is returned by EditPlan for an alias the plan does not have.
var ErrUnknownAlias = errors.New("no such alias in the plan") // API: 404

// ErrInvalidEdit is wrapped by EditPlan's error for an edit the plan cannot take.
var ErrInvalidEdit = errors.New("the edit would make the plan invalid") // API: 400

// EditPlan applies edits (by alias address) to the plan file cfg.Plan and the store, atomically:
// the plan is read, the rows changed (only the named columns; a column missing from the plan is
// appended to its header), validated as ImportPlan would (an edit that makes the plan invalid
// returns an error wrapping ErrInvalidEdit, nothing written), written atomically (classify.Plan.Write;
// untouched rows byte-identical), then re-imported into the store so the next SMTP command sees it.
// It serialises with plan polling/reloads (hold the relay's import lock).
//
// A forward_to may list its addresses separated by commas or spaces; the
// plan gets them normalised, separated by spaces. A CSV plan keeps every
// line of a row not edited as it was, byte for byte (with an appended
// column, such a line is one cell short, which the plan allows).
func (r *Relay) EditPlan(edits map[string]AliasEdit) error {
	return r.changePlan(func(p *classify.Plan, index map[string]int) (map[int]bool, error) {
		edited := map[int]bool{}
		var problems []error
		for alias, e := range edits {
			key := alias
			if a, ok := classify.NormalizeAddress(alias); ok {
				key = a
			}
			i, ok := index[key]
			if !ok {
				return nil, fmt.Errorf("%s: %w", alias, ErrUnknownAlias)
			}
			was, cols := maps.Clone(p.Rows[i]), len(p.Columns)
			if err := applyEdit(p, p.Rows[i], e); err != nil {
				problems = append(problems, fmt.Errorf("%s: %w", key, err))
			}
			if !maps.Equal(was, p.Rows[i]) || len(p.Columns) != cols {
				edited[i] = true // an edit to the same values (or none) writes nothing
			}
		}
		if len(problems) > 0 {
			return nil, fmt.Errorf("%w: %w", ErrInvalidEdit, errors.Join(problems...))
		}
		return edited, nil
	})
}

// changePlan is the one way the running relay writes the plan file: with
// the import lock held, it reads the plan, lets change edit rows in memory
// (index maps each alias to its row) and report which it edited, then
// checks the result as ImportPlan would — an invalid plan, or an edited row
// forwards.FromPlan would now leave out, wraps ErrInvalidEdit and nothing
// is written —, writes it atomically (a CSV plan keeps every line of a row
// not edited byte for byte) and imports it into the store. Nothing edited,
// nothing written.
func (r *Relay) changePlan(change func(p *classify.Plan, index map[string]int) (edited map[int]bool, err error)) error {
	if r.cfg.Plan == "" {
		return fmt.Errorf("%w: the relay has no plan file", ErrInvalidEdit)
	}
	r.planMu.Lock()
	defer r.planMu.Unlock()
	data, err := os.ReadFile(r.cfg.Plan)
	if err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	isJSON := classify.IsJSON(r.cfg.Plan)
	p, err := classify.ParsePlan(data, isJSON)
	if err != nil {
		return fmt.Errorf("plan %s: %w", r.cfg.Plan, err)
	}
	index := map[string]int{}
	for i, row := range p.Rows {
		index[row.Alias()] = i
	}
	before, err := forwards.FromPlan(p, strings.Join(r.cfg.DefaultTargets, " "), "")
	if err != nil {
		return fmt.Errorf("plan %s: %w", r.cfg.Plan, err)
	}
	wasSkipped := map[string]bool{}
	for _, sk := range before.Skipped {
		wasSkipped[sk.Alias] = true
	}
	headerLen := len(p.Columns)
	edited, err := change(p, index)
	if err != nil || len(edited) == 0 {
		return err
	}
	var out []byte
	if isJSON {
		out, err = p.Encode(true)
	} else {
		out, err = spliceCSV(data, p, headerLen, edited)
	}
	if err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	// Validated as ImportPlan reads it: the bytes about to be written.
	q, err := classify.ParsePlan(out, isJSON)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidEdit, err)
	}
	after, err := forwards.FromPlan(q, strings.Join(r.cfg.DefaultTargets, " "), "")
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidEdit, err)
	}
	var problems []error
	for _, sk := range after.Skipped {
		if i, ok := index[sk.Alias]; ok && edited[i] && !wasSkipped[sk.Alias] {
			problems = append(problems, fmt.Errorf("%s: %s", sk.Alias, sk.Reason))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidEdit, errors.Join(problems...))
	}
	if err := classify.WriteFileAtomic(r.cfg.Plan, out); err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	return r.reloadLocked(true)
}

// applyEdit changes the named cells of row, checking each value.
func applyEdit(p *classify.Plan, row classify.Row, e AliasEdit) error {
	var problems []error
	if e.Action != nil {
		switch v := classify.Action(strings.TrimSpace(*e.Action)); v {
		case classify.ActionForward, classify.ActionBlock:
			setCell(p, row, "action", string(v))
		default:
			problems = append(problems, fmt.Errorf("action %q must be forward or block", *e.Action))
		}
	}
	if e.Tag != nil {
		switch v := classify.Tag(strings.TrimSpace(*e.Tag)); v {
		case classify.TagPersonal, classify.TagBusiness, classify.TagDisposable:
			setCell(p, row, "tag", string(v))
		default:
			problems = append(problems, fmt.Errorf("tag %q must be personal, business or disposable", *e.Tag))
		}
	}
	if e.ForwardTo != nil {
		var targets []string
		for _, t := range strings.FieldsFunc(*e.ForwardTo, func(c rune) bool { return c == ',' || c == ' ' || c == '\t' }) {
			a, err := forwards.CheckAddress(t)
			if err != nil {
				problems = append(problems, fmt.Errorf("forward_to: %w", err))
				continue
			}
			if !slices.Contains(targets, a) {
				targets = append(targets, a)
			}
		}
		setCell(p, row, "forward_to", strings.Join(targets, " "))
	}
	if e.Note != nil {
		note := strings.TrimSpace(*e.Note)
		if err := checkNote(note); err != nil {
			problems = append(problems, err)
		} else {
			setCell(p, row, "note", note)
		}
	}
	return errors.Join(problems...)
}

// MaxNoteLen is the longest note EditPlan writes.
const MaxNoteLen = 1000

// checkNote refuses a note longer than MaxNoteLen bytes or with a control
// or invisible formatting character (NUL, line ends, U+2028, bidi
// overrides such as U+202E…), which could hide or disguise text in the
// plan, the dashboard or a terminal.
func checkNote(note string) error {
	if len(note) > MaxNoteLen {
		return fmt.Errorf("note: one line of at most %d bytes", MaxNoteLen)
	}
	for _, c := range note {
		if unicode.IsControl(c) || unicode.In(c, unicode.Cf, unicode.Zl, unicode.Zp) {
			return fmt.Errorf("note: one line of at most %d bytes, without control or formatting characters (%U)", MaxNoteLen, c)
		}
	}
	return nil
}

// setCell sets a cell, appending its column to the header when the plan
// does not have it; it reports whether anything changed.
func setCell(p *classify.Plan, row classify.Row, col, v string) bool {
	if !slices.Contains(p.Columns, col) {
		p.Columns = append(p.Columns, col)
	} else if row[col] == v {
		return false
	}
	row[col] = v
	return true
}

// spliceCSV writes p as CSV over data, the file it was read from: the
// rows not edited keep their bytes; the header is written again only when
// columns were appended (headerLen is its length before).
func spliceCSV(data []byte, p *classify.Plan, headerLen int, edited map[int]bool) ([]byte, error) {
	body := data
	var bom []byte
	if b, ok := bytes.CutPrefix(data, []byte("\xef\xbb\xbf")); ok {
		bom, body = data[:3], b
	}
	rd := csv.NewReader(bytes.NewReader(body))
	rd.FieldsPerRecord = -1
	var out bytes.Buffer
	out.Write(bom)
	encode := func(rec []string, eol []byte) error {
		out.Write(eol[:len(eol)-len(bytes.TrimLeft(eol, "\r\n"))]) // blank lines before the record
		var b bytes.Buffer
		w := csv.NewWriter(&b)
		w.UseCRLF = bytes.HasSuffix(eol, []byte("\r\n"))
		if err := w.Write(rec); err != nil {
			return err
		}
		w.Flush()
		out.Write(b.Bytes())
		return w.Error()
	}
	var start int64
	row := -1 // -1: the header
	for {
		rec, err := rd.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		end := rd.InputOffset()
		raw := body[start:end]
		start = end
		switch {
		case row == -1 && len(p.Columns) > headerLen:
			if err := encode(csvsafe.Record(slices.Clone(p.Columns)), raw); err != nil {
				return nil, err
			}
			if !bytes.HasSuffix(raw, []byte("\n")) {
				out.Truncate(out.Len() - 1) // a header with no line end is one with no rows
			}
			row = 0
			continue
		case row == -1:
			row = 0
		case len(rec) == 1 && strings.TrimSpace(rec[0]) == "":
			// a blank line, as ReadPlan skips it
		case edited[row]:
			cells := make([]string, len(p.Columns))
			for i, c := range p.Columns {
				cells[i] = csvsafe.Escape(p.Rows[row][c])
			}
			if err := encode(cells, raw); err != nil {
				return nil, err
			}
			row++
			continue
		default:
			row++
		}
		out.Write(raw)
	}
	out.Write(body[start:]) // anything after the last record (blank lines)
	return out.Bytes(), nil
}
