package classify

import (
	"fmt"
	"path"
	"sort"
	"strings"
	"time"
	"unicode"
)

// Tag says what kind of address an alias is.
type Tag string

// The three tags of the plan.
const (
	TagPersonal   Tag = "personal"
	TagBusiness   Tag = "business"
	TagDisposable Tag = "disposable"
)

// Action says what the new host does with mail to an alias.
type Action string

// The two actions of the plan.
const (
	ActionForward Action = "forward" // deliver to the alias's forward_to addresses
	ActionBlock   Action = "block"   // refuse with 550 where the target can
)

// Rule overrides the heuristics for aliases matching Pattern, a shell glob
// (path.Match) against the full address or its local part.
type Rule struct {
	Pattern   string `toml:"pattern"`
	Tag       Tag    `toml:"tag"`
	Action    Action `toml:"action"`
	ForwardTo string `toml:"forward_to"`
}

// Config is the user's knowledge, from the config file and flags.
type Config struct {
	MainMailbox     string         // forward_to for personal and disposable aliases
	BusinessMailbox string         // forward_to for business aliases; MainMailbox when empty
	Known           map[string]Tag // alias (full address or local part) → tag
	Rules           []Rule         // first match wins
}

// Verdict is the tagger's proposal for one alias.
type Verdict struct {
	Tag        Tag
	Action     Action
	ForwardTo  string
	Confidence float64  // 0..1
	Reasons    []string // short, true statements a person can check
	Service    string   // the organisation the alias was given to, if any
	// LeakSince is when organisations unrelated to the service started to
	// write to the alias (after its first 30 days), zero if none did; a sign
	// the address was sold or stolen. Unrelated counts those senders.
	LeakSince time.Time
	Unrelated int
}

