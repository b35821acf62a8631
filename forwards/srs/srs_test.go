package srs

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// day0 is a fixed clock: 2026-11-30 12:00 UTC.
var day0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func codec(now time.Time, secrets ...string) *Codec {
	c := &Codec{Domain: "fwd.test", Now: func() time.Time { return now }}
	for _, s := range secrets {
		c.Secrets = append(c.Secrets, []byte(s))
	}
	return c
}

func TestRoundTrip(t *testing.T) {
	c := codec(day0, "s3cret")
	cases := []string{
		"alice@far.test",
		"Alice.Smith@Far.Test",
		"a=b=c@far.test",                // '=' in the user part survives
		"bounce+x-1@mail.example.co.uk", // '+' and '-' too
		`"quoted user"@far.test`,
	}
	for _, sender := range cases {
		t.Run(sender, func(t *testing.T) {
			fwd, err := c.Forward(sender)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(fwd, "SRS0=") || !strings.HasSuffix(fwd, "@fwd.test") {
				t.Fatalf("Forward(%q) = %q", sender, fwd)
			}
			back, err := c.Reverse(fwd)
			if err != nil {
				t.Fatalf("Reverse(%q): %v", fwd, err)
			}
			if back != sender {
				t.Fatalf("Reverse(Forward(%q)) = %q", sender, back)
			}
			// A relay on the way may change case (RFC 5321 §2.4).
			for _, v := range []string{strings.ToUpper(fwd), strings.ToLower(fwd)} {
				back, err := c.Reverse(v)
				if err != nil || !strings.EqualFold(back, sender) {
					t.Errorf("Reverse(%q) = %q, %v", v, back, err)
				}
			}
		})
	}
}

func TestForwardLeavesAlone(t *testing.T) {
	c := codec(day0, "s3cret")
	for _, s := range []string{"", "me@fwd.test", "me@FWD.test"} {
		got, err := c.Forward(s)
		if err != nil || got != s {
			t.Errorf("Forward(%q) = %q, %v; want unchanged", s, got, err)
		}
	}
	for _, s := range []string{"nodomain", "@far.test", "user@"} {
		if got, err := c.Forward(s); err == nil {
			t.Errorf("Forward(%q) = %q, want an error", s, got)
		}
	}
	if _, err := (&Codec{Domain: "x"}).Forward("a@b"); !errors.Is(err, ErrNoSecret) {
		t.Errorf("no secret: %v", err)
	}
}

func TestStampAndHash(t *testing.T) {
	// Known answers for the fixed clock: day 20787 = 0b10100_01010011 →
	// 20787 % 1024 = 307 = 9<<5 | 19 → "JT".
	c := codec(day0, "s3cret")
	if got := c.stamp(); got != "JT" {
		t.Fatalf("stamp = %q, want JT", got)
	}
	fwd, _ := c.Forward("alice@far.test")
	f := strings.Split(strings.TrimSuffix(fwd, "@fwd.test"), "=")
	if len(f) != 5 || f[2] != "JT" || f[3] != "far.test" || f[4] != "alice" || len(f[1]) != 4 {
		t.Fatalf("Forward = %q", fwd)
	}
	// The hash alphabet is libsrs2's and postsrsd's: standard base64.
	if hashChars != "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/" {
		t.Fatal("hash alphabet changed; it must stay libsrs2's (RFC 4648 base64)")
	}
	c.HashLen = 8
	fwd8, _ := c.Forward("alice@far.test")
	if h := strings.Split(fwd8, "=")[1]; len(h) != 8 || !strings.HasPrefix(h, f[1]) {
		t.Errorf("8-char hash %q does not extend the 4-char one %q", h, f[1])
	}
}

func TestExpiry(t *testing.T) {
	old := codec(day0, "s3cret")
	fwd, _ := old.Forward("alice@far.test")
	cases := []struct {
		days int
		err  error
	}{
		{0, nil}, {1, nil}, {21, nil}, {22, ErrExpired}, {500, ErrExpired},
		{-1, ErrExpired}, // from the future
		{1024, nil},      // a full cycle later the stamp is valid again, as in libsrs2
	}
	for _, tc := range cases {
		c := codec(day0.Add(time.Duration(tc.days)*24*time.Hour), "s3cret")
		_, err := c.Reverse(fwd)
		if !errors.Is(err, tc.err) && !(tc.err == nil && err == nil) {
			t.Errorf("%d days later: %v, want %v", tc.days, err, tc.err)
		}
	}
	// Wrap-around: signed on day 1023 of the cycle, checked on day 2 of the next.
	base := time.Unix(1023*dayPrecison, 0)
	fwd, _ = codec(base, "k").Forward("a@b.test")
	if _, err := codec(base.Add(3*24*time.Hour), "k").Reverse(fwd); err != nil {
		t.Errorf("across the 1024-day wrap: %v", err)
	}
	c := codec(day0, "k")
	c.MaxAge = 2
	fwd, _ = c.Forward("a@b.test")
	c.Now = func() time.Time { return day0.Add(3 * 24 * time.Hour) }
	if _, err := c.Reverse(fwd); !errors.Is(err, ErrExpired) {
		t.Errorf("MaxAge 2, 3 days: %v", err)
	}
}

