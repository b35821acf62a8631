package relay

import (
	"cmp"
	"net/http"
	"slices"
	"sync"
	"time"
)

// MaxRefusalGroups bounds the groups GET /api/refusals keeps; when a new
// one comes, the group refused longest ago goes.
const MaxRefusalGroups = 200

// maxRefusalSenders is how many senders a group names (the latest).
const maxRefusalSenders = 5

// RefusalGroup is the refusals of one recipient for one reason since the
// relay started: what the log line "refused" says, counted. Rcpt is ""
// for a refusal before RCPT (MAIL FROM, rate).
type RefusalGroup struct {
	Rcpt    string    `json:"rcpt"`
	Reason  string    `json:"reason"`
	Reply   string    `json:"reply"`   // the latest reply code, e.g. "550 5.1.1"
	Count   int       `json:"count"`   // refusals in the group
	Senders int       `json:"senders"` // distinct senders seen (the null sender is "<>")
	From    []string  `json:"from"`    // the latest maxRefusalSenders senders, newest first
	First   time.Time `json:"first"`
	Last    time.Time `json:"last"`
}

// refusalLog keeps the relay's recent refusals in memory, grouped by
// recipient and reason, for the dashboard; it starts empty at each start.
type refusalLog struct {
	mu       sync.Mutex
	since    time.Time
	groups   map[[2]string]*RefusalGroup
	senders  map[[2]string]map[string]bool
	byReason map[string]int
}

func newRefusalLog(now time.Time) *refusalLog {
	return &refusalLog{since: now, groups: map[[2]string]*RefusalGroup{}, senders: map[[2]string]map[string]bool{}, byReason: map[string]int{}}
}

// add records one refusal.
func (l *refusalLog) add(now time.Time, from, rcpt, reason, reply string) {
	if from == "" {
		from = "<>"
	}
	k := [2]string{rcpt, reason}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.byReason[reason]++
	g := l.groups[k]
	if g == nil {
		if len(l.groups) >= MaxRefusalGroups {
			var oldest [2]string
			var t time.Time
			for gk, o := range l.groups {
				if t.IsZero() || o.Last.Before(t) {
					oldest, t = gk, o.Last
				}
			}
			delete(l.groups, oldest)
			delete(l.senders, oldest)
		}
		g = &RefusalGroup{Rcpt: rcpt, Reason: reason, First: now}
		l.groups[k], l.senders[k] = g, map[string]bool{}
	}
	g.Count++
	g.Last, g.Reply = now, reply
	if s := l.senders[k]; !s[from] && len(s) < 10*maxRefusalSenders {
		s[from] = true
		g.Senders = len(s)
	}
	g.From = slices.Insert(slices.DeleteFunc(g.From, func(f string) bool { return f == from }), 0, from)
	g.From = g.From[:min(len(g.From), maxRefusalSenders)]
}

// Refusals is the JSON of GET /api/refusals.
type Refusals struct {
	Since    time.Time      `json:"since"`     // when the relay started counting (its start)
	ByReason map[string]int `json:"by_reason"` // every refusal since, by reason
	Groups   []RefusalGroup `json:"groups"`    // latest first, at most MaxRefusalGroups
}

func (l *refusalLog) snapshot() Refusals {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := Refusals{Since: l.since.UTC(), ByReason: map[string]int{}, Groups: []RefusalGroup{}}
	for k, v := range l.byReason {
		out.ByReason[k] = v
	}
	for _, g := range l.groups {
		c := *g
		c.From = slices.Clone(g.From)
		c.First, c.Last = c.First.UTC(), c.Last.UTC()
		out.Groups = append(out.Groups, c)
	}
	slices.SortFunc(out.Groups, func(a, b RefusalGroup) int {
		return cmp.Or(b.Last.Compare(a.Last), cmp.Compare(a.Rcpt, b.Rcpt), cmp.Compare(a.Reason, b.Reason))
	})
	return out
}

func (r *Relay) apiRefusals(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, r.refusals.snapshot())
}