// Classify proposes a tag, an action and forward_to for one alias.
func (c *Config) Classify(s *Stats) Verdict {
	local, _, _ := strings.Cut(s.Alias, "@")
	v := Verdict{Service: s.service()}
	for _, r := range c.Rules {
		if m, _ := path.Match(r.Pattern, s.Alias); m || matchLocal(r.Pattern, local) {
			v.Tag, v.Confidence = r.Tag, 1
			v.Reasons = []string{fmt.Sprintf("matches rule %q in the config", r.Pattern)}
			v.Action, v.ForwardTo = r.Action, r.ForwardTo
			return c.finishFor(s, v)
		}
	}
	if t, ok := c.Known[s.Alias]; ok {
		return c.finishFor(s, Verdict{Tag: t, Confidence: 1, Reasons: []string{"named in the config"}, Service: v.Service})
	}
	if t, ok := c.Known[local]; ok {
		return c.finishFor(s, Verdict{Tag: t, Confidence: 1, Reasons: []string{"named in the config"}, Service: v.Service})
	}

	recv := max(s.Received, 1)
	share := func(n int) float64 { return float64(n) / float64(recv) }
	stem := nameStem(local)

	// postmaster@ and abuse@ must reach a person (RFC 5321 §4.5.1, RFC
	// 2142), whatever they receive.
	if mandatoryRoles[local] {
		v.Tag, v.Confidence, v.Service = TagBusiness, 0.95, ""
		v.Reasons = append(v.Reasons, fmt.Sprintf("%s@ must reach someone (RFC 5321 §4.5.1, RFC 2142): always forwarded", local))
		return c.finishFor(s, v)
	}

	// Never given out: only strangers ever wrote to it.
	if ok, why := s.neverGivenOut(stem); ok {
		v.Tag, v.Action, v.Confidence, v.Service = TagDisposable, ActionBlock, 0.85, ""
		if share(s.Junk) >= 0.5 {
			v.Confidence = 0.95
		}
		v.Reasons = append([]string{ReasonNeverGiven}, why...)
		return c.finishFor(s, v)
	}

	// Role addresses are business when someone really corresponds there.
	if roleNames[stem] || roleNames[local] {
		if ok, why := s.correspondence(); ok {
			v.Tag, v.Confidence = TagBusiness, 0.9
			v.Reasons = append(v.Reasons, fmt.Sprintf("%q is a role name with real correspondence: %s", stem, why))
			return c.finishFor(s, v)
		}
	}

	// Personal: the user writes from it to people, or people write to it.
	people := share(s.Freemail + s.Clients - min(s.Freemail, s.Clients)/2)
	bulk := share(s.Bulk)
	fromProvider := v.Service != "" && nameMatches(stem, v.Service) // yandex@ mailed by yandex.ru itself
	if !fromProvider && (s.SentToPeople > 0 && bulk < 0.3 && (s.Freemail > 0 || s.SentToFree > 0 || s.Received == 0) ||
		s.Received >= 2 && share(s.Freemail) >= 0.5 && bulk < 0.2 && (s.Replies > 0 || s.Clients > 0)) {
		v.Tag = TagPersonal
		v.Confidence = 0.6 + 0.4*min(1, people)
		if s.SentToPeople > 0 {
			v.Reasons = append(v.Reasons, fmt.Sprintf("you sent %d messages from it to people", s.SentToPeople))
		}
		if s.Freemail > 0 {
			v.Reasons = append(v.Reasons, fmt.Sprintf("%d of %d messages from people at freemail providers", s.Freemail, s.Received))
		}
		if s.Replies > 0 {
			v.Reasons = append(v.Reasons, fmt.Sprintf("%d replies in conversations", s.Replies))
		}
		if s.Bulk == 0 && s.Received > 0 {
			v.Reasons = append(v.Reasons, "no bulk mail")
		}
		return c.finishFor(s, v)
	}

	// Business: a service people use for work that the user corresponds
	// with from the alias, or organisations the user answers. A service the
	// user only signed up with is disposable, however businesslike.
	if (businessServices[stem] || businessServices[v.Service]) && s.Sent > 0 {
		name := stem
		if !businessServices[stem] {
			name = v.Service
		}
		v.Tag, v.Confidence = TagBusiness, 0.8
		v.Reasons = append(v.Reasons, fmt.Sprintf("%s is a business service (hosting, developer tools, finance, telecoms or shipping) and you wrote from it %d times", name, s.Sent))
		if v.Service != "" {
			v.Reasons = append(v.Reasons, fmt.Sprintf("%d of %d messages from %s", s.Services[v.Service], s.Received, v.Service))
		}
		return c.finishFor(s, v)
	}
	if s.SentToPeople > 0 && s.Freemail*2 < recv {
		v.Tag, v.Confidence = TagBusiness, 0.7
		v.Reasons = append(v.Reasons, fmt.Sprintf("you replied from it %d times to organisations", s.SentToPeople))
		return c.finishFor(s, v)
	}

	// Disposable: given to one website.
	v.Tag = TagDisposable
	matched := v.Service != "" && nameMatches(stem, v.Service)
	switch {
	case matched:
		v.Confidence = 0.9
		v.Reasons = append(v.Reasons, fmt.Sprintf("%d of %d messages from %s, which matches the name", s.Services[v.Service], s.Received, v.Service))
	case v.Service != "":
		v.Confidence = 0.75
		v.Reasons = append(v.Reasons, fmt.Sprintf("%d of %d messages from %s", s.Services[v.Service], s.Received, v.Service))
	default:
		v.Confidence = 0.5
		v.Reasons = append(v.Reasons, "no personal or business signal")
	}
	if s.Signup > 0 {
		v.Reasons = append(v.Reasons, fmt.Sprintf("a signup: %d welcome or confirm-your-address messages", s.Signup))
	}
	if businessServices[stem] || businessServices[v.Service] {
		v.Reasons = append(v.Reasons, "a business tool, but you never wrote from the alias: an account, not correspondence")
	}
	if s.Bulk > 0 {
		v.Reasons = append(v.Reasons, fmt.Sprintf("%d of %d messages are bulk mail", s.Bulk, s.Received))
	}
	if s.Sent == 0 {
		v.Reasons = append(v.Reasons, "never sent from")
	}
	return c.finishFor(s, v)
}

