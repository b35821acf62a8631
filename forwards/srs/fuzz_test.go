package srs

import (
	"strings"
	"testing"
)

// FuzzReverse: Reverse never panics, and whatever it accepts carries the
// hash our secret makes (checked by a forward round trip for SRS0).
func FuzzReverse(f *testing.F) {
	c := codec(day0, "s3cret")
	good, _ := c.Forward("alice@far.test")
	s1, _ := c.Forward("SRS0=abcd=JT=first.test=bob@first.test")
	for _, s := range []string{good, s1, "SRS0=", "SRS1==", "SRS0====@", "srs0=AAAA=JT=a=b", "SRS1=x=y=z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		got, err := c.Reverse(addr)
		if err != nil {
			return
		}
		user := addr
		if at := strings.LastIndexByte(addr, '@'); at >= 0 {
			user = addr[:at]
		}
		if strings.EqualFold(user[:4], "SRS0") {
			again, err := c.Forward(got)
			if err != nil {
				t.Fatalf("Reverse(%q) = %q, which does not forward: %v", addr, got, err)
			}
			if !strings.EqualFold(strings.TrimSuffix(again, "@fwd.test")[5:], user[5:]) && !strings.Contains(got, "@fwd.test") {
				t.Fatalf("Reverse(%q) = %q but forwarding that gives %q", addr, got, again)
			}
		}
	})
}

// FuzzForward: every sender that forwards reverses to itself.
func FuzzForward(f *testing.F) {
	c := codec(day0, "s3cret")
	for _, s := range []string{"alice@far.test", "a=b@c", "SRS0=x=y=z=w@h", "SRS1=a=b==c@d", "@", "x@fwd.test"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sender string) {
		fwd, err := c.Forward(sender)
		if err != nil || fwd == sender {
			return
		}
		back, err := c.Reverse(fwd)
		if err != nil {
			t.Fatalf("Forward(%q) = %q, Reverse: %v", sender, fwd, err)
		}
		if IsSRS(sender) {
			return // SRS1 reverses to the first hop's SRS0, not to sender
		}
		if back != sender {
			t.Fatalf("Reverse(Forward(%q)) = %q", sender, back)
		}
	})
}
