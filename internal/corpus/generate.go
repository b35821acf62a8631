package corpus

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"
)

// category is the broad kind of an alias.
type category int

const (
	catPersonal category = iota
	catRole
	catService
	catList
	catNeverGiven // guessed by spammers, never given to anyone
)

// aliasInfo is an alias with everything needed to write mail to it.
type aliasInfo struct {
	addr      string // lower-case full address
	local     string
	header    string // the address as senders write it (case may differ)
	tag       string
	service   string // ground-truth Service
	cat       category
	svc       *service // catService only
	weight    float64
	created   time.Time
	retired   time.Time
	leaked    time.Time // zero if never
	contacts  []*person
	fromLocal string  // catService: local part of the From address
	mailer    *mailer // catService: how the service sends
	dkimDom   string  // catService: DKIM d= domain
	hadSpam   bool
	pair      bool // catService: one of a breach's before/after pair (see pairBreaches)
	breached  bool // catService: some breach of its service happened after created
	welcomed  bool // catService: its welcome message (at created) is planned
	leakSpam  int  // spam planned at or after leaked
	fromSvc   int  // messages planned from the service
	sent      int  // messages planned as sent from the alias
	// corresponded marks a catService alias of a business service from which
	// the user wrote to people at the service (its truth is "business");
	// tickets is how many messages he sent them, ticketed whether that thread
	// is planned.
	corresponded bool
	tickets      int
	ticketed     bool
	list         *mailingList // catList only
}

// person is someone who writes mail.
type person struct {
	disp   string // display name
	first  string // first name, for greetings and signatures
	addr   string
	lang   string
	mailer *mailer
	client string // mail client identification header line, "" for webmail
	zone   zone
	org    string // company name for business contacts
}

// env is what every spec shares.
type env struct {
	domain string
	final  string
}

// generator holds the state of one Generate call.
type generator struct {
	o      Options
	r      *rand.Rand
	env    *env
	pool   []*aliasInfo
	byAddr map[string]*aliasInfo
	active []*aliasInfo
	cum    []float64
	specs  []*spec
	ids    map[string]bool
	start  time.Time
	end    time.Time
	seq    int
	never  []*aliasInfo // catNeverGiven aliases, not in pool or active
	old    oldAccount   // the user's old freemail account (forwarded-in mail)
}

func newGenerator(o Options) *generator {
	return &generator{
		o:      o,
		r:      newRand(uint64(o.Seed), 0x9e3779b97f4a7c15),
		env:    &env{domain: o.Domain, final: strings.ToLower(o.FinalMailbox)},
		byAddr: map[string]*aliasInfo{},
		ids:    map[string]bool{},
		start:  time.Date(2012, 1, 1, 8, 0, 0, 0, locCET),
		end:    time.Date(2025, 10, 31, 22, 0, 0, 0, locCET),
	}
}

func yearStart(y int) time.Time { return time.Date(y, 1, 1, 0, 0, 0, 0, locCET) }

// ---------------------------------------------------------------- people

func (g *generator) randLang() string {
	x := g.r.Float64()
	switch {
	case x < 0.5:
		return "de"
	case x < 0.8:
		return "en"
	case x < 0.88:
		return "fr"
	case x < 0.95:
		return "ru"
	}
	return "ja"
}

// newPerson makes a private person of the given locale with a freemail address.
func (g *generator) newPerson(lang, last string) *person {
	r := g.r
	f := pick(r, firstNames[lang])
	l := pick(r, lastNames[lang])
	if last != "" {
		l = name{last, strings.ToLower(translit(last))}
	}
	dom := pick(r, freemail[lang])
	var local string
	switch r.IntN(6) {
	case 0:
		local = f.ascii + l.ascii
	case 1:
		local = f.ascii[:1] + "." + l.ascii
	case 2:
		local = f.ascii + "_" + l.ascii + fill(r, "##")
	case 3:
		local = f.ascii + "." + l.ascii + itoa(between(r, 60, 99))
	default:
		local = f.ascii + "." + l.ascii
	}
	local = strings.ReplaceAll(local, " ", "")
	disp := f.disp + " " + l.disp
	if lang == "ja" {
		if chance(r, 0.5) {
			disp = l.disp + " " + f.disp
		} else {
			disp = upperFirst(f.ascii) + " " + upperFirst(l.ascii)
		}
	}
	if chance(r, 0.08) {
		disp = "" // bare address
	}
	p := &person{disp: disp, first: f.disp, addr: local + "@" + dom, lang: lang,
		mailer: mailers[freemailMailer[dom]], zone: langZone(lang)}
	if lang == "ja" {
		p.first = l.disp
	}
	if p.mailer.key != "google" && p.mailer.key != "webde" && p.mailer.key != "gmx" && chance(r, 0.6) {
		p.client = pick(r, clientHeaders)
	}
	return p
}

// newCompany returns a company name and domain.
func (g *generator) newCompany() (string, string) {
	r := g.r
	w := pick(r, companyWords)
	k := pick(r, companyKinds)
	tld := pick(r, companyTLDs)
	org := upperFirst(w) + " " + upperFirst(k)
	if tld == "de" || tld == "at" || tld == "ch" {
		org += pick(r, []string{" GmbH", " GmbH & Co. KG", " AG", " e.K."})
	} else {
		org += pick(r, []string{" Ltd", " Inc.", " SARL", " B.V.", ""})
	}
	return org, w + "-" + k + "." + tld
}

// newBizPerson makes someone writing from a company.
func (g *generator) newBizPerson(lang string) *person {
	r := g.r
	if lang == "ja" || lang == "ru" {
		lang = "en"
	}
	org, dom := g.newCompany()
	f := pick(r, firstNames[lang])
	l := pick(r, lastNames[lang])
	p := &person{disp: f.disp + " " + l.disp, first: f.disp, lang: lang, zone: langZone(lang), org: org}
	if chance(r, 0.25) {
		p.addr = pick(r, []string{"info", "office", "buchhaltung", "billing", "kontakt", "sales"}) + "@" + dom
		p.disp = org
	} else {
		p.addr = f.ascii + "." + l.ascii + "@" + dom
	}
	if chance(r, 0.55) {
		p.mailer = mailers["m365"]
		p.client = "X-Mailer: Microsoft Outlook 16.0"
	} else {
		p.mailer = &mailer{key: "company", host: "mail." + dom, ip: fill(r, "1##.##."), selector: "default", idStyle: "uuid"}
		if chance(r, 0.5) {
			p.client = pick(r, clientHeaders)
		}
	}
	return p
}

// ---------------------------------------------------------------- aliases

// add puts a into the pool unless its address is taken.
func (g *generator) add(a *aliasInfo) bool {
	if !g.register(a) {
		return false
	}
	g.pool = append(g.pool, a)
	return true
}

// register reserves a's address unless it is taken or the final mailbox.
func (g *generator) register(a *aliasInfo) bool {
	a.addr = strings.ToLower(a.local + "@" + g.env.domain)
	if a.addr == g.env.final || g.byAddr[a.addr] != nil {
		return false
	}
	if a.header == "" {
		a.header = a.addr
	}
	g.byAddr[a.addr] = a
	return true
}

func shuffled[T any](r *rand.Rand, s []T) []T {
	c := slices.Clone(s)
	r.Shuffle(len(c), func(i, j int) { c[i], c[j] = c[j], c[i] })
	return c
}

