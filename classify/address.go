package classify

import (
	"errors"
	"fmt"
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
	domain = strings.ToLower(strings.TrimRight(domain, "."))
	if domain == "" || strings.ContainsAny(domain, " \t\r\n") {
		return "", false
	}
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

// ErrUnsafe is wrapped by errors about addresses that cannot be forwarded
// safely: SafeAddress refuses them.
var ErrUnsafe = errors.New("cannot be forwarded safely")

// SafeAddress is the one address rule of classify, the plan reader, every
// forwards format and the relay. It returns addr normalised (lower case,
// punycode domain) when it is an RFC 5321 dot-atom address every target
// can express — ASCII letters, digits and !#$%&'*+-/=?^_`{|}~ in a local
// part of at most 64 octets, dots only between them, and a domain of
// letter-digit-hyphen labels — or an error wrapping ErrUnsafe that says
// why. Quoted local parts ("a b"@x), 8-bit bytes, "a/../b" and the like
// are refused: no config format can hold them without changing what they
// mean. A target may refuse more (see forwards.RuleChecker).
func SafeAddress(addr string) (string, error) {
	a, ok := NormalizeAddress(strings.TrimSpace(addr))
	if !ok {
		return "", fmt.Errorf("%w %q: not an address", ErrUnsafe, clip(addr))
	}
	local, domain, _ := strings.Cut(a, "@")
	if len(local) > 64 {
		return "", fmt.Errorf("%w %q: a local part of %d bytes (at most 64, RFC 5321 §4.5.3.1.1)", ErrUnsafe, clip(addr), len(local))
	}
	if len(domain) > 253 {
		return "", fmt.Errorf("%w %q: a domain of %d bytes (at most 253)", ErrUnsafe, clip(addr), len(domain))
	}
	for i := 0; i < len(local); i++ {
		c := local[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", c) >= 0) {
			return "", fmt.Errorf("%w %q: the local part may hold only ASCII letters, digits, dots and !#$%%&'*+-/=?^_`{|}~", ErrUnsafe, clip(addr))
		}
	}
	if strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.Contains(local, "..") {
		return "", fmt.Errorf("%w %q: dots at the start, end or twice in a row", ErrUnsafe, clip(addr))
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return "", fmt.Errorf("%w %q: the domain needs a dot", ErrUnsafe, clip(addr))
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-") {
			return "", fmt.Errorf("%w %q: bad domain label %q", ErrUnsafe, clip(addr), l)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return "", fmt.Errorf("%w %q: bad character in the domain", ErrUnsafe, clip(addr))
			}
		}
	}
	return a, nil
}

// clip shortens a hostile address for a message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}