func TestSecretRotation(t *testing.T) {
	fwd, _ := codec(day0, "old").Forward("alice@far.test")
	if got, err := codec(day0, "new", "old").Reverse(fwd); err != nil || got != "alice@far.test" {
		t.Errorf("old secret second: %q, %v", got, err)
	}
	if _, err := codec(day0, "new").Reverse(fwd); !errors.Is(err, ErrBadHash) {
		t.Errorf("old secret dropped: %v, want ErrBadHash", err)
	}
	fwd2, _ := codec(day0, "new", "old").Forward("alice@far.test")
	if fwd2 == fwd {
		t.Error("the first secret must sign")
	}
}

func TestGuarded(t *testing.T) {
	// first.test forwards to us, we forward on: SRS0 becomes SRS1, and a
	// third hop only re-signs it. The bounce travels back the same way.
	first := &Codec{Domain: "first.test", Secrets: [][]byte{[]byte("one")}, Now: func() time.Time { return day0 }}
	us := codec(day0, "two")
	third := &Codec{Domain: "third.test", Secrets: [][]byte{[]byte("three")}, Now: func() time.Time { return day0 }}

	s0, _ := first.Forward("alice@far.test")
	s1, err := us.Forward(s0)
	if err != nil {
		t.Fatal(err)
	}
	user0 := strings.TrimSuffix(s0, "@first.test")
	if !strings.HasPrefix(s1, "SRS1=") || !strings.HasSuffix(s1, "=first.test="+user0[4:]+"@fwd.test") {
		t.Fatalf("SRS0 %q forwarded as %q", s0, s1)
	}
	s1b, err := third.Forward(s1)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(s1b, "=first.test="+user0[4:]+"@third.test") {
		t.Fatalf("SRS1 %q forwarded as %q", s1, s1b)
	}
	if strings.Count(s1b, "SRS") != 1 {
		t.Errorf("SRS1 grew: %q", s1b)
	}
	// Bounces: the third hop and we both send it straight to the first forwarder.
	for _, tc := range []struct {
		c    *Codec
		addr string
	}{{third, s1b}, {us, s1}} {
		back, err := tc.c.Reverse(tc.addr)
		if err != nil || back != s0 {
			t.Fatalf("Reverse(%q) = %q, %v; want %q", tc.addr, back, err, s0)
		}
	}
	if orig, err := first.Reverse(s0); err != nil || orig != "alice@far.test" {
		t.Fatalf("first.Reverse = %q, %v", orig, err)
	}
	// Our SRS1 does not verify with someone else's secret.
	if _, err := third.Reverse(s1); !errors.Is(err, ErrBadHash) {
		t.Errorf("foreign SRS1: %v", err)
	}
}

func TestReverseRefuses(t *testing.T) {
	c := codec(day0, "s3cret")
	good, _ := c.Forward("alice@far.test")
	h := strings.Split(good, "=")[1]
	cases := []struct {
		addr string
		err  error
	}{
		{"alice@fwd.test", ErrNotSRS},
		{"SRS2=xxxx=JT=a=b@fwd.test", ErrNotSRS},
		{"SRS0", ErrNotSRS},
		{"SRS0=", ErrMalformed},
		{"SRS0=" + h + "=JT=far.test@fwd.test", ErrMalformed},
		{"SRS0=" + h + "=JT==alice@fwd.test", ErrMalformed},
		{"SRS0=" + h + "=J=far.test=alice@fwd.test", ErrMalformed},
		{"SRS0=" + h + "=J1=far.test=alice@fwd.test", ErrMalformed},
		{"SRS0=" + h + "=JT=far.test=mallory@fwd.test", ErrBadHash},
		{"SRS0=" + h + "=JT=evil.test=alice@fwd.test", ErrBadHash},
		{"SRS0=" + h[:3] + "=JT=far.test=alice@fwd.test", ErrBadHash},
		{"SRS0=" + h + "A=JT=far.test=alice@fwd.test", ErrBadHash},
		{"SRS1=xxxx=host@fwd.test", ErrMalformed},
		{"SRS1=xxxx=host==rest@fwd.test", ErrBadHash},
	}
	for _, tc := range cases {
		got, err := c.Reverse(tc.addr)
		if !errors.Is(err, tc.err) {
			t.Errorf("Reverse(%q) = %q, %v; want %v", tc.addr, got, err, tc.err)
		}
	}
	if _, err := (&Codec{}).Reverse(good); !errors.Is(err, ErrNoSecret) {
		t.Errorf("no secret: %v", err)
	}
	// Other separators are accepted on input, as libsrs2 does.
	if got, err := c.Reverse("SRS0-" + good[5:]); err != nil || got != "alice@far.test" {
		t.Errorf("SRS0- form: %q, %v", got, err)
	}
}

