package relay

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/catchall/catchall/forwards/dkimkey"
	"github.com/catchall/catchall/forwards/srs"
	"github.com/catchall/catchall/serverurl"
)

func TestConfigValidate(t *testing.T) {
	smarthost := func(s string) *serverurl.URL {
		u, err := serverurl.Parse(s, "smtp")
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	good := func() Config {
		return Config{Spool: "/var/spool/x", Smarthost: smarthost("smtp://me@smtp.example.net"), Admin: "127.0.0.1:9125",
			Domains: []string{"example.org"}, DefaultTargets: []string{"me@example.net"},
			Burner: &Signer{Len: 8}, SRS: &srs.Codec{HashLen: 8}}
	}
	cases := []struct {
		name   string
		change func(c *Config)
		want   []string // one problem each, "Field message"
	}{
		{"good", func(*Config) {}, nil},
		{"zero lengths mean the defaults", func(c *Config) { c.Burner.Len, c.SRS.HashLen = 0, 0 }, nil},
		{"no burners, no SRS, no admin", func(c *Config) { c.Burner, c.SRS, c.Admin = nil, nil, "" }, nil},
		{"plain on loopback", func(c *Config) { c.Smarthost = smarthost("smtp+plain://me@127.0.0.1:2525") }, nil},
		{"plain on localhost", func(c *Config) { c.Smarthost = smarthost("smtp+plain://me@localhost:2525") }, nil},
		{"plain without a login", func(c *Config) { c.Smarthost = smarthost("smtp+plain://mx.example.net:25") }, nil},
		{"no spool", func(c *Config) { c.Spool = "" }, []string{"Spool is required"}},
		{"no smarthost", func(c *Config) { c.Smarthost = nil }, []string{"Smarthost is required"}},
		{"password in clear", func(c *Config) { c.Smarthost = smarthost("smtp+plain://me@mx.example.net:25") },
			[]string{"Smarthost mx.example.net:25: a password is never sent unencrypted"}},
		{"admin on every address", func(c *Config) { c.Admin = "0.0.0.0:9125" }, []string{"Admin 0.0.0.0:9125: give a loopback address"}},
		{"admin by name", func(c *Config) { c.Admin = "localhost:9125" }, []string{"Admin localhost:9125: give a loopback address"}},
		{"admin without a port", func(c *Config) { c.Admin = "127.0.0.1" }, []string{"Admin 127.0.0.1: give a loopback address"}},
		{"bad domain", func(c *Config) { c.Domains = []string{"example.org", "not a domain"} }, []string{"Domains not a domain: not a domain name"}},
		{"bad target", func(c *Config) { c.DefaultTargets = []string{"me@example.net", `"a b"@example.net`} },
			[]string{`DefaultTargets cannot be forwarded safely`}},
		{"short tag", func(c *Config) { c.Burner.Len = MinTagLen - 1 }, []string{"Burner.Len must be between 6 and 26"}},
		{"long tag", func(c *Config) { c.Burner.Len = MaxTagLen + 1 }, []string{"Burner.Len must be between"}},
		{"short hash", func(c *Config) { c.SRS.HashLen = 2 }, []string{"SRS.HashLen must be between 4 and 20"}},
		{"long hash", func(c *Config) { c.SRS.HashLen = 21 }, []string{"SRS.HashLen must be between"}},
		{"breach list over https", func(c *Config) { c.Breaches = DefaultBreachesURL }, nil},
		{"breach list in clear on loopback", func(c *Config) { c.Breaches = "http://127.0.0.1:8080/breaches" }, nil},
		{"breach list in clear from elsewhere", func(c *Config) { c.Breaches = "http://mirror.example.net/breaches" },
			[]string{"Breaches http://mirror.example.net/breaches: the breach list blocks aliases: read it over https"}},
		{"DKIM", func(c *Config) { c.DKIM = &DKIM{Key: testKeys()[dkimkey.Ed25519], Selector: "s2025.mail"} }, nil},
		{"DKIM without a key", func(c *Config) { c.DKIM = &DKIM{Selector: "s1"} }, []string{"DKIM.Key unsupported DKIM key: no key"}},
		{"DKIM with an ECDSA key", func(c *Config) { c.DKIM = &DKIM{Key: ecdsaKey(t), Selector: "s1"} }, []string{"DKIM.Key unsupported DKIM key: *ecdsa.PublicKey"}},
		{"DKIM selector not a label", func(c *Config) { c.DKIM = &DKIM{Key: testKeys()[dkimkey.RSA], Selector: "s_1"} }, []string{`DKIM.Selector selector "s_1": not a DNS name`}},
		{"every problem at once", func(c *Config) { c.Spool, c.Admin, c.Burner.Len = "", "[::]:1", 1 },
			[]string{"Spool is required", "Admin [::]:1", "Burner.Len must be"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.change(&c)
			err := c.Validate()
			var got []error
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				got = j.Unwrap()
			} else if err != nil {
				got = []error{err}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("Validate() = %v, want %d problems %q", err, len(tc.want), tc.want)
			}
			for i, e := range got {
				var ce *ConfigError
				if !errors.As(e, &ce) || !strings.HasPrefix(e.Error(), tc.want[i]) {
					t.Errorf("problem %d: %v (a *ConfigError: %v), want %q…", i, e, ce != nil, tc.want[i])
				}
			}
		})
	}
}

// TestNewValidates: New refuses a config Validate refuses, before it
// creates anything.
func TestNewValidates(t *testing.T) {
	cfg := testConfig(t, "127.0.0.1:1")
	cfg.Admin = "0.0.0.0:9125"
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("New: %v", err)
	}
	if _, err := os.Stat(cfg.Spool); err == nil {
		t.Error("New made the spool of a config it refused")
	}
}

// TestNewNormalisesTargets: the default targets are used as every other
// address, lower case.
func TestNewNormalisesTargets(t *testing.T) {
	cfg := testConfig(t, "127.0.0.1:1")
	cfg.DefaultTargets = []string{"Me@New.Example"}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := r.rt.Load().defaults; len(got) != 1 || got[0] != "me@new.example" {
		t.Errorf("default targets %v", got)
	}
}

func ecdsaKey(t *testing.T) crypto.Signer {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
