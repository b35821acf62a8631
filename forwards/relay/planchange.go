package relay

import (
	"fmt"
	"slices"
	"strings"

	"github.com/catchall/catchall/classify"
	"github.com/catchall/catchall/forwards"
)

// setPlanColumns sets columns of rows of the plan file (alias → column →
// value) as EditPlan does; an alias the plan lacks is ErrUnknownAlias.
func (r *Relay) setPlanColumns(edits map[string]map[string]string) error {
	return r.changePlan(func(p *classify.Plan) (bool, error) {
		rows := map[string]classify.Row{}
		for _, row := range p.Rows {
			rows[row.Alias()] = row
		}
		changed := false
		for alias, cols := range edits {
			key := alias
			if a, err := forwards.CheckAddress(alias); err == nil {
				key = a
			}
			row, ok := rows[key]
			if !ok {
				return false, fmt.Errorf("%w: %s", ErrUnknownAlias, alias)
			}
			for c, v := range cols {
				changed = setCell(p, row, c, v) || changed
			}
		}
		return changed, nil
	})
}

// setCell sets row[col] to v, appending col to the plan's header when it
// is new; it reports whether anything changed.
func setCell(p *classify.Plan, row classify.Row, col, v string) bool {
	if !slices.Contains(p.Columns, col) {
		p.Columns = append(p.Columns, col)
	} else if old, ok := row[col]; ok && old == v {
		return false
	}
	row[col] = v
	return true
}

// changePlan is the one way the running relay writes the plan file: with
// the import lock held, it reads the plan, lets change edit it in memory,
// and, when change reports a change, checks the result as ImportPlan
// would (an invalid plan wraps ErrInvalidEdit and nothing is written),
// writes it atomically and imports it into the store. Rows change leaves
// alone are written as they were read.
func (r *Relay) changePlan(change func(p *classify.Plan) (changed bool, err error)) error {
	if r.cfg.Plan == "" {
		return fmt.Errorf("%w: the relay has no plan file", ErrInvalidEdit)
	}
	r.planMu.Lock()
	defer r.planMu.Unlock()
	p, err := classify.ReadPlan(r.cfg.Plan)
	if err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	changed, err := change(p)
	if err != nil || !changed {
		return err
	}
	isJSON := classify.IsJSON(r.cfg.Plan)
	data, err := p.Encode(isJSON)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidEdit, err)
	}
	q, err := classify.ParsePlan(data, isJSON)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidEdit, err)
	}
	if _, err := forwards.FromPlan(q, strings.Join(r.cfg.DefaultTargets, " "), ""); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidEdit, err)
	}
	if err := classify.WriteFileAtomic(r.cfg.Plan, data); err != nil {
		return fmt.Errorf("writing the plan: %w", err)
	}
	return r.reloadLocked(true)
}
