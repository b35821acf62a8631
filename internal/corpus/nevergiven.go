package corpus

import (
	"math"
	"strings"
)

// guessedLocals are the role names spammers try at any domain.
var guessedLocals = []string{"admin", "webmaster", "test", "office", "contact", "hello", "marketing", "postmaster2",
	"root", "web", "shop", "mail", "newsletter", "kontakt", "service"}

// neverGivenCount is how many never-given aliases the corpus holds: 6 to 12
// for 2000 messages, scaled by (Messages/2000)^0.4, and at least 4 from 500
// messages on.
func (g *generator) neverGivenCount() int {
	m := g.o.Messages
	if m <= 0 {
		return 0
	}
	n := int(math.Round(float64(between(g.r, 6, 12)) * math.Pow(float64(m)/2000, 0.4)))
	if m >= 500 {
		n = max(n, 4)
	}
	return n
}

// randomLocal is a random-looking local part as address harvesters and
// dictionary attacks produce: k7xq2m, jsmith.87, a1b2c3d.
func (g *generator) randomLocal() string {
	r := g.r
	switch r.IntN(4) {
	case 0:
		return fill(r, "?#??#?")
	case 1:
		return pick(r, firstNames["en"]).ascii[:1] + pick(r, lastNames["en"]).ascii + "." + fill(r, "##")
	case 2:
		return fill(r, "?#?#?#?")
	}
	return pick(r, firstNames["en"]).ascii + fill(r, "##")
}

// addNeverGiven creates the addresses nobody was ever given: role names the
// pool does not use as real aliases, and random strings. They are not in
// the pool: only planNeverGiven writes to them.
func (g *generator) addNeverGiven() {
	r := g.r
	n := g.neverGivenCount()
	var roles []string
	for _, l := range shuffled(r, guessedLocals) {
		if g.byAddr[strings.ToLower(l+"@"+g.env.domain)] == nil {
			roles = append(roles, l)
		}
	}
	nRoles := min((n+1)/2, len(roles))
	for tries := 0; len(g.never) < n && tries < 10*n+20; tries++ {
		l := ""
		if len(g.never) < nRoles {
			l = roles[len(g.never)]
		} else {
			l = g.randomLocal()
		}
		a := &aliasInfo{local: l, tag: "disposable", cat: catNeverGiven, retired: g.end}
		if g.register(a) {
			g.never = append(g.never, a)
		}
	}
}

// planNeverGiven writes the spam to the never-given aliases, at most budget
// messages, and returns how many it wrote. Each alias gets 2 to 8 messages,
// each from a sender domain of its own, without a DKIM signature of the
// sender; about 70% go to Junk, the rest to INBOX.
func (g *generator) planNeverGiven(budget int) int {
	r := g.r
	used := 0
	junk := r.Float64()
	for _, a := range g.never {
		if budget-used < 2 {
			break
		}
		k := min(between(r, 2, 8), budget-used)
		first := daytime(r, randTime(r, yearStart(2013), g.end.AddDate(0, -2, 0)))
		a.created = first
		doms := map[string]bool{}
		for i := range k {
			t := first
			if i > 0 {
				t = daytime(r, randTime(r, first, g.end))
			}
			dom := g.spamDomain()
			for doms[dom] {
				dom = g.spamDomain()
			}
			doms[dom] = true
			folder := folderInbox
			if junk += 0.7; junk >= 1 {
				junk--
				folder = folderJunk
			}
			s := g.spamSpec(a, t, dom)
			s.noDKIM = true
			g.apply(s, uopt{folder: folder})
		}
		used += k
	}
	return used
}
