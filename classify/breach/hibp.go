// Package breach decides which aliases of a plan were exposed in a data
// breach, from Have I Been Pwned data (haveibeenpwned.com, CC BY 4.0), and
// from the leak signal classify records.
//
// # Data
//
// Offline (the default) it uses the public list of breaches, the key-free
// GET /api/v3/breaches, which `catchall breach update` downloads and caches
// (or a copy given with --breaches). Each breach names the Domain of the
// breached site and its BreachDate. Online, with an API key, it asks HIBP
// for each alias (GET /breachedaccount/{address}) or, better, for the whole
// domain at once (GET /breacheddomain/{domain}, for a domain verified in the
// HIBP dashboard), at the rate the subscription allows (GET
// /subscription/status), caching answers on disk.
//
// # Verdicts
//
//   - breached: a named breach hit the alias. Offline that means the
//     breach's domain is the alias's service (registrable domain, or the
//     alias's name: adobe@ ↔ adobe.com) and the alias existed before the
//     BreachDate; online, HIBP lists the address in the breach.
//   - leaked: no named breach, but organisations unrelated to the alias's
//     service started writing to it after its first month (the leak signal
//     of classify: leak_since, unrelated_senders).
//   - aggregate: only in spam lists, stealer logs or breaches HIBP marks
//     fabricated, retired or unverified.
//   - clean: none of these.
//
// A breached or leaked disposable alias is switched to action block unless
// the user pinned the row (source manual). Personal and business aliases are
// flagged, never blocked automatically.
package breach

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Attribution must accompany any output that shows HIBP data.
const Attribution = "Breach data: Have I Been Pwned (haveibeenpwned.com), CC BY 4.0"

// Breach is one breach as HIBP's API describes it. Absent and null fields
// stay at their zero values.
type Breach struct {
	Name               string   `json:"Name"`
	Title              string   `json:"Title"`
	Domain             string   `json:"Domain"` // may be "" (spam lists, combolists)
	BreachDate         string   `json:"BreachDate"`
	AddedDate          string   `json:"AddedDate"`
	ModifiedDate       string   `json:"ModifiedDate"`
	PwnCount           int64    `json:"PwnCount"`
	DataClasses        []string `json:"DataClasses"`
	IsVerified         bool     `json:"IsVerified"`
	IsFabricated       bool     `json:"IsFabricated"`
	IsSensitive        bool     `json:"IsSensitive"`
	IsRetired          bool     `json:"IsRetired"`
	IsSpamList         bool     `json:"IsSpamList"`
	IsMalware          bool     `json:"IsMalware"`
	IsSubscriptionFree bool     `json:"IsSubscriptionFree"`
	IsStealerLog       bool     `json:"IsStealerLog"`
	LogoPath           string   `json:"LogoPath"`
}

// Date returns the BreachDate, zero if it cannot be read.
func (b Breach) Date() time.Time { return parseDate(b.BreachDate) }

// Weak says why a breach counts for less, "" if it does not: HIBP marks it
// as a spam list, a stealer log, fabricated, retired or unverified.
func (b Breach) Weak() string {
	switch {
	case b.IsSpamList:
		return "spam list"
	case b.IsStealerLog:
		return "stealer log"
	case b.IsFabricated:
		return "fabricated"
	case b.IsRetired:
		return "retired"
	case !b.IsVerified:
		return "unverified"
	}
	return ""
}

// parseDate reads the dates HIBP uses: "2013-10-04", "2013-12-04T00:00:00Z"
// and the same without the zone.
func parseDate(s string) time.Time {
	s = strings.TrimSpace(s)
	for _, layout := range []string{"2006-01-02", time.RFC3339, "2006-01-02T15:04:05", "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// ErrBadList is wrapped by ParseBreaches errors.
var ErrBadList = errors.New("not a breach list")

// ParseBreaches reads a breach list in the shape of GET /api/v3/breaches (a
// JSON array of breach objects). Entries without a Name are dropped.
func ParseBreaches(data []byte) ([]Breach, error) {
	var list []Breach
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadList, err)
	}
	out := list[:0]
	for _, b := range list {
		if strings.TrimSpace(b.Name) != "" {
			b.Domain = strings.ToLower(strings.TrimSpace(b.Domain))
			out = append(out, b)
		}
	}
	return out, nil
}