// finishFor fills in the action and forward_to, and the leak signal of an
// alias given to one service (not personal or role aliases, whose many
// correspondents are expected).
func (c *Config) finishFor(s *Stats, v Verdict) Verdict {
	if s != nil && (v.Tag == TagDisposable || v.Tag == TagBusiness && !isRole(s.Alias)) {
		v.LeakSince, v.Unrelated = s.leakSignal(v.Service)
	}
	if v.Action == "" {
		v.Action = ActionForward
	}
	if v.Action == ActionForward && v.ForwardTo == "" {
		v.ForwardTo = c.MainMailbox
		if v.Tag == TagBusiness && c.BusinessMailbox != "" {
			v.ForwardTo = c.BusinessMailbox
		}
	}
	if v.Action == ActionBlock {
		v.ForwardTo = ""
	}
	return v
}

// service returns the organisation that sends most of the alias's mail: the
// registrable domain seen in most messages (From, DKIM d=, Feedback-ID),
// if it sends at least a third of them.
func (s *Stats) service() string {
	type kv struct {
		d string
		n int
	}
	var l []kv
	for d, n := range s.Services {
		l = append(l, kv{d, n})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].n > l[j].n || l[i].n == l[j].n && l[i].d < l[j].d })
	local, _, _ := strings.Cut(s.Alias, "@")
	stem := nameStem(local)
	// A domain that matches the name is the service, however much else
	// (spam, after a leak) the alias gets.
	for _, e := range l {
		if nameMatches(stem, e.d) {
			return e.d
		}
	}
	if len(l) > 0 && l[0].n*3 >= max(s.Received, 1) && s.Received > 0 {
		return l[0].d
	}
	return ""
}

// onboarding is how long after an alias's first message its service may
// still bring in related senders (a shop's payment provider, a newsletter
// platform) without it counting as a leak.
const onboarding = 30 * 24 * time.Hour

// leakSignal returns when senders unrelated to service started writing to
// the alias, and how many there are: not the service, not matching the
// alias's name, not a major correspondent (a third of its mail), not a
// freemail sender (people), first seen after the onboarding period. It
// needs at least two such senders; personal aliases have none by nature.
func (s *Stats) leakSignal(service string) (time.Time, int) {
	if service == "" || s.First.IsZero() {
		return time.Time{}, 0
	}
	local, _, _ := strings.Cut(s.Alias, "@")
	stem := nameStem(local)
	var since time.Time
	n := 0
	for d, snd := range s.Senders {
		if d == service || nameMatches(stem, d) || freemail[d] || s.Services[d] >= 2 && s.Services[d]*3 >= max(s.Received, 1) ||
			snd.First.IsZero() || snd.First.Before(s.First.Add(onboarding)) || snd.Via[service] > 0 {
			continue // the service itself, or mail it relayed or signed (a list, a partner)
		}
		n++
		if since.IsZero() || snd.First.Before(since) {
			since = snd.First
		}
	}
	if n < 2 {
		return time.Time{}, 0
	}
	return since, n
}

func isRole(alias string) bool {
	local, _, _ := strings.Cut(alias, "@")
	return roleNames[nameStem(local)] || roleNames[local]
}

// anyNameMatch reports whether any organisation that mailed the alias
// matches its name.
func (s *Stats) anyNameMatch(stem string) bool {
	for d := range s.Services {
		if nameMatches(stem, d) {
			return true
		}
	}
	return false
}

// nameStem strips digits (a year: spotify2016), and a "shop-" style prefix,
// from a local part, and lower-cases it.
func nameStem(local string) string {
	local = strings.ToLower(local)
	if i := strings.IndexByte(local, '+'); i > 0 {
		local = local[:i]
	}
	s := strings.TrimRightFunc(local, unicode.IsDigit)
	if s == "" {
		return local
	}
	return s
}

