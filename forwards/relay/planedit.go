package relay

import "errors"

// AliasEdit is a change of one alias's user columns; nil fields stay as they are.
type AliasEdit struct {
	Action, ForwardTo, Tag, Note *string
}

// ErrUnknownAlias is wrapped by EditPlan's error for an alias the plan does not have.
var ErrUnknownAlias = errors.New("no such alias in the plan")

// ErrInvalidEdit is wrapped by EditPlan's error for an edit that would make the plan invalid.
var ErrInvalidEdit = errors.New("the edit would make the plan invalid")

// EditPlan applies edits (by alias address) to the plan file cfg.Plan and the store, atomically:
// the plan is read, the rows changed (only the named columns; a column missing from the plan is
// appended to its header), validated as ImportPlan would (an edit that makes the plan invalid
// returns an error wrapping ErrInvalidEdit, nothing written), written atomically (classify.Plan.Write;
// untouched rows byte-identical), then re-imported into the store so the next SMTP command sees it.
// It serialises with plan polling/reloads (hold the relay's import lock).
func (r *Relay) EditPlan(edits map[string]AliasEdit) error {
	cols := make(map[string]map[string]string, len(edits))
	for alias, e := range edits {
		m := map[string]string{}
		for c, v := range map[string]*string{"action": e.Action, "forward_to": e.ForwardTo, "tag": e.Tag, "note": e.Note} {
			if v != nil {
				m[c] = *v
			}
		}
		cols[alias] = m
	}
	return r.setPlanColumns(cols)
}
