package corpus

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestBreachTable(t *testing.T) {
	b := Breaches()
	if len(b) != 13 {
		t.Fatalf("%d breaches, want 13", len(b))
	}
	if !slices.IsSortedFunc(b, func(x, y Breach) int { return strings.Compare(x.Name, y.Name) }) {
		t.Error("breaches not sorted by Name")
	}
	want := map[string]string{"Adobe": "adobe.com 2013-10-04", "LinkedIn": "linkedin.com 2012-05-05",
		"Dropbox": "dropbox.com 2012-07-01", "Canva": "canva.com 2019-05-24", "Tumblr": "tumblr.com 2013-02-28",
		"Deezer": "deezer.com 2019-04-22", "Kickstarter": "kickstarter.com 2014-02-16",
		"Patreon": "patreon.com 2015-10-01", "Trello": "trello.com 2024-01-16", "Duolingo": "duolingo.com 2023-01-24",
		"Twitter200M": "twitter.com 2021-01-01", "Dailymotion": "dailymotion.com 2016-10-20", "Bitly": "bitly.com 2014-05-08"}
	for _, x := range b {
		if got := x.Domain + " " + x.Date.Format(time.DateOnly); want[x.Name] != got {
			t.Errorf("%s: %s, want %q", x.Name, got, want[x.Name])
		}
		if x.Date.Location() != time.UTC || !x.Date.Equal(x.Date.Truncate(24*time.Hour)) {
			t.Errorf("%s: date %v is not UTC midnight", x.Name, x.Date)
		}
		if !slices.ContainsFunc(services, func(s service) bool { return s.domain == x.Domain }) {
			t.Errorf("%s: no service for %s", x.Name, x.Domain)
		}
	}
	b[0].Name = "changed"
	if Breaches()[0].Name == "changed" {
		t.Error("Breaches returns the table itself")
	}
}

// breachCorpus is the corpus of seed 1..5 with 2000 messages.
var breachCorpus = sync.OnceValue(func() []*Corpus {
	var out []*Corpus
	for seed := int64(1); seed <= 5; seed++ {
		out = append(out, Generate(&Options{Seed: seed, Messages: 2000}))
	}
	return out
})

