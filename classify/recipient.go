package classify

import (
	"regexp"
	"strings"
)

// Revealing header names, as recorded in Recipient.By and the plan.
const (
	ByOriginal    = "original-recipient" // X-Original-To and its kin
	ByDeliveredTo = "delivered-to"
	ByReceived    = "received-for"
	ByToCc        = "to-cc"
)

// originalFields name the original recipient explicitly (rule 2).
var originalFields = []string{"X-Original-To", "X-Delivered-To", "Envelope-To", "X-Envelope-To", "X-Rcpt-To", "X-Gm-Original-To"}

// User is what the extractor knows about the mailbox's owner.
type User struct {
	Domains      map[string]bool // the user's domains, lower case, punycode
	FinalMailbox string          // the real mailbox everything was delivered to, "" if unknown
}

// InDomain reports whether addr is at one of the user's domains (any domain
// when none is known yet).
func (u *User) InDomain(addr string) bool {
	if len(u.Domains) == 0 {
		return true
	}
	return u.Domains[Domain(addr)]
}

// Recipient is the result of extracting the real recipient of a message.
type Recipient struct {
	Addrs     []string // full addresses (subaddress kept), none if unknown
	By        string   // which rule found them: ByOriginal, ByDeliveredTo, ByReceived, ByToCc
	Ambiguous bool     // several candidates from To/Cc: each is counted
}

// Recipient finds the address a message was really sent to. In order of
// trust:
//
//  1. only header fields above the top-most Received added by the user's
//     own server are trusted for rules 2 and 3 (below it, the sender wrote
//     them);
//  2. an explicit original-recipient field (X-Original-To, Envelope-To, …);
//  3. the bottom-most trusted Delivered-To at the user's domains, unless it
//     is the final mailbox;
//  4. "for <addr>" in a Received added by the user's own server;
//  5. To and Cc addresses at the user's domains (ambiguous when several);
//  6. otherwise unknown.
func (u *User) Recipient(fields []Field) Recipient {
	first := -1
	for i, f := range fields {
		if f.Is("Received") {
			first = i
			break
		}
	}
	trusted := fields
	if first >= 0 {
		trusted = fields[:first]
	}
	keep := func(addrs []string) []string {
		var out []string
		for _, a := range addrs {
			if u.InDomain(a) && a != u.FinalMailbox {
				out = append(out, a)
			}
		}
		return out
	}
	// Rule 2: the top-most explicit original-recipient field.
	for _, f := range trusted {
		for _, name := range originalFields {
			if f.Is(name) {
				if addrs := keep(Addresses(f.Value)); len(addrs) > 0 {
					return Recipient{Addrs: addrs, By: ByOriginal}
				}
			}
		}
	}
	// Rule 3: the bottom-most trusted Delivered-To.
	for i := len(trusted) - 1; i >= 0; i-- {
		if trusted[i].Is("Delivered-To") {
			if addrs := keep(Addresses(trusted[i].Value)); len(addrs) > 0 {
				return Recipient{Addrs: addrs[:1], By: ByDeliveredTo}
			}
		}
	}
	// Rule 4: Received … for <addr> from the user's own server, top down.
	if first >= 0 {
		own := receivedBy(fields[first].Value)
		for _, f := range fields[first:] {
			if !f.Is("Received") {
				continue
			}
			by := receivedBy(f.Value)
			if by != "" && by != own && !u.Domains[Registrable(by)] && !u.Domains[by] && by != "localhost" {
				break // a hop outside the user's server: the sender wrote the rest
			}
			if m := receivedFor.FindStringSubmatch(f.Value); m != nil {
				if addrs := keep(Addresses(m[1])); len(addrs) > 0 {
					return Recipient{Addrs: addrs, By: ByReceived}
				}
			}
		}
	}
	// Rule 5: To and Cc at the user's domains.
	var addrs []string
	for _, f := range fields {
		if f.Is("To") || f.Is("Cc") {
			for _, a := range keep(Addresses(f.Value)) {
				if !contains(addrs, a) {
					addrs = append(addrs, a)
				}
			}
		}
	}
	if len(addrs) > 0 {
		return Recipient{Addrs: addrs, By: ByToCc, Ambiguous: len(addrs) > 1}
	}
	return Recipient{}
}

var receivedFor = regexp.MustCompile(`(?i)\bfor\s+(<[^>]*>|[^\s;]+@[^\s;]+)`)

// receivedBy returns the host after "by" in a Received value, lower case,
// with its registrable domain when the host is not a full name; "" if none.
func receivedBy(v string) string {
	l := strings.ToLower(v)
	i := strings.Index(l, "by ")
	for i > 0 && l[i-1] != ' ' && l[i-1] != '\t' && l[i-1] != ')' {
		j := strings.Index(l[i+3:], "by ")
		if j < 0 {
			return ""
		}
		i += 3 + j
	}
	if i < 0 {
		return ""
	}
	host := l[i+3:]
	if j := strings.IndexAny(host, " \t;()"); j >= 0 {
		host = host[:j]
	}
	host = strings.Trim(host, "[]")
	if strings.Contains(host, ".") {
		return Registrable(host)
	}
	return host
}
