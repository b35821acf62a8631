package relay

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/mail"
	"strings"
	"testing"
)

// stubReverse makes reverse addresses at example.org from the
// correspondent's address, so that tests can name them.
func stubReverse(corr string) (string, error) {
	h := 0
	for _, c := range corr {
		h = h*31 + int(c)
	}
	return fmt.Sprintf("ra-%020d@example.org", uint32(h))[:3+20] + "@example.org", nil
}

func oursStub(a string) bool { return strings.HasSuffix(strings.ToLower(a), "@example.org") }

func rewriteForwardString(t *testing.T, hdr, envFrom string) (string, bool) {
	t.Helper()
	fr := &forwardRewriter{envFrom: envFrom, ours: oursStub, reverse: stubReverse}
	out, ok, err := fr.rewrite([]byte(hdr))
	if err != nil {
		t.Fatal(err)
	}
	return string(out), ok
}

// TestRewriteForward: the header cases of forwarded mail.
func TestRewriteForward(t *testing.T) {
	rev := func(a string) string { r, _ := stubReverse(a); return r }
	long := strings.Repeat("x", 300)
	cases := []struct {
		name, hdr, envFrom string
		ok                 bool
		want, not          []string
	}{
		{name: "no From: the envelope sender", hdr: "Subject: hi\r\n", envFrom: "clerk@store.test", ok: true,
			want: []string{`From: "clerk@store.test via catchall" <` + rev("clerk@store.test") + ">\r\n", "Subject: hi\r\n"},
			not:  []string{"X-Original-From"}},
		{name: "unparseable From", hdr: "From: <<<\r\nSubject: hi\r\n", envFrom: "clerk@store.test", ok: true,
			want: []string{`From: "clerk@store.test via catchall" <` + rev("clerk@store.test") + ">\r\n", "X-Original-From: <<<\r\n"}},
		{name: "two From fields", hdr: "From: a@one.test\r\nFrom: b@two.test\r\n", envFrom: "c@three.test", ok: true,
			want: []string{"<" + rev("c@three.test") + ">", "X-Original-From: a@one.test\r\n", "X-Original-From: b@two.test\r\n"}},
		{name: "null sender, no From", hdr: "Subject: bounce\r\n", envFrom: "", ok: false, want: []string{"Subject: bounce\r\n"}},
		{name: "folded From, folded To with a group", hdr: "From: Shop\r\n <shop@store.test>\r\nTo: Team: a@x.test,\r\n\tb@y.test;, shop@example.org\r\n", ok: true,
			want: []string{`From: "Shop <shop@store.test> via catchall" <` + rev("shop@store.test") + ">\r\n",
				"To: <" + rev("a@x.test") + ">,\r\n <" + rev("b@y.test") + ">,\r\n <shop@example.org>\r\n"}},
		{name: "unparseable Cc, Reply-To", hdr: "From: a@one.test\r\nCc: ,,<\r\nReply-To: @@\r\n", ok: true,
			want: []string{"X-Original-Cc: ,,<\r\n", "X-Original-Reply-To: @@\r\n"}, not: []string{"\r\nCc:", "\r\nReply-To:"}},
		{name: "empty group stays", hdr: "From: a@one.test\r\nTo: undisclosed-recipients:;\r\n", ok: true,
			want: []string{"To: undisclosed-recipients:;\r\n"}},
		{name: "forged fields of the relay dropped", hdr: "X-Original-From: boss@bank.test\r\nx-catchall-alias : bank@example.org\r\nFrom: a@one.test\r\n", ok: true,
			want: []string{"X-Original-From: a@one.test"}, not: []string{"boss@bank.test", "bank@example.org"}},
		{name: "display name quoted and encoded", hdr: "From: \"Dr. \\\"Who\\\"\" <who@tardis.test>\r\nCc: =?iso-8859-1?q?J=F6rg?= <j@x.test>\r\n", ok: true,
			want: []string{`From: "Dr. \"Who\" <who@tardis.test> via catchall" <`, "Cc: =?utf-8?q?J=C3=B6rg?= <" + rev("j@x.test") + ">"}},
		{name: "long display name cut", hdr: "From: " + long + " <l@x.test>\r\n", ok: true,
			want: []string{strings.Repeat("x", 200) + "... via catchall"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, ok := rewriteForwardString(t, c.hdr, c.envFrom)
			if ok != c.ok {
				t.Fatalf("rewritten %v, want %v:\n%s", ok, c.ok, out)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("no %q in:\n%s", w, out)
				}
			}
			for _, n := range c.not {
				if strings.Contains(out, n) {
					t.Errorf("%q in:\n%s", n, out)
				}
			}
			if ok {
				checkForwardHeader(t, []byte(out))
			}
		})
	}
}

