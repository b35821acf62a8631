package classify

import (
	"fmt"
	"strings"
)

// SplitBy says how push files messages: in their original folders, or by
// the alias of the plan they were sent to.
type SplitBy string

// The split modes.
const (
	SplitNone  SplitBy = ""      // the original folders
	SplitAlias SplitBy = "alias" // Aliases/<local part>
	SplitTag   SplitBy = "tag"   // Personal/<local part>, Business/…, Disposable/… by the plan's tag
)

// ParseSplitBy returns the split mode s names: "" (none), "alias" or "tag".
func ParseSplitBy(s string) (SplitBy, error) {
	switch by := SplitBy(s); by {
	case SplitNone, SplitAlias, SplitTag:
		return by, nil
	}
	return "", fmt.Errorf("split by %q: want alias or tag", s)
}

// Router files messages by the alias of the plan they were sent to.
type Router struct {
	by      SplitBy
	aliases map[string]Row // by full address
	user    *User
}

// NewRouter returns the router that files messages by the plan's aliases
// as by says; nil for SplitNone.
func NewRouter(by SplitBy, plan *Plan) (*Router, error) {
	if _, err := ParseSplitBy(string(by)); err != nil {
		return nil, err
	}
	if by == SplitNone {
		return nil, nil
	}
	if plan == nil {
		return nil, fmt.Errorf("split by %s needs a plan", by)
	}
	r := &Router{by: by, aliases: map[string]Row{}, user: &User{Domains: map[string]bool{}}}
	for _, row := range plan.Rows {
		a := strings.ToLower(row.Alias())
		r.aliases[a] = row
		if d := Domain(a); d != "" {
			r.user.Domains[d] = true
		}
	}
	return r, nil
}

// Folder returns the archive-style folder for a message whose raw header
// is head, or "" when it was sent to no alias of the plan (it keeps its
// folder). It is imapsync.PushOptions.Route of push --split-by.
func (r *Router) Folder(head []byte) string {
	fields := ParseHeader(head)
	u := *r.user
	for range 2 {
		rc := u.Recipient(fields)
		for _, addr := range rc.Addrs {
			base, _ := SplitSubaddress(strings.ToLower(addr))
			row, ok := r.aliases[base]
			if !ok {
				continue
			}
			local, _, _ := strings.Cut(base, "@")
			local = strings.ReplaceAll(local, "/", "_")
			if r.by == SplitAlias {
				return "Aliases/" + local
			}
			tag := strings.ToLower(row["tag"])
			if tag == "" {
				return "Aliases/" + local
			}
			return strings.ToUpper(tag[:1]) + tag[1:] + "/" + local
		}
		// A Delivered-To naming the final mailbox (not an alias): ask again
		// with it known, so that the original recipient further down counts.
		if rc.By != ByDeliveredTo || len(rc.Addrs) == 0 || u.FinalMailbox != "" {
			break
		}
		u.FinalMailbox = strings.ToLower(rc.Addrs[0])
	}
	return ""
}