func TestBreaches(t *testing.T) {
	byName := map[string]Breach{}
	for _, b := range Breaches() {
		byName[b.Name] = b
	}
	for i, c := range breachCorpus() {
		t.Run(fmt.Sprint("seed ", i+1), func(t *testing.T) {
			first := map[string]*Message{}
			spam := map[string][]time.Time{}
			fromSvc := map[string]int{}
			for _, m := range c.Messages {
				if m.Alias == "" {
					continue
				}
				if first[m.Alias] == nil {
					first[m.Alias] = m
				}
				switch m.Origin {
				case "spam":
					spam[m.Alias] = append(spam[m.Alias], m.Date)
				case "service":
					fromSvc[m.Alias]++
				}
			}
			breached := 0
			for _, a := range c.Aliases {
				f := first[a.Address]
				if f == nil {
					t.Errorf("%s: no message", a.Address)
					continue
				}
				isSvc := f.spec.alias.cat == catService
				if !isSvc && len(a.Breaches) > 0 {
					t.Errorf("%s alias %s has breaches %v", a.Tag, a.Address, a.Breaches)
				}
				if isSvc {
					if want := breachesOf(a.Service, f.Date); !slices.Equal(a.Breaches, want) {
						t.Errorf("%s: breaches %v, want %v from its first message on %v", a.Address, a.Breaches, want, f.Date)
					}
				}
				if !slices.IsSorted(a.Breaches) {
					t.Errorf("%s: breaches %v not sorted", a.Address, a.Breaches)
				}
				var earliest time.Time
				for _, n := range a.Breaches {
					b, ok := byName[n]
					if !ok || b.Domain != a.Service || !b.Date.After(f.Date) {
						t.Errorf("%s (service %s, first message %v): breach %s %+v", a.Address, a.Service, f.Date, n, b)
					}
					if earliest.IsZero() || b.Date.Before(earliest) {
						earliest = b.Date
					}
				}
				if len(a.Breaches) == 0 {
					continue
				}
				breached++
				if a.Leaked.IsZero() || a.Leaked.After(earliest.AddDate(0, 0, 91)) {
					t.Errorf("%s: breached on %v, leaked %v", a.Address, earliest, a.Leaked)
				}
				n := 0
				for _, d := range spam[a.Address] {
					if !d.Before(a.Leaked) {
						n++
					}
				}
				if n < 3 {
					t.Errorf("%s: %d spam messages after the leak on %v, want at least 3", a.Address, n, a.Leaked)
				}
			}
			if breached < 6 {
				t.Errorf("only %d breached aliases", breached)
			}
			// The before/after pairs.
			for _, name := range pairBreaches {
				b := byName[name]
				var before, after []string
				for _, a := range c.Aliases {
					local, _, _ := strings.Cut(a.Address, "@")
					sv := f0(first[a.Address]).svc
					if a.Service != b.Domain || sv == nil || len(local) != len(sv.alias)+4 || !strings.HasPrefix(local, sv.alias) ||
						local[len(sv.alias):] != itoa(first[a.Address].Date.Year()) || a.Tag != "disposable" || fromSvc[a.Address] < 4 {
						continue
					}
					switch {
					case first[a.Address].Date.Before(b.Date) && slices.Contains(a.Breaches, name):
						before = append(before, a.Address)
					case first[a.Address].Date.After(b.Date) && len(a.Breaches) == 0:
						after = append(after, a.Address)
					}
				}
				if len(before) == 0 || len(after) == 0 {
					t.Errorf("%s: aliases created before %v: %v, after: %v", name, b.Date, before, after)
				}
			}
		})
	}
}

// f0 returns the planned alias of m, or an empty one.
func f0(m *Message) *aliasInfo {
	if m == nil || m.spec.alias == nil {
		return &aliasInfo{}
	}
	return m.spec.alias
}

func TestWelcomeFirst(t *testing.T) {
	welcome := map[string]bool{}
	for k, l := range subjects {
		if strings.HasPrefix(k, "welcome/") {
			for _, s := range l {
				welcome[s] = true
			}
		}
	}
	for i, c := range append(slices.Clone(breachCorpus()), small()) {
		seen := map[*aliasInfo]bool{}
		for _, m := range c.Messages {
			a := m.spec.alias
			if a == nil || a.cat != catService {
				if m.spec.welcome {
					t.Errorf("corpus %d: welcome message to %s", i, m.Alias)
				}
				continue
			}
			if seen[a] {
				if m.spec.welcome {
					t.Errorf("corpus %d: second welcome message to %s", i, m.Alias)
				}
				if !m.Date.After(a.created) {
					t.Errorf("corpus %d: message to %s on %v, not after its creation on %v", i, m.Alias, m.Date, a.created)
				}
				continue
			}
			seen[a] = true
			tmpl := strings.ReplaceAll(m.spec.subject, a.svc.display, "{svc}")
			if !m.spec.welcome || m.Origin != "service" || !m.Date.Equal(a.created) || !welcome[tmpl] || m.Kind == kindHuge ||
				slices.Contains(oddKinds, m.Kind) {
				t.Errorf("corpus %d: first message to %s (created %v) is %s %q from %s on %v", i, m.Alias, a.created,
					m.Origin, m.spec.subject, m.spec.from.email, m.Date)
			}
			h := parse(t, m).Header
			if h.Get("Subject") == "" || !strings.Contains(h.Get("From"), a.svc.mailDom) {
				t.Errorf("corpus %d: welcome to %s has Subject %q, From %q", i, m.Alias, h.Get("Subject"), h.Get("From"))
			}
		}
		if len(seen) < 20 {
			t.Errorf("corpus %d: only %d service aliases", i, len(seen))
		}
	}
}
