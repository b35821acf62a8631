package relay

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/catchall/catchall/forwards/dkimkey"
)

// testKeys are one key of each type, made once (an RSA key takes a while).
var testKeys = sync.OnceValue(func() map[dkimkey.Type]crypto.Signer {
	keys := map[dkimkey.Type]crypto.Signer{}
	for _, typ := range []dkimkey.Type{dkimkey.Ed25519, dkimkey.RSA} {
		k, err := dkimkey.New(typ)
		if err != nil {
			panic(err)
		}
		keys[typ] = k
	}
	return keys
})

// lookupFor answers DKIM key queries for selector at the domains with the
// record of key, as DNS would after "catchall dkim new".
func lookupFor(t testing.TB, key crypto.Signer, selector string, domains ...string) func(string) ([]string, error) {
	v, err := dkimkey.Value(key)
	if err != nil {
		t.Fatal(err)
	}
	return func(name string) ([]string, error) {
		for _, d := range domains {
			if strings.EqualFold(name, selector+"._domainkey."+d) {
				return []string{v}, nil
			}
		}
		return nil, fmt.Errorf("no TXT record at %s", name)
	}
}

// verifyDKIM returns the verifications of msg, failing t on a read error.
func verifyDKIM(t testing.TB, msg io.Reader, lookup func(string) ([]string, error)) []*dkim.Verification {
	t.Helper()
	vs, err := dkim.VerifyWithOptions(msg, &dkim.VerifyOptions{LookupTXT: lookup})
	if err != nil {
		t.Fatalf("verifying: %v", err)
	}
	return vs
}

func TestDKIMSign(t *testing.T) {
	for typ, key := range testKeys() {
		t.Run(string(typ), func(t *testing.T) {
			t.Parallel()
			sk := newSink(t)
			tr, _ := startSubmission(t, sk.addr, func(cfg *Config) {
				cfg.Domains = []string{"example.org", "Bücher.example"}
				cfg.DKIM = &DKIM{Key: key, Selector: "s2025"}
			})
			lookup := lookupFor(t, key, "s2025", "example.org", "xn--bcher-kva.example")
			cases := []struct {
				name, from, msg string
				domain          string // "" for unsigned
				forwarded       bool   // came in on port 25, not sent by the user
			}{
				{"ours", "me@example.org",
					"From: Me <me@Example.ORG>\r\nTo: shop@example.org\r\nSubject: mine\r\nDate: Mon, 2 Jun 2025 10:00:00 +0000\r\nMessage-ID: <a@example.org>\r\n\r\nHello.\r\n",
					"example.org", false},
				{"ours, forged alias field, dot-stuffing, trailing space", "me@example.org",
					"X-Catchall-Alias: bank@example.org\r\nFrom: me@example.org\r\nSubject: dots  \r\n\r\n..leading dot\r\n...two\r\ntrailing space \r\n\r\n\r\n",
					"example.org", false},
				{"IDN in punycode", "me@xn--bcher-kva.example",
					"From: =?windows-1252?Q?J=F6rg?= <me@xn--BCHER-kva.example>\r\nSubject: idn\r\n\r\nHallo.\r\n",
					"xn--bcher-kva.example", false},
				{"a stranger forwarded", "news@shop.test", simpleMessage, "", true},
				{"forwarded, From claims ours (a forgery is not vouched for)", "me@example.org",
					"From: me@example.org\r\nSubject: x\r\n\r\nbody\r\n", "", true},
			}
			sub := dialRelay(t, tr.subAddr)
			sub.expect("EHLO laptop.home", 250)
			sub.expect(plainAuth(testUser, testPassword), 235)
			for i, c := range cases {
				if c.forwarded {
					if err := sendMail(t, tr.addr, c.from, []string{"shop@example.org"}, c.msg); err != nil {
						t.Fatalf("%s: %v", c.name, err)
					}
				} else {
					sub.submit(c.from, []string{"friend@far.test"}, c.msg)
				}
				m := sk.wait(i + 1)[i]
				got := strings.Count(m.Data, "DKIM-Signature:")
				if c.domain == "" {
					if got != 0 {
						t.Errorf("%s: signed:\n%s", c.name, m.Data)
					}
					continue
				}
				if got != 1 || !strings.HasPrefix(m.Data, "DKIM-Signature:") {
					t.Errorf("%s: want one DKIM-Signature first:\n%s", c.name, m.Data)
					continue
				}
				vs := verifyDKIM(t, strings.NewReader(m.Data), lookup)
				if len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != c.domain {
					t.Errorf("%s: verification %+v (err %v), want a pass for %s:\n%s", c.name, vs[0], vs[0].Err, c.domain, m.Data)
					continue
				}
				h := strings.Join(vs[0].HeaderKeys, ":")
				if !strings.HasPrefix(strings.ToLower(h), "from:from:to:cc:subject:date:message-id:reply-to") {
					t.Errorf("%s: h=%s", c.name, h)
				}
				for _, want := range []string{"c=relaxed/relaxed", "s=s2025", "a=" + string(typ) + "-sha256"} {
					if !strings.Contains(m.Data[:strings.Index(m.Data, "\r\nReceived:")], want) {
						t.Errorf("%s: no %s in the signature:\n%s", c.name, want, m.Data)
					}
				}
				// What the signature covers: a From added on the way breaks it.
				tampered := strings.Replace(m.Data, "Received:", "From: evil@example.org\r\nReceived:", 1)
				if vs := verifyDKIM(t, strings.NewReader(tampered), lookup); vs[0].Err == nil {
					t.Errorf("%s: still verifies with a From added", c.name)
				}
			}
		})
	}
}

