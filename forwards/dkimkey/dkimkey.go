// Package dkimkey makes, stores and reads the private keys the relay signs
// outgoing mail with (DKIM, RFC 6376), and writes the DNS record that
// publishes the public half.
//
// # Key file
//
// One PEM block "PRIVATE KEY" holding the key in PKCS#8: an Ed25519 key
// (RFC 8463) or an RSA key (RFC 8301: at least 1024 bits; New makes 2048).
// The file is created 0600 and never replaced (Create); the key is never
// logged or printed.
//
// # DNS record
//
// The public key goes into a TXT record at SELECTOR._domainkey.DOMAIN
// (RFC 6376 §3.6.2.1), "v=DKIM1; k=rsa; p=BASE64" where p= is the
// SubjectPublicKeyInfo for RSA (§3.6.1) and the 32 raw bytes for Ed25519
// (RFC 8463 §4.2). A DNS character-string holds at most 255 bytes (RFC 1035
// §3.3), so Record splits a longer value into several quoted strings, which
// verifiers join (RFC 6376 §3.6.2.2).
package dkimkey

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/catchall/catchall/forwards"
	"github.com/catchall/catchall/internal/safeio"
)

// Type is a key algorithm, as the k= tag of the DNS record names it.
type Type string

// The key types New makes.
const (
	RSA     Type = "rsa"     // 2048 bits (RSABits); verified everywhere
	Ed25519 Type = "ed25519" // RFC 8463; short, but not every verifier knows it yet
)

// DefaultType is RSA: a receiver that does not know Ed25519 (RFC 8463) sees
// no valid signature at all, and DMARC fails.
const DefaultType = RSA

// RSABits is the size of the RSA keys New makes.
const RSABits = 2048

// MinRSABits is the smallest RSA key Check accepts (RFC 8301 §3.2: verifiers
// must not accept smaller ones).
const MinRSABits = 1024

// ErrUnsupported is wrapped by the errors about keys of other algorithms
// or too short.
var ErrUnsupported = errors.New("unsupported DKIM key")

// New returns a new private key of type t.
func New(t Type) (crypto.Signer, error) {
	switch t {
	case RSA:
		return rsa.GenerateKey(rand.Reader, RSABits)
	case Ed25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("%w: type %q (give %s or %s)", ErrUnsupported, t, RSA, Ed25519)
}

// Check returns nil for a key the relay can sign with: Ed25519, or RSA of
// at least MinRSABits; otherwise an error wrapping ErrUnsupported.
func Check(key crypto.Signer) error {
	if key == nil {
		return fmt.Errorf("%w: no key", ErrUnsupported)
	}
	switch pub := key.Public().(type) {
	case ed25519.PublicKey:
		return nil
	case *rsa.PublicKey:
		if pub.N.BitLen() < MinRSABits {
			return fmt.Errorf("%w: RSA key of %d bits (at least %d)", ErrUnsupported, pub.N.BitLen(), MinRSABits)
		}
		return nil
	default:
		return fmt.Errorf("%w: %T (give an RSA or Ed25519 key)", ErrUnsupported, pub)
	}
}

// TypeOf returns the type of key, "" for one Check refuses.
func TypeOf(key crypto.Signer) Type {
	if Check(key) != nil {
		return ""
	}
	if _, ok := key.Public().(ed25519.PublicKey); ok {
		return Ed25519
	}
	return RSA
}

// Marshal returns key as a PEM "PRIVATE KEY" block (PKCS#8).
func Marshal(key crypto.Signer) ([]byte, error) {
	if err := Check(key); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// Parse reads a key Marshal wrote (an "RSA PRIVATE KEY" block, PKCS#1, as
// openssl genrsa writes, is taken too) and checks it (Check).
func Parse(data []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("no PEM block: not a key file")
	}
	var k any
	var err error
	switch b.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q: want PRIVATE KEY", b.Type)
	}
	if err != nil {
		return nil, err // the parser's words never contain key material
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: %T", ErrUnsupported, k)
	}
	if err := Check(s); err != nil {
		return nil, err
	}
	return s, nil
}

// Load reads and parses the key file at path.
func Load(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("DKIM key: %w", err)
	}
	k, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("DKIM key %s: %w", path, err)
	}
	return k, nil
}

// Create makes a key of type t and writes it to a new file at path, 0600
// and atomically. It never replaces a file: an existing path is an error
// wrapping fs.ErrExist.
func Create(path string, t Type) (crypto.Signer, error) {
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("DKIM key %s: %w (a key in use is never replaced; remove it first, or choose a new selector)", path, os.ErrExist)
	}
	k, err := New(t)
	if err != nil {
		return nil, err
	}
	data, err := Marshal(k)
	if err != nil {
		return nil, err
	}
	if err := safeio.CreateFile(path, data); err != nil {
		return nil, fmt.Errorf("DKIM key %s: %w", path, err)
	}
	return k, nil
}

// CheckSelector returns nil for a selector that is a DNS name: labels of
// letters, digits and inner hyphens, at most 63 bytes each, separated by
// dots (RFC 6376 §3.1, RFC 1035 §2.3.1).
func CheckSelector(s string) error {
	if s == "" {
		return errors.New("empty selector")
	}
	if len(s) > 200 {
		return errors.New("selector too long")
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("selector %q: not a DNS name (letters, digits and inner hyphens)", s)
		}
		for i := 0; i < len(l); i++ {
			c := l[i] | 0x20
			if !(c >= 'a' && c <= 'z' || l[i] >= '0' && l[i] <= '9' || l[i] == '-') {
				return fmt.Errorf("selector %q: not a DNS name (letters, digits and inner hyphens)", s)
			}
		}
	}
	return nil
}

// Value returns the TXT record's text for the public half of key:
// "v=DKIM1; k=TYPE; p=BASE64".
func Value(key crypto.Signer) (string, error) {
	if err := Check(key); err != nil {
		return "", err
	}
	var p []byte
	switch pub := key.Public().(type) {
	case ed25519.PublicKey:
		p = pub // RFC 8463 §4.2: the raw key, not a SubjectPublicKeyInfo
	default:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return "", err
		}
		p = der
	}
	return "v=DKIM1; k=" + string(TypeOf(key)) + "; p=" + base64.StdEncoding.EncodeToString(p), nil
}

// Name returns the owner name of the record for selector at domain,
// "SELECTOR._domainkey.DOMAIN." in lower case, the domain in punycode.
func Name(domain, selector string) (string, error) {
	if err := CheckSelector(selector); err != nil {
		return "", err
	}
	d, err := forwards.CheckAddress("x@" + strings.TrimSuffix(domain, "."))
	if err != nil {
		return "", fmt.Errorf("domain %q: not a domain name", domain)
	}
	return strings.ToLower(selector) + "._domainkey." + strings.TrimPrefix(d, "x@") + ".", nil
}

// Record returns the zone-file line that publishes key for selector at
// domain (an IDN domain is written in punycode):
//
//	S._domainkey.D. IN TXT "v=DKIM1; k=ed25519; p=…"
//
// with a value longer than 255 bytes split into several strings.
func Record(domain, selector string, key crypto.Signer) (string, error) {
	name, err := Name(domain, selector)
	if err != nil {
		return "", err
	}
	v, err := Value(key)
	if err != nil {
		return "", err
	}
	var parts []string
	for len(v) > 255 {
		parts = append(parts, `"`+v[:255]+`"`)
		v = v[255:]
	}
	parts = append(parts, `"`+v+`"`)
	return name + " IN TXT " + strings.Join(parts, " "), nil
}
