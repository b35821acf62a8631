package relay

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"os"
	"strings"
)

// DefaultTagLen is the number of base32 characters in a burner's tag
// (30 bits; with DefaultMaxBadRcpts and the per-client rate limit, trying
// them all takes years from one address).
const DefaultTagLen = 6

// MinTagLen and MaxTagLen bound a tag's length: shorter can be guessed, and
// an HMAC-SHA256 has 51 base32 characters, more than an address wants.
const (
	MinTagLen = 6
	MaxTagLen = 26
)

// Signer makes and checks signed burner addresses: SERVICE.TAG@domain, where
// TAG is the first Len characters of the lower-case base32 (RFC 4648) form
// of HMAC-SHA256(secret, lower(SERVICE)). Anyone with the secret can make a
// new burner on the spot; without it, a valid one is a one in 32^Len guess.
type Signer struct {
	Secret []byte
	Len    int // 0 means DefaultTagLen
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

func (s *Signer) tagLen() int {
	if s.Len <= 0 {
		return DefaultTagLen
	}
	return min(s.Len, 52)
}

// Tag returns the tag of service.
func (s *Signer) Tag(service string) string {
	mac := hmac.New(sha256.New, s.Secret)
	mac.Write([]byte(strings.ToLower(service)))
	return strings.ToLower(b32.EncodeToString(mac.Sum(nil))[:s.tagLen()])
}

// Address returns the burner address for service at domain. The service
// name is lower-cased; it may hold letters, digits, '-' and '_'.
func (s *Signer) Address(service, domain string) (string, error) {
	service = strings.ToLower(service)
	if err := checkService(service); err != nil {
		return "", err
	}
	return service + "." + s.Tag(service) + "@" + strings.ToLower(domain), nil
}

func checkService(service string) error {
	if service == "" || len(service) > 48 {
		return fmt.Errorf("service name %q: 1 to 48 characters", service)
	}
	for i := 0; i < len(service); i++ {
		c := service[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("service name %q: only letters, digits, '-' and '_'", service)
		}
	}
	if service[0] == '-' || service[len(service)-1] == '-' {
		return fmt.Errorf("service name %q: no '-' at the start or end", service)
	}
	return nil
}

// Verify reports whether local (the part before '@') is a burner signed with
// this secret, and returns its service name. The comparison takes the same
// time whatever the guess.
func (s *Signer) Verify(local string) (service string, ok bool) {
	local = strings.ToLower(local)
	i := strings.LastIndexByte(local, '.')
	if i <= 0 {
		return "", false
	}
	service, tag := local[:i], local[i+1:]
	if len(tag) != s.tagLen() || checkService(service) != nil {
		return "", false
	}
	if !hmac.Equal([]byte(tag), []byte(s.Tag(service))) {
		return "", false
	}
	return service, true
}

// ReadSecret reads a burner secret: the first line of path, at least 16
// bytes. Make one with: head -c 32 /dev/urandom | base64 > FILE
func ReadSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("burner secret: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimRight(line, "\r")
	if len(line) < 16 {
		return nil, errors.New("burner secret: the first line of " + path + " must hold at least 16 bytes (make one with: head -c 32 /dev/urandom | base64 > " + path + ")")
	}
	return []byte(line), nil
}

// ServiceOf returns the service name of a burner address SERVICE.TAG@domain
// (the local part up to its last dot), "" if there is no dot.
func ServiceOf(address string) string {
	local, _, _ := strings.Cut(address, "@")
	i := strings.LastIndexByte(local, '.')
	if i <= 0 {
		return ""
	}
	return local[:i]
}
