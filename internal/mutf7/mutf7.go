// Package mutf7 decodes IMAP's modified UTF-7 (RFC 3501 §5.1.3), the
// encoding of mailbox names on the wire and of folder names on disk in
// Dovecot and Courier Maildirs.
//
// Decode follows go-imap v2's decoder rule for rule (which this project
// must predict: a name it cannot decode fails a whole LIST), including its
// tolerance of raw UTF-8.
package mutf7

import (
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrInvalid means a name is not valid modified UTF-7.
var ErrInvalid = errors.New("not valid modified UTF-7")

// encoding is modified base64: "," for "/", no padding.
var encoding = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").WithPadding(base64.NoPadding)

// Decode returns the UTF-8 form of a modified UTF-7 name. It refuses
// invalid UTF-8, ASCII control characters and DEL, an "&" without its "-",
// a shifted run that is not base64 of whole UTF-16 units, encodes a
// printable ASCII character or a broken surrogate pair, and two shifted
// runs in a row ("&Jjo-&Jjo-").
func Decode(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", ErrInvalid
	}
	var b strings.Builder
	b.Grow(len(s))
	shifted := false // the previous item was a shifted run
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || (c > 0x7e && c < utf8.RuneSelf) {
			return "", ErrInvalid
		}
		if c != '&' {
			b.WriteByte(c)
			shifted = false
			continue
		}
		end := strings.IndexByte(s[i+1:], '-')
		if end < 0 {
			return "", ErrInvalid
		}
		run := s[i+1 : i+1+end]
		i += end + 1
		if run == "" { // "&-" is "&"
			b.WriteByte('&')
			shifted = false
			continue
		}
		if shifted || !decodeRun(&b, run) {
			return "", ErrInvalid
		}
		shifted = true
	}
	return b.String(), nil
}

// decodeRun writes the characters of one shifted run to b.
func decodeRun(b *strings.Builder, run string) bool {
	if strings.ContainsAny(run, "=\r\n") {
		return false
	}
	raw, err := encoding.DecodeString(run)
	if err != nil || len(raw) == 0 || len(raw)%2 == 1 {
		return false
	}
	for i := 0; i < len(raw); i += 2 {
		r := rune(raw[i])<<8 | rune(raw[i+1])
		if utf16.IsSurrogate(r) {
			if i += 2; i >= len(raw) {
				return false
			}
			if r = utf16.DecodeRune(r, rune(raw[i])<<8|rune(raw[i+1])); r == utf8.RuneError {
				return false
			}
		} else if r >= 0x20 && r <= 0x7e {
			return false
		}
		b.WriteRune(r)
	}
	return true
}
