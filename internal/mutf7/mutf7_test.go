package mutf7

import (
	"testing"
	"unicode/utf8"
)

func TestDecode(t *testing.T) {
	for in, want := range map[string]string{
		"Sent": "Sent", "Q&-A": "Q&A", "&ZeVnLIqe-": "日本語", "Entw&APw-rfe": "Entwürfe",
		"Entwürfe": "Entwürfe", "&2D3eAA-": "😀", "R&AOk-ception": "Réception", "a&-&AOk-": "a&é",
	} {
		if got, err := Decode(in); err != nil || got != want {
			t.Errorf("Decode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{
		"Q&A", "&", "&AGE-", "&2D0-", "a\x01b", "a\x7fb", "&Jjo-&Jjo-", "&Jjo=-", "\xc3", "&AO-", "&AOkA-",
	} {
		if got, err := Decode(in); err == nil {
			t.Errorf("Decode(%q) = %q, want an error", in, got)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add("Entw&APw-rfe")
	f.Add("&Jjo-&Jjo-")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Decode(s)
		if err == nil && !utf8.ValidString(d) {
			t.Fatalf("Decode(%q) = %q: not UTF-8", s, d)
		}
	})
}