// checkForwardHeader holds what every rewritten header must: one From:
// with one reverse address, and address fields that parse and name only
// addresses of the relay's domains.
// TestRewriteForwardOrphan: lines that go on with no field at the start
// of the header would go on with the relay's X-Catchall-Alias.
func TestRewriteForwardOrphan(t *testing.T) {
	out, ok := rewriteForwardString(t, " bank@example.org\r\n\tmore\r\nFrom: a@b.test\r\nSubject: s\r\n", "a@b.test")
	if !ok || strings.Contains(out, "bank@") || strings.Contains(out, "more") || !strings.Contains(out, "Subject: s\r\n") {
		t.Errorf("ok %v:\n%s", ok, out)
	}
}

func checkForwardHeader(t testing.TB, out []byte) {
	t.Helper()
	froms := 0
	for _, f := range splitHeader(out) {
		if !(f.is("From") || f.is("To") || f.is("Cc") || f.is("Reply-To")) {
			continue
		}
		if f.is("From") {
			froms++
		}
		list, err := fromParser.ParseList(f.value())
		if err != nil {
			t.Fatalf("%s does not parse (%v):\n%s", f.name, err, out)
		}
		for _, a := range list {
			if !oursStub(a.Address) {
				t.Fatalf("%s names %s:\n%s", f.name, a.Address, out)
			}
		}
	}
	if froms != 1 {
		t.Fatalf("%d From: fields:\n%s", froms, out)
	}
}

func FuzzRewriteForward(f *testing.F) {
	f.Add([]byte(outsiders[:strings.Index(outsiders, "\r\n\r\n")+2]), "clerk@store.test")
	f.Add([]byte("From: <<<\r\nTo: Team: a@x.test,\r\n\tb@y.test;\r\n"), "")
	f.Add([]byte("From: =?utf-8?b?w7Y=?= <a@b.test>\nCc: \"\\\r\n\"<a@b>\n"), "x@y.test")
	f.Fuzz(func(t *testing.T, hdr []byte, envFrom string) {
		fr := &forwardRewriter{envFrom: envFrom, ours: oursStub, reverse: stubReverse}
		out, ok, err := fr.rewrite(hdr)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			if !bytes.Equal(out, hdr) {
				t.Fatal("changed but not rewritten")
			}
			return
		}
		checkForwardHeader(t, out)
	})
}

