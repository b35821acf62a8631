// Package srs implements the Sender Rewriting Scheme as libsrs2 and
// postsrsd (1.x and 2.x) do, so addresses made here verify there and the
// other way round.
//
// # Why
//
// A forwarder that passes a message on with the original envelope sender
// breaks SPF at the destination: the sender's domain never authorised the
// forwarder's IP. SRS rewrites the sender into an address at the
// forwarder's own domain that encodes the original one, signed so that
// only the forwarder can decode it, and dated so that it stops working
// after a while (21 days by default). A bounce to that address comes back
// to the forwarder, which reverses it and sends the bounce on.
//
// # Address forms
//
//	SRS0=HHHH=TT=orighost=origuser@forwarder
//	SRS1=HHHH=firsthost==HHHH=TT=orighost=origuser@forwarder
//
// TT is the day number (Unix time / 86400) modulo 1024 in two base32
// characters (A–Z, 2–7), high bits first. HHHH is the first HashLen
// characters of the base64 encoding of HMAC-SHA1(secret, lower(data)),
// where data is TT+orighost+origuser for SRS0 and firsthost+"=HHHH=TT=…"
// for SRS1. The base64 alphabet is the standard one (RFC 4648 §4), as in
// libsrs2's srs2.c and Debian's postsrsd 1.10, which the tests start and
// compare with over hundreds of senders and every character of the
// alphabet. Hashes are compared without regard to case (RFC 5321 §2.4: a
// relay may change the case of a local part), and every secret is tried,
// so a secret can be rotated by putting the new one first.
//
// # Addresses issued by catchall before 2026-12
//
// Earlier versions used an alphabet with 'm' and 'n' swapped
// ("…klnmop…"), so some of the addresses they issued carry a hash that
// postsrsd does not make. Bounces to those addresses can arrive for up to
// MaxAge days, so Reverse also accepts a hash in that old alphabet;
// Forward issues only the standard one.
//
// An address that is already SRS0 is turned into SRS1 (the "guarded"
// scheme) instead of growing with every hop, and an SRS1 address is only
// re-signed for the next hop; reversing an SRS1 address gives back the
// SRS0 address of the first forwarder, whose domain then takes the bounce.
package srs

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Errors returned by Reverse and Forward, tested with errors.Is.
var (
	// ErrNotSRS: the address is not an SRS address at all.
	ErrNotSRS = errors.New("not an SRS address")
	// ErrMalformed: the address starts like SRS but a part is missing.
	ErrMalformed = errors.New("malformed SRS address")
	// ErrBadHash: no secret produces the address's hash.
	ErrBadHash = errors.New("SRS hash does not match")
	// ErrExpired: the timestamp is older than MaxAge days (or in the future).
	ErrExpired = errors.New("SRS address expired")
	// ErrNoSecret: the codec has no secret to sign or verify with.
	ErrNoSecret = errors.New("no SRS secret")
)

const (
	timeChars   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	timeSlots   = 1024 // two base32 characters
	dayPrecison = 24 * 60 * 60
	separators  = "=-+"

	// hashChars is the base64 alphabet of libsrs2 and postsrsd (RFC 4648).
	hashChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	// legacyHashChars is the alphabet earlier catchall versions signed with
	// ('m' and 'n' swapped); Reverse still accepts it, Forward never uses it.
	legacyHashChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklnmopqrstuvwxyz0123456789+/"
)

// Defaults of a Codec's zero fields, those of libsrs2 and postsrsd.
const (
	DefaultHashLen = 4
	DefaultMaxAge  = 21
)

