package corpus

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// rawHeader returns the header of m as unfolded "Name: value" lines in order.
func rawHeader(t *testing.T, m *Message) []string {
	t.Helper()
	b := body(t, m)
	head, _, _ := bytes.Cut(b, []byte("\r\n\r\n"))
	var out []string
	for line := range strings.SplitSeq(string(head), "\r\n") {
		if (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")) && len(out) > 0 {
			out[len(out)-1] += " " + strings.TrimSpace(line)
			continue
		}
		out = append(out, line)
	}
	return out
}

// fieldName returns the lower-case name of a raw header line.
func fieldName(line string) string {
	n, _, _ := strings.Cut(line, ":")
	return strings.ToLower(n)
}

// deliveryNames reports whether the delivery headers of h name alias.
func deliveryNames(h mail.Header, alias string) bool {
	for _, k := range []string{"X-Original-To", "Delivered-To", "Envelope-To"} {
		for _, v := range h[k] {
			if strings.EqualFold(strings.Trim(v, "<> "), alias) {
				return true
			}
		}
	}
	if r := h["Received"]; len(r) > 0 && containsFold(r[0], "for <"+alias+">") {
		return true
	}
	return false
}

func rcpts(t *testing.T, h mail.Header) []string {
	t.Helper()
	return append(addresses(t, h, "To"), addresses(t, h, "Cc")...)
}

var dkimDomain = regexp.MustCompile(`(?i)\bd=([a-z0-9.-]+);`)

func TestNeverGiven(t *testing.T) {
	corpora := append(slices.Clone(breachCorpus()), small())
	junk, total := 0, 0
	for i, c := range corpora {
		t.Run(fmt.Sprint("corpus ", i), func(t *testing.T) {
			byAlias := map[string][]*Message{}
			for _, m := range c.Messages {
				if m.Alias != "" {
					byAlias[m.Alias] = append(byAlias[m.Alias], m)
				}
			}
			n := 0
			for _, a := range c.Aliases {
				if !a.NeverGiven {
					continue
				}
				n++
				if a.Tag != "disposable" || a.Service != "" || a.Action != "block" || len(a.Breaches) > 0 {
					t.Errorf("never-given alias %+v", a)
				}
				ms := byAlias[a.Address]
				if len(ms) < 2 || len(ms) > 8 {
					t.Errorf("%s: %d messages, want 2 to 8", a.Address, len(ms))
				}
				if len(ms) > 0 && !a.Leaked.Equal(ms[0].Date) {
					t.Errorf("%s: Leaked %v, first message %v", a.Address, a.Leaked, ms[0].Date)
				}
				doms := map[string]bool{}
				for _, m := range ms {
					total++
					if m.Folder == folderJunk {
						junk++
					} else if m.Folder != folderInbox {
						t.Errorf("%s: message in %s", a.Address, m.Folder)
					}
					if m.Origin != "spam" || !slices.Contains(styles, m.Kind) || m.spec.welcome ||
						slices.Contains(m.Flags, `\Answered`) {
						t.Errorf("%s: %s message of Kind %s, flags %v", a.Address, m.Origin, m.Kind, m.Flags)
					}
					h := parse(t, m).Header
					from := addresses(t, h, "From")
					if len(from) != 1 {
						t.Fatalf("%s: From %v", a.Address, from)
					}
					dom := domainOf(from[0])
					if doms[dom] {
						t.Errorf("%s: two messages from %s", a.Address, dom)
					}
					doms[dom] = true
					if dom == c.Domain || strings.HasSuffix(dom, "."+c.Domain) {
						t.Errorf("%s: spam from the user's own domain", a.Address)
					}
					for _, sig := range h["Dkim-Signature"] {
						if d := dkimDomain.FindStringSubmatch(sig); d != nil && strings.EqualFold(d[1], dom) {
							t.Errorf("%s: spam signed by its sender %s", a.Address, dom)
						}
					}
					named := deliveryNames(h, a.Address)
					if m.Kind == kindToOnly {
						named = slices.Contains(rcpts(t, h), a.Address)
					}
					if !named {
						t.Errorf("%s: %s message does not name the alias", a.Address, m.Kind)
					}
				}
			}
			want := [2]int{6, 12}
			if ordinary(c) < 2000 {
				want = [2]int{1, 12}
			}
			if n < want[0] || n > want[1] {
				t.Errorf("%d never-given aliases, want %d to %d", n, want[0], want[1])
			}
			// Nothing is ever sent from, or drafted at, a never-given alias.
			for _, m := range c.Messages {
				if (m.Kind == kindSent || m.Kind == kindDraft) && slices.ContainsFunc(c.Aliases, func(a Alias) bool {
					return a.NeverGiven && a.Address == m.Alias
				}) {
					t.Errorf("%s message from never-given alias %s", m.Kind, m.Alias)
				}
			}
		})
	}
	t.Logf("%d of %d never-given messages in Junk", junk, total)
	if share := float64(junk) / float64(total); share < 0.6 || share > 0.8 {
		t.Errorf("%d of %d never-given messages in Junk (%.2f), want about 70%%", junk, total, share)
	}
	t.Run("at least four from 500 messages", func(t *testing.T) {
		for seed := int64(1); seed <= 4; seed++ {
			c := Generate(&Options{Seed: seed, Messages: 500, HugeMessages: -1, NoOdd: true})
			n := 0
			for _, a := range c.Aliases {
				if a.NeverGiven {
					n++
				}
			}
			if n < 4 {
				t.Errorf("seed %d: %d never-given aliases", seed, n)
			}
		}
	})
}