func rewriteReplyString(t testing.TB, hdr string, user ...string) string {
	t.Helper()
	rr := &replyRewriter{alias: "shop@example.org", user: user, unreverse: func(a string) (string, bool, error) {
		if isReverseLocal(strings.SplitN(a, "@", 2)[0]) {
			return "corr@far.test", true, nil
		}
		return "", false, nil
	}}
	out, err := rr.rewrite([]byte(hdr))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// checkReplyHeader: no field names the user's address; one From:, the alias.
func checkReplyHeader(t testing.TB, out, user string) {
	t.Helper()
	if containsAddr(strings.ToLower(unfold(out)), strings.ToLower(user)) {
		t.Fatalf("the reply names %s:\n%s", user, out)
	}
	froms := 0
	for _, f := range splitHeader([]byte(out)) {
		if f.is("From") {
			froms++
			a, err := mail.ParseAddress(f.value())
			if err != nil || a.Address != "shop@example.org" {
				t.Fatalf("From: %q (%v)", f.value(), err)
			}
		}
	}
	if froms != 1 {
		t.Fatalf("%d From: fields:\n%s", froms, out)
	}
}

// TestRewriteReply: the user's address leaves no field.
func TestRewriteReply(t *testing.T) {
	const user = "me@home.test"
	hdr := "Received: from laptop by mx.home.test\r\nFrom: \"Me\" <ME@Home.Test>\r\nFrom: second@home.test\r\n" +
		"To: \"Shop <shop@store.test> via catchall\" <ra-abcdefghijklmnopqrst@example.org>, <me@home.test>\r\n" +
		"Cc: broken <<< me@home.test\r\nSubject: hi me@home.test\r\nX-Mailer: mutt\r\nnot a field me@home.test\r\n" +
		"DKIM-Signature: v=1; d=home.test; i=me@home.test\r\n"
	out := rewriteReplyString(t, hdr, user)
	checkReplyHeader(t, out, user)
	for _, w := range []string{"From: \"Me\" <shop@example.org>\r\n", "To: \"Shop\" <corr@far.test>,\r\n <shop@example.org>\r\n"} {
		if !strings.Contains(out, w) {
			t.Errorf("no %q in:\n%s", w, out)
		}
	}
	// A correspondent whose address ends with the user's stays.
	if out := rewriteReplyString(t, "To: tome@home.test, me@home.test.uk\r\n", user); !strings.Contains(out, "To: <tome@home.test>,\r\n <me@home.test.uk>\r\n") {
		t.Errorf("a longer address taken for the user's:\n%s", out)
	}
	if out := rewriteReplyString(t, "Subject: x\r\n", user); !strings.Contains(out, "From: <shop@example.org>\r\n") {
		t.Errorf("no From: given one:\n%s", out)
	}
}

// TestRewriteReplyLeaks: fields that name the user, its host or its
// organisation some other way than the address as it is.
func TestRewriteReplyLeaks(t *testing.T) {
	const user = "me@home.example"
	for _, c := range []struct{ hdr, leak string }{
		{"Subject: =?utf-8?b?" + base64.StdEncoding.EncodeToString([]byte("hi me@home.example")) + "?=\r\n", "Subject"},
		{"Subject: =?utf-8?q?me=40home=2Eexample?=\r\n", "Subject"},
		{"Resent-From: me(comment)@home.example\r\n", "Resent-From"},
		{"Disposition-Notification-To: \"me\"@home.example\r\n", "Disposition-Notification-To"},
		{"X-OriginatorOrg: home.example\r\n", "home.example"},
		{"X-MS-Exchange-CrossTenant-id: 1234-5678\r\n", "1234-5678"},
		{"X-Received: by 10.0.0.1 with SMTP id abc\r\n", "10.0.0.1"},
		{"In-Reply-To: <abc@laptop.home.example>\r\n", "home.example"},
		{"References: <x@store.test>\r\n <abc@home.example>\r\n", "home.example"},
		{"Cc: Me <me+x@home.example>\r\n", "home.example"},
		{"Subject: me+x@home.example\r\n", "Subject"},
		{"Content-ID: <part1@laptop.home.example>\r\n", "home.example"},
	} {
		out := rewriteReplyString(t, c.hdr+"From: Me <me@home.example>\r\n", user)
		if strings.Contains(strings.ToLower(out), strings.ToLower(c.leak)) {
			t.Errorf("%q: the reply keeps %q:\n%s", c.hdr, c.leak, out)
		}
	}
	// What a reply keeps: a Subject that names only the domain, the IDs
	// of the correspondent, the user's hashed as the Message-ID is.
	hdr := "Subject: about home.example\r\nDate: Sun, 6 Dec 2026 09:00:00 +0000\r\nMessage-ID: <abc@laptop.home.example>\r\n" +
		"In-Reply-To: <m1@store.test>\r\nReferences: <m0@store.test> <abc@laptop.home.example>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain\r\nX-Priority: 1\r\n"
	out := rewriteReplyString(t, hdr, user)
	hashed := replyMessageID("<abc@laptop.home.example>", "shop@example.org")
	for _, w := range []string{"Subject: about home.example\r\n", "Date: Sun, 6 Dec 2026 09:00:00 +0000\r\n", "Message-ID: " + hashed + "\r\n",
		"In-Reply-To: <m1@store.test>\r\n", "References: <m0@store.test>\r\n " + hashed + "\r\n",
		"MIME-Version: 1.0\r\n", "Content-Type: text/plain\r\n", "X-Priority: 1\r\n"} {
		if !strings.Contains(out, w) {
			t.Errorf("no %q in:\n%s", w, out)
		}
	}
}

func FuzzRewriteReply(f *testing.F) {
	f.Add([]byte("From: Me <me@home.test>\r\nTo: <ra-abcdefghijklmnopqrst@example.org>\r\n"), "me@home.test")
	f.Add([]byte("From: =?utf-8?q?me=40home.test?= <a@b>\r\nCc: x\r\n me@home.test\r\n"), "me@home.test")
	f.Fuzz(func(t *testing.T, hdr []byte, user string) {
		// The user's addresses are ones mail can be sent to, elsewhere
		// than the alias's and the correspondent's domains.
		user, _, err := plainAddress(user)
		if err != nil || strings.HasSuffix(user, "example.org") || strings.HasSuffix(user, "far.test") {
			user = ""
		}
		out := rewriteReplyString(t, string(hdr), user)
		checkReplyHeader(t, out, user)
	})
}
