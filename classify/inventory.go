package classify

import (
	"bytes"
	"context"
	"fmt"
	"net/mail"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Stats is everything the inventory knows about one alias. Its size grows
// with the number of distinct correspondents (capped), never with the number
// of messages.
type Stats struct {
	Alias        string // lower case, punycode domain, subaddress removed
	Received     int    // messages received at it
	Sent         int    // messages sent from it
	SentToPeople int    // of those, to individuals (not machine addresses)
	First, Last  time.Time
	Folders      map[string]int
	Senders      map[string]*Sender // by registrable domain of the From address (capped)
	Replies      int                // received messages that are replies (In-Reply-To/References)
	Bulk         int                // received messages with bulk or ESP headers
	Freemail     int                // received from freemail providers
	Clients      int                // received written with a mail client (User-Agent/X-Mailer)
	Machine      int                // received from noreply-like senders
	Ambiguous    int                // counted from To/Cc among several addresses at the domain
	RevealedBy   map[string]int     // which rule found it: ByOriginal, ByDeliveredTo, ByReceived, ByToCc
	Subaddress   map[string]int     // "+tag" parts seen
	Services     map[string]int     // organisation domains from From, DKIM d=, Feedback-ID (not ESPs)
	SentToFree   int                // messages sent from it to freemail addresses
	Signed       int                // received with a DKIM signature of the From domain's organisation
	Months       map[string]int     // received messages per month ("2006-01", UTC); nil until the first dated one
	Junk         int                // received messages in a Junk/Spam folder
	Signup       int                // received welcome, confirm-your-address or account messages signed by their organisation
}

// Sender is one correspondent domain of an alias.
type Sender struct {
	Domain      string
	Messages    int
	First, Last time.Time
	Via         map[string]int // organisations that signed its mail (DKIM d=, Feedback-ID), capped
}

const maxSenders = 256

// Inventory is the result of reading a mail store: every alias at the user's
// domains with its statistics.
type Inventory struct {
	Domains      []string // the user's domains, given or detected
	FinalMailbox string   // the mailbox everything was delivered to, "" if none stood out
	Aliases      map[string]*Stats
	Final        *Stats // mail resolved to the final mailbox itself
	Messages     int    // messages read
	Unknown      int    // received messages whose recipient could not be found
	Drafts       int    // drafts, ignored
	Unreadable   int    // files that could not be read
	// Evidence says, for each of Domains, why it is the user's.
	Evidence []DomainEvidence

	delivered, sent map[string]int // by domain, for Evidence
	mu              sync.Mutex
}

// Options configures Build.
type Options struct {
	// Domains are the user's domains; empty means detect them.
	Domains []string
	// FinalMailbox is the real mailbox; empty means detect it.
	FinalMailbox string
	// SampleSize is how many messages the detection pass reads; zero means 5000.
	SampleSize int
}

// Build reads every message of src and returns the alias inventory. It first
// reads a sample to learn the final mailbox and, unless given, the user's
// domains (see DomainEvidence), then everything. When the mail does not
// show clearly which domains are the user's it returns a *DomainError.
func Build(ctx context.Context, src Source, opts *Options) (*Inventory, error) {
	if opts == nil {
		opts = &Options{}
	}
	user := &User{Domains: map[string]bool{}, FinalMailbox: strings.ToLower(opts.FinalMailbox)}
	given := map[string]bool{}
	for _, d := range opts.Domains {
		if d, ok := NormalizeAddress("x@" + d); ok {
			user.Domains[Domain(d)] = true
			given[Domain(d)] = true
		}
	}
	if len(user.Domains) == 0 || user.FinalMailbox == "" {
		tally, err := detect(ctx, src, opts.SampleSize)
		if err != nil {
			return nil, err
		}
		if user.FinalMailbox == "" {
			user.FinalMailbox = tally.finalMailbox()
		}
		if len(user.Domains) == 0 {
			found, err := tally.decide(src.String(), user.FinalMailbox)
			if err != nil {
				return nil, err
			}
			for _, e := range found {
				user.Domains[e.Domain] = true
			}
		}
	}
	inv := &Inventory{FinalMailbox: user.FinalMailbox, Aliases: map[string]*Stats{}, delivered: map[string]int{}, sent: map[string]int{}}
	for d := range user.Domains {
		inv.Domains = append(inv.Domains, d)
	}
	slices.Sort(inv.Domains)
	var scratchPool = sync.Pool{New: func() any { return new([]byte) }}
	st, err := src.Walk(ctx, 1, func(m *Message) {
		sp := scratchPool.Get().(*[]byte)
		var o *observation
		o, *sp = observe(user, m, *sp)
		scratchPool.Put(sp)
		inv.add(user, o)
	})
	inv.Messages, inv.Unreadable = st.Messages, st.Unreadable
	for _, d := range inv.Domains {
		inv.Evidence = append(inv.Evidence, DomainEvidence{Domain: d, Delivered: inv.delivered[d], Sent: inv.sent[d],
			Final: d == Domain(inv.FinalMailbox), Given: given[d]})
	}
	slices.SortFunc(inv.Evidence, func(a, b DomainEvidence) int {
		if a.Delivered != b.Delivered {
			return b.Delivered - a.Delivered
		}
		return strings.Compare(a.Domain, b.Domain)
	})
	return inv, err
}

// DomainsLine is the detected (or given) domains with their evidence, as
// the commands print it: "domains: example.com (3,612 messages delivered,
// final mailbox)".
func (inv *Inventory) DomainsLine() string {
	var parts []string
	for _, e := range inv.Evidence {
		parts = append(parts, e.String())
	}
	return "domains: " + strings.Join(parts, "; ")
}

// detect reads a sample and counts the evidence of which domains deliver
// into the mailbox and which address is its final mailbox.
func detect(ctx context.Context, src Source, sample int) (*domainTally, error) {
	if sample <= 0 {
		sample = 5000
	}
	var mu sync.Mutex
	tally := newDomainTally()
	n := 0
	every := 1
	if total := src.Count(ctx); total > sample {
		every = total / sample
	}
	sampleCtx, stop := context.WithCancel(ctx)
	defer stop()
	st, err := src.Walk(sampleCtx, every, func(m *Message) {
		mu.Lock()
		if n >= sample {
			mu.Unlock()
			stop() // enough: an mbox cannot be sampled by stride
			return
		}
		n++
		mu.Unlock()
		fields := ParseHeader(m.Header)
		mu.Lock()
		tally.add(m.Role, fields)
		mu.Unlock()
	})
	if err != nil && ctx.Err() == nil && sampleCtx.Err() != nil {
		err = nil // stopped after the sample
	}
	if err != nil {
		return nil, err
	}
	if st.Messages == 0 && n == 0 {
		return nil, fmt.Errorf("%s holds no messages", src)
	}
	return tally, nil
}

// observation is what one message says, computed without the lock.
type observation struct {
	folder     string
	role       Role
	date       time.Time
	recipient  Recipient
	from       string
	fromDomain string
	to         []string // for sent mail
	reply      bool
	bulk       bool
	client     bool
	services   []string
	sentFrom   string // alias this message was sent from, "" if received
	signed     bool   // DKIM d= is the From domain's organisation
	signup     bool   // the Subject is a welcome, confirmation or account message
}

// Header field kinds observe cares about.
const (
	hOther     = iota
	hRecipient // needed by User.Recipient
	hReceived
	hFrom
	hToCc
	hReply
	hClient
	hPrecedence
	hAutoSubmitted
	hDKIM
	hFeedbackID
	hDate
	hBulk
	hSubject
)

var headerKinds = func() map[string]int {
	m := map[string]int{
		"received": hReceived, "from": hFrom, "to": hToCc, "cc": hToCc, "in-reply-to": hReply, "references": hReply,
		"user-agent": hClient, "x-mailer": hClient, "precedence": hPrecedence, "auto-submitted": hAutoSubmitted,
		"dkim-signature": hDKIM, "feedback-id": hFeedbackID, "date": hDate, "delivered-to": hRecipient, "subject": hSubject,
	}
	for _, n := range originalFields {
		m[strings.ToLower(n)] = hRecipient
	}
	for _, n := range bulkHeaders {
		if _, ok := m[strings.ToLower(n)]; !ok {
			m[strings.ToLower(n)] = hBulk
		}
	}
	return m
}()

// headerKind classifies a field name without allocating.
func headerKind(name []byte) int {
	var buf [32]byte
	if len(name) > len(buf) {
		return hOther
	}
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return headerKinds[string(buf[:len(name)])]
}

// maxReceived bounds how many Received fields are kept for rule 4: the
// user's own server adds the top few.
const maxReceived = 8

func observe(user *User, m *Message, scratch []byte) (*observation, []byte) {
	o := &observation{folder: m.Folder, role: m.Role, date: m.Date}
	var fields []Field // what Recipient needs, in order
	received := 0
	var dateHeader []byte
	scratch = scanHeader(m.Header, scratch, func(name, value []byte) {
		switch headerKind(name) {
		case hRecipient:
			fields = append(fields, Field{Name: string(name), Value: string(value)})
		case hReceived:
			received++
			if received <= maxReceived {
				fields = append(fields, Field{Name: "Received", Value: string(value)})
			}
		case hFrom:
			if o.from == "" {
				if a := Addresses(string(value)); len(a) > 0 {
					o.from = a[0]
					o.fromDomain = Registrable(Domain(a[0]))
				}
			}
		case hToCc:
			v := string(value)
			fields = append(fields, Field{Name: "To", Value: v})
			o.to = append(o.to, Addresses(v)...)
		case hReply:
			o.reply = true
		case hClient:
			o.client = o.client || isMailClient(string(value))
		case hPrecedence:
			v := bytes.ToLower(value)
			o.bulk = o.bulk || bytes.Contains(v, []byte("bulk")) || bytes.Contains(v, []byte("list")) || bytes.Contains(v, []byte("junk"))
		case hAutoSubmitted:
			o.bulk = o.bulk || !bytes.EqualFold(bytes.TrimSpace(value), []byte("no"))
		case hDKIM:
			if d := dkimDomain(value); d != "" {
				o.services = append(o.services, d)
			}
		case hFeedbackID:
			// "campaign:customer:type:sender-domain" — the last part names the sender.
			last := value[bytes.LastIndexByte(value, ':')+1:]
			if d := strings.ToLower(string(bytes.TrimSpace(last))); strings.Contains(d, ".") {
				o.services = append(o.services, Registrable(d))
			}
			o.bulk = true
		case hDate:
			dateHeader = append(dateHeader[:0], value...)
		case hBulk:
			o.bulk = true
		case hSubject:
			o.signup = isSignupSubject(value)
		}
	})
	if o.fromDomain != "" {
		o.signed = slices.Contains(o.services, o.fromDomain) // services holds the DKIM domains so far
		o.services = append(o.services, o.fromDomain)
	}
	if o.date.IsZero() && len(dateHeader) > 0 {
		o.date, _ = mail.ParseDate(string(dateHeader))
	}
	if m.Role == RoleDrafts {
		return o, scratch
	}
	// Sent mail: in a Sent folder, or composed here (no Received) from the
	// user's domain. Mail that merely claims to be from the domain after
	// crossing the internet is not counted as sent: spammers forge From.
	if o.from != "" && user.InDomain(o.from) && len(user.Domains) > 0 && (m.Role == RoleSent || received == 0) {
		o.sentFrom = o.from
		return o, scratch
	}
	if m.Role == RoleSent {
		return o, scratch // sent from elsewhere (e.g. the final mailbox's own address)
	}
	o.recipient = user.Recipient(fields)
	return o, scratch
}

// dkimDomain returns the registrable d= domain of a DKIM-Signature, unless it
// is an ESP's.
func dkimDomain(v []byte) string {
	for len(v) > 0 {
		var tag []byte
		tag, v, _ = bytes.Cut(v, []byte(";"))
		k, val, ok := bytes.Cut(bytes.TrimSpace(tag), []byte("="))
		if ok && string(bytes.TrimSpace(k)) == "d" {
			d := Registrable(string(bytes.TrimSpace(val)))
			if espDomains[d] {
				return ""
			}
			return d
		}
	}
	return ""
}

func (inv *Inventory) stats(alias string) *Stats {
	s := inv.Aliases[alias]
	if s == nil {
		s = &Stats{Alias: alias, Folders: map[string]int{}, Senders: map[string]*Sender{}, RevealedBy: map[string]int{},
			Subaddress: map[string]int{}, Services: map[string]int{}}
		inv.Aliases[alias] = s
	}
	return s
}

func (s *Stats) seen(t time.Time) {
	if t.IsZero() {
		return
	}
	if s.First.IsZero() || t.Before(s.First) {
		s.First = t
	}
	if t.After(s.Last) {
		s.Last = t
	}
}

func (inv *Inventory) add(user *User, o *observation) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if o.role == RoleDrafts {
		inv.Drafts++
		return
	}
	if o.sentFrom != "" {
		inv.sent[Domain(o.sentFrom)]++
		base, tag := SplitSubaddress(o.sentFrom)
		if base == user.FinalMailbox {
			return
		}
		s := inv.stats(base)
		if tag != "" {
			s.Subaddress[tag]++
		}
		s.Sent++
		s.Folders[o.folder]++
		s.seen(o.date)
		people, free := false, false
		for _, a := range o.to {
			if !user.InDomain(a) && !isMachineSender(a) {
				people = true
			}
			if freemail[Domain(a)] {
				free = true
			}
		}
		if people {
			s.SentToPeople++
		}
		if free {
			s.SentToFree++
		}
		return
	}
	if o.role == RoleSent {
		return
	}
	if len(o.recipient.Addrs) == 0 {
		inv.Unknown++
		return
	}
	if o.recipient.By != ByToCc {
		var counted []string
		for _, addr := range o.recipient.Addrs {
			if d := Domain(addr); !slices.Contains(counted, d) {
				counted = append(counted, d)
				inv.delivered[d]++
			}
		}
	}
	for _, addr := range o.recipient.Addrs {
		base, tag := SplitSubaddress(addr)
		var s *Stats
		if base == user.FinalMailbox || addr == user.FinalMailbox {
			if inv.Final == nil {
				inv.Final = &Stats{Alias: user.FinalMailbox, Folders: map[string]int{}, Senders: map[string]*Sender{},
					RevealedBy: map[string]int{}, Subaddress: map[string]int{}, Services: map[string]int{}}
			}
			s = inv.Final
		} else {
			s = inv.stats(base)
		}
		if tag != "" {
			s.Subaddress[tag]++
		}
		s.Received++
		if o.role == RoleJunk {
			s.Junk++
		}
		if o.signup && o.signed {
			s.Signup++ // signed by the sender's organisation: phishing rarely is
		}
		if !o.date.IsZero() {
			if s.Months == nil {
				s.Months = map[string]int{}
			}
			s.Months[o.date.UTC().Format("2006-01")]++
		}
		s.Folders[o.folder]++
		s.RevealedBy[o.recipient.By]++
		if o.recipient.Ambiguous {
			s.Ambiguous++
		}
		s.seen(o.date)
		if o.reply {
			s.Replies++
		}
		if o.bulk {
			s.Bulk++
		}
		if o.signed {
			s.Signed++
		}
		if o.client {
			s.Clients++
		}
		if o.from != "" {
			if freemail[Domain(o.from)] {
				s.Freemail++
			}
			if isMachineSender(o.from) {
				s.Machine++
			}
		}
		if d := o.fromDomain; d != "" {
			snd := s.Senders[d]
			if snd == nil && len(s.Senders) < maxSenders {
				snd = &Sender{Domain: d, Via: map[string]int{}}
				s.Senders[d] = snd
			}
			if snd != nil {
				snd.Messages++
				for _, via := range o.services {
					if via != d && (len(snd.Via) < 8 || snd.Via[via] > 0) {
						snd.Via[via]++
					}
				}
				if snd.First.IsZero() || o.date.Before(snd.First) {
					snd.First = o.date
				}
				if o.date.After(snd.Last) {
					snd.Last = o.date
				}
			}
		}
		seenSvc := map[string]bool{}
		for _, d := range o.services {
			if !seenSvc[d] && !espDomains[d] && (!freemail[d] || nameMatches(nameStem(strings.Split(base, "@")[0]), d)) && (len(s.Services) < maxSenders || s.Services[d] > 0) {
				s.Services[d]++
				seenSvc[d] = true
			}
		}
	}
}

// Sorted returns the aliases sorted by address.
func (inv *Inventory) Sorted() []*Stats {
	out := make([]*Stats, 0, len(inv.Aliases))
	for _, s := range inv.Aliases {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Alias < out[j].Alias })
	return out
}

// TopSenders returns up to n sender domains, most messages first.
func (s *Stats) TopSenders(n int) []*Sender {
	out := make([]*Sender, 0, len(s.Senders))
	for _, snd := range s.Senders {
		out = append(out, snd)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Messages != out[j].Messages {
			return out[i].Messages > out[j].Messages
		}
		return out[i].Domain < out[j].Domain
	})
	return out[:min(n, len(out))]
}

// Revealed returns the rule that found the alias most often.
func (s *Stats) Revealed() string {
	best, n := "", 0
	for by, c := range s.RevealedBy {
		if c > n || c == n && by < best {
			best, n = by, c
		}
	}
	if best == "" && s.Sent > 0 {
		return "sent-from"
	}
	return best
}
