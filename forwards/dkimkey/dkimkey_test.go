//go:debug rsa1024min=0

package dkimkey

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var recordRe = regexp.MustCompile(`^([a-z0-9.-]+)\._domainkey\.([a-z0-9.-]+)\. IN TXT ((?:"[^"]{1,255}" ?)+)$`)

func TestCreateLoadRecord(t *testing.T) {
	for _, typ := range []Type{Ed25519, RSA} {
		t.Run(string(typ), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "dkim.key")
			k, err := Create(path, typ)
			if err != nil {
				t.Fatal(err)
			}
			if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
				t.Errorf("mode %04o, want 0600", fi.Mode().Perm())
			}
			if _, err := Create(path, typ); !errors.Is(err, fs.ErrExist) {
				t.Errorf("second Create: %v, want fs.ErrExist", err)
			}
			loaded, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if TypeOf(loaded) != typ {
				t.Errorf("loaded a %q key", TypeOf(loaded))
			}
			if rk, ok := loaded.(*rsa.PrivateKey); ok && rk.N.BitLen() != RSABits {
				t.Errorf("RSA key of %d bits", rk.N.BitLen())
			}
			rec, err := Record("Bücher.Example", "sel-1", k)
			if err != nil {
				t.Fatal(err)
			}
			m := recordRe.FindStringSubmatch(rec)
			if m == nil || m[1] != "sel-1" || m[2] != "xn--bcher-kva.example" {
				t.Fatalf("record %q", rec)
			}
			joined := strings.ReplaceAll(strings.ReplaceAll(strings.TrimSpace(m[3]), `" "`, ""), `"`, "")
			want, _ := Value(loaded)
			if joined != want || !strings.HasPrefix(want, "v=DKIM1; k="+string(typ)+"; p=") {
				t.Errorf("record value %q, want %q", joined, want)
			}
			if typ == RSA && !strings.Contains(rec, `" "`) {
				t.Errorf("a 2048-bit key's record is not split into strings: %s", rec)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	small, _ := rsa.GenerateKey(rand.Reader, 512)
	smallDER, _ := x509.MarshalPKCS8PrivateKey(small)
	cases := map[string]string{
		"not PEM":   "hello",
		"ECDSA":     string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER})),
		"short RSA": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: smallDER})),
		"cert":      "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
		"garbage":   "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
	}
	for name, data := range cases {
		if _, err := Parse([]byte(data)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

func TestCheckSelector(t *testing.T) {
	for s, ok := range map[string]bool{
		"s1": true, "2025-06": true, "a.b": true, "Mail": true,
		"": false, "-a": false, "a-": false, "a..b": false, "a_b": false, "a b": false,
		"é": false, strings.Repeat("a", 64): false,
	} {
		if err := CheckSelector(s); (err == nil) != ok {
			t.Errorf("CheckSelector(%q) = %v", s, err)
		}
	}
}

func TestCreateBadType(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k")
	if _, err := Create(path, "dsa"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Create dsa: %v", err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("a file was written")
	}
}