// Codec rewrites and reverses addresses. Its fields are read, never
// written, so one Codec may be used by many goroutines.
type Codec struct {
	// Secrets sign and verify; the first one signs, all of them verify.
	Secrets [][]byte
	// Domain is the forwarder's domain, the one rewritten addresses are at.
	// A sender already at Domain is left alone.
	Domain string
	// HashLen is the number of hash characters; 0 means DefaultHashLen.
	HashLen int
	// MaxAge is how many days a rewritten address stays valid; 0 means
	// DefaultMaxAge.
	MaxAge int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (c *Codec) hashLen() int {
	if c.HashLen > 0 {
		return c.HashLen
	}
	return DefaultHashLen
}

func (c *Codec) maxAge() int {
	if c.MaxAge > 0 {
		return c.MaxAge
	}
	return DefaultMaxAge
}

func (c *Codec) day() int64 {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	return now().Unix() / dayPrecison
}

// IsSRS reports whether the local part of addr looks like SRS0 or SRS1
// (case-insensitively, with any of libsrs2's separators), without checking
// anything else.
func IsSRS(addr string) bool {
	if len(addr) < 5 {
		return false
	}
	tag := strings.ToUpper(addr[:4])
	return (tag == "SRS0" || tag == "SRS1") && strings.IndexByte(separators, addr[4]) >= 0
}

// Forward returns the address to use as envelope sender when forwarding
// mail from sender. The null sender and senders at Domain come back
// unchanged; an SRS0 sender becomes SRS1 and an SRS1 sender is re-signed.
func (c *Codec) Forward(sender string) (string, error) {
	if sender == "" {
		return "", nil
	}
	if len(c.Secrets) == 0 {
		return "", ErrNoSecret
	}
	if c.Domain == "" {
		return "", errors.New("srs: no forwarding domain")
	}
	at := strings.LastIndexByte(sender, '@')
	if at <= 0 || at == len(sender)-1 {
		return "", fmt.Errorf("srs: sender %q has no user@domain form", sender)
	}
	user, host := sender[:at], sender[at+1:]
	if strings.ContainsAny(host, "=@ \t\r\n") {
		// The host is a field of the rewritten address; '=' would shift the rest.
		return "", fmt.Errorf("srs: sender %q has an invalid domain", sender)
	}
	if strings.EqualFold(host, c.Domain) {
		return sender, nil
	}
	switch {
	case IsSRS(user) && strings.EqualFold(user[:4], "SRS1"):
		// SRS1=HHHH=firsthost==…: keep firsthost and the rest, sign anew.
		_, rest, ok := strings.Cut(user[5:], "=")
		if !ok {
			return "", fmt.Errorf("srs: sender %q: %w", sender, ErrMalformed)
		}
		first, tail, ok := strings.Cut(rest, "=")
		if !ok || first == "" {
			return "", fmt.Errorf("srs: sender %q: %w", sender, ErrMalformed)
		}
		h := c.hash(0, first, tail)
		return "SRS1=" + h + "=" + first + "=" + tail + "@" + c.Domain, nil
	case IsSRS(user):
		// SRS0 from the forwarder at host: we become the second hop.
		tail := user[4:]
		h := c.hash(0, host, tail)
		return "SRS1=" + h + "=" + host + "=" + tail + "@" + c.Domain, nil
	}
	stamp := c.stamp()
	h := c.hash(0, stamp, host, user)
	return "SRS0=" + h + "=" + stamp + "=" + host + "=" + user + "@" + c.Domain, nil
}

// Reverse checks an SRS address (the domain part, if any, is ignored) and
// returns the address it stands for: the original sender for SRS0, the
// first forwarder's SRS0 address for SRS1. SRS1 carries no timestamp of
// its own; the first forwarder checks it.
func (c *Codec) Reverse(addr string) (string, error) {
	if len(c.Secrets) == 0 {
		return "", ErrNoSecret
	}
	user := addr
	if at := strings.LastIndexByte(addr, '@'); at >= 0 {
		user = addr[:at]
	}
	if !IsSRS(user) {
		return "", ErrNotSRS
	}
	parts := user[5:]
	if strings.EqualFold(user[:4], "SRS1") {
		hash, rest, ok1 := strings.Cut(parts, "=")
		host, tail, ok2 := strings.Cut(rest, "=")
		if !ok1 || !ok2 || hash == "" || host == "" || tail == "" {
			return "", ErrMalformed
		}
		if !c.check(hash, host, tail) {
			return "", ErrBadHash
		}
		return "SRS0" + tail + "@" + host, nil
	}
	f := strings.SplitN(parts, "=", 4)
	if len(f) != 4 || f[0] == "" || f[1] == "" || f[2] == "" || f[3] == "" {
		return "", ErrMalformed
	}
	hash, stamp, host, origUser := f[0], f[1], f[2], f[3]
	if err := c.checkStamp(stamp); err != nil {
		return "", err
	}
	if !c.check(hash, stamp, host, origUser) {
		return "", ErrBadHash
	}
	return origUser + "@" + host, nil
}

// stamp is today's two-character timestamp.
func (c *Codec) stamp() string {
	d := c.day()
	return string([]byte{timeChars[(d>>5)&31], timeChars[d&31]})
}

// checkStamp accepts a stamp between MaxAge days ago and today, modulo
// the 1024-day cycle, as libsrs2 does.
func (c *Codec) checkStamp(stamp string) error {
	if len(stamp) != 2 {
		return ErrMalformed
	}
	then := int64(0)
	for i := 0; i < len(stamp); i++ {
		off := strings.IndexByte(timeChars, upper(stamp[i]))
		if off < 0 {
			return ErrMalformed
		}
		then = then<<5 | int64(off)
	}
	now := c.day() % timeSlots
	for now < then {
		now += timeSlots
	}
	if now <= then+int64(c.maxAge()) {
		return nil
	}
	return ErrExpired
}

func upper(b byte) byte {
	if 'a' <= b && b <= 'z' {
		return b - 'a' + 'A'
	}
	return b
}

// hash signs the lower-cased concatenation of data with secret i.
func (c *Codec) hash(i int, data ...string) string {
	return c.hashIn(hashChars, i, data...)
}

// hashIn is hash written in the given base64 alphabet.
func (c *Codec) hashIn(alphabet string, i int, data ...string) string {
	m := hmac.New(sha1.New, c.Secrets[i])
	for _, d := range data {
		m.Write([]byte(lowerASCII(d)))
	}
	sum := m.Sum(nil)
	n := c.hashLen()
	if max := len(sum) * 8 / 6; n > max {
		n = max
	}
	out := make([]byte, n)
	for j := range out {
		// Six bits at a time, most significant first: plain base64.
		bit := j * 6
		v := uint(sum[bit/8]) << 8
		if bit/8+1 < len(sum) {
			v |= uint(sum[bit/8+1])
		}
		out[j] = alphabet[(v>>(10-uint(bit%8)))&63]
	}
	return string(out)
}

// check compares hash with every secret's, ignoring case, in constant time
// per secret, in the standard alphabet and in the legacy one.
func (c *Codec) check(hash string, data ...string) bool {
	if len(hash) != c.hashLen() {
		return false
	}
	got := []byte(lowerASCII(hash))
	ok := false
	for i := range c.Secrets {
		for _, alphabet := range []string{hashChars, legacyHashChars} {
			want := []byte(lowerASCII(c.hashIn(alphabet, i, data...)))
			if hmac.Equal(got, want) {
				ok = true
			}
		}
	}
	return ok
}

// lowerASCII lower-cases ASCII letters only, as C's tolower in the "C"
// locale does; other bytes pass unchanged.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// ReadSecrets reads a postsrsd secret file: one secret per line, the
// first signs, all verify. Blank lines are skipped; a file with no secret,
// or one readable by others than its owner, is an error.
func ReadSecrets(path string) ([][]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reading SRS secrets: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("SRS secret file %s is readable by others (mode %04o); chmod 600 it", path, fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading SRS secrets: %w", err)
	}
	var secrets [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := bytes.TrimRight(sc.Bytes(), "\r\n")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		secrets = append(secrets, append([]byte(nil), line...))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading SRS secrets from %s: %w", path, err)
	}
	if len(secrets) == 0 {
		return nil, fmt.Errorf("SRS secret file %s holds no secret", path)
	}
	return secrets, nil
}