// buildPool creates every alias the user might have had.
func (g *generator) buildPool() {
	r := g.r
	// Personal.
	ext := shuffled(r, personalExtras)[:between(r, 8, 14)]
	for i, l := range append(slices.Clone(personalCore), ext...) {
		a := &aliasInfo{local: l, tag: "personal", cat: catPersonal, weight: 3 + 4*r.Float64(), retired: g.end}
		if i < len(personalCore) {
			a.created = randTime(r, g.start, yearStart(2013))
			a.weight += 4
		} else {
			a.created = randTime(r, g.start, yearStart(2022))
		}
		n := between(r, 1, 6)
		for range n {
			lang := g.randLang()
			last := ""
			if (l == "family" || l == "smith-family" || l == "grandma" || l == "mum") && chance(r, 0.6) {
				lang, last = "en", "Smith"
			}
			a.contacts = append(a.contacts, g.newPerson(lang, last))
		}
		g.add(a)
	}
	// Roles.
	roles := slices.Clone(roleCore)
	for _, l := range roleExtras {
		if chance(r, 0.7) {
			roles = append(roles, l)
		}
	}
	for _, l := range roles {
		a := &aliasInfo{local: l, tag: "business", cat: catRole, weight: 1.5,
			created: randTime(r, yearStart(2013), yearStart(2019)), retired: g.end}
		switch l {
		case "invoices", "support", "info", "sales":
			a.weight = 4 + 2*r.Float64()
		case "billing", "jobs", "postmaster", "contact", "office":
			a.weight = 2.5
		}
		if l == "invoices" || l == "billing" || l == "accounting" || l == "orders" || l == "partners" {
			for range between(r, 3, 8) {
				a.contacts = append(a.contacts, g.newBizPerson(pick(r, []string{"de", "de", "en", "fr"})))
			}
		}
		g.add(a)
	}
	// Services.
	news := map[string]bool{}
	for _, n := range newsAliases {
		news[n] = true
	}
	for i := range services {
		sv := &services[i]
		core := sv.alias == "amazon" || sv.alias == "github" || sv.alias == "stackoverflow" || sv.alias == "rakuten" ||
			sv.alias == "heise" || sv.alias == "paypal"
		if !core && chance(r, 0.08) {
			continue
		}
		a := &aliasInfo{local: sv.alias, tag: sv.tag, service: sv.domain, cat: catService, svc: sv}
		// Skewed towards the early years: most accounts are old.
		span := yearStart(2024).AddDate(0, 5, 0).Sub(g.start)
		a.created = g.start.Add(time.Duration(math.Pow(r.Float64(), 1.8) * float64(span))).Truncate(time.Second)
		switch {
		case news[sv.alias] && (sv.alias == "heise" || chance(r, 0.5)):
			a.local = "news+" + sv.alias
		case !core && chance(r, 0.07):
			a.local = sv.alias + itoa(a.created.Year())
		}
		switch sv.alias {
		case "amazon":
			a.header = "Amazon@" + g.env.domain
		case "paypal":
			a.header = "PayPal@" + g.env.domain
		}
		if chance(r, 0.45) || sv.tag == "business" {
			a.retired = g.end
		} else {
			a.retired = a.created.AddDate(between(r, 1, 10), between(r, 0, 11), 0)
			if a.retired.After(g.end) {
				a.retired = g.end
			}
		}
		a.weight = math.Exp(r.NormFloat64()*0.8) * catWeight(sv.cat)
		g.setupService(a)
		g.add(a)
	}
	g.addBreachPairs()
	// Generated shops.
	for range between(r, 20, 45) {
		w := pick(r, companyWords)
		if chance(r, 0.3) {
			w += pick(r, []string{"kids", "bio", "tech", "home", "sport", "wein", "tee", "deko"})
		}
		sv := &service{alias: "shop-" + w, domain: fmt.Sprintf(pick(r, shopPatterns), w), tag: "disposable", cat: "shop",
			lang: pick(r, []string{"de", "de", "en"}), esp: pick(r, []string{"own", "sg", "cr", "mc", "own"})}
		if chance(r, 0.2) {
			sv.tag = "business"
		}
		sv.mailDom = sv.domain
		if chance(r, 0.3) {
			sv.mailDom = "mail." + sv.domain
		}
		sv.display = upperFirst(w) + pick(r, []string{" Shop", " Store", "", " Versand"})
		a := &aliasInfo{local: sv.alias, tag: sv.tag, service: sv.domain, cat: catService, svc: sv,
			created: randTime(r, g.start, yearStart(2025)), weight: 0.3 + r.Float64()}
		a.retired = a.created.AddDate(between(r, 0, 6), between(r, 1, 11), 0)
		if a.retired.After(g.end) {
			a.retired = g.end
		}
		g.setupService(a)
		g.add(a)
	}
	// The mailing lists: golang-nuts and, as a subaddress or as debian@,
	// debian-user.
	g.add(&aliasInfo{local: "lists+golang-nuts", tag: "disposable", service: listGoNuts.domain, cat: catList,
		list: listGoNuts, weight: 6, created: randTime(r, yearStart(2013), yearStart(2016)), retired: g.end})
	locals := []string{"debian", "lists+debian-user"}
	if chance(r, 0.5) {
		locals[0], locals[1] = locals[1], locals[0]
	}
	created := randTime(r, yearStart(2014), yearStart(2019))
	for _, l := range locals {
		if g.add(&aliasInfo{local: l, tag: "disposable", service: listDebianUser.domain, cat: catList,
			list: listDebianUser, weight: 2.5, created: created, retired: g.end}) {
			break
		}
	}
}

// addBreachPairs adds, for each of pairBreaches, a year-suffixed alias of the
// service created before the breach (adobe2012@) and one created after it
// (adobe2016@), both kept until the end.
func (g *generator) addBreachPairs() {
	last := yearStart(2024).AddDate(0, 5, 0) // as for the other service aliases
	for _, name := range pairBreaches {
		b := breachByName(name)
		var sv *service
		for i := range services {
			if services[i].domain == b.Domain {
				sv = &services[i]
				break
			}
		}
		if sv == nil {
			panic("corpus: no service for breach " + name)
		}
		var base *aliasInfo
		for _, a := range g.pool {
			if a.svc == sv {
				base = a
				break
			}
		}
		windows := [][2]time.Time{
			{latest(g.start, b.Date.AddDate(-4, 0, 0)), b.Date.AddDate(0, 0, -60)},
			{b.Date.AddDate(0, 0, 60), earliest(last, b.Date.AddDate(4, 0, 0))},
		}
		for _, w := range windows {
			if !g.addPair(sv, base, w[0], w[1]) {
				panic("corpus: no alias for breach " + name)
			}
		}
	}
}