// ordinary is the number of ordinary messages of c: all but the odd and
// huge ones.
func ordinary(c *Corpus) int {
	n := 0
	for _, m := range c.Messages {
		if !slices.Contains(oddKinds, m.Kind) && m.Kind != kindHuge {
			n++
		}
	}
	return n
}

func TestBusinessServices(t *testing.T) {
	corresponded, signups := 0, 0
	for i, c := range breachCorpus() {
		t.Run(fmt.Sprint("seed ", i+1), func(t *testing.T) {
			sent := map[string][]*Message{}
			in := map[string][]*Message{}
			var bizSvc *aliasInfo
			svcOf := map[string]*aliasInfo{}
			for _, m := range c.Messages {
				if m.spec.alias != nil {
					svcOf[m.Alias] = m.spec.alias
				}
				switch {
				case m.Kind == kindSent:
					sent[m.Alias] = append(sent[m.Alias], m)
				case m.Alias != "" && !slices.Contains(oddKinds, m.Kind):
					in[m.Alias] = append(in[m.Alias], m)
				}
			}
			for _, a := range c.Aliases {
				ai := svcOf[a.Address]
				switch {
				case a.Tag == "business" && a.Service == "":
					// A role alias: real correspondence, not only spam.
					if len(sent[a.Address]) == 0 {
						t.Errorf("role alias %s: nothing sent from it", a.Address)
					}
					if !slices.ContainsFunc(in[a.Address], func(m *Message) bool { return m.Origin == "business" }) {
						t.Errorf("role alias %s: no mail from people at organisations", a.Address)
					}
				case ai != nil && ai.cat == catService && ai.svc.tag == "business":
					if a.Tag == "disposable" {
						signups++
						if len(sent[a.Address]) > 0 {
							t.Errorf("signup %s: %d messages sent from it", a.Address, len(sent[a.Address]))
						}
						for _, m := range in[a.Address] {
							if m.Origin != "service" && m.Origin != "spam" {
								t.Errorf("signup %s: %s message", a.Address, m.Origin)
							}
						}
						continue
					}
					if a.Tag != "business" {
						t.Errorf("business-service alias %s tagged %s", a.Address, a.Tag)
						continue
					}
					corresponded++
					bizSvc = ai
					ss := sent[a.Address]
					if len(ss) < 1 || len(ss) > 3 {
						t.Errorf("%s: %d sent messages, want 1 to 3", a.Address, len(ss))
					}
					ids := map[string]bool{}
					for _, m := range ss {
						ids[m.MessageID] = true
						h := parse(t, m).Header
						to := addresses(t, h, "To")
						if f := addresses(t, h, "From"); len(f) != 1 || f[0] != a.Address || len(to) != 1 ||
							domainOf(to[0]) != a.Service || m.Folder != folderSent {
							t.Errorf("%s: sent From %v To %v in %s", a.Address, f, to, m.Folder)
						}
					}
					replies := 0
					for _, m := range in[a.Address] {
						h := parse(t, m).Header
						if m.Origin != "business" || !ids[h.Get("In-Reply-To")] {
							continue
						}
						replies++
						f := addresses(t, h, "From")
						if len(f) != 1 || domainOf(f[0]) != a.Service || h.Get("X-Mailer")+h.Get("User-Agent") == "" {
							t.Errorf("%s: reply From %v, X-Mailer %q, User-Agent %q", a.Address, f, h.Get("X-Mailer"), h.Get("User-Agent"))
						}
						if !deliveryNames(h, a.Address) && !(m.Kind == kindToOnly && slices.Contains(rcpts(t, h), a.Address)) {
							t.Errorf("%s: reply does not name the alias", a.Address)
						}
					}
					if replies != len(ss) {
						t.Errorf("%s: %d replies to %d sent messages", a.Address, replies, len(ss))
					}
				}
			}
			if bizSvc == nil {
				t.Error("no business-service alias with truth business")
			}
		})
	}
	t.Logf("%d business-service aliases corresponded, %d signups", corresponded, signups)
	if share := float64(corresponded) / float64(corresponded+signups); share < 0.25 || share > 0.42 {
		t.Errorf("%d business-service aliases corresponded, %d signups: share %.2f, want about a third", corresponded,
			signups, share)
	}
}

