package classify

import (
	"mime"
	"strings"

	"github.com/emersion/go-message/charset"
	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

var wordDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

// decodeWords decodes RFC 2047 encoded words; text that does not decode is
// returned as it is.
func decodeWords(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	if d, err := wordDecoder.DecodeHeader(s); err == nil {
		return d
	}
	return s
}

// Addresses returns the e-mail addresses in a header value such as To,
// Delivered-To or Received, lower-cased, domains in punycode, in order and
// without duplicates. It is deliberately tolerant: it finds every
// local@domain token whatever surrounds it (display names, groups such as
// "undisclosed-recipients:;", broken lists, comments, 8-bit bytes), so a
// malformed header yields what can be read rather than an error.
func Addresses(value string) []string {
	value = decodeWords(value)
	var out []string
	for i := 0; i < len(value); i++ {
		if value[i] != '@' {
			continue
		}
		start := i
		for start > 0 && isLocalChar(value[start-1]) {
			start--
		}
		end := i + 1
		for end < len(value) && isDomainChar(value[end]) {
			end++
		}
		local := strings.Trim(value[start:i], ".")
		domain := strings.Trim(value[i+1:end], ".-")
		if local == "" || !strings.Contains(domain, ".") {
			continue
		}
		addr, ok := NormalizeAddress(local + "@" + domain)
		if ok && !contains(out, addr) {
			out = append(out, addr)
		}
		i = end - 1
	}
	return out
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func isLocalChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	case c >= 0x80: // UTF-8 local parts (RFC 6531)
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", c) >= 0
}

func isDomainChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c >= 0x80
}

// NormalizeAddress lower-cases an address and converts its domain to
// punycode (IDNA); ok is false if the domain is not a valid host name.
func NormalizeAddress(addr string) (string, bool) {
	local, domain, ok := strings.Cut(addr, "@")
	if !ok || local == "" || domain == "" {
		return "", false
	}
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	for i := 0; i < len(domain); i++ {
		if domain[i] >= 0x80 {
			d, err := idna.Lookup.ToASCII(domain)
			if err != nil {
				return "", false
			}
			domain = d
			break
		}
	}
	return strings.ToLower(local) + "@" + domain, true
}

// SplitSubaddress splits "alias+tag@domain" into "alias@domain" and "tag".
func SplitSubaddress(addr string) (base, tag string) {
	local, domain, _ := strings.Cut(addr, "@")
	if i := strings.IndexByte(local, '+'); i > 0 {
		return local[:i] + "@" + domain, local[i+1:]
	}
	return addr, ""
}

// Domain returns the domain of an address.
func Domain(addr string) string {
	_, d, _ := strings.Cut(addr, "@")
	return d
}

// Registrable returns the registrable domain of a host name (example.co.uk
// for mail.example.co.uk), or the name itself if it has none.
func Registrable(host string) string {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if d, err := publicsuffix.EffectiveTLDPlusOne(host); err == nil {
		return d
	}
	return host
}
