package corpus

import (
	"sort"
	"strings"
	"time"
)

// Breach is one known data breach (public facts as listed by Have I Been Pwned).
type Breach struct {
	Name   string    `json:"name"`   // HIBP's Name, e.g. "Adobe"
	Domain string    `json:"domain"` // registrable domain, e.g. "adobe.com"
	Date   time.Time `json:"date"`   // BreachDate (UTC midnight)
}

// breachTable lists the breaches, one per line: Name Domain BreachDate.
const breachTable = `
Adobe adobe.com 2013-10-04
LinkedIn linkedin.com 2012-05-05
Dropbox dropbox.com 2012-07-01
Canva canva.com 2019-05-24
Tumblr tumblr.com 2013-02-28
Deezer deezer.com 2019-04-22
Kickstarter kickstarter.com 2014-02-16
Patreon patreon.com 2015-10-01
Trello trello.com 2024-01-16
Duolingo duolingo.com 2023-01-24
Twitter200M twitter.com 2021-01-01
Dailymotion dailymotion.com 2016-10-20
Bitly bitly.com 2014-05-08
`

// breaches is breachTable parsed and sorted by Name.
var breaches = parseBreaches(breachTable)

func parseBreaches(table string) []Breach {
	var out []Breach
	for line := range strings.SplitSeq(strings.TrimSpace(table), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			panic("corpus: bad breach line: " + line)
		}
		d, err := time.Parse(time.DateOnly, f[2])
		if err != nil {
			panic("corpus: bad breach date: " + line)
		}
		out = append(out, Breach{Name: f[0], Domain: f[1], Date: d.UTC()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Breaches returns the breach table the corpus uses, sorted by Name.
func Breaches() []Breach {
	out := make([]Breach, len(breaches))
	copy(out, breaches)
	return out
}

// breachesOf returns the Names of the breaches of service domain svc that
// happened after created, sorted; nil if none.
func breachesOf(svc string, created time.Time) []string {
	var out []string
	if svc == "" {
		return nil
	}
	for _, b := range breaches {
		if b.Domain == svc && b.Date.After(created) {
			out = append(out, b.Name)
		}
	}
	return out
}

// firstBreach returns the earliest breach of svc after created.
func firstBreach(svc string, created time.Time) (Breach, bool) {
	var first Breach
	ok := false
	for _, b := range breaches {
		if b.Domain == svc && b.Date.After(created) && (!ok || b.Date.Before(first.Date)) {
			first, ok = b, true
		}
	}
	return first, ok
}

// breachByName returns the breach called name.
func breachByName(name string) Breach {
	for _, b := range breaches {
		if b.Name == name {
			return b
		}
	}
	panic("corpus: no breach " + name)
}

// pairBreaches are the breaches for which the corpus always holds a
// year-suffixed alias of the service created before the breach and another
// created after it.
var pairBreaches = []string{"Adobe", "Canva", "Dailymotion"}