func TestMailingLists(t *testing.T) {
	for i, c := range append(slices.Clone(breachCorpus()), small()) {
		t.Run(fmt.Sprint("corpus ", i), func(t *testing.T) {
			lists := map[string]string{} // alias -> list address
			for _, a := range c.Aliases {
				switch {
				case a.Address == "lists+golang-nuts@"+c.Domain:
					lists[a.Address] = "golang-nuts@googlegroups.com"
				case a.Address == "lists+debian-user@"+c.Domain || a.Address == "debian@"+c.Domain:
					lists[a.Address] = "debian-user@lists.debian.org"
					if a.Tag != "disposable" || a.Service != "debian.org" || a.Action != "forward" {
						t.Errorf("debian list alias %+v", a)
					}
				}
			}
			if len(lists) != 2 {
				t.Fatalf("list aliases %v, want golang-nuts and debian-user", lists)
			}
			seen := map[string]int{}
			for _, m := range c.Messages {
				if m.Origin != "list" {
					continue
				}
				seen[m.Alias]++
				h := parse(t, m).Header
				to := rcpts(t, h)
				if lists[m.Alias] == "" || !slices.Equal(to, []string{lists[m.Alias]}) || m.Kind == kindToOnly {
					t.Errorf("list message to %s: Kind %s, To/Cc %v", m.Alias, m.Kind, to)
				}
				if id := h.Get("List-Id"); !strings.HasPrefix(id, "<") || !strings.Contains(id, strings.Replace(lists[m.Alias], "@", ".", 1)) {
					t.Errorf("list message to %s: List-Id %q", m.Alias, id)
				}
				if !deliveryNames(h, m.Alias) {
					t.Errorf("list message to %s (%s) does not name the alias in delivery headers", m.Alias, m.Kind)
				}
			}
			for a := range lists {
				if seen[a] == 0 {
					t.Errorf("no list mail to %s", a)
				}
			}
		})
	}
}

func TestBcc(t *testing.T) {
	bcc := map[string]int{}
	for _, c := range append(slices.Clone(breachCorpus()), small()) {
		for _, m := range c.Messages {
			if !slices.Contains(styles, m.Kind) || m.Origin == "list" {
				continue
			}
			h := parse(t, m).Header
			if slices.Contains(rcpts(t, h), m.Alias) {
				continue
			}
			bcc[m.Origin]++
			if m.Kind == kindToOnly || !deliveryNames(h, m.Alias) {
				t.Errorf("%s message to %s of Kind %s does not name its alias (To %q)", m.Origin, m.Alias, m.Kind, h.Get("To"))
			}
			if m.Origin == "person" || m.Origin == "service" {
				if to := h.Get("To"); to != "undisclosed-recipients:;" && !slices.Equal(addresses(t, h, "To"), addresses(t, h, "From")) {
					t.Errorf("Bcc'd %s message To %q, From %q", m.Origin, to, h.Get("From"))
				}
			}
		}
	}
	t.Logf("Bcc'd messages by origin: %v", bcc)
	if bcc["person"] == 0 || bcc["service"] < 5 {
		t.Errorf("Bcc'd messages by origin: %v", bcc)
	}
}