// nameMatches reports whether an alias name and a domain refer to the same
// organisation: adobe ↔ adobe.com, db ↔ bahn.de is beyond it, shop-bluepeak ↔
// bluepeak.de, amazonuk ↔ amazon.co.uk.
func nameMatches(stem, domain string) bool {
	label := domain
	if i := strings.IndexByte(label, '.'); i > 0 {
		label = label[:i]
	}
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == '-' || r == '.' || r == '_' {
				return -1
			}
			return r
		}, s)
	}
	a, b := clean(stem), clean(label)
	if len(a) < 2 || len(b) < 2 {
		return false
	}
	for _, p := range []string{"shop", "store", "mail", "news"} {
		a = strings.TrimPrefix(a, p)
	}
	if len(a) < 2 {
		return false
	}
	if a == b {
		return true
	}
	// Containment (amazonuk ↔ amazon, bluepeak ↔ bluepeakstore) only for
	// names long enough not to hide in other words (ing ↔ duolingo).
	short, long := a, b
	if len(short) > len(long) {
		short, long = long, short
	}
	return len(short) >= 4 && strings.Contains(long, short)
}

func matchLocal(pattern, local string) bool {
	if strings.Contains(pattern, "@") {
		return false
	}
	m, _ := path.Match(pattern, local)
	return m
}

// Stem returns the part of an alias's local part that names its service:
// lower case, without a "+tag" or a trailing year ("spotify2016" → "spotify").
func Stem(local string) string { return nameStem(local) }

// NameMatches reports whether an alias stem and a domain name the same
// organisation (adobe ↔ adobe.com, shop-bluepeak ↔ bluepeak.de).
func NameMatches(stem, domain string) bool { return nameMatches(stem, domain) }

// ReasonNeverGiven is the first reason of an alias classify blocks because
// nobody was ever given it: only spam arrived.
const ReasonNeverGiven = "never given out: only spam"

// mandatoryRoles must be kept at every domain (RFC 5321 §4.5.1, RFC 2142).
var mandatoryRoles = set("postmaster", "abuse")

// neverGivenOut reports whether only strangers ever wrote to the alias: the
// user never sent from it, nobody replied in a conversation or wrote with a
// mail client, no sender domain wrote twice, no organisation signed its
// own mail, welcomed or confirmed the address, and none matches the
// alias's name. With fewer than three different senders the mail must
// also be mostly in Junk. It returns the reasons.
func (s *Stats) neverGivenOut(stem string) (bool, []string) {
	if s.Received == 0 || s.Sent > 0 || s.Replies > 0 || s.Signed > 0 || s.Signup > 0 || s.anyNameMatch(stem) {
		return false, nil
	}
	for _, snd := range s.Senders {
		if snd.Messages > 1 {
			return false, nil
		}
	}
	if len(s.Senders) < s.Received {
		return false, nil // senders not told apart (no From, or over the cap)
	}
	junk := s.Junk*2 >= s.Received
	if len(s.Senders) < 3 && !junk {
		return false, nil
	}
	why := []string{fmt.Sprintf("%d messages from %d different senders, none of them twice, none answered", s.Received, len(s.Senders))}
	if s.Junk > 0 {
		why = append(why, fmt.Sprintf("%d of %d in Junk", s.Junk, s.Received))
	}
	why = append(why, "never sent from")
	return true, why
}

// correspondence reports whether someone really corresponds at the alias:
// the user wrote from it, or people answered in conversations or wrote with
// a mail client, or an organisation wrote more than once without bulk
// headers. It says which.
func (s *Stats) correspondence() (bool, string) {
	switch {
	case s.Sent > 0:
		return true, fmt.Sprintf("you wrote from it %d times", s.Sent)
	case s.Replies > 0:
		return true, fmt.Sprintf("%d replies in conversations", s.Replies)
	}
	// A mail client's header alone is no proof (spam fakes them): the
	// sender must also have written more than once.
	for _, snd := range s.TopSenders(1) {
		if snd.Messages >= 2 && s.Clients > 0 {
			return true, fmt.Sprintf("%d messages from %s, %d written with a mail client", snd.Messages, snd.Domain, s.Clients)
		}
		if snd.Messages >= 2 && s.Bulk*2 < s.Received {
			return true, fmt.Sprintf("%d messages from %s, mostly not bulk mail", snd.Messages, snd.Domain)
		}
	}
	return false, ""
}