func TestIsSRS(t *testing.T) {
	for s, want := range map[string]bool{
		"SRS0=a": true, "srs1+a": true, "SRS0-": true, "SRS0": false, "SRS0x": false, "SRS2=": false, "": false,
	} {
		if IsSRS(s) != want {
			t.Errorf("IsSRS(%q) = %v", s, !want)
		}
	}
}

func TestReadSecrets(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "srs.secret")
	write := func(data string, mode os.FileMode) {
		t.Helper()
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	write("new\r\n\nold\n", 0o600)
	s, err := ReadSecrets(p)
	if err != nil || len(s) != 2 || string(s[0]) != "new" || string(s[1]) != "old" {
		t.Fatalf("ReadSecrets = %q, %v", s, err)
	}
	write("\n \n", 0o600)
	if _, err := ReadSecrets(p); err == nil {
		t.Error("empty secret file accepted")
	}
	write("x\n", 0o644)
	if _, err := ReadSecrets(p); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable secret file: %v", err)
	}
	if _, err := ReadSecrets(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file accepted")
	}
}

// TestHashIsStandardBase64 checks the hash against Go's own base64 of the
// HMAC, for many inputs, so every character of the alphabet is covered.
func TestHashIsStandardBase64(t *testing.T) {
	c := codec(day0, "s3cret")
	c.HashLen = 8
	seen := map[byte]bool{}
	for i := 0; i < 2000; i++ {
		user := fmt.Sprintf("User%d", i)
		mac := hmac.New(sha1.New, []byte("s3cret"))
		mac.Write([]byte("jt" + "far.test" + strings.ToLower(user)))
		want := base64.StdEncoding.EncodeToString(mac.Sum(nil))[:8]
		fwd, err := c.Forward(user + "@far.test")
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Split(fwd, "=")[1]
		if got != want {
			t.Fatalf("Forward(%s@far.test) hash %q, want %q (base64 of HMAC-SHA1)", user, got, want)
		}
		for j := 0; j < len(got); j++ {
			seen[got[j]] = true
		}
	}
	if len(seen) != 64 {
		t.Errorf("the hashes used %d of the 64 characters", len(seen))
	}
}

// TestLegacyAlphabet: addresses issued by earlier versions (m and n
// swapped) still reverse, but Forward never issues them.
func TestLegacyAlphabet(t *testing.T) {
	c := codec(day0, "s3cret")
	n := 0
	for i := 0; i < 500; i++ {
		sender := fmt.Sprintf("u%d@far.test", i)
		stamp := c.stamp()
		std := c.hashIn(hashChars, 0, stamp, "far.test", fmt.Sprintf("u%d", i))
		old := c.hashIn(legacyHashChars, 0, stamp, "far.test", fmt.Sprintf("u%d", i))
		fwd, _ := c.Forward(sender)
		if got := strings.Split(fwd, "=")[1]; got != std {
			t.Fatalf("Forward(%s) hash %q, want the standard %q", sender, got, std)
		}
		if old == std {
			continue
		}
		n++
		legacy := "SRS0=" + old + "=" + stamp + "=far.test=" + fmt.Sprintf("u%d", i) + "@fwd.test"
		if back, err := c.Reverse(legacy); err != nil || back != sender {
			t.Errorf("Reverse(legacy %q) = %q, %v; want %q", legacy, back, err, sender)
		}
		// The swap is m↔n only: another wrong letter is still refused.
		bad := "SRS0=" + strings.Map(func(r rune) rune {
			if r == 'm' || r == 'n' {
				return 'q'
			}
			return r
		}, old) + "=" + stamp + "=far.test=" + fmt.Sprintf("u%d", i) + "@fwd.test"
		if _, err := c.Reverse(bad); !errors.Is(err, ErrBadHash) {
			t.Errorf("Reverse(%q) = %v, want ErrBadHash", bad, err)
		}
	}
	if n == 0 {
		t.Fatal("no hash held an m or n; the test checked nothing")
	}
}