func TestForwardedIn(t *testing.T) {
	for i, c := range append(slices.Clone(breachCorpus()), small()) {
		t.Run(fmt.Sprint("corpus ", i), func(t *testing.T) {
			n := 0
			origins := map[string]int{}
			old := ""
			for _, m := range c.Messages {
				if m.Kind != kindForwardedIn {
					continue
				}
				n++
				origins[m.Origin]++
				if m.Alias != "" || (m.Origin != "person" && m.Origin != "service") {
					t.Errorf("forwarded-in message: Alias %q, Origin %q", m.Alias, m.Origin)
				}
				h := parse(t, m).Header
				to := addresses(t, h, "To")
				if len(to) != 1 || strings.HasSuffix(to[0], "@"+c.Domain) {
					t.Fatalf("forwarded-in message To %v", to)
				}
				if old == "" {
					old = to[0]
				}
				if to[0] != old || (domainOf(old) != "gmail.com" && domainOf(old) != "web.de") {
					t.Errorf("forwarded-in To %s, first one to %s", to[0], old)
				}
				if h.Get("X-Original-To") != c.FinalMailbox || !slices.Equal(h["Delivered-To"], []string{c.FinalMailbox, old}) {
					t.Errorf("X-Original-To %q, Delivered-To %q", h.Get("X-Original-To"), h["Delivered-To"])
				}
				lines := rawHeader(t, m)
				top, dt := -1, -1
				provider := false
				for j, l := range lines {
					switch fieldName(l) {
					case "received":
						if top < 0 {
							top = j
							if !strings.Contains(l, "by mx."+c.Domain) || !strings.Contains(l, "for <"+c.FinalMailbox+">") {
								t.Errorf("top Received %q", l)
							}
						} else if dt < 0 && (strings.Contains(l, "google.com") || strings.Contains(l, "web.de")) {
							provider = true
						} else if dt >= 0 && strings.Contains(l, "for <"+old+">") {
							provider = true
						}
					case "delivered-to":
						if strings.EqualFold(strings.TrimSpace(l[len("Delivered-To:"):]), old) {
							dt = j
						}
					}
				}
				if top < 0 || dt < top || !provider {
					t.Errorf("top Received at %d, Delivered-To %s at %d, provider Received %v", top, old, dt, provider)
				}
				for _, a := range c.Aliases {
					if strings.EqualFold(a.Address, old) || domainOf(a.Address) != c.Domain {
						t.Errorf("alias %s", a.Address)
					}
				}
			}
			want := (ordinary(c) + 50) / 100
			if n != want || origins["person"] == 0 || origins["service"] == 0 && n > 4 {
				t.Errorf("%d forwarded-in messages (%v), want %d from people and services", n, origins, want)
			}
		})
	}
}

func TestForeign(t *testing.T) {
	for i, c := range append(slices.Clone(breachCorpus()), small(), Generate(&Options{Seed: 5, Messages: 300, Domain: "example.com"})) {
		t.Run(fmt.Sprint("corpus ", i), func(t *testing.T) {
			n, withDT := 0, 0
			for _, m := range c.Messages {
				if m.Kind != kindForeign {
					continue
				}
				n++
				if m.Alias != "" || m.Folder != folderInbox || m.Origin != "person" {
					t.Errorf("foreign message: Alias %q, Folder %q, Origin %q", m.Alias, m.Folder, m.Origin)
				}
				h := parse(t, m).Header
				to := addresses(t, h, "To")
				if len(to) != 1 || domainOf(to[0]) == c.Domain || strings.HasSuffix(domainOf(to[0]), "."+c.Domain) {
					t.Errorf("foreign message To %v", to)
				}
				if h.Get("X-Original-To") != "" || h.Get("Envelope-To") != "" {
					t.Error("foreign message has a delivery header")
				}
				lines := rawHeader(t, m)
				firstReceived := -1
				for j, l := range lines {
					if containsFold(l, c.Domain) {
						t.Errorf("foreign message names the user's domain: %q", l)
					}
					switch fieldName(l) {
					case "received":
						if firstReceived < 0 {
							firstReceived = j
						}
					case "delivered-to":
						withDT++
						if firstReceived < 0 || firstReceived > j || len(to) == 0 || !containsFold(l, to[0]) {
							t.Errorf("Delivered-To %q at %d, first Received at %d", l, j, firstReceived)
						}
					}
				}
			}
			if want := 3 + ordinary(c)/1000; n != want {
				t.Errorf("%d foreign messages, want %d", n, want)
			}
			if withDT == 0 || withDT == n {
				t.Errorf("%d of %d foreign messages with Delivered-To, want some", withDT, n)
			}
		})
	}
	c := Generate(&Options{Seed: 7, Messages: 150, HugeMessages: -1, NoOdd: true})
	for _, m := range c.Messages {
		if m.Kind == kindForeign {
			t.Fatal("foreign message with NoOdd")
		}
	}
}

