package classify

import (
	"slices"
	"strings"
	"testing"
)

func hdr(lines ...string) []Field {
	return ParseHeader([]byte(strings.Join(lines, "\r\n") + "\r\n\r\nbody"))
}

func TestRecipient(t *testing.T) {
	user := &User{Domains: map[string]bool{"example.com": true, "xn--bcher-kva.example": true}, FinalMailbox: "me@example.com"}
	own := "Received: from mail.sender.net by mx.example.com (Postfix) with ESMTP id 1; Mon, 1 Jan 2024 00:00:00 +0000"
	cases := []struct {
		name      string
		fields    []Field
		want      []string
		by        string
		ambiguous bool
	}{
		{"postfix", hdr("X-Original-To: adobe@example.com", "Delivered-To: me@example.com", own, "To: someone@else.org"),
			[]string{"adobe@example.com"}, ByOriginal, false},
		{"exim envelope-to", hdr("Envelope-to: Shop@Example.COM", own), []string{"shop@example.com"}, ByOriginal, false},
		{"gmail original", hdr("X-Gm-Original-To: news@example.com", own), []string{"news@example.com"}, ByOriginal, false},
		{"qmail delivered-to", hdr("Delivered-To: linkedin@example.com", "Received: (qmail 1 invoked from network)", own),
			[]string{"linkedin@example.com"}, ByDeliveredTo, false},
		{"bottom-most delivered-to wins", hdr("Delivered-To: me@example.com", "Delivered-To: first@example.com", "Delivered-To: second@example.com", own),
			[]string{"second@example.com"}, ByDeliveredTo, false},
		{"final mailbox skipped", hdr("Delivered-To: me@example.com", own, "To: ebay@example.com"), []string{"ebay@example.com"}, ByToCc, false},
		{"received for", hdr("Received: from a.sender.net by mx.example.com with ESMTP id 2 for <uber@example.com>; Mon, 1 Jan 2024", "To: undisclosed-recipients:;"),
			[]string{"uber@example.com"}, ByReceived, false},
		{"received for, second hop of own server", hdr(
			"Received: from localhost by mx.example.com (amavisd); Mon, 1 Jan 2024",
			"Received: from out.sender.net by mx.example.com (Postfix) for <twitter@example.com>; Mon, 1 Jan 2024"),
			[]string{"twitter@example.com"}, ByReceived, false},
		// A sender cannot plant recipients: fields below the server's
		// Received, and Received lines of other hosts, are not trusted.
		{"forged original-to below received", hdr(own, "X-Original-To: victim@example.com", "To: real@example.com"),
			[]string{"real@example.com"}, ByToCc, false},
		{"forged received for", hdr(own, "Received: from x by evil.example.net for <planted@example.com>; Mon", "To: real@example.com"),
			[]string{"real@example.com"}, ByToCc, false},
		{"to and cc ambiguous", hdr(own, "To: a@example.com, \"B\" <B@example.com>", "Cc: other@gmail.com, a@example.com"),
			[]string{"a@example.com", "b@example.com"}, ByToCc, true},
		{"subaddress kept", hdr("X-Original-To: news+heise@example.com", own), []string{"news+heise@example.com"}, ByOriginal, false},
		{"idn domain", hdr("X-Original-To: shop@bücher.example", own), []string{"shop@xn--bcher-kva.example"}, ByOriginal, false},
		{"rfc 2047 display name", hdr(own, "To: =?utf-8?q?J=C3=BCrgen?= <jobs@example.com>"), []string{"jobs@example.com"}, ByToCc, false},
		{"8-bit garbage", hdr(own, "To: \xff\xfe <broken@example.com", "Cc: ,,;;<<>>"), []string{"broken@example.com"}, ByToCc, false},
		{"other domains only", hdr("X-Original-To: someone@other.org", own, "To: list@lists.other.org"), nil, "", false},
		{"no header", hdr("just text"), nil, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := user.Recipient(tc.fields)
			if !slices.Equal(got.Addrs, tc.want) || got.By != tc.by || got.Ambiguous != tc.ambiguous {
				t.Errorf("got %+v, want %v by %q ambiguous %v", got, tc.want, tc.by, tc.ambiguous)
			}
		})
	}
}

func TestParseHeader(t *testing.T) {
	raw := "Received: from a\r\n\tby b\r\nbroken line without colon\r\n" +
		"Subject: folded\n continued\r\nX-Empty:\r\n\r\nBody: not a header\r\n"
	got := ParseHeader([]byte(raw))
	want := []Field{{"Received", "from a by b"}, {"Subject", "folded continued"}, {"X-Empty", ""}}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestAddresses(t *testing.T) {
	cases := map[string][]string{
		`"Smith, John" <John.Smith@Example.COM>, other@x.org`: {"john.smith@example.com", "other@x.org"},
		"undisclosed-recipients:;":                            nil,
		"<a@b.c> (comment) a@b.c":                             {"a@b.c"},
		"=?utf-8?b?w5Zs?= <oel@example.de>":                   {"oel@example.de"},
		"user@localhost":                                      nil,
		"@example.com, x@, @":                                 nil,
		"rcpt@münchen.example":                                {"rcpt@xn--mnchen-3ya.example"},
	}
	for in, want := range cases {
		if got := Addresses(in); !slices.Equal(got, want) {
			t.Errorf("Addresses(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDecodeMUTF7(t *testing.T) {
	cases := map[string]string{
		"R&AOk-ception":            "Réception",
		"Q&-A":                     "Q&A",
		"&BCAEMAQxBD4EQgQw-":       "Работа",
		"&ZeVnLIqe- &MNUwqTDrMMA-": "日本語 フォルダ",
		"plain":                    "plain",
		"bad&AOk":                  "bad&AOk",
		"&Jjo!":                    "&Jjo!",
	}
	for in, want := range cases {
		if got := DecodeMUTF7(in); got != want {
			t.Errorf("DecodeMUTF7(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzRecipient(f *testing.F) {
	f.Add([]byte("X-Original-To: a@example.com\r\nReceived: by mx.example.com for <b@example.com>\r\nTo: c@example.com\r\n\r\n"))
	f.Add([]byte("Delivered-To: \xff@\xfe.example.com\nTo: =?x?q?=ZZ?= <a@b>\n\n"))
	f.Add([]byte("Received: by\r\n\r\n"))
	user := &User{Domains: map[string]bool{"example.com": true}, FinalMailbox: "me@example.com"}
	f.Fuzz(func(t *testing.T, b []byte) {
		fields := ParseHeader(b)
		r := user.Recipient(fields)
		for _, a := range r.Addrs {
			if !user.InDomain(a) || a == user.FinalMailbox || a != strings.ToLower(a) {
				t.Fatalf("recipient %q outside the rules", a)
			}
		}
		for _, fl := range fields {
			Addresses(fl.Value)
		}
	})
}

func FuzzDecodeMUTF7(f *testing.F) {
	for _, s := range []string{"R&AOk-ception", "&-", "&Jjo", "&AAA-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { DecodeMUTF7(s) })
}
