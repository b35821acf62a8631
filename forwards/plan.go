package forwards

import (
	"fmt"
	"slices"
	"strings"

	"github.com/catchall/catchall/classify"
)

// PlanCSV writes the plan itself, normalised to its four contract columns
// (and tag): a clean copy to hand to another tool.
type PlanCSV struct{}

// PlanJSON is PlanCSV as JSON.
type PlanJSON struct{}

// Name implements Format.
func (PlanCSV) Name() string { return "csv" }

// Name implements Format.
func (PlanJSON) Name() string { return "json" }

// Generate implements Format.
func (PlanCSV) Generate(in *Input) (*Output, error) { return planOutput(in, "plan.csv") }

// Generate implements Format.
func (PlanJSON) Generate(in *Input) (*Output, error) { return planOutput(in, "plan.json") }

func planOutput(in *Input, name string) (*Output, error) {
	data, err := RulesPlan(in.Rules).Encode(classify.IsJSON(name))
	if err != nil {
		return nil, err
	}
	return &Output{Files: []File{{Name: name, Data: data}},
		Install: "The plan, normalised: alias, tag, action, forward_to. Read it with catchall (--plan " + name + ") or any tool that takes CSV/JSON.\n"}, nil
}

// RulesPlan turns rules into a plan with the contract's columns.
func RulesPlan(rules []Rule) *classify.Plan {
	p := &classify.Plan{Columns: []string{"alias", "tag", "action", "forward_to"}}
	for _, r := range rules {
		p.Rows = append(p.Rows, classify.Row{"alias": r.Alias, "tag": string(r.Tag), "action": string(r.Action), "forward_to": strings.Join(r.Targets, " ")})
	}
	return p
}

// Import implements Importer.
func (PlanCSV) Import(data []byte) ([]Rule, error) { return importPlan(data, "plan.csv") }

// Import implements Importer.
func (PlanJSON) Import(data []byte) ([]Rule, error) { return importPlan(data, "plan.json") }

func importPlan(data []byte, name string) ([]Rule, error) {
	p, err := classify.ParsePlan(data, classify.IsJSON(name))
	if err != nil {
		return nil, err
	}
	var rules []Rule
	for _, row := range p.Rows {
		r := Rule{Alias: row.Alias(), Tag: classify.Tag(row["tag"]), Action: classify.Action(row["action"]), Targets: strings.Fields(row["forward_to"])}
		if _, err := CheckAddress(r.Alias); err != nil {
			return nil, fmt.Errorf("%s: %w", r.Alias, err)
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// MergeRules writes imported rules into the plan: existing rows get the
// rule's action and forward_to and source manual; new aliases are added,
// tagged as imported (disposable when the format does not say). It returns
// how many rules were merged and how many rows are new.
func MergeRules(p *classify.Plan, rules []Rule) (merged, added int) {
	for _, c := range []string{"alias", "tag", "action", "forward_to", "source"} {
		if !slices.Contains(p.Columns, c) {
			p.Columns = append(p.Columns, c)
		}
	}
	index := map[string]classify.Row{}
	for _, r := range p.Rows {
		index[r.Alias()] = r
	}
	for _, r := range rules {
		row, ok := index[r.Alias]
		if !ok {
			tag := r.Tag
			if tag == "" {
				tag = classify.TagDisposable
			}
			row = classify.Row{"alias": r.Alias, "tag": string(tag)}
			p.Rows = append(p.Rows, row)
			index[r.Alias] = row
			added++
		} else if r.Tag != "" {
			row["tag"] = string(r.Tag)
		}
		row["action"], row["forward_to"], row["source"] = string(r.Action), strings.Join(r.Targets, " "), classify.SourceManual
		merged++
	}
	slices.SortFunc(p.Rows, func(a, b classify.Row) int { return strings.Compare(a.Alias(), b.Alias()) })
	return merged, added
}