func TestNewsletterSubfolder(t *testing.T) {
	sub, news := 0, 0
	for _, c := range append(slices.Clone(breachCorpus()), small()) {
		if !slices.Contains(c.Folders, folderNewsSub) || slices.Contains(c.NoSelect, folderNewsSub) {
			t.Fatalf("folders %v", c.Folders)
		}
		for _, m := range c.Messages {
			switch m.Folder {
			case folderNewsSub:
				sub++
				if m.spec.body != bodyNewsletter || m.Origin != "service" || m.Kind == kindDraft || slices.Contains(m.Flags, `\Draft`) {
					t.Errorf("%s message (%s, flags %v) in %s", m.Origin, m.Kind, m.Flags, m.Folder)
				}
			case folderNews:
				news++
			}
		}
	}
	t.Logf("%d newsletters in %s, %d in %s", sub, folderNewsSub, news, folderNews)
	if share := float64(sub) / float64(sub+news); share < 0.25 || share > 0.42 {
		t.Errorf("%d newsletters in %s, %d in %s: share %.2f", sub, folderNewsSub, news, folderNews, share)
	}
}

func TestDeterminismDefaults(t *testing.T) {
	a, b := Generate(&Options{Seed: 2, Messages: 2000, HugeSize: 64 << 10}), Generate(&Options{Seed: 2, Messages: 2000, HugeSize: 64 << 10})
	sa, da := digest(t, a)
	sb, db := digest(t, b)
	if da != db || !slices.Equal(sa, sb) {
		t.Fatal("two Generate calls with equal options differ")
	}
	ja, _ := json.Marshal(a.Aliases)
	jb, _ := json.Marshal(b.Aliases)
	if !bytes.Equal(ja, jb) {
		t.Fatal("aliases differ")
	}
}

func TestTruthJSONFields(t *testing.T) {
	c := Generate(&Options{Seed: 1, Messages: 600, HugeMessages: -1})
	dir := t.TempDir()
	if err := c.WriteMaildir(dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Domains []string         `json:"domains"`
		Aliases []map[string]any `json:"aliases"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(raw.Domains, []string{c.Domain}) {
		t.Errorf("domains %v", raw.Domains)
	}
	never := 0
	for _, a := range raw.Aliases {
		if a["action"] != "block" && a["action"] != "forward" {
			t.Errorf("alias %v: action %v", a["address"], a["action"])
		}
		if a["never_given"] == true {
			never++
		}
	}
	if never == 0 {
		t.Error("no never_given alias in truth.json")
	}
}

func TestEveryMessageNamesItsAlias(t *testing.T) {
	for i, c := range breachCorpus() {
		t.Run(fmt.Sprint("seed ", i+1), func(t *testing.T) {
			for _, m := range c.Messages {
				if !slices.Contains(styles, m.Kind) {
					continue
				}
				h := parse(t, m).Header
				inTo := slices.Contains(rcpts(t, h), m.Alias)
				delivery := deliveryNames(h, m.Alias)
				switch {
				case m.Kind == kindToOnly && (!inTo || delivery):
					t.Errorf("to-only message to %s: in To/Cc %v, in delivery headers %v", m.Alias, inTo, delivery)
				case m.Kind != kindToOnly && !delivery:
					t.Errorf("%s message to %s does not name it in delivery headers", m.Kind, m.Alias)
				}
			}
		})
	}
}