// addPair adds an alias <service alias><year>@ for sv created in [from, to],
// trying the years in random order until the address is free.
func (g *generator) addPair(sv *service, base *aliasInfo, from, to time.Time) bool {
	r := g.r
	var years []int
	for y := berlin(from).Year(); y <= berlin(to).Year(); y++ {
		years = append(years, y)
	}
	for _, y := range shuffled(r, years) {
		lo := latest(from, yearStart(y))
		hi := earliest(to, yearStart(y+1).Add(-24*time.Hour)) // daytime may add up to a day
		if !hi.After(lo) {
			continue
		}
		created := berlin(daytime(r, randTime(r, lo, hi))).Truncate(time.Second)
		a := &aliasInfo{local: sv.alias + itoa(created.Year()), tag: sv.tag, service: sv.domain, cat: catService, svc: sv,
			created: created, retired: g.end, weight: (0.8 + 0.8*r.Float64()) * catWeight(sv.cat), pair: true}
		g.setupService(a)
		if base != nil { // one account holder, one way of sending
			a.mailer, a.fromLocal, a.dkimDom = base.mailer, base.fromLocal, base.dkimDom
		}
		if g.add(a) {
			return true
		}
	}
	return false
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func catWeight(cat string) float64 {
	switch cat {
	case "news":
		return 3
	case "shop", "social", "dev":
		return 1.5
	case "forum", "media":
		return 1.2
	}
	return 1
}

// setupService decides how a service sends its mail.
func (g *generator) setupService(a *aliasInfo) {
	r := g.r
	sv := a.svc
	if sv.esp == "own" {
		a.mailer = &mailer{key: "own", host: pick(r, []string{"mail#.", "out#.", "smtp-out-##.", "mx##.mta."}) + sv.mailDom,
			ip: itoa(between(r, 20, 220)) + "." + itoa(between(r, 1, 254)) + ".", selector: pick(r, []string{"s1", "default", "k1", "dkim", "mail", "selector2"}),
			idStyle: "generic"}
	} else {
		a.mailer = mailers[sv.esp]
	}
	a.dkimDom = sv.domain
	if len(sv.alias)%3 == 0 {
		a.dkimDom = sv.mailDom
	}
	switch sv.cat {
	case "news":
		a.fromLocal = pick(r, []string{"newsletter", "news", "redaktion", "briefing"})
	case "social", "forum":
		a.fromLocal = pick(r, []string{"notifications", "noreply", "messages-noreply", "digest"})
	case "shop":
		a.fromLocal = pick(r, []string{"shop", "noreply", "service", "newsletter", "bestellung", "order-update"})
	case "dev", "finance":
		a.fromLocal = pick(r, []string{"noreply", "no-reply", "support", "billing", "notifications"})
	default:
		a.fromLocal = pick(r, []string{"no-reply", "hello", "info", "mail", "news", "team"})
	}
}

// chooseActive picks the aliases that receive mail, always including a core
// set so that every folder and Kind can be reached even in small corpora.
func (g *generator) chooseActive() {
	r := g.r
	k := max(min(g.o.Messages/8, len(g.pool)), 16)
	in := map[*aliasInfo]bool{}
	var core []*aliasInfo
	want := func(f func(a *aliasInfo) bool) {
		for _, a := range g.pool {
			if f(a) {
				if !in[a] {
					in[a] = true
					core = append(core, a)
				}
				return
			}
		}
	}
	for _, l := range []string{"john", "anna", "family", "invoices", "support", "sales", "jobs", "press", "info",
		"lists+golang-nuts", "github", "news+heise"} {
		want(func(a *aliasInfo) bool { return a.local == l })
	}
	want(func(a *aliasInfo) bool { return a.list == listDebianUser })
	want(func(a *aliasInfo) bool { return a.header != a.addr })
	want(func(a *aliasInfo) bool { return a.svc != nil && a.svc.lang == "ja" })
	want(func(a *aliasInfo) bool { return a.svc != nil && a.svc.cat == "forum" })
	want(func(a *aliasInfo) bool {
		return a.svc != nil && a.tag == "disposable" && strings.HasPrefix(a.local, "shop-")
	})
	for _, a := range g.pool {
		if a.pair && !in[a] {
			in[a] = true
			core = append(core, a)
		}
	}
	rest := shuffled(r, g.pool)
	for _, a := range rest {
		if len(in) >= k {
			break
		}
		in[a] = true
	}
	for _, a := range g.pool {
		if in[a] {
			g.active = append(g.active, a)
		}
	}
	// The aliases planOrdinary files in an archive of a given year must exist
	// by then: their welcome message comes first.
	for _, yt := range g.yearTargets() {
		if a := yt.a; a != nil && a.created.After(yearStart(yt.year).AddDate(0, 10, 0)) {
			a.created = berlin(daytime(r, randTime(r, yearStart(yt.year), yearStart(yt.year).AddDate(0, 6, 0)))).Truncate(time.Second)
		}
	}
	g.chooseCorresponded()
	// Leaks: about one disposable service alias in seven, at least one. The
	// breach pairs only leak through their breach.
	var disp []*aliasInfo
	for _, a := range g.active {
		if a.cat == catService && a.tag == "disposable" && !a.pair {
			disp = append(disp, a)
		}
	}
	n := max(1, int(math.Round(float64(len(disp))/7)))
	for i, a := range shuffled(r, disp) {
		if i >= n {
			break
		}
		span := g.end.Sub(a.created)
		a.leaked = a.created.Add(time.Duration(float64(span) * (0.2 + 0.6*r.Float64()))).Truncate(time.Second)
		a.weight *= 1.5
	}
	// Breaches: an alias that existed when its service was breached leaks
	// 15 to 90 days later, unless it had leaked before.
	for _, a := range g.active {
		if a.cat != catService {
			continue
		}
		b, ok := firstBreach(a.service, a.created)
		if !ok {
			continue
		}
		a.breached = true
		leak := b.Date.AddDate(0, 0, between(r, 15, 90)).Add(time.Duration(r.IntN(24*3600)) * time.Second)
		if a.leaked.IsZero() {
			a.weight *= 1.5
		} else if !a.leaked.After(leak) {
			continue
		}
		a.leaked = leak
	}
	total := 0.0
	for _, a := range g.active {
		total += a.weight
		g.cum = append(g.cum, total)
	}
}

// chooseCorresponded decides which active aliases of business services the
// user really corresponded from: about one in three, at least one. They keep
// the tag "business" and get a thread in which the user writes one to three
// times to a person at the service, who answers each time. The others were
// mere signups and are "disposable".
func (g *generator) chooseCorresponded() {
	r := g.r
	var biz []*aliasInfo
	for _, a := range g.active {
		if a.cat == catService && a.svc.tag == "business" {
			biz = append(biz, a)
		}
	}
	n := int(math.Round(float64(len(biz)) / 3))
	if n == 0 && len(biz) > 0 {
		n = 1
	}
	for i, a := range shuffled(r, biz) {
		if i < n {
			a.corresponded = true
			a.tickets = between(r, 1, 3)
		} else {
			a.tag = "disposable"
		}
	}
}

// yearTarget is an alias planOrdinary files in the archive of a year.
type yearTarget struct {
	a    *aliasInfo
	year int
}

func (g *generator) yearTargets() []yearTarget {
	return []yearTarget{
		{g.findActive(func(a *aliasInfo) bool { return a.local == "github" }), 2019},
		{g.findActive(func(a *aliasInfo) bool { return a.header != a.addr }), 2020},
	}
}

func (g *generator) pickActive() *aliasInfo {
	x := g.r.Float64() * g.cum[len(g.cum)-1]
	i := sort.SearchFloat64s(g.cum, x)
	return g.active[min(i, len(g.active)-1)]
}

func (g *generator) findActive(f func(a *aliasInfo) bool) *aliasInfo {
	for _, a := range g.active {
		if f(a) {
			return a
		}
	}
	return nil
}

// ---------------------------------------------------------------- specs

// uopt forces properties of a unit (used to guarantee coverage).
type uopt struct {
	folder string
	year   int
	style  string
	max    int  // at most this many messages
	reply  bool // a thread must contain a reply from the user
	// userFirst makes the user open a thread, and the other side answer each
	// of his messages.
	userFirst bool
}

func (g *generator) newSpec(a *aliasInfo, origin string, t time.Time) *spec {
	g.seq++
	s := &spec{env: g.env, seq: g.seq, alias: a, origin: origin, seed: g.r.Uint64(),
		date: berlin(t).Truncate(time.Second), incoming: true}
	if a != nil {
		s.rcpt = a.header
		s.envRcpt = a.addr
	}
	s.delay = time.Duration(2+g.r.IntN(90)) * time.Second
	return s
}

// when picks a delivery time for a message to a.
func (g *generator) when(a *aliasInfo, o uopt) time.Time {
	r := g.r
	if o.year != 0 {
		from, to := yearStart(o.year), yearStart(o.year+1).Add(-time.Hour)
		if a.created.Year() == o.year && a.created.After(from) {
			from = a.created
		}
		return daytime(r, randTime(r, from, to))
	}
	return daytime(r, randTime(r, a.created, a.retired))
}

func (g *generator) apply(s *spec, o uopt) *spec {
	if o.folder != "" {
		s.forceFolder = o.folder
	}
	if o.style != "" && s.incoming {
		s.style = o.style
	}
	g.specs = append(g.specs, s)
	return s
}

func toName(a *aliasInfo, r *rand.Rand) string {
	switch {
	case strings.HasPrefix(a.local, "anna"):
		return pick(r, []string{"Anna Smith", "Anna", ""})
	case a.cat == catPersonal:
		return pick(r, []string{"John Smith", "John", "", "John Smith"})
	case a.cat == catRole:
		return pick(r, []string{"", "", "Smith Consulting", upperFirst(a.local)})
	}
	return pick(r, []string{"", "John Smith", "", "J. Smith"})
}

func userName(a *aliasInfo) string {
	if strings.HasPrefix(a.local, "anna") {
		return "Anna Smith"
	}
	return "John Smith"
}

func greetName(a *aliasInfo, lang string) string {
	switch {
	case strings.HasPrefix(a.local, "anna"):
		return "Anna"
	case a.local == "family" || a.local == "friends" || a.local == "smith-family":
		switch lang {
		case "de":
			return "ihr Lieben"
		case "en":
			return "everyone"
		}
	case a.cat == catRole:
		switch lang {
		case "de":
			return "Damen und Herren"
		case "fr":
			return "Madame, Monsieur"
		}
		return "team"
	}
	return "John"
}

// fromPerson is a message from p to a.
func (g *generator) fromPerson(a *aliasInfo, p *person, t time.Time, origin string) *spec {
	r := g.r
	s := g.newSpec(a, origin, t)
	s.to = []addr{{toName(a, r), a.header}}
	s.rcptVisible = true
	g.sentBy(s, p)
	g.personalText(s, p, greetName(a, p.lang))
	return s
}

// sentBy makes p the sender of s: From, mail client, domain, zone, language
// and a Message-ID in the style of p's mailer. Call it after s.to is set: the
// Message-ID draws from the generator.
func (g *generator) sentBy(s *spec, p *person) {
	s.from = addr{p.disp, p.addr}
	s.mailer = p.mailer
	s.senderDomain = domainOf(p.addr)
	s.zone = p.zone
	s.lang = p.lang
	s.client = p.client
	s.msgID = g.newID(p.mailer.idStyle, s.senderDomain)
}

// personalText gives s a personal body in p's language, greeting to and
// signed by p.
func (g *generator) personalText(s *spec, p *person, to string) {
	s.body = bodyPersonal
	s.text = textInfo{seed: g.r.Uint64(), lang: p.lang, to: to, from: p.first}
}

// fromUser is a message the user sent from a to p.
func (g *generator) fromUser(a *aliasInfo, p *person, t time.Time, kind string) *spec {
	r := g.r
	s := g.newSpec(a, "self", t)
	s.kind = kind
	s.incoming = false
	s.from = addr{userName(a), a.addr}
	if a.cat == catRole && chance(r, 0.5) {
		s.from.name = upperFirst(a.local) + " – Smith Consulting"
	}
	s.to = []addr{{p.disp, p.addr}}
	s.zone = zoneDE
	s.lang = p.lang
	s.client = "User-Agent: " + thunderbirdUA(s.date.Year())
	s.msgID = g.newID("uuid", g.env.domain)
	s.body = bodySent
	s.text = textInfo{seed: r.Uint64(), lang: p.lang, to: strings.Fields(p.first + " x")[0], from: strings.Fields(userName(a))[0]}
	s.delay = time.Duration(1+r.IntN(3)) * time.Second
	if kind == kindSent {
		s.forceFolder = folderSent
		a.sent++
	} else {
		s.forceFolder = folderDrafts
	}
	return s
}

func thunderbirdUA(y int) string {
	v := thunderbirdByYear[min(max(y, 2012), 2025)]
	return "Mozilla/5.0 (X11; Linux x86_64; rv:" + strings.SplitN(v, ".", 2)[0] + ".0) Gecko/20100101 Thunderbird/" + v
}

func domainOf(address string) string {
	_, d, _ := strings.Cut(address, "@")
	return d
}

func replySubject(subj, lang string, r *rand.Rand) string {
	if strings.HasPrefix(subj, "Re: ") || strings.HasPrefix(subj, "AW: ") || strings.HasPrefix(subj, "RE: ") {
		return subj
	}
	if lang == "de" && chance(r, 0.3) {
		return "AW: " + subj
	}
	if chance(r, 0.1) {
		return "RE: " + subj
	}
	return "Re: " + subj
}

func threadLen(r *rand.Rand) int {
	x := r.Float64()
	switch {
	case x < 0.35:
		return 1
	case x < 0.65:
		return 2
	case x < 0.80:
		return 3
	case x < 0.90:
		return 4
	case x < 0.96:
		return 5
	}
	return 6
}

// thread writes a conversation between contact p and alias a. family is the
// subject family; bodyIn is the body of incoming messages.
func (g *generator) thread(a *aliasInfo, p *person, o uopt, family, origin string, bodyIn bodyKind, n int) int {
	r := g.r
	if o.max > 0 {
		n = min(n, o.max)
	}
	if o.reply && n < 2 && (o.max == 0 || o.max >= 2) {
		n = 2
	}
	t := g.when(a, o)
	subj := g.subject(family, p.lang, a, p)
	var prev *spec
	var refs []string
	count := 0
	for i := range n {
		if i > 0 && !g.later(&t, 20, 3*24*60) {
			break
		}
		outgoing := i%2 == 1 && (o.reply || chance(r, 0.85))
		if o.userFirst {
			outgoing = i%2 == 0
		}
		var s *spec
		if outgoing {
			s = g.fromUser(a, p, t, kindSent)
		} else {
			s = g.fromPerson(a, p, t, origin)
			s.body = bodyIn
		}
		s.subject = subj
		if prev != nil {
			s.subject = replySubject(subj, p.lang, r)
			s.replyTo(prev, refs)
			if s.quote.who == "" {
				s.quote.who = prev.from.email
			}
			if outgoing && prev.incoming {
				prev.answered = true
			}
		}
		refs = append(refs, s.msgID)
		if len(refs) > 8 {
			refs = refs[len(refs)-8:]
		}
		g.applyOpening(s, o, i == 0 && !outgoing)
		prev = s
		count++
	}
	return count
}

// applyOpening applies the unit's options o to s when s opens its thread
// (opening), and none to the messages after it.
func (g *generator) applyOpening(s *spec, o uopt, opening bool) {
	if !opening {
		o = uopt{}
	}
	g.apply(s, o)
}

// later moves *t, the time of a thread's last message, on to the next one's:
// least to least+span-1 minutes later. It is false when that is past the
// corpus's end.
func (g *generator) later(t *time.Time, least, span int) bool {
	*t = t.Add(time.Duration(least+g.r.IntN(span)) * time.Minute)
	return !t.After(g.end)
}

// replyTo makes s an answer to prev: In-Reply-To, References (a copy of refs)
// and prev's text quoted.
func (s *spec) replyTo(prev *spec, refs []string) {
	s.inReplyTo = prev.msgID
	s.refs = slices.Clone(refs)
	s.quote = &quoteInfo{text: prev.text, who: prev.from.name, email: prev.from.email, date: prev.date.Add(-prev.delay)}
}

// subject makes a subject line of a family ("shop", "personal", "invoice", ...).
func (g *generator) subject(family, lang string, a *aliasInfo, p *person) string {
	r := g.r
	list := subjects[family+"/"+lang]
	if list == nil {
		list = subjects[family+"/en"]
	}
	if list == nil {
		list = subjects["generic/"+lang]
	}
	if list == nil {
		list = subjects["generic/en"]
	}
	return g.expand(pick(r, list), lang, a, p)
}

// expand fills the {placeholders} of a subject template.
func (g *generator) expand(t, lang string, a *aliasInfo, p *person) string {
	r := g.r
	var b strings.Builder
	for {
		i := strings.IndexByte(t, '{')
		if i < 0 {
			b.WriteString(t)
			return b.String()
		}
		j := strings.IndexByte(t[i:], '}')
		if j < 0 {
			b.WriteString(t)
			return b.String()
		}
		b.WriteString(t[:i])
		key := t[i+1 : i+j]
		t = t[i+j+1:]
		switch key {
		case "n":
			b.WriteString(fill(r, pick(r, []string{"######", "###-#######-#######", "########", "####"})))
		case "k":
			b.WriteString(itoa(between(r, 2, 9)))
		case "pct":
			b.WriteString(itoa(5 * between(r, 2, 14)))
		case "svc":
			if a != nil && a.svc != nil {
				b.WriteString(a.svc.display)
			} else {
				b.WriteString("Acme")
			}
		case "name":
			l := lang
			if firstNames[l] == nil {
				l = "en"
			}
			b.WriteString(pick(r, firstNames[l]).disp + " " + pick(r, lastNames[l]).disp)
		case "city":
			b.WriteString(pick(r, cities))
		case "code":
			b.WriteString(fill(r, pick(r, []string{"^^^^^^", "RE-####-####", "#######", "INV-####"})))
		case "month":
			b.WriteString(pick(r, months))
		case "year":
			b.WriteString(itoa(between(r, 2013, 2025)))
		case "date":
			b.WriteString(fmt.Sprintf("%02d.%02d.%d", between(r, 1, 28), between(r, 1, 12), between(r, 2013, 2025)))
		case "topic":
			l := lang
			if topics[l] == nil {
				l = "en"
			}
			b.WriteString(pick(r, topics[l]))
		case "gotopic":
			t := pick(r, goTopics)
			if strings.Contains(t, "%d") {
				t = fmt.Sprintf(t, between(r, 1, 25))
			}
			b.WriteString(t)
		case "debtopic":
			t := pick(r, debTopics)
			if strings.Contains(t, "%d") {
				t = fmt.Sprintf(t, between(r, 9, 13))
			}
			b.WriteString(t)
		case "repo":
			b.WriteString(pick(r, repos))
		case "host":
			b.WriteString(fill(r, pick(r, []string{"web#", "db-##", "vps-####", "static.##.###.##.##.clients.your-server.de"})))
		case "userdomain":
			b.WriteString(g.env.domain)
		case "company":
			if p != nil && p.org != "" {
				b.WriteString(p.org)
			} else {
				o, _ := g.newCompany()
				b.WriteString(o)
			}
		case "product":
			b.WriteString(pick(r, products))
		case "position":
			b.WriteString(pick(r, positions))
		case "ip":
			b.WriteString(randIP(r, ""))
		case "rcpt":
			if a != nil {
				b.WriteString(a.addr)
			}
		default:
			b.WriteString("{" + key + "}")
		}
	}
}

// newID returns a fresh, unique Message-ID in a sender's style.
func (g *generator) newID(style, dom string) string {
	r := g.r
	for {
		var id string
		switch style {
		case "gmail":
			id = "CA" + fill(r, "&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&") + "@mail.gmail.com"
		case "yahoo":
			id = fill(r, "#########.#######.#############") + "@mail.yahoo.com"
		case "outlook":
			host := fill(r, "^^#PR0#MB####")
			id = host + fill(r, "^^^^^^^^^^^^^^^^^^^^^^^^^^^^") + "@" + host + ".eurprd0" + fill(r, "#") + ".prod.outlook.com"
		case "webde":
			id = "trinity-" + uuid(r) + "-" + fill(r, "#############") + "@3c-app-webde-bap" + fill(r, "##")
		case "gmx":
			id = "trinity-" + uuid(r) + "-" + fill(r, "#############") + "@3c-app-gmx-bs" + fill(r, "##")
		case "apple":
			id = strings.ToUpper(uuid(r)) + "@" + dom
		case "proton":
			id = fill(r, "&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&") + "=@" + dom
		case "mailru":
			id = fill(r, "##########.#########") + "@f" + fill(r, "###") + ".i.mail.ru"
		case "yandex":
			id = fill(r, "###############") + "@" + fill(r, "iva#-%%%%%%%%%%%%") + ".qloud-c.yandex.net"
		case "ses":
			id = "0102" + fill(r, "%%%%%%%%%%%%-%%%%%%%%-%%%%-%%%%-%%%%-%%%%%%%%%%%%-000000") + "@eu-west-1.amazonses.com"
		case "sg":
			id = fill(r, "&&&&&&&&&&&&&&&&&&&&&&") + "@ismtpd0" + fill(r, "###p1lon1") + ".sendgrid.net"
		case "mc":
			id = fill(r, "%%%%%%%%%%%%%%%%%%%%%%%%%.%%%%%%%%%%%%%%") + "@mail" + fill(r, "###.atl###") + ".mcdlv.net"
		case "sfmc":
			id = fill(r, "%%%%%%%%-%%%%-%%%%-%%%%-%%%%%%%%%%%%") + "@" + fill(r, "atl1s07mta####") + ".xt.local"
		case "mg":
			id = fill(r, "##############.#.%%%%%%%%%%%%%%%%") + "@" + dom
		case "spam":
			id = fill(r, "*****************") + "@" + dom
		case "uuid":
			id = uuid(r) + "@" + dom
		default:
			id = fill(r, "%%%%%%%%%%%%.%%%%%%%%%%%%%%%%") + "." + itoa(g.seq) + "@" + dom
		}
		if !g.ids[id] {
			g.ids[id] = true
			return "<" + id + ">"
		}
	}
}

// ---------------------------------------------------------------- units

// unit writes one conversation or message to a; it returns how many specs it added.
func (g *generator) unit(a *aliasInfo, o uopt) int {
	r := g.r
	switch a.cat {
	case catPersonal:
		x := r.Float64()
		switch {
		case x < 0.05:
			return g.draft(a, o)
		case x < 0.09 && len(g.personalActive()) > 1:
			return g.multiTo(a, o)
		case x < 0.12:
			return g.undisclosedCc(a, o)
		case x < 0.15:
			return g.bcc(a, o)
		}
		p := pick(r, a.contacts)
		return g.thread(a, p, o, "personal", "person", bodyPersonal, threadLen(r))
	case catRole:
		return g.roleUnit(a, o)
	case catService:
		n := g.welcome(a, o)
		if n > 0 {
			if o.max > 0 && o.max <= n {
				return n
			}
			if o.max > 0 {
				o.max -= n
			}
		}
		if a.corresponded && !a.ticketed && o.folder == "" && o.year == 0 && chance(r, 0.5) {
			return n + g.ticketThread(a, o)
		}
		if !a.leaked.IsZero() && chance(r, 0.45) {
			return n + g.spam(a, o)
		}
		return n + g.serviceMsg(a, o)
	case catList:
		return g.listThread(a, o)
	}
	return 0
}

func (g *generator) personalActive() []*aliasInfo {
	var out []*aliasInfo
	for _, a := range g.active {
		if a.cat == catPersonal {
			out = append(out, a)
		}
	}
	return out
}

func (g *generator) draft(a *aliasInfo, o uopt) int {
	r := g.r
	p := pick(r, a.contacts)
	s := g.fromUser(a, p, g.when(a, o), kindDraft)
	s.subject = g.subject("personal", p.lang, a, p)
	if chance(r, 0.15) {
		s.subject = ""
	}
	g.apply(s, o)
	return 1
}

// fromContact is a personal message to a from one of its contacts, with a
// subject; p is the contact.
func (g *generator) fromContact(a *aliasInfo, o uopt) (s *spec, p *person) {
	p = pick(g.r, a.contacts)
	s = g.fromPerson(a, p, g.when(a, o), "person")
	s.subject = g.subject("personal", p.lang, a, p)
	return s, p
}

// multiTo is a message from a contact to several of the user's personal aliases.
func (g *generator) multiTo(a *aliasInfo, o uopt) int {
	r := g.r
	s, _ := g.fromContact(a, o)
	for _, b := range shuffled(r, g.personalActive()) {
		if b != a && len(s.others) < between(r, 1, 3) {
			s.others = append(s.others, b)
			s.to = append(s.to, addr{toName(b, r), b.header})
		}
	}
	g.apply(s, o)
	return 1
}

// undisclosedCc has To: undisclosed-recipients:; and the alias in Cc.
func (g *generator) undisclosedCc(a *aliasInfo, o uopt) int {
	s, _ := g.fromContact(a, o)
	s.toGroup = "undisclosed-recipients:;"
	s.cc = s.to
	s.to = nil
	g.apply(s, o)
	return 1
}

// bcc is a message from a contact who put the alias in Bcc: To is the
// sender's own address or "undisclosed-recipients:;", and only the delivery
// headers name the alias.
func (g *generator) bcc(a *aliasInfo, o uopt) int {
	r := g.r
	s, p := g.fromContact(a, o)
	if chance(r, 0.5) {
		s.to, s.toGroup = nil, "undisclosed-recipients:;"
	} else {
		s.to = []addr{{p.disp, p.addr}}
	}
	s.rcptVisible = false
	g.apply(s, o)
	return 1
}

// newOrgPerson makes someone working at service sv, writing from a mail
// client.
func (g *generator) newOrgPerson(sv *service) *person {
	r := g.r
	lang := sv.lang
	if lang != "de" && lang != "fr" {
		lang = "en"
	}
	f := pick(r, firstNames[lang])
	l := pick(r, lastNames[lang])
	p := &person{disp: f.disp + " " + l.disp, first: f.disp, lang: lang, zone: langZone(lang), org: sv.display}
	local := f.ascii + "." + l.ascii
	if chance(r, 0.3) {
		local = f.ascii[:1] + l.ascii
	}
	p.addr = strings.ReplaceAll(local, " ", "") + "@" + sv.domain
	if chance(r, 0.5) {
		p.mailer = mailers["m365"]
		p.client = "X-Mailer: Microsoft Outlook 16.0"
	} else {
		p.mailer = &mailer{key: "company", host: "mail." + sv.domain, ip: fill(r, "1##.##."), selector: "default", idStyle: "uuid"}
		p.client = pick(r, clientHeaders)
	}
	return p
}

// ticketThread is the user writing from service alias a to a person at the
// service (a support ticket, a question about an invoice) a.tickets times,
// with the person's answer to each message.
func (g *generator) ticketThread(a *aliasInfo, o uopt) int {
	a.ticketed = true
	p := g.newOrgPerson(a.svc)
	o.userFirst = true
	o.reply = false
	return g.thread(a, p, o, "ticket", "business", bodyBiz, 2*a.tickets)
}

// roleCorrespondence is a thread between someone at an organisation (or an
// applicant) and role alias a, which the user answers from a.
func (g *generator) roleCorrespondence(a *aliasInfo, o uopt) int {
	r := g.r
	lang := pick(r, []string{"de", "de", "en"})
	family, body := "biz", bodyBiz
	var p *person
	switch a.local {
	case "invoices", "billing", "accounting", "orders":
		family = "invoice"
	case "support":
		family = "support"
	case "sales", "partners":
		family = "sales"
	case "jobs", "careers", "hr":
		family, body = "jobs", bodyApplication
		p = g.newPerson(pick(r, []string{"de", "de", "en", "fr"}), "")
	case "press":
		family = "press"
	case "postmaster", "abuse", "webmaster", "admin":
		family = "webmaster"
		lang = "en"
	}
	if p == nil {
		if len(a.contacts) > 0 && chance(r, 0.5) {
			p = pick(r, a.contacts)
		} else {
			p = g.newBizPerson(lang)
		}
	}
	o.reply = true
	return g.thread(a, p, o, family, "business", body, between(r, 2, 4))
}

func (g *generator) roleUnit(a *aliasInfo, o uopt) int {
	r := g.r
	lang := pick(r, []string{"de", "de", "en"})
	switch a.local {
	case "invoices", "billing", "accounting":
		var p *person
		if len(a.contacts) > 0 {
			p = pick(r, a.contacts)
		} else {
			p = g.newBizPerson(lang)
		}
		s := g.fromPerson(a, p, g.when(a, o), "business")
		s.subject = g.subject("invoice", p.lang, a, p)
		s.body = bodyInvoice
		s.attach = g.expand(map[string]string{"de": "Rechnung_{code}.pdf", "fr": "facture_{n}.pdf"}[p.lang], p.lang, a, p)
		if s.attach == "" {
			s.attach = g.expand(pick(r, []string{"Invoice-{n}.pdf", "INV{n}.pdf"}), p.lang, a, p)
		}
		g.apply(s, o)
		return 1
	case "jobs", "careers", "hr":
		p := g.newPerson(pick(r, []string{"de", "de", "en", "fr", "ru"}), "")
		n := 1
		if chance(r, 0.4) {
			n = 2
		}
		c := g.thread(a, p, uopt{folder: o.folder, year: o.year, style: o.style, max: o.max}, "jobs", "business", bodyApplication, n)
		return c
	case "press":
		p := g.newPerson(pick(r, []string{"de", "en"}), "")
		p.addr = strings.Split(p.addr, "@")[0] + "@" + pick(r, mediaDomains)
		p.mailer = mailers["m365"]
		p.org = "Redaktion"
		return g.thread(a, p, o, "press", "business", bodyBiz, threadLen(r))
	case "postmaster":
		if g.when(a, o).Year() >= 2015 && chance(r, 0.8) {
			return g.dmarc(a, o)
		}
	case "info", "contact", "admin", "webmaster", "abuse":
		if chance(r, 0.15) && o.folder == "" {
			return g.spam(a, o)
		}
		if a.local == "webmaster" || a.local == "abuse" || a.local == "admin" {
			p := g.newBizPerson("en")
			s := g.fromPerson(a, p, g.when(a, o), "business")
			s.subject = g.subject("webmaster", "en", a, p)
			s.body = bodyBiz
			g.apply(s, o)
			return 1
		}
	}
	var p *person
	family := "biz"
	switch a.local {
	case "support":
		family = "support"
		p = g.newPerson(g.randLang(), "")
	case "sales", "info", "contact":
		family = pick(r, []string{"sales", "support", "biz"})
		if chance(r, 0.5) {
			p = g.newPerson(pick(r, []string{"de", "en"}), "")
		}
	}
	if p == nil {
		if len(a.contacts) > 0 && chance(r, 0.7) {
			p = pick(r, a.contacts)
		} else {
			p = g.newBizPerson(lang)
		}
	}
	return g.thread(a, p, o, family, "business", bodyBiz, threadLen(r))
}

func (g *generator) dmarc(a *aliasInfo, o uopt) int {
	r := g.r
	t := g.when(a, o)
	if t.Year() < 2015 {
		t = t.AddDate(2015-t.Year(), 0, 0)
	}
	rep := pick(r, []struct{ org, from, m string }{
		{"google.com", "noreply-dmarc-support@google.com", "google"},
		{"Yahoo", "dmarchelp@yahooinc.com", "yahoo"},
		{"Outlook.com", "dmarcreport@microsoft.com", "m365"},
		{"Mail.Ru", "dmarc_support@corp.mail.ru", "mailru"},
		{"WEB.DE", "noreply-dmarc@web.de", "webde"},
	})
	p := &person{disp: "", addr: rep.from, lang: "en", mailer: mailers[rep.m], zone: zoneUTC, org: rep.org}
	if rep.m == "google" {
		p.mailer = &mailer{key: "google-service", host: "mail-??#-f##.google.com", ip: "209.85.", selector: "google", idStyle: "gmail"}
	}
	s := g.fromPerson(a, p, t, "service")
	day := t.UTC().Truncate(24 * time.Hour).Add(-24 * time.Hour)
	s.subject = "Report domain: " + g.env.domain + " Submitter: " + rep.org + " Report-ID: " + fill(r, "###################")
	s.attach = rep.org + "!" + g.env.domain + "!" + itoa(int(day.Unix())) + "!" + itoa(int(day.Unix())+86399) + ".zip"
	s.body = bodyDMARC
	s.to = []addr{{"", a.header}}
	g.apply(s, o)
	return 1
}

// serviceSpec starts a message from the service that was given the alias.
func (g *generator) serviceSpec(a *aliasInfo, t time.Time) *spec {
	r := g.r
	sv := a.svc
	s := g.newSpec(a, "service", t)
	s.svc = sv
	s.from = addr{sv.display, a.fromLocal + "@" + sv.mailDom}
	s.mailer = a.mailer
	s.senderDomain = sv.mailDom
	s.zone = zoneUTC
	if chance(r, 0.4) {
		s.zone = langZone(sv.lang)
	}
	s.lang = sv.lang
	s.msgID = g.newID(a.mailer.idStyle, sv.mailDom)
	s.svcDKIM = a.dkimDom
	s.rcptVisible = true
	return s
}

// welcome plans the first message to a service alias, unless planned before:
// the service's welcome or confirm-your-address message at the moment the
// alias was created, so that the alias's creation can be read from its mail.
// It takes o's folder unless o asks for a year.
func (g *generator) welcome(a *aliasInfo, o uopt) int {
	if a.welcomed {
		return 0
	}
	a.welcomed = true
	a.fromSvc++
	r := g.r
	sv := a.svc
	s := g.serviceSpec(a, a.created)
	s.welcome = true
	s.body = bodyTransactional
	s.subject = g.expand(pick(r, subjectList("welcome", sv.lang)), sv.lang, a, nil)
	if chance(r, 0.5) {
		s.to = []addr{{"", a.header}}
	} else {
		s.to = []addr{{toName(a, r), a.header}}
	}
	s.text = textInfo{seed: r.Uint64(), lang: sv.lang, to: "John", from: sv.display}
	wo := uopt{}
	if o.year == 0 {
		wo.folder = o.folder
	}
	g.apply(s, wo)
	return 1
}

// serviceMsg is one message from the service that was given the alias.
func (g *generator) serviceMsg(a *aliasInfo, o uopt) int {
	r := g.r
	sv := a.svc
	s := g.serviceSpec(a, g.when(a, o))
	a.fromSvc++
	news := sv.cat == "news" || strings.HasPrefix(a.local, "news+")
	switch {
	case news || chance(r, 0.35):
		s.body = bodyNewsletter
		s.bulk = true
	default:
		s.body = bodyTransactional
		s.bulk = chance(r, 0.3)
	}
	family := sv.cat
	if chance(r, 0.15) {
		family = "generic"
	}
	s.subject = g.expand(pick(r, subjectList(family, sv.lang)), sv.lang, a, nil)
	switch {
	case s.bulk && chance(r, 0.08):
		s.toGroup = "undisclosed-recipients:;"
		s.rcptVisible = false
	case chance(r, 0.04): // sent Bcc, To the sender itself
		s.to = []addr{s.from}
		s.rcptVisible = false
	case chance(r, 0.5):
		s.to = []addr{{"", a.header}}
	default:
		s.to = []addr{{toName(a, r), a.header}}
	}
	if !s.bulk && (sv.cat == "travel" || sv.cat == "finance" || (sv.cat == "dev" && chance(r, 0.3))) && chance(r, 0.3) {
		s.attach = pick(r, []string{"ticket.pdf", "receipt.pdf", "invoice.pdf", "Buchungsbestaetigung.pdf", "statement.pdf"})
	}
	s.text = textInfo{seed: r.Uint64(), lang: sv.lang, to: "John", from: sv.display}
	g.apply(s, o)
	return 1
}

func subjectList(family, lang string) []string {
	for _, k := range []string{family + "/" + lang, family + "/en", "generic/" + lang, "generic/en"} {
		if l := subjects[k]; l != nil {
			return l
		}
	}
	return nil
}

// spam is unsolicited mail from an unrelated sender.
func (g *generator) spam(a *aliasInfo, o uopt) int {
	r := g.r
	from := a.leaked
	if from.IsZero() {
		from = a.created
	}
	t := daytime(r, randTime(r, from, g.end))
	if o.year != 0 {
		t = g.when(a, o)
	}
	s := g.spamSpec(a, t, g.spamDomain())
	if a.cat == catService {
		a.hadSpam = true
		if !a.leaked.IsZero() && !t.Before(a.leaked) {
			a.leakSpam++
		}
	}
	g.apply(s, o)
	return 1
}

// spamDomain is a made-up sender domain of spam.
func (g *generator) spamDomain() string {
	r := g.r
	return pick(r, spamWords) + "-" + pick(r, spamWords) + fill(r, "##") + "." + pick(r, spamTLDs)
}

// spamSpec is a spam message to a at t from an unrelated sender at dom.
func (g *generator) spamSpec(a *aliasInfo, t time.Time, dom string) *spec {
	r := g.r
	s := g.newSpec(a, "spam", t)
	lang := pick(r, []string{"en", "en", "en", "de", "ru"})
	s.from = addr{pick(r, []string{"Customer Service", "PayPaI Security", "Amazon Support Team", "Dr. Mary Johnson",
		"Lottery Board", "DHL Express", "Apple", "Crypto Insider", "Anna", "Account Team"}), fill(r, "?????##") + "@" + dom}
	s.mailer = mailers["spam"]
	s.senderDomain = dom
	s.zone = pick(r, []zone{zoneUTC, zoneRU, zoneUS, zoneJP})
	s.lang = lang
	s.msgID = g.newID("spam", dom)
	s.body = bodySpam
	s.bulk = chance(r, 0.3)
	s.subject = g.expand(pick(r, subjectList("spam", lang)), lang, a, nil)
	switch x := r.Float64(); {
	case x < 0.15:
		s.toGroup = "undisclosed-recipients:;"
	case x < 0.3:
		s.to = []addr{{"", fill(r, "?????##") + "@" + pick(r, []string{"gmail.com", "web.de", "yahoo.com"})}, {"", a.header}}
		s.rcptVisible = true
	default:
		s.to = []addr{{"", a.header}}
		s.rcptVisible = true
	}
	s.text = textInfo{seed: r.Uint64(), lang: lang}
	return s
}

// ---------------------------------------------------------------- planning

// planOrdinary writes exactly o.Messages ordinary specs.
func (g *generator) planOrdinary() {
	budget := g.o.Messages
	run := func(a *aliasInfo, o uopt) {
		if a == nil || budget <= 0 {
			return
		}
		o.max = budget
		budget -= g.unit(a, o)
	}
	find := func(f func(a *aliasInfo) bool) *aliasInfo { return g.findActive(f) }
	local := func(l string) *aliasInfo { return find(func(a *aliasInfo) bool { return a.local == l }) }
	// Starters guarantee coverage of folders and Kinds even in small corpora.
	john := g.mainPersonal()
	if budget > 0 {
		o := uopt{reply: true, max: budget}
		budget -= g.thread(john, pick(g.r, john.contacts), o, "personal", "person", bodyPersonal, 2)
	}
	if a := local("anna"); a != nil && budget > 0 {
		budget -= g.draft(a, uopt{})
	}
	run(local("lists+golang-nuts"), uopt{})
	run(local("invoices"), uopt{folder: folderFactures})
	if a := local("jobs"); a != nil && budget > 0 {
		budget -= g.thread(a, g.newPerson("de", ""), uopt{folder: folderWork, max: budget}, "jobs", "business", bodyApplication, 1)
	}
	run(find(func(a *aliasInfo) bool { return a.svc != nil && a.svc.lang == "ja" }), uopt{folder: folderJapanese})
	run(find(func(a *aliasInfo) bool { return a.svc != nil && a.svc.cat == "forum" }), uopt{folder: folderQA})
	if a := find(func(a *aliasInfo) bool { return !a.leaked.IsZero() }); a != nil && budget > 0 {
		if budget -= g.welcome(a, uopt{}); budget > 0 {
			budget -= g.spam(a, uopt{folder: folderJunk})
		}
	}
	run(local("news+heise"), uopt{folder: folderNews})
	if a := local("news+heise"); a != nil && budget > 0 {
		if budget -= g.welcome(a, uopt{}); budget > 0 {
			budget -= g.serviceMsg(a, uopt{folder: folderNewsSub})
		}
	}
	yt := g.yearTargets()
	run(yt[0].a, uopt{folder: folderArch2019, year: yt[0].year})
	run(yt[1].a, uopt{folder: folderArch2020, year: yt[1].year})
	if a := local("family"); a != nil && budget > 0 {
		budget -= g.multiTo(a, uopt{style: kindToOnly, year: 2014, folder: folderOld})
	}
	if a := local("anna"); a != nil && budget > 0 {
		budget -= g.undisclosedCc(a, uopt{style: kindToOnly, folder: folderTrash})
	}
	if a := local("family"); a != nil && budget > 0 {
		budget -= g.bcc(a, uopt{})
	}
	// Mail forwarded in from the old freemail account: about 1%.
	budget -= g.planForwarded(min(budget, int(math.Round(float64(g.o.Messages)/100))))
	// Spam to the never-given aliases.
	budget -= g.planNeverGiven(budget)
	// Every active alias once, then by weight.
	for _, a := range shuffled(g.r, g.active) {
		if budget <= 0 {
			break
		}
		if !g.hasSpecs(a) {
			run(a, uopt{})
		}
	}
	// Breached aliases get at least three spam messages after their leak, and
	// the breach pairs their share of service mail whatever their weight.
	for _, a := range g.active {
		for budget > 0 && (a.breached && a.leakSpam < 3 || a.pair && a.fromSvc < 4) {
			if budget -= g.welcome(a, uopt{}); budget <= 0 {
				break
			}
			if a.breached && a.leakSpam < 3 {
				budget -= g.spam(a, uopt{})
			} else {
				budget -= g.serviceMsg(a, uopt{})
			}
		}
	}
	// Every role alias has real correspondence, a thread the user answered
	// from it, and every corresponded service alias its thread with a person
	// at the service.
	for _, a := range g.active {
		if budget <= 0 {
			break
		}
		switch {
		case a.cat == catRole && a.sent == 0:
			budget -= g.roleCorrespondence(a, uopt{max: budget})
		case a.corresponded && !a.ticketed:
			if budget -= g.welcome(a, uopt{}); budget > 0 {
				budget -= g.ticketThread(a, uopt{max: budget})
			}
		}
	}
	for budget > 0 {
		run(g.pickActive(), uopt{})
	}
}

// mainPersonal returns john@, or another personal alias if the final mailbox took that name.
func (g *generator) mainPersonal() *aliasInfo {
	if a := g.findActive(func(a *aliasInfo) bool { return a.local == "john" }); a != nil {
		return a
	}
	return g.findActive(func(a *aliasInfo) bool { return a.cat == catPersonal })
}

func (g *generator) hasSpecs(a *aliasInfo) bool {
	for _, s := range g.specs {
		if s.alias == a {
			return true
		}
	}
	return false
}

// assignStyles gives every received message its recipient-header style and
// makes sure each style occurs.
func (g *generator) assignStyles() {
	r := g.r
	count := map[string]int{}
	for _, s := range g.specs {
		if !s.incoming || s.alias == nil {
			continue
		}
		if s.style == "" {
			s.style = pickStyle(r, s)
		}
		if s.kind == "" {
			count[s.style]++
		}
	}
	for _, st := range styles {
		if count[st] > 0 {
			continue
		}
		for _, s := range g.specs {
			if s.kind != "" || !s.incoming || s.alias == nil || count[s.style] < 2 {
				continue
			}
			if st == kindToOnly && !s.rcptVisible {
				continue
			}
			count[s.style]--
			s.style = st
			count[st]++
			break
		}
	}
	for _, s := range g.specs {
		if s.kind == "" {
			s.kind = s.style
		}
	}
}

func pickStyle(r *rand.Rand, s *spec) string {
	y := s.date.Year()
	var w []float64 // postfix qmail exim received-for to-only
	switch {
	case y < 2015:
		w = []float64{0.05, 0.6, 0.1, 0.12, 0.13}
	case y < 2019:
		w = []float64{0.1, 0.05, 0.6, 0.12, 0.13}
	default:
		w = []float64{0.65, 0.02, 0.05, 0.13, 0.15}
	}
	if !s.rcptVisible {
		w[4] = 0
	} else if len(s.others) > 0 {
		w[4] += 0.5
	}
	total := 0.0
	for _, x := range w {
		total += x
	}
	x := r.Float64() * total
	for i, v := range w {
		if x < v {
			return styles[i]
		}
		x -= v
	}
	return styles[0]
}

// assignFolders files every message.
func (g *generator) assignFolders() {
	r := g.r
	for _, s := range g.specs {
		s.folder = g.folderFor(r, s)
	}
}

func (g *generator) folderFor(r *rand.Rand, s *spec) string {
	if s.forceFolder != "" {
		return s.forceFolder
	}
	if s.origin == "spam" && chance(r, 0.6) {
		return folderJunk
	}
	a := s.alias
	if a != nil && a.cat == catList && a.list.folder != "" {
		return a.list.folder
	}
	if chance(r, 0.03) {
		return folderTrash
	}
	switch {
	case s.svc != nil && s.svc.lang == "ja" && chance(r, 0.7):
		return folderJapanese
	case s.svc != nil && s.svc.cat == "forum" && chance(r, 0.6):
		return folderQA
	case s.body == bodyNewsletter && chance(r, 0.3):
		if chance(r, 0.33) {
			return folderNewsSub
		}
		return folderNews
	case s.body == bodyInvoice && chance(r, 0.5):
		return folderFactures
	case a != nil && a.cat == catRole && (a.local == "jobs" || a.local == "careers" || a.local == "hr" || a.local == "sales") && chance(r, 0.35):
		return folderWork
	}
	if y := s.date.Year(); (y == 2019 || y == 2020) && chance(r, 0.35) {
		return "Archive/" + itoa(y)
	}
	if s.date.Year() < 2015 && chance(r, 0.25) {
		return folderOld
	}
	return folderInbox
}

// assignFlags sets the IMAP flags of every message.
func (g *generator) assignFlags() {
	r := g.r
	recent := g.end.AddDate(0, 0, -45)
	for _, s := range g.specs {
		var sys, kw []string
		add := func(f string) {
			if strings.HasPrefix(f, `\`) {
				sys = append(sys, f)
			} else {
				kw = append(kw, f)
			}
		}
		switch {
		case s.kind == kindSent:
			add(`\Seen`)
		case s.kind == kindDraft:
			if chance(r, 0.5) {
				add(`\Seen`)
			}
			add(`\Draft`)
		default:
			seen := 0.97
			if s.date.After(recent) {
				seen = 0.5
			}
			if s.origin == "spam" {
				seen = 0.5
			}
			if chance(r, seen) || s.answered {
				add(`\Seen`)
			}
			if s.answered {
				add(`\Answered`)
			}
			flag := 0.04
			if s.origin == "business" {
				flag = 0.08
			}
			if s.origin != "spam" && chance(r, flag) {
				add(`\Flagged`)
			}
			if s.folder == folderTrash && chance(r, 0.4) {
				add(`\Deleted`)
			}
			switch {
			case s.origin == "spam" && (s.folder == folderJunk && chance(r, 0.9) || chance(r, 0.2)):
				add("Junk")
			case s.origin != "spam" && chance(r, 0.03):
				add(pick(r, []string{"NonJunk", "$NotJunk"}))
			}
			if s.origin != "spam" && chance(r, 0.02) {
				add("$Forwarded")
			}
			if s.origin == "business" && chance(r, 0.06) {
				add(pick(r, []string{"$label1", "$label2", "$label3"}))
			}
			if s.origin == "person" && chance(r, 0.03) {
				add("$MDNSent")
			}
		}
		order := map[string]int{`\Seen`: 0, `\Answered`: 1, `\Flagged`: 2, `\Deleted`: 3, `\Draft`: 4}
		sort.Slice(sys, func(i, j int) bool { return order[sys[i]] < order[sys[j]] })
		sort.Strings(kw)
		s.flags = append(sys, kw...)
	}
}

// finish orders the messages, measures them and collects the aliases.
func (g *generator) finish() *Corpus {
	sort.SliceStable(g.specs, func(i, j int) bool {
		a, b := g.specs[i], g.specs[j]
		if !a.date.Equal(b.date) {
			return a.date.Before(b.date)
		}
		return a.seq < b.seq
	})
	c := &Corpus{Domain: g.env.domain, Domains: []string{g.env.domain}, FinalMailbox: g.env.final,
		Folders: slices.Clone(allFolders), NoSelect: slices.Clone(noSelect)}
	used := map[*aliasInfo]bool{}
	first := map[*aliasInfo]time.Time{}
	var buf bytes.Buffer
	for _, s := range g.specs {
		m := &Message{Folder: s.folder, Flags: s.flags, Date: s.date, Alias: "", Kind: s.kind, Origin: s.origin,
			MessageID: s.msgID, spec: s}
		if s.alias != nil {
			m.Alias = s.alias.addr
			used[s.alias] = true
			if _, ok := first[s.alias]; !ok {
				first[s.alias] = s.date
			}
			for _, o := range s.others {
				used[o] = true
			}
		}
		if s.kind == kindHuge {
			g.prepareHuge(s)
			m.Size = int64(len(s.prefix)) + base64Len(s.hugeRaw) + int64(len(s.suffix))
		} else {
			buf.Reset()
			s.render(&buf)
			m.Size = int64(buf.Len())
		}
		c.Messages = append(c.Messages, m)
	}
	for a := range used {
		al := Alias{Address: a.addr, Tag: a.tag, Service: a.service, NeverGiven: a.cat == catNeverGiven}
		if a.cat == catService {
			al.Breaches = breachesOf(a.service, a.created)
		}
		if a.hadSpam {
			al.Leaked = berlin(a.leaked)
		}
		if al.NeverGiven {
			al.Leaked = first[a] // all its mail is spam
		}
		al.Action = "forward"
		if al.NeverGiven || al.Tag == "disposable" && (len(al.Breaches) > 0 || !al.Leaked.IsZero()) {
			al.Action = "block"
		}
		c.Aliases = append(c.Aliases, al)
	}
	sort.Slice(c.Aliases, func(i, j int) bool { return c.Aliases[i].Address < c.Aliases[j].Address })
	return c
}