// flakyKey is an Ed25519 key that fails to sign while broken is set.
type flakyKey struct {
	ed25519.PrivateKey
	broken atomic.Bool
}

func (k *flakyKey) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if k.broken.Load() {
		return nil, errors.New("hardware token unplugged")
	}
	return k.PrivateKey.Sign(r, digest, opts)
}

func TestDKIMKeyFailureDefers(t *testing.T) {
	t.Parallel()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	key := &flakyKey{PrivateKey: priv}
	key.broken.Store(true)
	sk := newSink(t)
	var cfg Config
	tr, _ := startSubmission(t, sk.addr, func(c *Config) {
		c.DKIM = &DKIM{Key: key, Selector: "s1"}
		cfg = *c
	})
	sub := dialRelay(t, tr.subAddr)
	sub.expect("EHLO laptop.home", 250)
	sub.expect(plainAuth(testUser, testPassword), 235)
	sub.submit("me@example.org", []string{"friend@far.test"}, "From: me@example.org\r\nSubject: mine\r\n\r\nHello.\r\n")
	// A stranger's message goes on while the key is broken: it is not signed.
	if err := sendMail(t, tr.addr, "news@shop.test", []string{"shop@example.org"}, simpleMessage); err != nil {
		t.Fatal(err)
	}
	if m := sk.wait(1); len(m) != 1 || strings.Contains(m[0].Data, "DKIM-Signature") || !strings.Contains(m[0].Data, "From: Shop") {
		t.Fatalf("sink holds %+v, want the stranger's message unsigned", m)
	}
	tr.settle(t)
	tr.advance(t, cfg.RetryMax) // a second failed attempt
	tr.settle(t)
	if n := len(sk.messages()); n != 1 {
		t.Fatalf("%d messages delivered with a broken key, want only the stranger's", n)
	}
	logs := tr.logs.String()
	if n := strings.Count(logs, "level=ERROR msg=\"the DKIM key cannot sign"); n != 1 {
		t.Errorf("the key's failure logged %d times at ERROR, want once:\n%s", n, logs)
	}
	if strings.Contains(logs, fmt.Sprintf("%x", []byte(priv))) {
		t.Error("the key is in the log")
	}
	key.broken.Store(false)
	tr.advance(t, cfg.RetryMax)
	m := sk.wait(2)[1]
	if vs := verifyDKIM(t, strings.NewReader(m.Data), lookupFor(t, priv, "s1", "example.org")); len(vs) != 1 || vs[0].Err != nil {
		t.Errorf("after the key works again: %+v\n%s", vs, m.Data)
	}
	eventually(t, "the key's recovery logged", func() bool { return strings.Contains(tr.logs.String(), "the DKIM key signs again") })
}

func TestHeaderEnd(t *testing.T) {
	for in, want := range map[string]int{
		"A: b\r\n\r\nbody": 8, "A: b\n\nbody": 6, "\r\nbody": 2, "\nbody": 1,
		"A: b\r\n": -1, "A: b\r\n c\r\n\r\n": 12, "": -1,
	} {
		if got := headerEnd([]byte(in), 0); got != want {
			t.Errorf("headerEnd(%q) = %d, want %d", in, got, want)
		}
	}
}

// FuzzSignWriter checks that what is signed does not depend on how the
// message is cut into writes, and that only the relay's domains are
// signed for.
func FuzzSignWriter(f *testing.F) {
	f.Add([]byte("From: me@example.org\r\n\r\nbody\r\n"), uint16(3))
	f.Add([]byte("From: =?utf-8?q?x?= <me@EXAMPLE.org>\r\nSubject: a\r\n b\r\n\r\n"), uint16(21))
	f.Add([]byte("From: a@example.org, b@example.org\n\nx"), uint16(40))
	f.Add([]byte("From: \"a@example.org\" <b@far.test>\r\n\r\n"), uint16(0))
	f.Add([]byte("From: me@xn--bcher-kva.example\r\n\r\n"), uint16(30))
	f.Add([]byte("From: me@bücher.example\r\n\r\n"), uint16(30))
	ours := map[string]bool{"example.org": true, "xn--bcher-kva.example": true}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	r := &Relay{cfg: Config{DKIM: &DKIM{Key: priv, Selector: "f"}}}
	r.log = slog.New(slog.DiscardHandler)
	r.rt.Store(&routing{domains: ours})
	f.Fuzz(func(t *testing.T, msg []byte, cut uint16) {
		if d := fromDomain(msg, ours); d != "" && !ours[d] {
			t.Fatalf("signed for %q", d)
		}
		whole, err := r.sign(func(w io.Writer) error { _, err := w.Write(msg); return err })
		if err != nil {
			t.Fatal(err)
		}
		at := int(cut) % (len(msg) + 1)
		split, err := r.sign(func(w io.Writer) error {
			if _, err := w.Write(msg[:at]); err != nil {
				return err
			}
			_, err := w.Write(msg[at:])
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if (whole == "") != (split == "") {
			t.Fatalf("signed whole: %v, in two writes: %v", whole != "", split != "")
		}
		if whole != "" && !strings.Contains(whole, "d="+fromDomain(msg[:headerEnd(msg, 0)], ours)+";") {
			t.Fatalf("signature %q", whole)
		}
	})
}
