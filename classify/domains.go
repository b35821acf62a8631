package classify

import (
	"fmt"
	"slices"
	"strings"
)

// DomainEvidence says why a domain is taken as the user's.
type DomainEvidence struct {
	Domain    string `json:"domain"`
	Delivered int    `json:"delivered"`     // messages whose delivery headers name an address at it
	Sent      int    `json:"sent"`          // messages in a Sent folder from an address at it
	Final     bool   `json:"final_mailbox"` // the final mailbox is at it
	Given     bool   `json:"given"`         // named with --domain
}

// String is the evidence as printed: "example.com (3,612 messages
// delivered, 40 sent from it, final mailbox)".
func (e DomainEvidence) String() string {
	var parts []string
	if e.Given {
		parts = append(parts, "given with --domain")
	}
	parts = append(parts, fmt.Sprintf("%s %s delivered", thousands(e.Delivered), plural(e.Delivered, "message", "messages")))
	if e.Sent > 0 {
		parts = append(parts, fmt.Sprintf("%s sent from it", thousands(e.Sent)))
	}
	if e.Final {
		parts = append(parts, "final mailbox")
	}
	return fmt.Sprintf("%s (%s)", e.Domain, strings.Join(parts, ", "))
}

// DomainError is returned by Build when the mail does not tell clearly
// which domains the aliases are at; the user must name them
// (Options.Domains).
type DomainError struct {
	Source     string
	Received   int              // received messages sampled
	Candidates []DomainEvidence // the strongest evidence seen, best first (up to 5)
}

func (e *DomainError) Error() string {
	msg := fmt.Sprintf("could not tell which domain your aliases are at from %s", e.Source)
	if len(e.Candidates) == 0 {
		msg += fmt.Sprintf(": none of %d sampled messages names its recipient in delivery headers (Delivered-To, X-Original-To, …)", e.Received)
	} else {
		var c []string
		for _, ev := range e.Candidates {
			c = append(c, ev.String())
		}
		msg += fmt.Sprintf(": of %d sampled messages the best evidence is only %s", e.Received, strings.Join(c, "; "))
	}
	return msg
}

// Thresholds of domain detection.
const (
	// minDelivered is the fewest delivered messages that make a domain the
	// user's.
	minDelivered = 3
	// A domain is taken with at least 1/minShareOfTop of the top domain's
	// deliveries (or when the user also sends from it, or it holds the
	// final mailbox).
	minShareOfTop = 10
	// The top domain must have delivered at least 1/minShareOfReceived of
	// the sampled received mail; otherwise the evidence is too weak.
	minShareOfReceived = 5
)

// domainTally counts the evidence of a detection sample.
type domainTally struct {
	received  int            // received messages that are not list mail
	delivered map[string]int // by domain
	sent      map[string]int // by domain
	finalTo   map[string]int // trusted Delivered-To addresses
}

func newDomainTally() *domainTally {
	return &domainTally{delivered: map[string]int{}, sent: map[string]int{}, finalTo: map[string]int{}}
}

// add counts one message's evidence (the caller holds any lock).
func (t *domainTally) add(role Role, fields []Field) {
	if role == RoleDrafts {
		return
	}
	if role == RoleSent {
		for _, f := range fields {
			if f.Is("From") {
				if a := Addresses(f.Value); len(a) > 0 {
					t.sent[Domain(a[0])]++
				}
				break
			}
		}
		return
	}
	first := len(fields)
	list := false
	for i, f := range fields {
		if f.Is("Received") && first == len(fields) {
			first = i
		}
		if f.Is("List-Id") {
			list = true
		}
	}
	if list {
		return // the list's headers, not the user's host, may name the recipient
	}
	t.received++
	doms := map[string]bool{}
	for _, f := range fields[:first] {
		switch {
		case f.Is("Delivered-To"):
			for _, a := range Addresses(f.Value) {
				t.finalTo[a]++
				doms[Domain(a)] = true
			}
		case isOriginalField(f):
			for _, a := range Addresses(f.Value) {
				doms[Domain(a)] = true
			}
		}
	}
	if first < len(fields) {
		if m := receivedFor.FindStringSubmatch(fields[first].Value); m != nil {
			for _, a := range Addresses(m[1]) {
				doms[Domain(a)] = true
			}
		}
	}
	for d := range doms {
		if d != "" {
			t.delivered[d]++
		}
	}
}

func isOriginalField(f Field) bool {
	for _, n := range originalFields {
		if f.Is(n) {
			return true
		}
	}
	return false
}

// finalMailbox is the trusted Delivered-To of most messages that have one
// (at least three), or "".
func (t *domainTally) finalMailbox() string {
	best, count, total := "", 0, 0
	for a, c := range t.finalTo {
		total += c
		if c > count || c == count && a < best {
			best, count = a, c
		}
	}
	if count*2 > total && count >= minDelivered {
		return best
	}
	return ""
}

// decide returns the user's domains with their evidence, best first, or a
// *DomainError when the evidence is weak.
func (t *domainTally) decide(src, final string) ([]DomainEvidence, error) {
	fd := Domain(final)
	var all []DomainEvidence
	for d, n := range t.delivered {
		if freemail[d] || !strings.Contains(d, ".") {
			continue // a freemail provider is nobody's catch-all domain
		}
		all = append(all, DomainEvidence{Domain: d, Delivered: n, Sent: t.sent[d], Final: d == fd})
	}
	slices.SortFunc(all, func(a, b DomainEvidence) int {
		if a.Delivered != b.Delivered {
			return b.Delivered - a.Delivered
		}
		return strings.Compare(a.Domain, b.Domain)
	})
	if len(all) == 0 || all[0].Delivered < minDelivered || all[0].Delivered*minShareOfReceived < t.received {
		return nil, &DomainError{Source: src, Received: t.received, Candidates: all[:min(5, len(all))]}
	}
	top := all[0].Delivered
	var out []DomainEvidence
	for _, e := range all {
		if e.Delivered >= minDelivered && (e.Delivered*minShareOfTop >= top || e.Sent >= 2 || e.Final) {
			out = append(out, e)
		}
	}
	return out, nil
}

func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
