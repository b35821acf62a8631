package relay

import (
	"context"
	"crypto"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/catchall/catchall/forwards/dkimkey"
)

// TestReverseStoreMigration opens a store of schema version 3 (before the
// reverse table): it gains the table, and a reverse address is made once
// per (alias, correspondent) pair, in its form, and found again.
func TestReverseStoreMigration(t *testing.T) {
	v3, _, ok := strings.Cut(schema, "CREATE TABLE IF NOT EXISTS reverse")
	if !ok {
		t.Fatal("schema has no reverse table")
	}
	spool := oldStore(t, v3, `INSERT INTO meta VALUES ('schema', 3)`,
		`INSERT INTO aliases (alias, tag, action, forward_to, source, created) VALUES ('shop@example.org', 'disposable', 'forward', 'me@dest.test', 'plan', 1700000000)`)
	var first string
	for round := range 2 {
		st, err := OpenStore(spool)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := st.Lookup("shop@example.org"); !ok {
			t.Fatalf("round %d: the alias is gone", round)
		}
		ra, err := st.ReverseAddress("shop@example.org", "clerk@store.test", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		local, domain, _ := strings.Cut(ra, "@")
		if domain != "example.org" || !isReverseLocal(local) {
			t.Errorf("reverse address %q", ra)
		}
		if round == 0 {
			first = ra
		} else if ra != first {
			t.Errorf("the same pair got %q, then %q", first, ra)
		}
		other, err := st.ReverseAddress("shop@example.org", "boss@store.test", time.Now())
		if err != nil || other == ra {
			t.Errorf("another correspondent: %q, %v", other, err)
		}
		if a, c, ok, err := st.Reverse(ra); !ok || err != nil || a != "shop@example.org" || c != "clerk@store.test" {
			t.Errorf("Reverse(%s) = %q %q %v %v", ra, a, c, ok, err)
		}
		if _, _, ok, _ := st.Reverse("ra-aaaaaaaaaaaaaaaaaaaa@example.org"); ok {
			t.Error("an address never made is found")
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if v := storeSchema(t, spool); v != schemaVersion {
		t.Errorf("schema version %d", v)
	}
}

// TestReverseForm: a reverse address is never a burner's SERVICE.TAG.
func TestReverseForm(t *testing.T) {
	s := &Signer{Secret: testSecret, Len: MaxTagLen}
	for _, l := range []string{"ra-abcdefghijklmnopqrst", "ra-234567abcdefghijklmn"} {
		if !isReverseLocal(l) {
			t.Errorf("%s is not a reverse form", l)
		}
		if _, ok := s.Verify(l); ok {
			t.Errorf("%s is a burner", l)
		}
	}
	for _, l := range []string{"ra-abc", "ra.abcdefghijklmnopqrst", "ra-abcdefghijklmnopqrs1", "RA-abcdefghijklmnopqrst", "shop"} {
		if isReverseLocal(l) {
			t.Errorf("%s taken for a reverse address", l)
		}
	}
}

// switchDNS is a resolver whose answers the test changes between sessions.
type switchDNS struct {
	mu sync.Mutex
	m  fakeDNS
}

func (d *switchDNS) set(name string, v ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.m[name] = v
}

func (d *switchDNS) LookupTXT(ctx context.Context, name string) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.m.LookupTXT(ctx, name)
}
func (d *switchDNS) LookupMX(ctx context.Context, n string) ([]*net.MX, error) {
	return d.m.LookupMX(ctx, n)
}
func (d *switchDNS) LookupIPAddr(ctx context.Context, n string) ([]net.IPAddr, error) {
	return d.m.LookupIPAddr(ctx, n)
}
func (d *switchDNS) LookupAddr(ctx context.Context, n string) ([]string, error) {
	return d.m.LookupAddr(ctx, n)
}

const (
	userAddr  = "me@home.test" // the user's real address: shop@example.org forwards to it
	spfPass   = "v=spf1 ip4:127.0.0.1 -all"
	spfFail   = "v=spf1 ip4:192.0.2.1 -all"
	outsiders = "From: Store Clerk <clerk@store.test>\r\n" +
		"Reply-To: Support <help@store.test>\r\n" +
		"To: shop@example.org,\r\n Friend <friend@other.test>\r\n" +
		"Cc: =?utf-8?q?B=C3=B6ss?= <boss@store.test>\r\n" +
		"Subject: your order\r\nMessage-ID: <m1@store.test>\r\n\r\nIt shipped.\r\n"
)

// TestReverseAliasRoundTrip: an outsider writes to an alias; the user gets
// it From: a reverse address (signed, X-Original-From, Reply-To and the
// other recipients reversed too), and answers it (a) through submission,
// (b) on port 25 with SPF passing, (c) with SPF failing but a DKIM
// signature of the user's domain; (d) neither is refused at the end of
// DATA, (e) so is an outsider writing to a reverse address. What the
// correspondents get is From: the alias and never names the user's
// address.
// startReverse starts a relay with reverse aliases, a submission port,
// DKIM signing with key (selector "relay") and dns as its resolver, whose
// plan forwards shop@example.org to userAddr.
func startReverse(t *testing.T, sk *sink, dns *switchDNS, key crypto.Signer) *testRelay {
	t.Helper()
	tr, _ := startSubmission(t, sk.addr, func(c *Config) {
		plan := "alias,tag,action,forward_to\nshop@example.org,disposable,forward," + userAddr + "\n"
		if err := writeFile(c.Plan, plan); err != nil {
			t.Fatal(err)
		}
		c.ReverseAliases, c.Resolver, c.DefaultTargets = true, dns, []string{userAddr}
		c.DKIM = &DKIM{Key: key, Selector: "relay"}
	})
	return tr
}

func TestReverseAliasRoundTrip(t *testing.T) {
	sk := newSink(t)
	relayKey := testKeys()[dkimkey.Ed25519]
	userKey := testKeys()[dkimkey.RSA]
	relayLookup := lookupFor(t, relayKey, "relay", "example.org")
	userRecord, err := dkimkey.Value(userKey)
	if err != nil {
		t.Fatal(err)
	}
	dns := &switchDNS{m: fakeDNS{"home.test": {spfPass}, "u._domainkey.home.test": {userRecord}}}
	tr := startReverse(t, sk, dns, relayKey)

	// The outsider writes; the user gets it.
	c := dialRelay(t, tr.addr)
	if code := c.data("clerk@store.test", "shop@example.org", outsiders+".\r\n"); code != 250 {
		t.Fatalf("outsider's mail: %d", code)
	}
	got := sk.wait(1)[0]
	if got.To[0] != userAddr {
		t.Fatalf("forwarded to %v", got.To)
	}
	m := readMsg(t, got.Data)
	rev := func(corr string) string {
		ra, err := tr.store.ReverseAddress("shop@example.org", corr, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return ra
	}
	raClerk, raHelp, raFriend, raBoss := rev("clerk@store.test"), rev("help@store.test"), rev("friend@other.test"), rev("boss@store.test")
	for _, c := range []struct{ field, want string }{
		{"From", `"Store Clerk <clerk@store.test> via catchall" <` + raClerk + `>`},
		{"X-Original-From", "Store Clerk <clerk@store.test>"},
		{"Reply-To", `"Support" <` + raHelp + `>`},
		{"X-Original-Reply-To", "Support <help@store.test>"},
		{"To", `<shop@example.org>, "Friend" <` + raFriend + `>`},
		{"Cc", `=?utf-8?q?B=C3=B6ss?= <` + raBoss + `>`},
		{"X-Catchall-Alias", "shop@example.org"},
	} {
		if v := unfold(m.Header.Get(c.field)); v != c.want {
			t.Errorf("forwarded %s: %q, want %q", c.field, v, c.want)
		}
	}
	if vs := verifyDKIM(t, strings.NewReader(got.Data), relayLookup); len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != "example.org" {
		t.Errorf("forwarded mail not signed for example.org: %+v", vs)
	}

	noTrace := func(what string, m sinkMsg, to ...string) {
		t.Helper()
		if m.From != "shop@example.org" || strings.Join(m.To, " ") != strings.Join(to, " ") {
			t.Errorf("%s: envelope %s → %v, want shop@example.org → %v", what, m.From, m.To, to)
		}
		for _, leak := range []string{"home.test", "192.0.2.7", "laptop"} {
			if strings.Contains(strings.ToLower(m.Data), leak) {
				t.Errorf("%s: the reply names %q:\n%s", what, leak, m.Data)
			}
		}
		msg := readMsg(t, m.Data)
		if f := msg.Header.Get("From"); f != `"Me Myself" <shop@example.org>` {
			t.Errorf("%s: From: %q", what, f)
		}
		if vs := verifyDKIM(t, strings.NewReader(m.Data), relayLookup); len(vs) == 0 || vs[0].Err != nil || vs[0].Domain != "example.org" {
			t.Errorf("%s: not signed for example.org: %+v", what, vs)
		}
	}
	reply := func(subject string) string {
		return "Received: from laptop (home [192.0.2.7]) by mx.home.test; Sun, 6 Dec 2026 09:00:00 +0000\r\n" +
			"Return-Path: <" + userAddr + ">\r\nFrom: Me Myself <" + userAddr + ">\r\nSender: " + userAddr + "\r\n" +
			"To: \"Store Clerk <clerk@store.test> via catchall\" <" + raClerk + ">\r\n" +
			"Cc: \"Friend\" <" + raFriend + ">,\r\n Me <" + userAddr + ">\r\n" +
			"Subject: " + subject + "\r\nIn-Reply-To: <m1@store.test>\r\n\r\nThanks.\r\n"
	}

	// (a) Through submission, from the alias.
	sub := dialRelay(t, tr.subAddr)
	sub.expect(plainAuth(testUser, testPassword), 235)
	msg := strings.Replace(reply("a"), "From: Me Myself <"+userAddr+">", "From: Me Myself <shop@example.org>", 1)
	sub.submit("shop@example.org", []string{raClerk}, msg)
	a := sk.wait(2)[1]
	noTrace("submission", a, "clerk@store.test")
	am := readMsg(t, a.Data)
	if to, cc := am.Header.Get("To"), unfold(am.Header.Get("Cc")); to != `"Store Clerk" <clerk@store.test>` || cc != `"Friend" <friend@other.test>, "Me" <shop@example.org>` {
		t.Errorf("reply To: %q Cc: %q", to, cc)
	}

	// (b) On port 25 from the forward_to address, SPF passing; to all.
	c = dialRelay(t, tr.addr)
	c.expect("MAIL FROM:<"+userAddr+">", 250)
	c.expect("RCPT TO:<"+raClerk+">", 250)
	c.expect("RCPT TO:<"+raFriend+">", 250)
	c.expect("DATA", 354)
	c.expect(reply("b")+".", 250)
	noTrace("port 25, SPF", sk.wait(3)[2], "clerk@store.test", "friend@other.test")

	// (c) SPF failing, signed by the user's domain.
	dns.set("home.test", spfFail)
	var signed strings.Builder
	if err := dkim.Sign(&signed, strings.NewReader(reply("c")), &dkim.SignOptions{Domain: "home.test", Selector: "u", Signer: userKey}); err != nil {
		t.Fatal(err)
	}
	c = dialRelay(t, tr.addr)
	if code := c.data(userAddr, raClerk, signed.String()+".\r\n"); code != 250 {
		t.Fatalf("reply signed by the user's domain: %d", code)
	}
	noTrace("port 25, DKIM", sk.wait(4)[3], "clerk@store.test")

	// (d) Neither SPF nor DKIM: refused at the end of DATA.
	c = dialRelay(t, tr.addr)
	c.expect("MAIL FROM:<"+userAddr+">", 250)
	c.expect("RCPT TO:<"+raClerk+">", 250)
	c.expect("DATA", 354)
	dText := c.expect(reply("d")+".", 550)
	if !strings.Contains(dText, "5.7.1") {
		t.Errorf("unsigned reply without SPF: %q", dText)
	}
	// A signature that does not verify (the message changed) is none.
	c.expect("MAIL FROM:<"+userAddr+">", 250)
	c.expect("RCPT TO:<"+raClerk+">", 250)
	c.expect("DATA", 354)
	c.expect(strings.Replace(signed.String(), "Thanks.", "Thanks!", 1)+".", 550)
	// SPF passing, but the From: is not the address the alias forwards to.
	dns.set("home.test", spfPass)
	c.expect("MAIL FROM:<"+userAddr+">", 250)
	c.expect("RCPT TO:<"+raClerk+">", 250)
	c.expect("DATA", 354)
	c.expect(strings.Replace(reply("d"), "From: Me Myself <"+userAddr+">", "From: <other@home.test>", 1)+".", 550)

	// (e) An outsider writing to a reverse address: taken at RCPT like
	// the user (a 550 there would tell that MAIL FROM is not the user's
	// address), refused at the end of DATA with the same text as (d).
	c = dialRelay(t, tr.addr)
	c.expect("MAIL FROM:<clerk@store.test>", 250)
	c.expect("RCPT TO:<"+raClerk+">", 250)
	c.expect("RCPT TO:<"+strings.ToUpper(raClerk)+">", 250) // the same address
	c.expect("DATA", 354)
	if text := c.expect(reply("e")+".", 550); !strings.Contains(text, "5.7.1") || text != dText {
		t.Errorf("outsider to a reverse address: %q, want %q", text, dText)
	}
	// A guess at the user's address with SPF passing for it, and a From:
	// that is not it: the same answer, at the end of DATA.
	c.expect("MAIL FROM:<other@home.test>", 250)
	c.expect("RCPT TO:<"+raClerk+">", 250)
	c.expect("DATA", 354)
	if text := c.expect(reply("e")+".", 550); text != dText {
		t.Errorf("a wrong guess: %q, want %q", text, dText)
	}
	c.expect("MAIL FROM:<clerk@store.test>", 250)
	c.expect("RCPT TO:<ra-aaaaaaaaaaaaaaaaaaaa@example.org>", 550)
	tr.settle(t)
	if n := len(sk.messages()); n != 4 {
		t.Errorf("%d messages at the sink, want 4", n)
	}
}

func readMsg(t *testing.T, data string) *mail.Message {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(data))
	if err != nil {
		t.Fatalf("%v:\n%s", err, data)
	}
	return m
}

func unfold(s string) string { return strings.NewReplacer("\r\n", "", "\n", "").Replace(s) }
